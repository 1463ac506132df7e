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
    /// Every line the server logged (one per request, with its status).
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
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
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = log.clone();
        // Drain stderr for the server's life (it logs every request), and
        // hand over the address of its startup line.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("\" ") {
                    keep.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(line.clone());
                }
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
            log,
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

/// The server's request log, the remote archive's view of it.
impl S3Server {
    /// The request lines logged so far: `(method, path with query, status)`.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter()
            .filter_map(|l| {
                let q = l.split('"').nth(1)?;
                let mut it = q.split(' ');
                let (m, p) = (it.next()?, it.next()?);
                let status = l
                    .split('"')
                    .nth(2)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()?;
                Some((m.to_string(), p.to_string(), status))
            })
            .collect()
    }

    /// Per key of `bucket`, how many times an object was written there and
    /// accepted: a whole PUT, or the completion of a multipart upload.
    pub fn writes(&self, bucket: &str) -> std::collections::BTreeMap<String, usize> {
        let mut n = std::collections::BTreeMap::new();
        let start = format!("/{bucket}/");
        for (m, p, status) in self.requests() {
            let Some(rest) = p.strip_prefix(&start) else {
                continue;
            };
            let (key, query) = rest.split_once('?').unwrap_or((rest, ""));
            let whole_put = m == "PUT" && !query.contains("partNumber");
            let completed = m == "POST" && query.contains("uploadId");
            if status == 200 && (whole_put || completed) {
                *n.entry(key.to_string()).or_default() += 1;
            }
        }
        n
    }

    /// The user metadata of `bucket/key` (`x-amz-meta-*`, names without
    /// the prefix) and its size.
    pub fn head(&self, bucket: &str, key: &str) -> (Vec<(String, String)>, u64) {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        let head = format!(
            "HEAD /{bucket}/{key} HTTP/1.0\r\nHost: {}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\nConnection: close\r\n\r\n",
            self.addr
        );
        s.write_all(head.as_bytes()).expect("write");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        assert!(
            resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
            "HEAD {bucket}/{key}: {resp}"
        );
        let mut meta = Vec::new();
        let mut size = 0;
        for l in resp.lines() {
            let Some((name, value)) = l.split_once(':') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            if let Some(m) = name.strip_prefix("x-amz-meta-") {
                meta.push((m.to_string(), value.trim().to_string()));
            } else if name == "content-length" {
                size = value.trim().parse().expect("length");
            }
        }
        meta.sort();
        (meta, size)
    }

    /// Multipart uploads begun in `bucket` and neither completed nor aborted.
    pub fn open_uploads(&self, bucket: &str) -> usize {
        let (status, body) = self
            .request("GET", &format!("/{bucket}?uploads"), &[])
            .expect("list uploads");
        assert_eq!(status, 200, "list uploads of {bucket}");
        String::from_utf8_lossy(&body).matches("<UploadId>").count()
    }

    /// One IAM query (moto serves every service on its port; the scope of
    /// the Authorization header routes it): the answer's body.
    fn iam(&self, query: &str) -> String {
        let s = TcpStream::connect(&self.addr).expect("connect");
        let body = format!("{query}&Version=2010-05-08");
        let head = format!(
            "POST / HTTP/1.0\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let resp = exchange(s, &head);
        assert!(resp.contains(" 200 "), "IAM {query}: {resp}");
        resp
    }

    /// From now on the server checks every request's signature against the
    /// keys it knows, as a real one does: a user that may do anything is
    /// made, and its key pair returned (access key id, secret). Buckets
    /// must be created before.
    pub fn require_keys(&self) -> (String, String) {
        self.iam("Action=CreateUser&UserName=reports");
        let made = self.iam("Action=CreateAccessKey&UserName=reports");
        let field = |name: &str| {
            made.split(&format!("<{name}>"))
                .nth(1)
                .and_then(|s| s.split(&format!("</{name}>")).next())
                .unwrap_or_else(|| panic!("no {name} in {made}"))
                .to_string()
        };
        let (id, secret) = (field("AccessKeyId"), field("SecretAccessKey"));
        let policy = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
        self.iam(&format!(
            "Action=PutUserPolicy&UserName=reports&PolicyName=all&PolicyDocument={policy}"
        ));
        self.reset_auth("0");
        (id, secret)
    }
}

impl S3Server {
    /// Stop checking signatures again (the test's own reads are unsigned).
    pub fn stop_checking_keys(&self) {
        self.reset_auth("inf");
    }

    /// The number of requests moto serves before it checks signatures
    /// (`0`: from now on; `inf`: never).
    fn reset_auth(&self, after: &str) {
        let s = TcpStream::connect(&self.addr).expect("connect");
        let head = format!(
            "POST /moto-api/reset-auth HTTP/1.0\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{after}",
            self.addr,
            after.len()
        );
        let resp = exchange(s, &head);
        assert!(resp.contains(" 200 "), "reset-auth: {resp}");
    }
}

/// Send a whole raw request on `s` and read the whole answer.
fn exchange(mut s: TcpStream, request: &str) -> String {
    s.write_all(request.as_bytes()).expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    resp
}
