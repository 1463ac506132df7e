//! TC3-HMAC-SHA256: the signer and the server-side verifier.
//!
//! This module owns everything about request signatures: parsing the
//! `Authorization` header, building the canonical request from the headers
//! that `SignedHeaders` lists (in that order), deriving the signing key, and
//! comparing signatures. It is written independently of any client crate so
//! that a client bug cannot be mirrored by the fake.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::clock::utc_date;

/// The only algorithm Tencent Cloud API 3.0 accepts.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// The payload hash marker some SDKs send in `X-TC-Content-SHA256`.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The signing key for `date` (YYYY-MM-DD) and `service`.
fn signing_key(secret_key: &str, date: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac(&k_date, service.as_bytes());
    hmac(&k_service, b"tc3_request")
}

/// The canonical request of a `POST /` with an empty query string.
///
/// `headers` are `(name, value)` pairs in the order of `SignedHeaders`; names
/// and values are lowercased and trimmed here.
pub fn canonical_request(method: &str, headers: &[(&str, &str)], payload_hash: &str) -> String {
    let mut canonical_headers = String::new();
    let mut signed = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let name = name.trim().to_ascii_lowercase();
        canonical_headers.push_str(&name);
        canonical_headers.push(':');
        canonical_headers.push_str(&value.trim().to_ascii_lowercase());
        canonical_headers.push('\n');
        signed.push(name);
    }
    format!(
        "{method}\n/\n\n{canonical_headers}\n{}\n{payload_hash}",
        signed.join(";")
    )
}

/// The string to sign for a canonical request.
pub fn string_to_sign(timestamp: i64, date: &str, service: &str, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        sha256_hex(canonical.as_bytes())
    )
}

/// Signs a canonical request; returns the lowercase hex signature.
pub fn sign_canonical(
    secret_key: &str,
    service: &str,
    date: &str,
    timestamp: i64,
    canonical: &str,
) -> String {
    let key = signing_key(secret_key, date, service);
    let sts = string_to_sign(timestamp, date, service, canonical);
    hex::encode(hmac(&key, sts.as_bytes()))
}

/// The signature an SDK computes for a JSON `POST /` that signs
/// `content-type;host` (the date is the UTC date of `timestamp`).
pub fn sign_tc3(
    secret_key: &str,
    service: &str,
    host: &str,
    content_type: &str,
    body: &[u8],
    timestamp: i64,
) -> String {
    let canonical = canonical_request(
        "POST",
        &[("content-type", content_type), ("host", host)],
        &sha256_hex(body),
    );
    sign_canonical(
        secret_key,
        service,
        &utc_date(timestamp),
        timestamp,
        &canonical,
    )
}

/// A complete `Authorization` header value for [`sign_tc3`]'s request.
pub fn authorization(
    secret_id: &str,
    secret_key: &str,
    service: &str,
    host: &str,
    content_type: &str,
    body: &[u8],
    timestamp: i64,
) -> String {
    let signature = sign_tc3(secret_key, service, host, content_type, body, timestamp);
    format!(
        "{ALGORITHM} Credential={secret_id}/{}/{service}/tc3_request, \
         SignedHeaders=content-type;host, Signature={signature}",
        utc_date(timestamp)
    )
}

/// A parsed `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    /// Lowercased header names, in the order given.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request,
/// SignedHeaders=a;b, Signature=HEX`. `None` when malformed.
pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.trim().strip_prefix(ALGORITHM)?;
    if !rest.starts_with(' ') {
        return None;
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, val) = part.trim().split_once('=')?;
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return None,
        };
        if slot.replace(val.trim()).is_some() {
            return None;
        }
    }
    let scope: Vec<&str> = credential?.split('/').collect();
    let [secret_id, date, service, terminal] = scope.as_slice() else {
        return None;
    };
    if secret_id.is_empty() || *terminal != "tc3_request" || date.is_empty() {
        return None;
    }
    let signed_headers: Vec<String> = signed?
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if signed_headers.iter().any(|h| h.is_empty()) {
        return None;
    }
    let signature = signature?;
    if signature.is_empty() || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(Authorization {
        secret_id: (*secret_id).to_owned(),
        date: (*date).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// Compares two equal-length strings without an early exit.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
    const TS: i64 = 1551113065;

    #[test]
    fn vector_1_official_cvm() {
        let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        assert_eq!(
            sha256_hex(body),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let canonical = canonical_request(
            "POST",
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("host", "cvm.tencentcloudapi.com"),
            ],
            &sha256_hex(body),
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            sign_tc3(
                KEY,
                "cvm",
                "cvm.tencentcloudapi.com",
                "application/json; charset=utf-8",
                body,
                TS
            ),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn vector_2_mna_spaced_json() {
        let body = br#"{"DeviceId": "-1", "BeginTime": 1700000000, "EndTime": 1700086400, "TimeGranularity": 1}"#;
        assert_eq!(
            sign_tc3(
                KEY,
                "mna",
                "mna.tencentcloudapi.com",
                "application/json",
                body,
                TS
            ),
            "8fd61af721faec7e85bcfa1d3f0b06cdf47e76eb43f58624afbe2b66455a5ac9"
        );
    }

    #[test]
    fn vector_3_mna_intl_compact_json() {
        let body =
            br#"{"DeviceId":"-1","BeginTime":1700000000,"EndTime":1700086400,"TimeGranularity":1}"#;
        assert_eq!(
            sign_tc3(
                KEY,
                "mna",
                "mna.intl.tencentcloudapi.com",
                "application/json",
                body,
                TS
            ),
            "74fc51337ebd533982a3d7f6fc073bdebcb8f3a14e1266865328c6575c9d264a"
        );
    }

    #[test]
    fn parses_sdk_authorization() {
        let auth = authorization(
            "AKIDx",
            KEY,
            "mna",
            "127.0.0.1:1",
            "application/json",
            b"{}",
            TS,
        );
        let parsed = parse_authorization(&auth).expect("parses");
        assert_eq!(parsed.secret_id, "AKIDx");
        assert_eq!(parsed.date, "2019-02-25");
        assert_eq!(parsed.service, "mna");
        assert_eq!(parsed.signed_headers, ["content-type", "host"]);
        assert_eq!(
            parsed.signature,
            sign_tc3(KEY, "mna", "127.0.0.1:1", "application/json", b"{}", TS)
        );
    }

    #[test]
    fn rejects_malformed_authorization() {
        for bad in [
            "",
            "TC3-HMAC-SHA256",
            "HMAC Credential=a/2019-02-25/mna/tc3_request, SignedHeaders=host, Signature=ab",
            "TC3-HMAC-SHA256 Credential=a/2019-02-25/mna, SignedHeaders=host, Signature=ab",
            "TC3-HMAC-SHA256 Credential=a/2019-02-25/mna/tc3_request, Signature=ab",
            "TC3-HMAC-SHA256 Credential=a/2019-02-25/mna/tc3_request, SignedHeaders=host, Signature=xyz",
            "TC3-HMAC-SHA256 Credential=a/2019-02-25/mna/tc3_request, SignedHeaders=host;;x, Signature=ab",
            "TC3-HMAC-SHA256 Credential=/2019-02-25/mna/tc3_request, SignedHeaders=host, Signature=ab",
            "TC3-HMAC-SHA256 Credential=a/2019-02-25/mna/tc3_request, SignedHeaders=host, Signature=ab, Foo=1",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
