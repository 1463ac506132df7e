//! For the snapshot and restore tests: a world whose `[storage.remote]` is
//! on the test's S3 server, objects put with user metadata, and a gzip
//! file read back.

use super::s3::{ACCESS_KEY_ID, S3Server, SECRET_ACCESS_KEY};
use super::{Settings, World, write_secret};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The bucket the snapshot tests use.
pub const BUCKET: &str = "mna-reports";

/// A world whose `[storage.remote]` is `s3://mna-reports/<prefix>` on
/// `s3` (keys in files), with `remote_extra` lines in that table, `extra`
/// tables and `jobs`.
pub fn remote_world(
    s3: &S3Server,
    prefix: &str,
    remote_extra: &str,
    extra: &str,
    jobs: &str,
) -> World {
    let w = World::with(fake_mna::FakeConfig::default(), "", jobs);
    let storage = format!(
        "[storage.remote]\nurl = \"s3://{BUCKET}/{prefix}\"\nendpoint = \"{}\"\n\
         access_key_id_file = \"s3_id\"\nsecret_access_key_file = \"s3_secret\"\n{remote_extra}",
        s3.endpoint
    );
    let settings = Settings {
        storage: &storage,
        ..Settings::default()
    };
    w.write_config_with(&settings, extra, jobs);
    write_secret(&w.dir.path().join("s3_id"), ACCESS_KEY_ID);
    write_secret(&w.dir.path().join("s3_secret"), SECRET_ACCESS_KEY);
    w
}

/// PUT `body` at `bucket/key` with the user metadata `meta`
/// (`x-amz-meta-<name>: <value>`).
pub fn put_with_meta(s3: &S3Server, bucket: &str, key: &str, body: &[u8], meta: &[(&str, String)]) {
    let addr = s3.endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!(
        "PUT /{bucket}/{key} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in meta {
        head.push_str(&format!("x-amz-meta-{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write head");
    s.write_all(body).expect("write body");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(
        resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"),
        "PUT {bucket}/{key}: {}",
        resp.lines().next().unwrap_or_default()
    );
}

/// DELETE `bucket/key`.
pub fn delete(s3: &S3Server, bucket: &str, key: &str) {
    let got = s3.request("DELETE", &format!("/{bucket}/{key}"), &[]);
    assert_eq!(got.map(|(s, _)| s), Some(204), "delete {bucket}/{key}");
}

/// The bytes of a gzip file.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip file");
    out
}

/// RFC 3339 of Unix seconds, as the object metadata carries times.
pub fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t).expect("time").to_string()
}
