//! `GET /files/<id>.xlsx?sign=...`: the pre-signed COS download.
//!
//! This module owns URL validation (known id, matching signature, not
//! expired), the consumption of download faults, and how each fault shapes
//! the response on the wire.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderValue};
use hyper::{Request, Response};

use crate::clock::random_hex;
use crate::conn::{AbortKind, ConnCtl, DripBody, FillBody, ServeBody, Source};
use crate::faults::{Fault, lock};
use crate::records::{DownloadEntry, DownloadRecord};
use crate::server::{RespBody, fixed};
use crate::state::{IssuedFile, Shared};
use crate::xlsx::{XLSX_CONTENT_TYPE, garbage, not_xlsx_zip};

/// A COS-style XML error document.
pub(crate) fn cos_error(
    code: u16,
    cos_code: &str,
    message: &str,
    resource: &str,
) -> Response<RespBody> {
    let body = format!(
        "<?xml version='1.0' encoding='utf-8' ?>\n<Error>\n\t<Code>{cos_code}</Code>\n\t<Message>{message}</Message>\n\t<Resource>{resource}</Resource>\n\t<RequestId>{}</RequestId>\n\t<TraceId>{}</TraceId>\n</Error>\n",
        random_hex(32),
        random_hex(48)
    );
    let mut resp = fixed(code, "application/xml", body);
    if let Ok(v) = HeaderValue::from_str(&random_hex(32)) {
        resp.headers_mut().insert("x-cos-request-id", v);
    }
    resp
}

fn status_error(code: u16, resource: &str) -> Response<RespBody> {
    match code {
        403 => cos_error(code, "AccessDenied", "Request has expired", resource),
        404 => cos_error(
            code,
            "NoSuchKey",
            "The specified key does not exist.",
            resource,
        ),
        500 => cos_error(
            code,
            "InternalError",
            "We encountered an internal error. Please try again.",
            resource,
        ),
        503 => cos_error(
            code,
            "ServiceUnavailable",
            "Please reduce your request rate.",
            resource,
        ),
        _ => cos_error(code, "InjectedError", "Injected error.", resource),
    }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A newtype so a cached `Arc<Vec<u8>>` can back `Bytes` without a copy.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The normal content of `file`: its source and length.
async fn content(shared: &Arc<Shared>, file: &IssuedFile) -> std::io::Result<(Source, u64)> {
    if let Some(large) = &shared.large {
        let f = tokio::fs::File::open(large.path()).await?;
        return Ok((Source::File(f), large.len));
    }
    let shared2 = shared.clone();
    let params = file.params.clone();
    let bytes = tokio::task::spawn_blocking(move || shared2.cache.get(&params))
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    let len = bytes.len() as u64;
    Ok((Source::Memory(Bytes::from_owner(SharedBytes(bytes))), len))
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    ctl: Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Response<RespBody> {
    let at = SystemTime::now();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    // Drain the (normally empty) request body so keep-alive stays usable.
    let _ = req.into_body().collect().await;

    let file_id = path
        .strip_prefix("/files/")
        .and_then(|s| s.strip_suffix(".xlsx"))
        .unwrap_or("")
        .to_owned();
    let issued = lock(&shared.files).by_id.get(&file_id).cloned();
    let sent = Arc::new(AtomicU64::new(0));
    let mut record = DownloadRecord {
        at,
        request_id: issued
            .as_ref()
            .map(|f| f.request_id.clone())
            .unwrap_or_default(),
        file_id,
        status: 200,
        fault: None,
        bytes_sent: 0,
    };
    let push = |record: DownloadRecord| {
        lock(&shared.downloads).push(DownloadEntry {
            record,
            sent: sent.clone(),
        });
    };

    let Some(file) = issued else {
        record.status = 404;
        push(record);
        return status_error(404, &path);
    };
    if query_param(&query, "sign") != Some(file.sign.as_str()) {
        record.status = 403;
        push(record);
        return cos_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            &path,
        );
    }
    if Instant::now() >= file.expires {
        record.status = 403;
        push(record);
        return status_error(403, &path);
    }

    shared.cfg.download_delay.sleep().await;
    let fault = shared.faults.next_download();
    record.fault = fault.as_ref().map(Fault::label);
    let mut cut = None;
    let mut drip = None;
    match fault {
        Some(Fault::DownloadStatus(code)) => {
            record.status = code;
            push(record);
            return status_error(code, &path);
        }
        Some(Fault::DownloadCorrupt) => {
            let g = garbage(4096);
            record.bytes_sent = g.len() as u64;
            sent.store(g.len() as u64, std::sync::atomic::Ordering::Relaxed);
            push(record);
            return fixed(200, XLSX_CONTENT_TYPE, g);
        }
        Some(Fault::DownloadNotXlsx) => {
            let z = not_xlsx_zip();
            sent.store(z.len() as u64, std::sync::atomic::Ordering::Relaxed);
            push(record);
            return fixed(200, XLSX_CONTENT_TYPE, Bytes::from_owner(SharedBytes(z)));
        }
        Some(Fault::DownloadHuge { bytes, chunked }) => {
            push(record);
            let body = FillBody::new(b"", bytes, !chunked, sent);
            let mut resp = Response::new(body.boxed_unsync());
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(XLSX_CONTENT_TYPE));
            if !chunked {
                h.insert(CONTENT_LENGTH, HeaderValue::from(bytes));
            }
            return resp;
        }
        Some(Fault::DownloadDrip(every)) => drip = Some(every),
        Some(Fault::DownloadBody(body)) => {
            lock(&shared.served).insert(file.request_id.clone(), body.clone());
            sent.store(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
            push(record);
            return fixed(200, XLSX_CONTENT_TYPE, Bytes::from_owner(SharedBytes(body)));
        }
        Some(Fault::DownloadDelay(d)) => tokio::time::sleep(d).await,
        Some(Fault::DownloadHold(gate)) => gate.passed().await,
        Some(Fault::DownloadReset) => cut = Some(AbortKind::Reset),
        Some(Fault::DownloadTruncated) => cut = Some(AbortKind::Close),
        _ => {}
    }

    let (source, len) = match content(&shared, &file).await {
        Ok(c) => c,
        Err(_) => {
            record.status = 500;
            push(record);
            return status_error(500, &path);
        }
    };
    push(record);
    let body = match (drip, source) {
        (Some(every), Source::Memory(bytes)) => DripBody::new(bytes, every, sent).boxed_unsync(),
        (_, source) => {
            let mut body = ServeBody::full(source, len, ctl, sent);
            if let Some(kind) = cut {
                body = body.cut(len / 2, kind);
            }
            body.boxed_unsync()
        }
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(XLSX_CONTENT_TYPE));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", file.sign)) {
        h.insert(ETAG, v);
    }
    resp
}
