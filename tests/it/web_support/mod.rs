//! Shared by the page's tests: a history built by the real binary against
//! the fake (ok, failed, running, pruned and missing windows), `serve`
//! started on it, and a small HTTP client.

#![allow(dead_code)]

use crate::common::{Settings, World};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

pub const HOUR: i64 = 3600;

/// An error message a hostile server could send: it must show as text.
pub const HOSTILE: &str =
    "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">";

/// The jobs of the history: hourly windows of all devices, UTC, a week's
/// horizon (the one fetched); a daily and a 5-minute job never fetched.
pub const JOB: &str = r#"
[[jobs]]
name = "hourly-all"
granularity = "hourly"
timezone = "UTC"
catch_up = "7d"

[[jobs]]
name = "daily-all"
granularity = "daily"
timezone = "Asia/Shanghai"

[[jobs]]
name = "five-min-all"
granularity = "5min"
timezone = "UTC"
catch_up = "1h"
"#;

/// A history whose windows from `d0` (two days and ten hours ago, so that
/// `prune`, which refuses less than a day, can prune the first ones) hold,
/// hour by hour: pruned, pruned, ok, ok, failed (with [`HOSTILE`] as its
/// message), running, then ok up to `d0 + 48h`; the windows after are
/// missing (due, not done). The day before `d0` is pruned too.
pub struct History {
    pub w: World,
    pub d0: i64,
}

fn utc(t: i64) -> String {
    jiff::Timestamp::from_second(t).expect("time").to_string()
}

impl History {
    pub fn build(extra: &str) -> History {
        let w = World::new(JOB);
        w.write_config_with(
            &Settings {
                max_attempts: 2,
                ..Settings::default()
            },
            extra,
            JOB,
        );
        let now = jiff::Timestamp::now().as_second();
        let d0 = now - now.rem_euclid(HOUR) - 58 * HOUR;
        let fetch = |from: i64, to: i64| w.fetch("hourly-all", &utc(from), &utc(to), &[]);
        let o = fetch(d0 - 24 * HOUR, d0 + 4 * HOUR);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        w.fake.push_fault(fake_mna::Fault::ApiError {
            code: "InvalidParameter".into(),
            message: HOSTILE.into(),
        });
        let o = fetch(d0 + 4 * HOUR, d0 + 5 * HOUR);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = fetch(d0 + 5 * HOUR, d0 + 6 * HOUR);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // Two more days done, so the failure stays on the first page of the
        // failures list (newest first) behind only the last hours' missing.
        let o = fetch(d0 + 6 * HOUR, d0 + 48 * HOUR);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The first two windows' files pruned by the binary's own prune.
        let older = now - (d0 + 2 * HOUR + HOUR / 2);
        let o = w.run(&["prune", "--older-than", &format!("{older}s")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The sixth window being fetched: claimed and running, as a fetch leaves it.
        let db = w.db();
        db.execute_batch(&format!(
            "INSERT INTO claims (report_id, owner, claimed_at, previous_status, file_path)
               SELECT id, 'host:1:1', unixepoch(), 'pending', NULL FROM reports WHERE window_start = {s};
             UPDATE reports SET status = 'running', file_path = NULL WHERE window_start = {s};",
            s = d0 + 5 * HOUR
        ))
        .expect("a running report");
        History { w, d0 }
    }

    /// The status the history records for the window starting at `start`.
    pub fn status_at(&self, start: i64) -> Option<String> {
        self.w
            .db()
            .query_row(
                "SELECT status FROM reports WHERE job = 'hourly-all' AND window_start = ?1",
                [start],
                |r| r.get(0),
            )
            .ok()
    }

    /// `serve --listen ADDR` on this history.
    pub fn serve(&self, listen: &str) -> Served {
        serve_world(&self.w, listen)
    }
}

/// `serve --listen ADDR` on `w`'s history: started, its address read from
/// the first line it prints.
pub fn serve_world(w: &World, listen: &str) -> Served {
    let mut child = w
        .cmd()
        .args(["serve", "--listen", listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve prints its address");
    let addr: SocketAddr = first
        .rsplit("http://")
        .next()
        .and_then(|a| a.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    Served {
        child,
        addr,
        printed: rx,
    }
}

/// A running `serve`; killed when dropped.
pub struct Served {
    pub child: Child,
    pub addr: SocketAddr,
    /// The lines it printed after the first, as they come.
    pub printed: std::sync::mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// GET `path` from `addr` with extra `headers`.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    request(addr, "GET", path, &addr.to_string(), headers, "")
}

/// GET `path` from `addr` naming `host` in `Host:`.
pub fn get_as(addr: SocketAddr, host: &str, path: &str) -> Answer {
    request(addr, "GET", path, host, &[], "")
}

/// POST the form `body` (URL-encoded) to `path`.
pub fn post_form(addr: SocketAddr, path: &str, body: &str) -> Answer {
    let length = body.len().to_string();
    request(
        addr,
        "POST",
        path,
        &addr.to_string(),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", &length),
        ],
        body,
    )
}

/// `method` `path` from `addr` with `Host: host`, extra `headers` and `body`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut body = buf[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size");
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16)
                .expect("hex size");
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 2 + size + 2..];
        }
        body = out;
    }
    Answer {
        status,
        headers,
        body,
    }
}
