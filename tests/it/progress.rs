//! Progress of `fetch`: a live bar on a terminal (run under a
//! pseudo-terminal), with no per-report log line unless `-v` and still
//! drawn with `-q`; a plain line now and then off one (a pipe), none with
//! `-q`.

use crate::common;

use common::*;
use fake_mna::{Delay, FakeConfig};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Duration;

/// 20 hourly reports whose answers take 1 s: the fetch lasts over a second.
fn world() -> World {
    let cfg = FakeConfig {
        answer_delay: Delay::fixed(Duration::from_secs(1)),
        ..FakeConfig::default()
    };
    let w = World::with(cfg, "", HOURLY);
    let settings = Settings {
        concurrency: None,
        ..Settings::default()
    };
    w.write_config_with(&settings, "", HOURLY);
    w
}

const RANGE: [&str; 2] = ["2026-11-01T00:00:00Z", "2026-11-01T20:00:00Z"];

/// A pseudo-terminal of 40 rows and 120 columns: (controller, terminal).
fn pty() -> (OwnedFd, OwnedFd) {
    let (mut controller, mut terminal) = (-1, -1);
    let size = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors into the two ints; the
    // name buffer and termios are not used; the size is read only.
    let rc = unsafe {
        libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here alone.
    unsafe {
        (
            OwnedFd::from_raw_fd(controller),
            OwnedFd::from_raw_fd(terminal),
        )
    }
}

/// `fetch` of [`RANGE`] with `extra` flags and stderr on a terminal: what
/// the terminal showed, and whether the fetch succeeded.
fn fetch_on_a_terminal(w: &World, extra: &[&str]) -> (String, bool) {
    let (controller, terminal) = pty();
    let mut child = w
        .cmd()
        .env("TERM", "xterm")
        .args(extra)
        .args([
            "fetch",
            "--job",
            "hourly-all",
            "--from",
            RANGE[0],
            "--to",
            RANGE[1],
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(terminal))
        .spawn()
        .expect("run mna-reportd");
    // Our copy of the terminal end is gone with the Command: once the child
    // exits, reading the controller ends (EIO).
    let mut reader = std::fs::File::from(controller);
    let shown = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    let ok = child.wait().expect("wait").success();
    (shown.join().expect("reader"), ok)
}

#[test]
fn on_a_terminal_fetch_draws_a_bar() {
    let w = world();
    let (shown, ok) = fetch_on_a_terminal(&w, &[]);
    assert!(ok, "{shown}");
    assert!(
        shown.contains("20/20 reports, ok 20, failed 0"),
        "{shown:?}"
    );
    assert!(shown.contains("ETA"), "{shown:?}");
    assert!(
        !shown.contains("progress: "),
        "lines on a terminal: {shown:?}"
    );
    // the bar alone: no line per report
    assert!(!shown.contains("report ok"), "{shown:?}");
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 20)]);
}

#[test]
fn with_v_a_terminal_shows_each_report_under_the_bar() {
    let w = world();
    let (shown, ok) = fetch_on_a_terminal(&w, &["-v"]);
    assert!(ok, "{shown}");
    assert_eq!(shown.matches("report ok").count(), 20, "{shown:?}");
}

#[test]
fn quiet_keeps_the_bar_on_a_terminal_and_silences_the_logs() {
    let w = world();
    let (shown, ok) = fetch_on_a_terminal(&w, &["-q"]);
    assert!(ok, "{shown}");
    assert!(
        shown.contains("20/20 reports, ok 20, failed 0"),
        "{shown:?}"
    );
    assert!(!shown.contains("INFO"), "{shown:?}");
}

#[test]
fn off_a_terminal_fetch_writes_progress_lines_and_no_bar() {
    let w = world();
    let o = w
        .cmd()
        .env("MNA_REPORTD_PROGRESS_EVERY", "200ms")
        .args([
            "fetch",
            "--job",
            "hourly-all",
            "--from",
            RANGE[0],
            "--to",
            RANGE[1],
        ])
        .output()
        .expect("run");
    assert_exit(&o, 0);
    let err = stderr(&o);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(!lines.is_empty(), "{err}");
    assert!(lines[0].contains(" of 20 reports (ok "), "{err}");
    assert!(lines[0].contains("calls/s"), "{err}");
    assert!(
        !err.contains("ETA") && !err.contains('\r'),
        "a bar off a terminal: {err}"
    );
    // -q: no line
    let w = world();
    let o = w
        .cmd()
        .env("MNA_REPORTD_PROGRESS_EVERY", "200ms")
        .args([
            "-q",
            "fetch",
            "--job",
            "hourly-all",
            "--from",
            RANGE[0],
            "--to",
            RANGE[1],
        ])
        .output()
        .expect("run");
    assert_exit(&o, 0);
    assert!(!stderr(&o).contains("progress: "), "{}", stderr(&o));
}

#[test]
fn dry_run_and_check_say_how_long_the_work_takes_at_the_limit() {
    let w = World::new(HOURLY);
    // a year of hourly reports at rate_limit = 200 (less the 4 % margin)
    let o = w.fetch(
        "hourly-all",
        "2025-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
        &["--dry-run"],
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("estimate: 8,760 reports, about 46 s at 200 calls/s"),
        "{out}"
    );
    let o = w.run(&["check"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("  estimate: "), "{out}");
    assert!(out.contains(" at 200 calls/s"), "{out}");
}
