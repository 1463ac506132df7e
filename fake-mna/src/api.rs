//! `POST /`: the `GetStatisticData` action, and the checks the listing
//! actions of [`crate::devices`] share with it.
//!
//! This module owns the order of the checks a call goes through (headers,
//! signature, token, rate limit, body), the error code each failure gets,
//! the consumption of API faults, and the issuing of download URLs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::http::request::Parts;
use hyper::{HeaderMap, Request, Response};
use serde_json::{Value, json};

use crate::clock::{random_hex, request_id, utc_date};
use crate::conn::{AbortKind, ConnCtl, FillBody};
use crate::faults::{Fault, lock};
use crate::params::{Params, parse_body};
use crate::records::{CallRecord, Outcome};
use crate::server::{RespBody, fixed, html_response, json_response};
use crate::sign::{
    UNSIGNED_PAYLOAD, canonical_request, constant_time_eq, parse_authorization, sha256_hex,
    sign_canonical,
};
use crate::state::{IssuedFile, Lookup, Shared};

/// The action this fake implements.
pub const ACTION: &str = "GetStatisticData";
/// Its API version.
pub const VERSION: &str = "2021-01-19";
/// The signing service name.
pub const SERVICE: &str = "mna";
/// The largest accepted body.
pub const MAX_BODY: usize = 1 << 20;
/// How far `X-TC-Timestamp` may be from the fake's clock.
pub const MAX_SKEW: i64 = 300;

/// An API error: code and message.
type ApiErr = (&'static str, String);

fn err(code: &'static str, message: impl Into<String>) -> ApiErr {
    (code, message.into())
}

/// One header's value as received (repeated headers joined by `,`).
fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    Some(
        values
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Headers, signature and token. Returns the credential's SecretId.
fn authenticate(
    shared: &Shared,
    parts: &Parts,
    body: &[u8],
    rec: &mut CallRecord,
) -> Result<(), ApiErr> {
    let h = &parts.headers;
    match header_value(h, "x-tc-action") {
        Some(a) if a == ACTION || crate::devices::is_listing(&a) => {}
        Some(a) => {
            return Err(err(
                "InvalidAction",
                format!("The action `{a}` does not exist."),
            ));
        }
        None => return Err(err("InvalidAction", "The X-TC-Action header is missing.")),
    }
    match header_value(h, "x-tc-version") {
        Some(v) if v == VERSION => {}
        _ => {
            return Err(err(
                "NoSuchVersion",
                format!("X-TC-Version must be `{VERSION}`."),
            ));
        }
    }
    let content_type = header_value(h, "content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Err(err(
            "InvalidParameter",
            format!("Content-Type `{content_type}` is not supported; use application/json."),
        ));
    }
    let Some(auth_header) = header_value(h, "authorization") else {
        return Err(err(
            "AuthFailure.InvalidAuthorization",
            "The Authorization header is missing.",
        ));
    };
    let Some(auth) = parse_authorization(&auth_header) else {
        return Err(err(
            "AuthFailure.InvalidAuthorization",
            "The Authorization header is malformed.",
        ));
    };
    rec.secret_id = Some(auth.secret_id.clone());
    if !auth.signed_headers.iter().any(|s| s == "content-type")
        || !auth.signed_headers.iter().any(|s| s == "host")
    {
        return Err(err(
            "AuthFailure.InvalidAuthorization",
            "SignedHeaders must include content-type and host.",
        ));
    }
    let Some(ts_text) = header_value(h, "x-tc-timestamp") else {
        return Err(err(
            "MissingParameter",
            "The X-TC-Timestamp header is missing.",
        ));
    };
    let now = shared.now_unix();
    let ts = match ts_text.trim().parse::<i64>() {
        Ok(ts) if (ts - now).abs() <= MAX_SKEW => ts,
        _ => {
            return Err(err(
                "AuthFailure.SignatureExpire",
                format!(
                    "The request timestamp `{ts_text}` is more than {MAX_SKEW} s from the server time {now}."
                ),
            ));
        }
    };
    let cred = match shared.lookup(&auth.secret_id) {
        Lookup::Found(c) => c,
        Lookup::Expired => {
            return Err(err(
                "AuthFailure.TokenFailure",
                "The temporary credential has expired.",
            ));
        }
        Lookup::NotFound => {
            return Err(err(
                "AuthFailure.SecretIdNotFound",
                format!("The SecretId `{}` is not found.", auth.secret_id),
            ));
        }
    };
    if let Some(expected) = &cred.token
        && header_value(h, "x-tc-token").as_deref() != Some(expected.as_str())
    {
        return Err(err(
            "AuthFailure.TokenFailure",
            "X-TC-Token is missing or does not match the credential.",
        ));
    }
    if auth.date != utc_date(ts) {
        return Err(err(
            "AuthFailure.SignatureFailure",
            "The credential date is not the UTC date of X-TC-Timestamp.",
        ));
    }
    if auth.service != SERVICE {
        return Err(err(
            "AuthFailure.SignatureFailure",
            format!("The credential scope service must be `{SERVICE}`."),
        ));
    }
    let values: Vec<String> = auth
        .signed_headers
        .iter()
        .map(|name| header_value(h, name).unwrap_or_default())
        .collect();
    let pairs: Vec<(&str, &str)> = auth
        .signed_headers
        .iter()
        .map(String::as_str)
        .zip(values.iter().map(String::as_str))
        .collect();
    let payload_hash =
        if header_value(h, "x-tc-content-sha256").as_deref() == Some(UNSIGNED_PAYLOAD) {
            sha256_hex(UNSIGNED_PAYLOAD.as_bytes())
        } else {
            sha256_hex(body)
        };
    let canonical = canonical_request(parts.method.as_str(), &pairs, &payload_hash);
    let expected = sign_canonical(&cred.secret_key, SERVICE, &auth.date, ts, &canonical);
    if !constant_time_eq(&expected, &auth.signature) {
        return Err(err(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated; check your signature.",
        ));
    }
    Ok(())
}

/// The rate limiter's verdict on an authenticated call.
fn admit(shared: &Shared, rec: &mut CallRecord) -> Result<(), ApiErr> {
    let Some(limiter) = &shared.limiter else {
        return Ok(());
    };
    if lock(limiter).admit(Instant::now()) {
        return Ok(());
    }
    shared.rate_limited.fetch_add(1, Ordering::SeqCst);
    rec.rate_limited = true;
    Err(err(
        "RequestLimitExceeded",
        "Your request frequency has exceeded the limit.",
    ))
}

fn check(
    shared: &Shared,
    parts: &Parts,
    body: &[u8],
    rec: &mut CallRecord,
) -> Result<Params, ApiErr> {
    authenticate(shared, parts, body, rec)?;
    admit(shared, rec)?;
    parse_body(body).map_err(|e| (e.code, e.message))
}

/// A listing action (`rec.action`), after the same checks as every call:
/// an API fault answers it as it would `GetStatisticData`.
async fn listing(
    shared: &Shared,
    ctl: &ConnCtl,
    parts: &Parts,
    body: &[u8],
    mut rec: CallRecord,
    request_id: &str,
) -> Response<RespBody> {
    if let Err((code, message)) =
        authenticate(shared, parts, body, &mut rec).and_then(|()| admit(shared, &mut rec))
    {
        return reply_error(shared, rec, code, &message, request_id);
    }
    let answer = {
        let fleet = lock(&shared.fleet);
        let synthetic = lock(&shared.synthetic).clone();
        crate::devices::answer(&rec.action, &rec.body, &fleet.0, &fleet.1, &synthetic)
    };
    let mut response = match answer {
        Ok(m) => m,
        Err((code, message)) => return reply_error(shared, rec, code, &message, request_id),
    };
    let fault = shared.faults.next_api();
    rec.fault = fault.as_ref().map(Fault::label);
    match fault {
        Some(Fault::ApiError { code, message }) => {
            return reply_error(shared, rec, &code, &message, request_id);
        }
        Some(Fault::HttpStatus(status)) => {
            rec.outcome = Outcome::Http(status);
            record(shared, rec);
            return html_response(status);
        }
        Some(Fault::Reset) => {
            rec.outcome = Outcome::Reset;
            record(shared, rec);
            ctl.abort_now(AbortKind::Reset);
            return std::future::pending().await;
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Hold(gate)) => gate.passed().await,
        Some(Fault::ApiAnswer(body)) => {
            rec.outcome = Outcome::Raw;
            record(shared, rec);
            return fixed(200, "application/json", body);
        }
        _ => {}
    }
    response.insert("RequestId".into(), Value::from(request_id));
    rec.outcome = Outcome::Listed {
        request_id: request_id.to_owned(),
    };
    record(shared, rec);
    json_response(shared, json!({ "Response": response }))
}

fn error_envelope(code: &str, message: &str, request_id: &str) -> Value {
    json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}})
}

fn record(shared: &Shared, rec: CallRecord) {
    lock(&shared.calls).push(rec);
}

/// Issues a URL for `params`; `expired` issues it already expired.
fn issue(shared: &Shared, params: &Params, request_id: &str, expired: bool) -> String {
    let file_id = random_hex(24);
    let sign = random_hex(40);
    let now = Instant::now();
    let expires = if expired {
        now
    } else {
        now.checked_add(shared.cfg.url_ttl).unwrap_or(now)
    };
    let mut files = lock(&shared.files);
    files.by_id.insert(
        file_id.clone(),
        IssuedFile {
            request_id: request_id.to_owned(),
            params: params.clone(),
            sign: sign.clone(),
            expires,
        },
    );
    files
        .by_request
        .insert(request_id.to_owned(), file_id.clone());
    format!("{}/files/{file_id}.xlsx?sign={sign}", shared.endpoint)
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    ctl: Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Response<RespBody> {
    let _in_flight = shared.calls_in_flight.enter();
    // Strict mode: the call reaches the server (and its rate limit) a little late.
    let jitter = crate::config::random_up_to(shared.cfg.arrival_jitter);
    if !jitter.is_zero() {
        tokio::time::sleep(jitter).await;
    }
    let at = SystemTime::now();
    let (parts, body) = req.into_parts();
    let request_id = request_id();
    let mut rec = CallRecord {
        at,
        secret_id: None,
        token: header_value(&parts.headers, "x-tc-token"),
        action: header_value(&parts.headers, "x-tc-action").unwrap_or_default(),
        headers: header_pairs(&parts.headers),
        body: Value::Null,
        params: None,
        outcome: Outcome::Reset,
        fault: None,
        rate_limited: false,
    };
    let body: Bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let (code, message) = if e.is::<http_body_util::LengthLimitError>() {
                ("RequestSizeLimitExceeded", "The request body is too large.")
            } else {
                ("InvalidParameter", "The request body could not be read.")
            };
            return reply_error(&shared, rec, code, message, &request_id);
        }
    };
    rec.body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if crate::devices::is_listing(&rec.action) {
        return listing(&shared, &ctl, &parts, &body, rec, &request_id).await;
    }
    let params = match check(&shared, &parts, &body, &mut rec) {
        Ok(p) => p,
        Err((code, message)) => return reply_error(&shared, rec, code, &message, &request_id),
    };
    rec.params = Some(params.clone());
    shared.cfg.answer_delay.sleep().await;
    let fault = shared.faults.next_api();
    rec.fault = fault.as_ref().map(Fault::label);
    match fault {
        Some(Fault::ApiError { code, message }) => {
            rec.outcome = Outcome::ApiError {
                code: code.clone(),
                request_id: request_id.clone(),
            };
            record(&shared, rec);
            json_response(&shared, error_envelope(&code, &message, &request_id))
        }
        Some(Fault::HttpStatus(status)) => {
            rec.outcome = Outcome::Http(status);
            record(&shared, rec);
            html_response(status)
        }
        Some(Fault::Reset) => {
            rec.outcome = Outcome::Reset;
            record(&shared, rec);
            ctl.abort_now(AbortKind::Reset);
            // The connection task drops this future with the connection.
            std::future::pending().await
        }
        Some(Fault::Delay(d)) => {
            let resp = reply_ok(&shared, rec, &params, &request_id, false);
            tokio::time::sleep(d).await;
            resp
        }
        Some(Fault::Hold(gate)) => {
            let resp = reply_ok(&shared, rec, &params, &request_id, false);
            gate.passed().await;
            resp
        }
        Some(Fault::ExpireUrl) => reply_ok(&shared, rec, &params, &request_id, true),
        Some(Fault::ApiAnswer(body)) => {
            rec.outcome = Outcome::Raw;
            record(&shared, rec);
            fixed(200, "application/json", body)
        }
        Some(Fault::ApiHugeAnswer { bytes, chunked }) => {
            rec.outcome = Outcome::Raw;
            record(&shared, rec);
            let head = format!(r#"{{"Response": {{"RequestId": "{request_id}", "FilePath": ""#);
            let body = FillBody::new(head.as_bytes(), bytes, !chunked, Default::default());
            let mut resp = Response::new(body.boxed_unsync());
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if !chunked {
                h.insert(CONTENT_LENGTH, HeaderValue::from(bytes));
            }
            resp
        }
        // Download faults never reach this queue; answer normally.
        Some(_) | None => reply_ok(&shared, rec, &params, &request_id, false),
    }
}

fn reply_ok(
    shared: &Shared,
    mut rec: CallRecord,
    params: &Params,
    request_id: &str,
    expired: bool,
) -> Response<RespBody> {
    let file_url = issue(shared, params, request_id, expired);
    rec.outcome = Outcome::Ok {
        request_id: request_id.to_owned(),
        file_url: file_url.clone(),
    };
    record(shared, rec);
    json_response(
        shared,
        json!({"Response": {"FilePath": file_url, "RequestId": request_id}}),
    )
}

fn reply_error(
    shared: &Shared,
    mut rec: CallRecord,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response<RespBody> {
    rec.outcome = Outcome::ApiError {
        code: code.to_owned(),
        request_id: request_id.to_owned(),
    };
    record(shared, rec);
    json_response(shared, error_envelope(code, message, request_id))
}
