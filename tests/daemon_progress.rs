//! The daemon's catch-up after a long outage tells its progress in its log
//! and in systemd's `STATUS=`.

mod common;

use common::daemon::Notify;
use common::*;
use fake_mna::{Delay, FakeConfig};
use std::time::Duration;

#[test]
fn a_long_catch_up_logs_its_progress_and_sets_status() {
    // six missed hours whose answers take 1 s each: the catch-up lasts over a second
    let cfg = FakeConfig {
        answer_delay: Delay::fixed(Duration::from_secs(1)),
        ..FakeConfig::default()
    };
    let job = "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"6h\"\n";
    let w = World::with(cfg, "", job);
    let mut notify = Notify::new(&w);
    let d = w.start_daemon(&[notify.env(), ("MNA_REPORTD_PROGRESS_EVERY", "200ms")]);
    notify.read_until("READY=1");
    notify.read_until(" reports (ok ");
    notify.read_until("STATUS=1 jobs, idle");
    let status = notify
        .seen
        .lines()
        .find(|l| l.contains(" reports (ok "))
        .unwrap_or_default()
        .to_string();
    assert!(status.starts_with("STATUS=h: "), "{status}");
    assert!(status.contains("calls/s"), "{status}");
    let log = d.log_text();
    d.stop();
    let line = log
        .lines()
        .find(|l| l.contains("catching up"))
        .unwrap_or_else(|| panic!("no progress in the log:\n{log}"));
    assert!(line.contains("job=h"), "{line}");
    assert!(line.contains(" reports (ok "), "{line}");
}
