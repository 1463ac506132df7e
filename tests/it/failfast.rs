//! An error no retry mends stops the whole fetch after its first occurrence:
//! a wrong key, an endpoint that refuses connections, a file host on
//! Tencent Cloud's internal network. One message with the fix, exit 1, the
//! reports not tried left untouched.

use crate::common;

use common::*;
use fake_mna::Fault;

/// 100 hourly reports.
const FROM: &str = "2026-11-01T00:00:00Z";
const TO_100: &str = "2026-11-05T04:00:00Z";

fn attempts(w: &World) -> Vec<(String, Option<String>)> {
    let db = w.db();
    let mut st = db
        .prepare("SELECT kind, error_code FROM attempts ORDER BY rowid")
        .expect("query");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

/// One report `failed`, the others of the first batch in flight `pending`
/// again (at most `concurrency - 1` = 3), no other touched.
fn assert_only_one_failed(w: &World) {
    let counts = w.status_counts();
    let pending = counts
        .iter()
        .find(|(s, _)| s == "pending")
        .map_or(0, |c| c.1);
    assert!(pending <= 3, "{counts:?}");
    let mut want = vec![("failed".to_string(), 1)];
    if pending > 0 {
        want.push(("pending".to_string(), pending));
    }
    assert_eq!(counts, want);
}

#[test]
fn a_wrong_key_on_a_100_report_range_makes_one_call() {
    let w = World::new(HOURLY);
    let o = w
        .cmd()
        .env("TENCENTCLOUD_SECRET_KEY", "not-the-key")
        .args([
            "fetch",
            "--job",
            "hourly-all",
            "--from",
            FROM,
            "--to",
            TO_100,
        ])
        .output()
        .expect("run");
    assert_exit(&o, 1);
    let calls = w.fake.calls_of("GetStatisticData");
    assert_eq!(calls.len(), 1, "one call, not one per report");
    let err = stderr(&o);
    assert_eq!(err.matches("stopped:").count(), 1, "{err}");
    assert!(err.contains("AuthFailure.SignatureFailure"), "{err}");
    assert!(err.contains("  fix: the SecretKey does not match"), "{err}");
    assert!(stdout(&o).contains("99 not tried"), "{}", stdout(&o));
    // the report that met the error is recorded failed; those in flight
    // (claimed, waiting for the first answer) are given back, the rest untouched
    assert_only_one_failed(&w);
    assert_eq!(attempts(&w).len(), 1);
    // and the run is recorded as stopped by that code
    let (outcome, reason, planned): (String, Option<String>, i64) = w
        .db()
        .query_row(
            "SELECT outcome, reason, planned FROM runs WHERE \"trigger\" = 'manual'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("one runs row");
    assert_eq!(outcome, "stopped");
    assert_eq!(reason.as_deref(), Some("AuthFailure.SignatureFailure"));
    assert_eq!(planned, 100);
}

#[test]
fn a_refused_endpoint_stops_after_one_connection_attempt_with_a_fix() {
    let w = World::new(HOURLY);
    // A port nothing listens on any more.
    let port = std::net::TcpListener::bind(loopback())
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let text = std::fs::read_to_string(&w.config).expect("config");
    let text = text.replace(&w.fake.endpoint(), &format!("http://127.0.0.1:{port}"));
    std::fs::write(&w.config, text).expect("config");
    let o = w.fetch("hourly-all", FROM, "2026-11-01T03:00:00Z", &[]);
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("ConnectionRefused"), "{err}");
    assert!(
        err.contains("  fix: nothing listens at api.endpoint"),
        "{err}"
    );
    // one try in all: no retry, no other report started
    let tries = attempts(&w);
    assert_eq!(tries.len(), 1, "{tries:?}");
    assert_eq!(tries[0].1.as_deref(), Some("ConnectionRefused"));
    assert_only_one_failed(&w);
}

#[test]
fn a_file_on_an_internal_tencent_host_says_where_to_run() {
    let w = World::new(HOURLY);
    w.write_config_with(
        &Settings {
            concurrency: Some(1),
            ..Settings::default()
        },
        "",
        HOURLY,
    );
    // The documented example's kind of URL, on a name that never resolves.
    let answer = r#"{"Response": {"FilePath": "https://mna-1250000000.cos-internal.ap-guangzhou.tencentcos.invalid/report.xlsx?sign=x", "RequestId": "req-internal-1"}}"#;
    w.fake
        .push_api_faults(3, Fault::ApiAnswer(answer.to_string()));
    let o = w.fetch("hourly-all", FROM, "2026-11-01T03:00:00Z", &[]);
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("DownloadHostInternal"), "{err}");
    assert!(
        err.contains("reachable only from inside Tencent Cloud"),
        "{err}"
    );
    assert!(
        err.contains("  fix: the API gives report files on Tencent Cloud's internal network"),
        "{err}"
    );
    // one call, one download try: the other reports are not tried
    assert_eq!(w.fake.calls_of("GetStatisticData").len(), 1);
    let tries = attempts(&w);
    assert_eq!(
        tries
            .iter()
            .filter(|t| t.1.as_deref() == Some("DownloadHostInternal"))
            .count(),
        1,
        "{tries:?}"
    );
    assert_eq!(w.status_counts(), vec![("failed".to_string(), 1)]);
}

#[test]
fn a_daemon_fire_with_a_wrong_key_stops_once_and_says_why_on_healthz() {
    use common::daemon::{Notify, http_get, wait_for};
    let w = World::with(
        fake_mna::FakeConfig::default(),
        "[metrics]\nlisten = \"127.0.0.1:0\"\n\n[web]\nlisten = \"127.0.0.1:0\"\n",
        "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"12h\"\n",
    );
    let mut notify = Notify::new(&w);
    let d = w.start_daemon(&[("TENCENTCLOUD_SECRET_KEY", "not-the-key"), notify.env()]);
    notify.read_until("READY=1");
    let addr = d.metrics_addr();
    let long = std::time::Duration::from_secs(60);
    wait_for("healthz to say why the fire stopped", long, || {
        let (status, body) = http_get(addr, "/healthz");
        status == 503 && body.contains("AuthFailure.SignatureFailure")
    });
    let (_, body) = http_get(addr, "/healthz");
    assert!(body.contains("job h:"), "{body}");
    assert!(body.contains("fix: the SecretKey does not match"), "{body}");
    // the page's overview says it too
    let (status, jobs) = http_get(addr, "/api/jobs");
    assert_eq!(status, 200, "{jobs}");
    let jobs: serde_json::Value = serde_json::from_str(&jobs).expect("json");
    let stopped = jobs["jobs"][0]["stopped"].as_str().unwrap_or_default();
    assert!(
        stopped.starts_with("AuthFailure.SignatureFailure: "),
        "{jobs}"
    );
    assert!(
        stopped.contains("fix: the SecretKey does not match"),
        "{jobs}"
    );
    // the catch-up of 12 reports made one call; the daemon runs on
    assert_eq!(w.fake.calls_of("GetStatisticData").len(), 1);
    assert!(
        d.log_text()
            .contains("fire stopped at an error no retry mends")
    );
    d.stop();
}

#[test]
fn check_probe_passes_against_the_fake_and_writes_nothing() {
    let w = World::new(HOURLY);
    let o = w.run(&["check", "--probe"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("probe: endpoint {}", w.fake.endpoint())),
        "{out}"
    );
    assert!(out.contains("probe: credentials: environment"), "{out}");
    assert!(out.contains(" ms\n"), "{out}");
    let calls = w.fake.calls_of("GetStatisticData");
    assert_eq!(calls.len(), 1);
    let rid = calls[0]
        .outcome
        .request_id()
        .expect("request id")
        .to_string();
    assert!(out.contains(&format!("probe: request id {rid}")), "{out}");
    assert!(out.contains("probe: ok"), "{out}");
    assert!(w.fake.downloads().is_empty(), "nothing downloaded");
    assert!(!w.db_path().exists(), "nothing written");
}

#[test]
fn check_probe_with_a_wrong_key_exits_1_with_the_fix() {
    let w = World::new(HOURLY);
    let o = w
        .cmd()
        .env("TENCENTCLOUD_SECRET_KEY", "not-the-key")
        .args(["check", "--probe"])
        .output()
        .expect("run");
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains("probe: failed: API error AuthFailure.SignatureFailure"),
        "{err}"
    );
    assert!(
        err.contains("  fix: the SecretKey does not match the SecretId"),
        "{err}"
    );
    // without --probe, no call is made
    let o = w.run(&["check"]);
    assert_exit(&o, 0);
    assert_eq!(w.fake.calls_of("GetStatisticData").len(), 1);
}

#[test]
fn an_interrupted_fetch_ends_with_the_command_that_resumes_it() {
    use std::process::Stdio;
    let cfg = fake_mna::FakeConfig {
        answer_delay: fake_mna::Delay::fixed(std::time::Duration::from_secs(2)),
        ..fake_mna::FakeConfig::default()
    };
    let w = World::with(cfg, "", HOURLY);
    let args = [
        "fetch",
        "--job",
        "hourly-all",
        "--from",
        FROM,
        "--to",
        TO_100,
        "--force",
    ];
    let child = w
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    common::daemon::wait_for("the first call", std::time::Duration::from_secs(60), || {
        !w.fake.calls().is_empty()
    });
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let err = stderr(&o);
    let resume = format!(
        "to resume, run:\n  {} --config {} fetch --job hourly-all --from {FROM} --to {TO_100}\n",
        BIN,
        w.config.display()
    );
    assert!(err.contains(&resume), "{err}");
    assert!(err.contains("without --force"), "{err}");
}
