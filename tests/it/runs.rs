//! The `runs` table: a daemon fire, a manual fetch, an interrupted fetch and
//! a fetch killed with SIGKILL (then a next start) each leave one row with
//! the right counts and outcome, and `runs --format json` lists them; the
//! page's `/api/runs` answers the last ones, bounded.

use crate::common;
use crate::web_support;

use common::daemon::*;
use common::*;
use fake_mna::{Fault, Gate};
use std::process::Stdio;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

const JOB: &str = "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"3h\"\ntimezone = \"UTC\"\n";

fn hour(h: u32) -> String {
    format!("2026-11-01T{h:02}:00:00Z")
}

/// `runs --format json`, parsed.
fn runs(w: &World, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["runs", "--format", "json"];
    args.extend_from_slice(extra);
    let o = w.run(&args);
    assert_exit(&o, 0);
    serde_json::from_str(&stdout(&o)).expect("runs JSON")
}

/// (planned, ok, failed, skipped) of a listed run.
fn counts(r: &serde_json::Value) -> (i64, i64, i64, i64) {
    let n = |k: &str| r[k].as_i64().unwrap_or(-1);
    (n("planned"), n("ok"), n("failed"), n("skipped"))
}

fn ok_reports(w: &World) -> i64 {
    count_status(w, "ok")
}

/// The outcome of the newest run, straight from the table.
fn newest_outcome(w: &World) -> Option<String> {
    w.db()
        .query_row(
            "SELECT outcome FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .ok()
}

#[test]
fn a_manual_fetch_leaves_one_done_row_and_a_second_one_skips_what_is_done() {
    let w = World::new(JOB);
    assert_exit(&w.fetch("h", &hour(0), &hour(3), &[]), 0);
    let rows = runs(&w, &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["trigger"], "manual");
    assert_eq!(r["jobs"], serde_json::json!(["h"]));
    assert_eq!(r["outcome"], "done");
    assert_eq!(r["reason"], serde_json::Value::Null);
    assert_eq!(counts(r), (3, 3, 0, 0));
    assert_eq!(r["pid"].as_i64().map(|p| p > 0), Some(true));
    assert_eq!(r["version"], env!("CARGO_PKG_VERSION"));
    assert!(r["ended_at"].as_i64() >= r["started_at"].as_i64());

    assert_exit(&w.fetch("h", &hour(0), &hour(3), &[]), 0);
    let rows = runs(&w, &[]);
    assert_eq!(rows.len(), 2);
    // newest first
    assert!(rows[0]["id"].as_i64() > rows[1]["id"].as_i64());
    assert_eq!(
        (counts(&rows[0]), &rows[0]["outcome"]),
        ((3, 0, 0, 3), &serde_json::json!("done"))
    );
    // --limit and --job bound the list; CSV and the table show it too
    assert_eq!(runs(&w, &["--limit", "1"]).len(), 1);
    assert_eq!(runs(&w, &["--job", "h"]).len(), 2);
    let csv = stdout(&w.run(&["runs", "--format", "csv"]));
    assert!(csv.starts_with("id,trigger,jobs,started_at,ended_at,planned,ok,failed,skipped,outcome,reason,pid,version\n"), "{csv}");
    let table = stdout(&w.run(&["runs"]));
    assert!(
        table.contains("OUTCOME") && table.contains("manual") && table.contains("done"),
        "{table}"
    );
    // an unknown job is a usage error, as in `history`
    assert_exit(&w.run(&["runs", "--job", "nope"]), 2);
}

#[test]
fn a_fetch_interrupted_by_sigint_while_the_api_is_slow_is_recorded_interrupted() {
    let w = World::new(JOB);
    // every answer is held until the fetch has taken the signal: it comes
    // while some are in flight
    let gate = Gate::new();
    w.fake.push_api_faults(12, Fault::Hold(gate.clone()));
    let log = w.dir.path().join("fetch.log");
    let mut child = w
        .cmd()
        .args(["fetch", "--job", "h", "--from", &hour(0), "--to", &hour(12)])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    wait_for("a call in flight", LONG, || w.fake.pending_faults().0 < 12);
    assert_eq!(newest_outcome(&w).as_deref(), Some("running"));
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    wait_for("the fetch to take the signal", LONG, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("stopping: no new reports"))
    });
    gate.open();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let rows = runs(&w, &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["outcome"], "interrupted");
    let (planned, ok, failed, skipped) = counts(r);
    assert_eq!((planned, failed, skipped), (12, 0, 0));
    // the reports in flight finished in the grace period; the rest were never started
    assert_eq!(ok, ok_reports(&w));
    assert!(
        ok < 12,
        "everything finished before the signal; the test proves nothing"
    );
}

#[test]
fn a_fetch_killed_outright_is_closed_as_crashed_at_the_next_start() {
    let w = World::new(JOB);
    // two calls answer at once, the others hang; enough hanging answers for
    // every retry after a client timeout (5 s) too, so a slow machine cannot
    // see a third report finish between the two reads below
    w.fake.push_api_faults(2, Fault::Delay(Duration::ZERO));
    w.fake
        .push_api_faults(64, Fault::Delay(Duration::from_secs(600)));
    let mut child = w
        .cmd()
        .args(["fetch", "--job", "h", "--from", &hour(0), "--to", &hour(6)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // the plan is recorded at the start, the progress while it goes on
    wait_for("the progress of the run", LONG, || {
        runs(&w, &[]).first().map(counts) == Some((6, 2, 0, 0))
    });
    assert_eq!(ok_reports(&w), 2);
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().expect("wait");
    let rows = runs(&w, &[]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "running");
    assert_eq!(rows[0]["ended_at"], serde_json::Value::Null);

    // the next start closes it, then runs
    w.fake.clear_faults();
    assert_exit(&w.fetch("h", &hour(6), &hour(7), &[]), 0);
    let rows = runs(&w, &[]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1]["outcome"], "crashed");
    assert!(rows[1]["ended_at"].as_i64().is_some());
    assert_eq!(counts(&rows[1]), (6, 2, 0, 0), "as far as it got");
    assert_eq!(rows[0]["outcome"], "done");
    assert_eq!(counts(&rows[0]), (1, 1, 0, 0));
}

#[test]
fn a_daemon_fire_leaves_one_row_and_a_shutdown_mid_fire_is_recorded_stopped() {
    let w = World::new(JOB);
    let mut notify = Notify::new(&w);
    let d = w.start_daemon(&[notify.env()]);
    notify.read_until("READY=1");
    notify.read_until("STATUS=1 jobs, idle");
    d.stop();
    let rows = runs(&w, &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(
        (&r["trigger"], &r["outcome"]),
        (&serde_json::json!("catch-up"), &serde_json::json!("done"))
    );
    assert_eq!(r["jobs"], serde_json::json!(["h"]));
    let (planned, ok, failed, skipped) = counts(r);
    assert_eq!((ok, failed, skipped), (ok_reports(&w), 0, 0));
    assert!((3..=4).contains(&planned) && planned == ok, "{r}");
    let done_before = ok;

    // a restart with a longer horizon whose calls hang: more reports than
    // run at once, so a SIGTERM (then a second, not to wait out the grace
    // period) leaves some never started
    w.write_config("", &JOB.replace("\"3h\"", "\"12h\""));
    w.fake
        .push_api_faults(40, Fault::Delay(Duration::from_secs(600)));
    let mut d = w.start_daemon(&[]);
    wait_for("a call in flight", LONG, || w.fake.pending_faults().0 < 40);
    d.signal(libc::SIGTERM);
    wait_for("the daemon stopping", LONG, || {
        d.log_text().contains("stopping")
    });
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(LONG), Some(0), "{}", d.log_text());
    let rows = runs(&w, &[]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let r = &rows[0];
    assert_eq!(
        (&r["trigger"], &r["outcome"]),
        (
            &serde_json::json!("catch-up"),
            &serde_json::json!("stopped")
        ),
        "{r}"
    );
    let (planned, ok, failed, skipped) = counts(r);
    assert_eq!((ok, failed), (0, 0), "{r}");
    // the hours done before are skipped; the others were stopped
    assert!(
        (12..=13).contains(&planned) && skipped == done_before,
        "{r}"
    );
}

#[test]
fn the_page_lists_the_last_runs_bounded() {
    let w = World::new(JOB);
    assert_exit(&w.fetch("h", &hour(0), &hour(1), &[]), 0);
    // many more runs than one answer holds
    w.db()
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
             INSERT INTO runs (trigger, jobs, started_at, ended_at, outcome, pid, version, holder)
             SELECT 'schedule', '[\"h\"]', i, i + 1, 'done', 1, '0', 'gone' FROM n",
        )
        .expect("runs");
    let s = web_support::serve_world(&w, "127.0.0.1:0");
    let page = web_support::get(s.addr, "/", &[]);
    assert!(
        page.text().contains("id=\"run-rows\""),
        "the page has a runs panel"
    );
    let js = web_support::get(s.addr, "/app.js", &[]).text();
    assert!(js.contains("/api/runs?limit="), "the panel reads /api/runs");
    let last = web_support::get(s.addr, "/api/runs?limit=2", &[]).json();
    let last = last.as_array().expect("a list");
    assert_eq!(last.len(), 2);
    assert_eq!(last[0]["id"], 151, "newest first");
    let all = web_support::get(s.addr, "/api/runs?limit=100000", &[]).json();
    assert_eq!(all.as_array().map(Vec::len), Some(100), "bounded");
    let default = web_support::get(s.addr, "/api/runs", &[]).json();
    assert_eq!(default.as_array().map(Vec::len), Some(10));
    // only the runs of the job asked for
    let none = web_support::get(s.addr, "/api/runs?job=nope", &[]).json();
    assert_eq!(none.as_array().map(Vec::len), Some(0));
}
