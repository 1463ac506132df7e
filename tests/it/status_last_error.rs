//! `status` and the page's card show LAST ERROR only while it matters: a
//! failure outside the horizon (from an old manual fetch) is not shown beside
//! MISSING 0 and FAILED 0; a failure inside it, still failed, is.

use crate::common;
use crate::web_support;

use common::*;
use fake_mna::Fault;

const JOB: &str = "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"3h\"\ntimezone = \"UTC\"\n";

fn status(w: &World) -> serde_json::Value {
    let o = w.run(&["status", "--format", "json"]);
    assert_exit(&o, 0);
    let all: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("status JSON");
    all[0].clone()
}

/// The hour ending `back` whole hours before the last hour boundary, as
/// `--from`/`--to`, and its end in Unix seconds.
fn recent_hour(back: i64) -> (String, String, i64) {
    // Read once: every window of the test is counted from one hour boundary.
    static NOW: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let now = *NOW.get_or_init(|| jiff::Timestamp::now().as_second());
    let end = now - now % 3600 - back * 3600;
    let at = |t: i64| jiff::Timestamp::from_second(t).expect("time").to_string();
    (at(end - 3600), at(end), end)
}

#[test]
fn an_old_failure_outside_the_horizon_is_not_the_last_error_and_a_current_one_is() {
    let w = World::new(JOB);
    // an old manual fetch, long before the 3-hour horizon, fails
    w.fake.push_fault(Fault::api_error("InvalidParameter"));
    assert_exit(
        &w.fetch("h", "2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z", &[]),
        1,
    );
    // the horizon itself is all done
    for back in 0..3 {
        let (from, to, _) = recent_hour(back);
        assert_exit(&w.fetch("h", &from, &to, &[]), 0);
    }
    let st = status(&w);
    assert_eq!(
        (st["missing"].as_i64(), st["failed"].as_i64()),
        (Some(0), Some(0)),
        "{st}"
    );
    assert_eq!(st["last_error"], serde_json::Value::Null, "{st}");
    let table = stdout(&w.run(&["status"]));
    assert!(!table.contains("InvalidParameter"), "{table}");
    let s = web_support::serve_world(&w, "127.0.0.1:0");
    let jobs = web_support::get(s.addr, "/api/jobs", &[]).json();
    assert_eq!(
        jobs["jobs"][0]["last_error"],
        serde_json::Value::Null,
        "{jobs}"
    );
    drop(s);

    // a failure inside the horizon, still failed, is shown
    let (from, to, end) = recent_hour(1);
    let n = w
        .db()
        .execute(
            "UPDATE reports SET status = 'pending', file_path = NULL WHERE window_end = ?1",
            [end],
        )
        .expect("make it due again");
    assert_eq!(n, 1);
    w.fake.push_fault(Fault::api_error("InvalidParameter"));
    assert_exit(&w.fetch("h", &from, &to, &[]), 1);
    let st = status(&w);
    assert_eq!(st["failed"].as_i64(), Some(1), "{st}");
    assert_eq!(st["last_error"]["code"], "InvalidParameter", "{st}");
    let table = stdout(&w.run(&["status"]));
    assert!(table.contains("InvalidParameter"), "{table}");
}
