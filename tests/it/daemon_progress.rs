//! The daemon's catch-up after a long outage tells its progress in its log
//! and in systemd's `STATUS=`.

use crate::common;

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

#[test]
fn a_catch_up_counts_only_the_reports_it_fetches() {
    // six hours in the horizon, four of them fetched before the daemon starts
    let cfg = FakeConfig {
        answer_delay: Delay::fixed(Duration::from_secs(1)),
        ..FakeConfig::default()
    };
    let job = "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"6h\"\n";
    let w = World::with(cfg, "", job);
    let now = jiff::Timestamp::now().as_second();
    let hour = now - now.rem_euclid(3600);
    let at = |t: i64| jiff::Timestamp::from_second(t).expect("time").to_string();
    let o = w.fetch("h", &at(hour - 5 * 3600), &at(hour - 3600), &[]);
    assert_exit(&o, 0);
    let mut notify = Notify::new(&w);
    let d = w.start_daemon(&[notify.env(), ("MNA_REPORTD_PROGRESS_EVERY", "200ms")]);
    notify.read_until("READY=1");
    notify.read_until(" reports (ok ");
    notify.read_until("STATUS=1 jobs, idle");
    d.stop();
    // the hour ending now may have turned due meanwhile: 2 or 3 to fetch
    for line in notify.seen.lines().filter(|l| l.contains(" reports (ok ")) {
        assert!(
            line.contains(" of 2 reports") || line.contains(" of 3 reports"),
            "the total is what the fire fetches, not the horizon: {line}"
        );
    }
}
