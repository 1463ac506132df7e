//! For the snapshot and restore tests: a `[storage.remote]` table on the
//! test's S3 server, the keys in a command's environment, objects put with
//! user metadata, and a gzip file read back.

use super::World;
use super::s3::{ACCESS_KEY_ID, S3Server, SECRET_ACCESS_KEY};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::Duration;

/// The `[storage.remote]` table of `s3://bucket/prefix` on `s3`, with
/// `extra` lines (the last table of `[storage]`'s lines).
pub fn remote_table(s3: &S3Server, bucket: &str, prefix: &str, extra: &str) -> String {
    format!(
        "[storage.remote]\nurl = \"s3://{bucket}/{prefix}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n{extra}\n",
        s3.endpoint
    )
}

/// `cmd` with the bucket's keys in its environment.
pub fn with_keys(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
}

/// Run `args` with the bucket's keys.
pub fn run_with_keys(w: &World, args: &[&str]) -> Output {
    with_keys(&mut w.cmd())
        .args(args)
        .output()
        .expect("run mna-reportd")
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
