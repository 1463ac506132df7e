//! LAST ERROR shows only a failure that still matters.

use super::*;
use crate::domain::window::Window;
use rusqlite::params;
use std::path::Path;

fn job() -> Job {
    let text = "[storage]\nstate_dir = \"/tmp/x\"\n[[jobs]]\nname = \"j\"\n\
                granularity = \"hourly\"\ncatch_up = \"1d\"\nlag = \"0s\"\n";
    let c = crate::config::parse(text, Path::new("/tmp/c.toml")).expect("config");
    c.jobs[0].clone()
}

fn db() -> Connection {
    let mut c = Connection::open_in_memory().expect("db");
    crate::archive::store::migrate(&mut c).expect("migrate");
    c
}

/// A report of `job` over `w` recorded `status` with error `code` at `at`.
fn record(c: &Connection, job: &Job, w: Window, status: &str, code: &str, at: i64) {
    let target = job.targets[0].label();
    let region = crate::domain::report::RegionScope::from(job.regions[0]).stored();
    c.execute(
        "INSERT INTO reports (job, target, region, granularity, window_start, window_end, status,
                              attempts, \"trigger\", error_code, error_message, created_at, updated_at)
         VALUES ('j', ?1, ?2, 3600, ?3, ?4, ?5, 1, 'manual', ?6, 'boom', ?7, ?7)",
        params![target, region, w.start, w.end, status, code, at],
    )
    .expect("insert");
}

/// An hour boundary (2027-01-15T08:00:00Z).
const NOW: i64 = 500_000 * 3600;

fn hour_ending(end: i64) -> Window {
    Window {
        start: end - 3600,
        end,
    }
}

fn at_now(c: &Connection, job: &Job) -> JobStatus {
    job_status(c, job, Timestamp::from_second(NOW).expect("now")).expect("status")
}

#[test]
fn a_failure_outside_the_horizon_from_an_old_manual_fetch_is_not_shown() {
    let (c, job) = (db(), job());
    // Recorded last (the most recent failure), but its window is ten days old.
    record(
        &c,
        &job,
        hour_ending(NOW - 10 * 86_400),
        "failed",
        "AuthFailure",
        NOW - 60,
    );
    let st = at_now(&c, &job);
    assert_eq!((st.failed, st.last_error), (0, None));
}

#[test]
fn a_failure_since_fetched_ok_is_not_shown() {
    let (c, job) = (db(), job());
    record(
        &c,
        &job,
        hour_ending(NOW - 3600),
        "ok",
        "InternalError",
        NOW - 60,
    );
    assert_eq!(at_now(&c, &job).last_error, None);
}

#[test]
fn a_current_failure_inside_the_horizon_is_shown_over_an_older_one_outside() {
    let (c, job) = (db(), job());
    record(
        &c,
        &job,
        hour_ending(NOW - 7200),
        "failed",
        "InvalidParameter",
        NOW - 120,
    );
    record(
        &c,
        &job,
        hour_ending(NOW - 10 * 86_400),
        "failed",
        "AuthFailure",
        NOW - 60,
    );
    let st = at_now(&c, &job);
    assert_eq!(st.failed, 1);
    let e = st.last_error.expect("the failure inside the horizon");
    assert_eq!(
        (e.code.as_str(), e.window_end),
        ("InvalidParameter", NOW - 7200)
    );
}

#[test]
fn the_last_error_query_reads_the_failed_reports_index() {
    let c = db();
    let sql = format!("EXPLAIN QUERY PLAN {}", tally::LAST_ERROR_SQL);
    let plan: Vec<String> = c
        .prepare(&sql)
        .expect("plan")
        .query_map(params!["j", 0, 1], |r| r.get::<_, String>(3))
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("plan rows");
    assert!(
        plan.iter().any(|p| p.contains("reports_failed_by_end")),
        "{plan:?}"
    );
}
