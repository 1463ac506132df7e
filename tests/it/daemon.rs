//! `mna-reportd run` as a process: catch-up, restart, SIGTERM, SIGHUP,
//! systemd notifications, metrics and health.

use crate::common;

use common::daemon::*;
use common::*;
use fake_mna::{Fault, Gate};
use std::collections::BTreeSet;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

fn hourly(name: &str, catch_up: &str) -> String {
    format!(
        "[[jobs]]\nname = \"{name}\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"{catch_up}\"\n"
    )
}

/// Every (begin, end, device) the fake answered with a file; panics on a repeat.
fn unique_ok_windows(w: &World) -> BTreeSet<(i64, i64, String)> {
    let mut seen = BTreeSet::new();
    for c in w.fake.calls().into_iter().filter(|c| c.outcome.is_ok()) {
        let p = c.params.expect("valid params");
        assert!(
            seen.insert((p.begin, p.end, p.device_id.clone())),
            "window {}..{} fetched twice",
            p.begin,
            p.end
        );
    }
    seen
}

#[test]
fn catches_up_six_missed_hours_at_start_and_a_restart_fetches_nothing_done() {
    let w = World::new(&hourly("h", "6h"));
    let mut notify = Notify::new(&w);
    let d = w.start_daemon(&[notify.env()]);
    // the catch-up fire has ended: whatever extra it might do (it must not) is done
    notify.read_until("READY=1");
    notify.read_until("STATUS=1 jobs, idle");
    assert!(count_status(&w, "ok") >= 6, "{}", d.log_text());
    d.stop();
    let first = unique_ok_windows(&w);
    assert!((6..=7).contains(&first.len()), "{} windows", first.len());
    let ends: Vec<i64> = first.iter().map(|(_, e, _)| *e).collect();
    let now = jiff::Timestamp::now().as_second();
    assert!(
        ends.iter()
            .all(|e| e % 3600 == 0 && *e <= now && *e > now - 6 * 3600 - 60)
    );

    notify.clear();
    let d = w.start_daemon(&[notify.env()]);
    // the catch-up fire of the restart has ended, having found everything done
    notify.read_until("READY=1");
    notify.read_until("STATUS=1 jobs, idle");
    d.stop();
    let second = unique_ok_windows(&w);
    // nothing fetched again; at most the one window that ended between the two runs
    assert!(
        second.len() - first.len() <= 1,
        "{} new windows after a restart",
        second.len() - first.len()
    );
    assert_eq!(count_status(&w, "ok") as usize, second.len());
}

#[test]
fn sigterm_during_work_exits_0_and_the_rest_is_done_at_the_next_start() {
    let w = World::new(&format!("{}\n", hourly("h", "12h")));
    // answers held until the daemon has taken the signal keep reports in
    // flight when it comes
    let gate = Gate::new();
    w.fake.push_api_faults(4, Fault::Hold(gate.clone()));
    let mut notify = Notify::new(&w);
    let mut d = w.start_daemon(&[notify.env()]);
    wait_for("a call in flight", LONG, || {
        !w.fake.calls().is_empty() || w.fake.pending_faults().0 < 4
    });
    wait_for("a report claimed", LONG, || {
        count_status(&w, "running") >= 1
    });
    d.signal(libc::SIGTERM);
    notify.read_until("STOPPING=1");
    gate.open();
    let code = d.wait_exit(Duration::from_secs(40));
    assert_eq!(code, Some(0), "log:\n{}", d.log_text());
    let log = d.log_text();
    assert!(log.contains("stopping"), "{log}");
    let done_first = count_status(&w, "ok");
    assert!(
        done_first < 12,
        "everything finished before the signal; the test proves nothing"
    );
    assert_eq!(count_status(&w, "running"), 0, "no report is left claimed");

    let d = w.start_daemon(&[]);
    wait_for("all 12 reports ok", LONG, || count_status(&w, "ok") >= 12);
    d.stop();
    unique_ok_windows(&w);
    w.assert_files_match_served();
    assert!(w.part_files().is_empty());
}

#[test]
fn sighup_keeps_the_old_jobs_on_a_broken_file_and_starts_new_ones_from_a_good_one() {
    let w = World::new(&hourly("a", "2h"));
    let mut d = w.start_daemon(&[]);
    wait_for("job a caught up", LONG, || count_status(&w, "ok") >= 2);

    std::fs::write(
        &w.config,
        "[[jobs]]\nname = \"a\"\ngranularity = \"weekly\"\n",
    )
    .expect("break config");
    d.signal(libc::SIGHUP);
    wait_for("the reload error in the log", LONG, || {
        d.log_text().contains("reload failed")
    });
    assert!(
        d.child.try_wait().expect("try_wait").is_none(),
        "a broken file killed the daemon"
    );
    assert!(
        d.log_text().contains("jobs[0].granularity"),
        "the error names the key:\n{}",
        d.log_text()
    );

    w.write_config("", &format!("{}\n[[jobs]]\nname = \"b\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"2h\"\ndevices = [\"dev-b\"]\nper_device = true\n", hourly("a", "2h")));
    d.signal(libc::SIGHUP);
    wait_for("job b caught up", LONG, || {
        let db = w.db();
        db.query_row(
            "SELECT count(*) FROM reports WHERE job = 'b' AND status = 'ok'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or(0)
            >= 2
    });
    assert!(
        d.log_text().contains("reloaded the job file"),
        "{}",
        d.log_text()
    );
    let b_calls = w
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.params.as_ref().is_some_and(|p| p.device_id == "dev-b"))
        .count();
    assert_eq!(b_calls, 2);
    d.stop();
}

#[test]
fn systemd_notifications_ready_watchdog_reloading_stopping() {
    let w = World::new(&hourly("h", "2h"));
    let mut notify = Notify::new(&w);
    let pid_env = String::new();
    let d = w.start_daemon(&[
        notify.env(),
        ("WATCHDOG_USEC", "2000000"),
        ("WATCHDOG_PID", &pid_env),
    ]);
    notify.read_until("READY=1");
    assert!(notify.seen.contains("STATUS="), "{}", notify.seen);
    // the watchdog is pinged from the loop at half of WATCHDOG_USEC
    notify.read_until("WATCHDOG=1");
    notify.clear();
    notify.read_until("WATCHDOG=1");
    d.signal(libc::SIGHUP);
    notify.read_until("RELOADING=1");
    notify.read_until("READY=1");
    d.signal(libc::SIGTERM);
    notify.read_until("STOPPING=1");
    let mut d = d;
    assert_eq!(d.wait_exit(LONG), Some(0));
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_carry_the_six_series_and_healthz_follows_the_database() {
    let w = World::with(
        fake_mna::FakeConfig::default(),
        METRICS_PORT_0,
        &hourly("h", "3h"),
    );
    w.fake.push_fault(Fault::api_error("InternalError"));
    w.fake.push_fault(Fault::api_error("InternalError"));
    w.fake.push_fault(Fault::DownloadTruncated);
    let d = run_as_unprivileged(&w);
    let addr = d.metrics_addr();
    wait_for("3 reports ok", LONG, || count_status(&w, "ok") >= 3);
    wait_for("the fire to finish", LONG, || {
        metric(
            &http_get(addr, "/metrics").1,
            "mna_reportd_missing_windows{job=\"h\"}",
        ) == Some(0.0)
    });
    let (status, text) = http_get(addr, "/metrics");
    assert_eq!(status, 200);
    let db = w.db();
    let bytes: i64 = db
        .query_row(
            "SELECT sum(bytes) FROM reports WHERE status = 'ok'",
            [],
            |r| r.get(0),
        )
        .expect("bytes");
    assert_eq!(
        metric(&text, "mna_reportd_reports_total{job=\"h\",outcome=\"ok\"}"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "mna_reportd_reports_total{job=\"h\",outcome=\"failed\"}"
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "mna_reportd_retries_total{job=\"h\"}"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "mna_reportd_api_requests_total{code=\"InternalError\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "mna_reportd_api_requests_total{code=\"Success\"}"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "mna_reportd_download_bytes_total"),
        Some(bytes as f64),
        "{text}"
    );
    let last = metric(
        &text,
        "mna_reportd_last_success_timestamp_seconds{job=\"h\"}",
    )
    .expect("last success");
    assert!(
        (last - jiff::Timestamp::now().as_second() as f64).abs() < 120.0,
        "{last}"
    );

    let (status, body) = http_get(addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    // the database made read-only: unhealthy, with the reason
    set_mode(&w.db_path(), 0o400);
    let (status, body) = http_get(addr, "/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not writable"), "{body}");
    set_mode(&w.db_path(), 0o600);
    let (status, _) = http_get(addr, "/healthz");
    assert_eq!(status, 200);
    d.stop();
}

fn set_mode(p: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// File modes do not stop root: when the tests run as root, run the daemon
/// as `nobody` (as it runs in production: an unprivileged user).
fn run_as_unprivileged(w: &World) -> Daemon {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return w.start_daemon(&[]);
    }
    let status = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(w.dir.path())
        .status()
        .expect("chown");
    assert!(status.success());
    let log = w.dir.path().join("daemon-nobody.log");
    let file = std::fs::File::create(&log).expect("log");
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(BIN);
    cmd.arg("--config").arg(&w.config).arg("run");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", w.dir.path())
        .env("TENCENTCLOUD_SECRET_ID", fake_mna::DEFAULT_SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", fake_mna::DEFAULT_SECRET_KEY)
        .current_dir(w.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(file));
    let child = cmd
        .spawn()
        .expect("setpriv (util-linux) runs the daemon as nobody");
    Daemon { child, log }
}
