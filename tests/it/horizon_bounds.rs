//! Answers bounded by the page, not the history or the horizon: 10 devices,
//! minute windows and `catch_up = "400d"` (5,760,000 reports due) over a
//! history of 1,000,000 reports written straight with SQL. `/api/jobs`,
//! `/api/failures`, `status` and `check` answer in little space, and the
//! process stays under 64 MiB resident (planning the horizon took 1.5 GB).

use crate::common;
use crate::web_support;

use common::rss::run_measured;
use common::{World, assert_exit, stdout};
use web_support::get;

const JOB: &str = r#"
[[jobs]]
name = "minutes"
granularity = "minute"
timezone = "UTC"
devices = ["dev-01", "dev-02", "dev-03", "dev-04", "dev-05", "dev-06", "dev-07", "dev-08", "dev-09", "dev-10"]
per_device = true
catch_up = "400d"
"#;

const DEVICES: i64 = 10;
/// 100,000 minutes x 10 devices: 1,000,000 reports.
const MINUTES: i64 = 100_000;
/// Every this many-th report failed.
const FAIL_EVERY: i64 = 997;
const LIMIT: u64 = 64 * 1024 * 1024;

/// The history: the 100,000 minute windows ending a day ago, every device
/// done but one report in 997 failed (with an error code); the day since
/// and the 330 days before are missing.
fn synthesize(w: &World) -> i64 {
    drop(mna_reportd::testing::Store::open(&w.db_path()).expect("history"));
    let now = jiff::Timestamp::now().as_second();
    let last_end = now - now.rem_euclid(60) - 86_400;
    let first_end = last_end - (MINUTES - 1) * 60;
    let db = w.db();
    db.pragma_update(None, "synchronous", "OFF")
        .expect("pragma");
    db.execute(
        "INSERT INTO reports (job, target, region, granularity, window_start, window_end, status, attempts,
                              \"trigger\", request_id, bytes, error_code, error_message, created_at, updated_at)
         WITH RECURSIVE m(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM m WHERE i < ?1 - 1),
                        d(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM d WHERE k < ?2)
         SELECT 'minutes', printf('device:dev-%02d', k), '', 3, ?3 + i * 60 - 60, ?3 + i * 60,
                CASE WHEN (i * ?2 + k) % ?4 = 0 THEN 'failed' ELSE 'ok' END, 1, 'schedule',
                'req-' || (i * ?2 + k), 4096,
                CASE WHEN (i * ?2 + k) % ?4 = 0 THEN 'InternalError' END,
                CASE WHEN (i * ?2 + k) % ?4 = 0 THEN 'the server failed' END,
                ?3 + i * 60, ?3 + i * 60
         FROM m, d",
        rusqlite::params![MINUTES, DEVICES, first_end, FAIL_EVERY],
    )
    .expect("synthesize the history");
    db.query_row(
        "SELECT count(*) FROM reports WHERE status = 'failed'",
        [],
        |r| r.get(0),
    )
    .expect("failed")
}

/// `VmHWM` of a live process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    common::rss::vm_hwm(pid).expect("the process still runs")
}

#[test]
fn a_400_day_horizon_of_minute_windows_is_answered_in_bounded_space() {
    let w = World::new(JOB);
    let failed = synthesize(&w);
    assert!(failed > 1_000, "{failed}");
    let h = web_support::History { w, d0: 0 };

    // The page's own answers, as it polls them.
    let s = h.serve("127.0.0.1:0");
    let jobs = get(s.addr, "/api/jobs", &[]);
    assert_eq!(jobs.status, 200, "{}", jobs.text());
    assert!(jobs.body.len() < 64 * 1024, "{} bytes", jobs.body.len());
    let job = &jobs.json()["jobs"][0];
    assert_eq!(job["failed"], failed, "{job}");
    assert_eq!(job["choices_total"], DEVICES, "{job}");
    let missing = job["missing"].as_u64().expect("missing");
    // 400 days of minutes x 10 devices, less the done ones.
    let due = 400 * 1440 * DEVICES as u64;
    let done = (MINUTES * DEVICES) as u64 - failed as u64;
    assert!(
        missing <= due - done && missing > due - done - 20 * DEVICES as u64,
        "{missing}"
    );
    let targets = get(s.addr, "/api/jobs/minutes/targets?limit=3&offset=8", &[]).json();
    assert_eq!(targets["total"], DEVICES);
    assert_eq!(targets["items"].as_array().map(Vec::len), Some(2));

    let page = get(s.addr, "/api/failures?limit=500", &[]);
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.body.len() < 1024 * 1024, "{} bytes", page.body.len());
    let page = page.json();
    assert!(
        page["total"]
            .as_u64()
            .is_some_and(|t| t.abs_diff(missing) < 100)
    );
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 500);
    let ends: Vec<i64> = items
        .iter()
        .filter_map(|i| i["window_end"].as_i64())
        .collect();
    assert!(ends.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // Deep in the history: a failed report among the done ones.
    let deep = get(s.addr, "/api/failures?limit=50&offset=15000", &[]).json();
    let items = deep["items"].as_array().expect("items");
    assert_eq!(items.len(), 50);
    assert!(
        items
            .iter()
            .any(|i| i["status"] == "failed" && i["error_code"] == "InternalError"),
        "{deep}"
    );
    let day = jiff::Timestamp::now().to_string()[..10].to_string();
    for path in [
        format!("/api/jobs/minutes/calendar?day={day}"),
        format!("/api/jobs/minutes/traffic?day={day}"),
    ] {
        let a = get(s.addr, &path, &[]);
        assert_eq!(a.status, 200, "{path}: {}", a.text());
    }
    let peak = peak_rss(s.child.id());
    assert!(peak < LIMIT, "serve peaked at {} MiB", peak >> 20);
    drop(s);

    // The command line, on the same history.
    let m = run_measured(h.w.cmd().args(["status", "--format", "json"]));
    assert_exit(&m.output, 0);
    let out = stdout(&m.output);
    assert!(out.len() < 4096, "{out}");
    let st: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(st[0]["failed"], failed);
    assert!(
        m.peak_rss < LIMIT,
        "status peaked at {:.0} MiB",
        m.peak_mib()
    );

    let m = run_measured(h.w.cmd().arg("check"));
    assert_exit(&m.output, 0);
    let out = stdout(&m.output);
    assert!(out.contains("  due now: "), "{out}");
    assert!(out.contains("reports not done, windows "), "{out}");
    assert!(
        m.peak_rss < LIMIT,
        "check peaked at {:.0} MiB",
        m.peak_mib()
    );
}
