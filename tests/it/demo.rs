//! The newcomer's path: after the build, `mna-demo` (the fake's crate) runs
//! the real daemon on the fake API; the history fills with `ok` reports of
//! every job, `history` shows them, and Ctrl-C (SIGINT) stops everything
//! cleanly: exit 0, the daemon gone, the fake's port closed, the data kept.

use crate::common;

use common::BIN;
use common::daemon::{exit_within, wait_for};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The demo binary, next to `mna-reportd` (`cargo test --workspace` builds
/// it; a test run of this file alone builds it here).
fn demo_bin() -> PathBuf {
    let path = Path::new(BIN).with_file_name("mna-demo");
    if !path.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "fake-mna", "--bin", "mna-demo"])
            .status()
            .expect("cargo runs");
        assert!(st.success(), "building mna-demo");
    }
    path
}

/// What the demo printed: the daemon's pid, the fake's address, the database
/// and the `history` line.
#[derive(Default, Debug)]
struct Printed {
    pid: Option<i32>,
    endpoint: Option<String>,
    database: Option<PathBuf>,
    history: Option<String>,
    page: Option<String>,
    lines: Vec<String>,
}

impl Printed {
    fn take(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("mna-demo: the fake MNA API listens on ") {
            self.endpoint = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.split("(pid ").nth(1) {
            self.pid = rest.split(')').next().and_then(|p| p.parse().ok());
        }
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("database") {
            self.database = Some(PathBuf::from(rest.trim()));
        }
        if let Some(rest) = t.strip_prefix("history") {
            self.history = Some(rest.trim().to_owned());
        }
        if let Some(rest) = t.strip_prefix("page") {
            self.page = Some(rest.trim().to_owned());
        }
        self.lines.push(line.to_owned());
    }
}

fn ok_jobs(db: &Path) -> Vec<String> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let Ok(mut st) =
        conn.prepare("SELECT DISTINCT job FROM reports WHERE status = 'ok' ORDER BY job")
    else {
        return Vec::new();
    };
    st.query_map([], |r| r.get::<_, String>(0))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// How many targets of `job` have an `ok` report.
fn ok_targets(db: &Path, job: &str) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| {
            c.query_row(
                "SELECT count(DISTINCT target) FROM reports WHERE job = ?1 AND status = 'ok'",
                [job],
                |r| r.get(0),
            )
        })
        .unwrap_or(0)
}

/// One plain HTTP GET on loopback: the status line, headers and body.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).expect("the page listens");
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    c.read_to_string(&mut answer).expect("answer");
    answer
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn the_demo_fills_the_history_and_stops_cleanly_on_ctrl_c() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("demo.log");
    let mut child = Command::new(demo_bin())
        .env("TMPDIR", tmp.path())
        .env_remove("MNA_REPORTD_BIN")
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("mna-demo starts");
    let (tx, rx) = mpsc::channel::<String>();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Printed::default();
    let start = Instant::now();
    while printed.history.is_none()
        || printed.database.is_none()
        || printed.pid.is_none()
        || printed.page.is_none()
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the demo printed no guide: {:?}\n{}",
            printed.lines,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            printed.take(&line);
        }
    }
    let db = printed.database.clone().expect("database");
    let daemon = printed.pid.expect("daemon pid");
    assert!(db.starts_with(tmp.path()), "{db:?} in $TMPDIR");

    // every job of the example, and the live one, has ok reports
    let want = [
        "daily-per-device",
        "discovered-per-device",
        "hourly-all",
        "minute-live",
    ];
    wait_for("ok reports of every job", Duration::from_secs(180), || {
        let jobs = ok_jobs(&db);
        want.iter().all(|j| jobs.iter().any(|k| k == j))
    });
    // the discovering job: a report of each of the demo account's 5 devices
    wait_for("a report of each device", Duration::from_secs(180), || {
        ok_targets(&db, "discovered-per-device") == 5
    });

    // the printed page answers, and its API lists the example's jobs
    let page = printed.page.clone().expect("page line");
    let addr = page
        .strip_prefix("http://")
        .and_then(|a| a.strip_suffix('/'))
        .expect("http://ADDR/");
    let index = http_get(addr, "/");
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(index.contains("<html"), "{index}");
    let jobs = http_get(addr, "/api/jobs");
    assert!(jobs.starts_with("HTTP/1.1 200"), "{jobs}");
    assert!(
        jobs.contains("hourly-all") && jobs.contains("daily-per-device"),
        "{jobs}"
    );

    // the printed history line works as printed
    let history = printed.history.clone().expect("history line");
    let o = Command::new("sh")
        .args(["-c", &history])
        .output()
        .expect("history runs");
    assert!(o.status.success(), "{history}: {o:?}");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("hourly-all") && table.contains("ok"),
        "{table}"
    );

    // Ctrl-C
    // SAFETY: a signal to our own child.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let Some(status) = exit_within(&mut child, Duration::from_secs(120)) else {
        let _ = child.kill();
        panic!(
            "the demo did not stop after SIGINT:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        printed.take(&line);
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{:?}\n{log_text}", printed.lines);
    assert!(!alive(daemon), "the daemon {daemon} is gone");
    let endpoint = printed.endpoint.clone().expect("endpoint");
    let addr = endpoint.trim_start_matches("http://");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the fake at {addr} is stopped"
    );
    assert!(log_text.contains("stopped"), "the daemon logged its stop");
    let all = printed.lines.join("\n");
    assert!(all.contains("mna-demo: mna-reportd stopped"), "{all}");
    assert!(all.contains("the data stays in"), "{all}");
    assert!(db.is_file(), "the history is kept for a look");
}
