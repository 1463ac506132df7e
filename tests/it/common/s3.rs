//! A real S3 server for the tests: moto's server mode (`pip install
//! "moto[server]"`), started on a loopback port the system picks (read from
//! its startup line), waited for until it answers, and killed on drop.
//! moto accepts any key pair; it checks the requests' S3 semantics.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to start.
const START: Duration = Duration::from_secs(60);

/// The keys the tests give the program (moto takes any).
pub const ACCESS_KEY_ID: &str = "AKIDEXPORTTEST";
pub const SECRET_ACCESS_KEY: &str = "export-test-secret";

pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    addr: String,
}

impl S3Server {
    /// Start moto; panics with the fix when it is not installed.
    pub fn start() -> S3Server {
        let mut child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (the S3 tests need moto: pip install \"moto[server]\")");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Drain stderr for the server's life (it logs every request), and
        // hand over the address of its startup line.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("Running on http://") {
                    let _ = tx.send(line[at + "Running on http://".len()..].trim().to_string());
                }
            }
        });
        let addr = match rx.recv_timeout(START) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "moto's S3 server did not start (is it installed? pip install \"moto[server]\")"
                );
            }
        };
        let server = S3Server {
            child,
            endpoint: format!("http://{addr}"),
            addr,
        };
        let deadline = Instant::now() + START;
        while server.request("GET", "/", &[]).map(|(s, _)| s) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "moto's S3 server does not answer at {}",
                server.endpoint
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// One plain HTTP/1.0 request: status and body. It carries an
    /// Authorization header moto reads the key id from (it does not check
    /// signatures), so the test's own reads are not anonymous.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(&self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        let head = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).ok()?;
        s.write_all(body).ok()?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).ok()?;
        let end = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
        let status = std::str::from_utf8(&resp[..end])
            .ok()?
            .split(' ')
            .nth(1)?
            .parse()
            .ok()?;
        Some((status, resp[end + 4..].to_vec()))
    }

    /// The ETag of `bucket/key` (`"<md5>-<parts>"` for a multipart upload).
    pub fn etag(&self, bucket: &str, key: &str) -> String {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        let head = format!(
            "HEAD /{bucket}/{key} HTTP/1.0\r\nHost: {}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\nConnection: close\r\n\r\n",
            self.addr
        );
        s.write_all(head.as_bytes()).expect("write");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        resp.lines()
            .find_map(|l| {
                l.strip_prefix("ETag: ")
                    .or_else(|| l.strip_prefix("etag: "))
            })
            .unwrap_or_else(|| panic!("no ETag for {bucket}/{key}: {resp}"))
            .trim()
            .trim_matches('"')
            .to_string()
    }

    /// Create `bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        let got = self.request("PUT", &format!("/{bucket}"), &[]);
        assert_eq!(got.map(|(s, _)| s), Some(200), "create bucket {bucket}");
    }

    /// The keys in `bucket` below `prefix`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut after = String::new();
        loop {
            let path = format!("/{bucket}?list-type=2&prefix={prefix}&start-after={after}");
            let (status, body) = self.request("GET", &path, &[]).expect("list");
            assert_eq!(status, 200, "list {bucket}");
            let text = String::from_utf8_lossy(&body).into_owned();
            let page: Vec<String> = text
                .split("<Key>")
                .skip(1)
                .filter_map(|s| s.split("</Key>").next())
                .map(|k| k.replace("&amp;", "&"))
                .collect();
            let truncated = text.contains("<IsTruncated>true</IsTruncated>");
            let next = page.last().cloned();
            keys.extend(page);
            match next {
                Some(last) if truncated => after = last,
                _ => break,
            }
        }
        keys.sort();
        keys
    }

    /// The bytes of `bucket/key`.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let (status, body) = self
            .request("GET", &format!("/{bucket}/{key}"), &[])
            .expect("get");
        assert_eq!(status, 200, "get {bucket}/{key}");
        body
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
