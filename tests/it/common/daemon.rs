//! Driving `mna-reportd run` as a child process.

use super::World;
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A running daemon; killed (SIGKILL) when dropped if still running.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl World {
    /// Start `mna-reportd run`, stderr to a log file in the temp dir.
    pub fn start_daemon(&self, extra_env: &[(&str, &str)]) -> Daemon {
        let n = std::fs::read_dir(self.dir.path())
            .map(|d| d.count())
            .unwrap_or(0);
        let log = self.dir.path().join(format!("daemon-{n}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = self.cmd();
        cmd.arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::from(file));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn daemon");
        Daemon { child, log }
    }
}

/// The daemon's log line that gives the `[metrics]` listener's bound
/// address (`addr=`), the page's too when it shares it.
pub const METRICS_LISTENING: &str = "serving /metrics and /healthz";
/// The daemon's log line that gives the `[web]` listener's bound address
/// when it has its own.
pub const PAGE_LISTENING: &str = "serving the page";

/// A config's `[metrics]` listening on a port the system picks: the
/// daemon logs the one it got ([`Daemon::listening`]).
pub const METRICS_PORT_0: &str = "[metrics]\nlisten = \"127.0.0.1:0\"\n";

/// `/metrics` on port 0 and a job `fleet`, hourly and per device over every
/// device of the account, which the fake serves two of (`mna-a`, `mna-b`,
/// a week old); their creation time.
pub fn fleet_of_two(w: &super::World) -> i64 {
    w.write_config(
        METRICS_PORT_0,
        "[[jobs]]\nname = \"fleet\"\ngranularity = \"hourly\"\nlag = \"0s\"\n\
         catch_up = \"3h\"\ndevices = \"all\"\nper_device = true\n",
    );
    let old = jiff::Timestamp::now().as_second() - 7 * 86_400;
    w.fake.set_devices(vec![
        fake_mna::FakeDevice::new("mna-a", old),
        fake_mna::FakeDevice::new("mna-b", old),
    ]);
    old
}

/// A systemd notification socket (`$NOTIFY_SOCKET`) the daemon reports to.
pub struct Notify {
    sock: UnixDatagram,
    path: PathBuf,
    /// Every message read so far, one a line.
    pub seen: String,
}

impl Notify {
    /// A socket in `w`'s temp dir; reads give up after 30 s.
    pub fn new(w: &World) -> Notify {
        let path = w.dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind notify socket");
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        Notify {
            sock,
            path,
            seen: String::new(),
        }
    }

    /// The environment that points the daemon at this socket.
    pub fn env(&self) -> (&'static str, &str) {
        ("NOTIFY_SOCKET", self.path.to_str().expect("utf8"))
    }

    /// Read messages until one read since the last [`Notify::clear`] contains `want`.
    pub fn read_until(&mut self, want: &str) {
        let mut buf = [0u8; 4096];
        while !self.seen.contains(want) {
            let n = self
                .sock
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("waiting for {want}: {e}; got so far: {}", self.seen));
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            self.seen.push('\n');
        }
    }

    /// Forget the messages read so far.
    pub fn clear(&mut self) {
        self.seen.clear();
    }
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill only sends a signal to our own child.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", self.pid());
    }

    /// The address the daemon's log line containing `what` gives in its
    /// `addr=` field, once logged (at most 120 s): how a test finds a
    /// listener configured with port 0.
    pub fn listening(&self, what: &str) -> SocketAddr {
        let mut found = None;
        wait_for(what, Duration::from_secs(120), || {
            found = self
                .log_text()
                .lines()
                .filter(|l| l.contains(what))
                .find_map(|l| l.split("addr=").nth(1))
                .and_then(|a| a.split_whitespace().next())
                .and_then(|a| a.trim_matches('"').parse().ok());
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no address logged with {what}:\n{}", self.log_text()))
    }

    /// The bound address of the `[metrics]` listener.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.listening(METRICS_LISTENING)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait for the process to exit, at most `limit`; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        exit_within(&mut self.child, limit).map(|status| status.code().unwrap_or(-1))
    }

    /// Stop with SIGTERM and insist on exit code 0.
    pub fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let code = self.wait_exit(Duration::from_secs(60));
        assert_eq!(
            code,
            Some(0),
            "daemon did not exit 0 after SIGTERM; log:\n{}",
            self.log_text()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Poll `cond` every 20 ms until it holds; `false` if it still does not
/// after `limit`. The one pause between looks in the tests: a condition is
/// polled with a generous deadline, never waited for by a fixed sleep.
pub fn poll_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Poll `cond` until it holds; panic with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, cond: impl FnMut() -> bool) {
    assert!(
        poll_until(limit, cond),
        "timed out after {limit:?} waiting for {what}"
    );
}

/// Wait for `child` to exit, at most `limit`: its status, `None` if it still runs.
pub fn exit_within(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let mut status = None;
    poll_until(limit, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    status
}

/// SIGKILL to a child process not yet waited for, when dropped: a test
/// that fails leaves no process behind (a stopped one included).
pub struct KillOnDrop(pub i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: a signal to a child of ours that was not reaped yet.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

/// Count of `reports` rows with `status`, 0 when the database is not there yet.
pub fn count_status(w: &World, status: &str) -> i64 {
    if !w.db_path().exists() {
        return 0;
    }
    let Ok(db) = rusqlite::Connection::open(w.db_path()) else {
        return 0;
    };
    db.query_row(
        "SELECT count(*) FROM reports WHERE status = ?1",
        [status],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

/// GET `path` on `addr`: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
