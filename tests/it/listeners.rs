//! The listeners under load and at shutdown, driven against the real
//! binary: idle connections by the thousand do not take the descriptors the
//! daemon's own fetches need, `serve` ends on a second signal while a client
//! holds a request half-sent, and nothing printed lets anyone log in.

use crate::common;

use common::daemon::{Notify, PAGE_LISTENING, count_status, wait_for};
use common::*;
use fake_mna::{Delay, FakeConfig, Fault, Gate};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

/// Idle connections the attack holds open.
const IDLE: usize = 2000;
/// The daemon's open-files limit in the test: the default soft limit of
/// most systems, made hard so that the daemon cannot raise it.
const DAEMON_NOFILE: u64 = 1024;
const LONG: Duration = Duration::from_secs(120);

/// Raise this process's soft open-files limit to the hard one; the hard one.
fn raise_own_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_max
}

/// The status of a GET on `addr`, or `None` when no answer came. A refusal
/// past the cap closes at once: the request may then meet a closed socket
/// and the end of the exchange a reset, so what arrived before it counts.
fn status_of(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = s.read(&mut chunk) {
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn thousands_of_idle_connections_do_not_starve_the_daemons_own_fetches() {
    assert!(
        raise_own_limit() > IDLE as u64 + 256,
        "this test holds {IDLE} connections: raise the hard open-files limit"
    );
    let delay = Duration::from_millis(300);
    let w = World::with(
        FakeConfig {
            answer_delay: Delay {
                min: delay,
                max: delay,
            },
            ..FakeConfig::default()
        },
        "[metrics]\nlisten = \"127.0.0.1:0\"\n",
        // `lag = "0s"`: two days hold 48 windows whatever the minute the
        // test starts at (with the default 5 min lag, 47 in an hour's first
        // five minutes).
        "[[jobs]]\nname = \"hourly-all\"\ngranularity = \"hourly\"\ntimezone = \"UTC\"\ncatch_up = \"2d\"\nlag = \"0s\"\n",
    );
    // The first answer waits until the connections are open: the catch-up
    // cannot end before them.
    let gate = Gate::new();
    w.fake.push_fault(Fault::Hold(gate.clone()));
    let mut notify = Notify::new(&w);
    let log = w.dir.path().join("daemon.log");
    let mut cmd = w.cmd();
    cmd.arg("run")
        .env(notify.env().0, notify.env().1)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")));
    // SAFETY: setrlimit is async-signal-safe; it only changes the child's limit.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: DAEMON_NOFILE,
                rlim_max: DAEMON_NOFILE,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn daemon");
    let mut daemon = common::daemon::Daemon { child, log };
    let addr = daemon.metrics_addr();

    // The attack: connections that never send a byte.
    let held: Vec<TcpStream> = (0..IDLE)
        .map(|i| TcpStream::connect(addr).unwrap_or_else(|e| panic!("connection {i}: {e}")))
        .collect();
    let done_while_held = count_status(&w, "ok");
    gate.open();
    // Those past the cap were answered 503 and closed at once.
    for mut s in held.iter().skip(IDLE - 50) {
        s.set_read_timeout(Some(LONG)).expect("timeout");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("read the refusal");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    }

    // The catch-up finishes, every report ok, while they are held.
    notify.read_until("READY=1");
    notify.read_until("STATUS=1 jobs, idle");
    let ok = count_status(&w, "ok");
    let total: i64 = w
        .db()
        .query_row("SELECT count(*) FROM reports", [], |r| r.get(0))
        .expect("count");
    assert!(ok >= 48, "{ok} reports ok; log:\n{}", daemon.log_text());
    assert!(
        done_while_held < ok,
        "the catch-up ended before the connections were open: the test proved nothing"
    );
    assert_eq!(ok, total, "log:\n{}", daemon.log_text());
    let log_text = daemon.log_text();
    assert!(
        !log_text.contains("Too many open files"),
        "the daemon ran out of descriptors:\n{log_text}"
    );

    // The listener answers: 503 while the cap is full of idle connections,
    // 200 once the header timeout has closed them (the attack still holds
    // its ends open).
    let first = status_of(addr, "/healthz");
    assert!(
        matches!(first, Some(200) | Some(503)),
        "a normal request got {first:?}"
    );
    let mut last = first;
    wait_for("/healthz answered 200 again", LONG, || {
        last = status_of(addr, "/healthz");
        last == Some(200)
    });
    drop(held);
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(LONG), Some(0), "{}", daemon.log_text());
}

#[test]
fn serve_ends_on_a_second_signal_while_a_request_is_half_sent() {
    let w = World::new(HOURLY);
    assert_exit(&w.run(&FETCH_ONE_HOUR), 0);
    let mut child = w
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("serve prints its address");
    let addr: SocketAddr = first
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    let mut half = TcpStream::connect(addr).expect("connect");
    half.write_all(b"GET /api/jobs HTTP/1.1\r\nHo")
        .expect("half a request");
    // Served: a whole request on another connection is answered.
    assert_eq!(status_of(addr, "/api/jobs"), Some(200));
    let serve = common::daemon::Daemon {
        child,
        log: w.dir.path().join("none"),
    };
    serve.signal(libc::SIGTERM);
    serve.signal(libc::SIGTERM);
    let mut serve = serve;
    assert_eq!(serve.wait_exit(LONG), Some(0), "serve did not end");
    drop(half);
}

#[test]
fn the_daemon_logs_no_way_to_log_in() {
    let token = "fedcba9876543210fedcba9876543210";
    let w = World::new(HOURLY);
    w.write_config(
        "[web]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"web-token\"\n",
        HOURLY,
    );
    write_secret(&w.dir.path().join("web-token"), &format!("{token}\n"));
    let mut notify = Notify::new(&w);
    let d = w.start_daemon(&[notify.env()]);
    notify.read_until("READY=1");
    let log = d.log_text();
    assert!(
        log.contains("/login"),
        "the log says where to log in:\n{log}"
    );
    assert!(
        !log.contains("token=") && !log.contains(token),
        "nothing to log in with is logged:\n{log}"
    );
    d.stop();
}

/// The page on a listener of its own, asked for on port 0: the daemon logs
/// the address it got, and the page answers there.
#[test]
fn the_daemon_logs_the_address_its_page_got_on_port_0() {
    let w = World::new(HOURLY);
    w.write_config("[web]\nlisten = \"127.0.0.1:0\"\n", HOURLY);
    let mut notify = Notify::new(&w);
    let d = w.start_daemon(&[notify.env()]);
    notify.read_until("READY=1");
    let addr = d.listening(PAGE_LISTENING);
    assert_ne!(addr.port(), 0, "{}", d.log_text());
    assert_eq!(status_of(addr, "/api/jobs"), Some(200));
    d.stop();
}
