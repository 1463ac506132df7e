//! TC3-HMAC-SHA256 request signing (Tencent Cloud API 3.0), for a JSON `POST /`.
//!
//! Pure: no clock, no I/O. The caller passes the timestamp it will send in
//! `X-TC-Timestamp`, the exact `Host` and `Content-Type` header values and the
//! exact body bytes, and gets the `Authorization` header value back. A request
//! must be signed afresh for every attempt (the server rejects a timestamp
//! more than 300 s from its clock).

use crate::domain::digest::sha256_hex;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The signature algorithm name, first token of the `Authorization` header.
pub(crate) const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// What one request is signed over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignInput<'a> {
    /// Service name of the credential scope (`mna` for this product).
    pub(crate) service: &'a str,
    /// The `Host` header exactly as sent, with `:port` when there is one.
    pub(crate) host: &'a str,
    /// The `Content-Type` header exactly as sent.
    pub(crate) content_type: &'a str,
    /// The body bytes exactly as sent.
    pub(crate) body: &'a [u8],
    /// The `X-TC-Timestamp` header value (Unix seconds).
    pub(crate) timestamp: i64,
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// The UTC date (`YYYY-MM-DD`) of a Unix timestamp, as the credential scope wants it.
pub(crate) fn scope_date(timestamp: i64) -> String {
    let ts = jiff::Timestamp::from_second(timestamp).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%Y-%m-%d").to_string()
}

/// The canonical request of the TC3 algorithm for a `POST /` with no query.
pub(crate) fn canonical_request(input: &SignInput<'_>) -> String {
    format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\n\ncontent-type;host\n{}",
        input.content_type.trim().to_ascii_lowercase(),
        input.host.trim().to_ascii_lowercase(),
        sha256_hex(input.body)
    )
}

/// The string to sign, from the canonical request.
pub(crate) fn string_to_sign(input: &SignInput<'_>) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}/{}/tc3_request\n{}",
        input.timestamp,
        scope_date(input.timestamp),
        input.service,
        sha256_hex(canonical_request(input).as_bytes())
    )
}

/// The lowercase hex signature for `input` under `secret_key`.
pub(crate) fn signature(secret_key: &SecretString, input: &SignInput<'_>) -> String {
    let date = scope_date(input.timestamp);
    let mut k = Vec::with_capacity(3 + secret_key.expose_secret().len());
    k.extend_from_slice(b"TC3");
    k.extend_from_slice(secret_key.expose_secret().as_bytes());
    let secret_date = hmac_sha256(&k, date.as_bytes());
    let secret_service = hmac_sha256(&secret_date, input.service.as_bytes());
    let secret_signing = hmac_sha256(&secret_service, b"tc3_request");
    hex::encode(hmac_sha256(
        &secret_signing,
        string_to_sign(input).as_bytes(),
    ))
}

/// The `Authorization` header value for `input`.
pub(crate) fn authorization(
    secret_id: &str,
    secret_key: &SecretString,
    input: &SignInput<'_>,
) -> String {
    format!(
        "{ALGORITHM} Credential={}/{}/{}/tc3_request, SignedHeaders=content-type;host, Signature={}",
        secret_id,
        scope_date(input.timestamp),
        input.service,
        signature(secret_key, input)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
    const TS: i64 = 1551113065;

    fn key() -> SecretString {
        SecretString::from(KEY)
    }

    #[test]
    fn vector_1_official_doc_cvm() {
        let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let input = SignInput {
            service: "cvm",
            host: "cvm.tencentcloudapi.com",
            content_type: "application/json; charset=utf-8",
            body,
            timestamp: TS,
        };
        assert_eq!(
            sha256_hex(body),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            sha256_hex(canonical_request(&input).as_bytes()),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            signature(&key(), &input),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn vector_2_mna_china_site() {
        let body = br#"{"DeviceId": "-1", "BeginTime": 1700000000, "EndTime": 1700086400, "TimeGranularity": 1}"#;
        let input = SignInput {
            service: "mna",
            host: "mna.tencentcloudapi.com",
            content_type: "application/json",
            body,
            timestamp: TS,
        };
        assert_eq!(
            signature(&key(), &input),
            "8fd61af721faec7e85bcfa1d3f0b06cdf47e76eb43f58624afbe2b66455a5ac9"
        );
    }

    #[test]
    fn vector_3_mna_international_site() {
        let body =
            br#"{"DeviceId":"-1","BeginTime":1700000000,"EndTime":1700086400,"TimeGranularity":1}"#;
        let input = SignInput {
            service: "mna",
            host: "mna.intl.tencentcloudapi.com",
            content_type: "application/json",
            body,
            timestamp: TS,
        };
        assert_eq!(
            signature(&key(), &input),
            "74fc51337ebd533982a3d7f6fc073bdebcb8f3a14e1266865328c6575c9d264a"
        );
        let auth = authorization("AKIDEXAMPLE", &key(), &input);
        assert_eq!(
            auth,
            "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2019-02-25/mna/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=74fc51337ebd533982a3d7f6fc073bdebcb8f3a14e1266865328c6575c9d264a"
        );
    }

    #[test]
    fn another_key_or_body_changes_the_signature() {
        let input = SignInput {
            service: "mna",
            host: "mna.tencentcloudapi.com",
            content_type: "application/json",
            body: b"{}",
            timestamp: TS,
        };
        let a = signature(&key(), &input);
        let b = signature(&SecretString::from("another"), &input);
        let c = signature(
            &key(),
            &SignInput {
                body: b"{ }",
                ..input
            },
        );
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn scope_date_is_the_utc_date() {
        assert_eq!(scope_date(TS), "2019-02-25");
        assert_eq!(scope_date(1_700_000_000), "2023-11-14");
        assert_eq!(scope_date(86_399), "1970-01-01");
        assert_eq!(scope_date(86_400), "1970-01-02");
    }
}
