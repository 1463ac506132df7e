//! `fetch` against the fake API: calls, parameters, files, history.

use crate::common;

use common::*;
use fake_mna::{FakeConfig, Fault, Params};
use std::collections::BTreeSet;

/// (status, attempts, error code) of the only report in the history.
fn only_report(w: &World) -> (String, i64, String) {
    w.db()
        .query_row(
            "SELECT status, attempts, coalesce(error_code, '') FROM reports",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("one report")
}

fn params_of(w: &World) -> Vec<Params> {
    w.fake
        .calls()
        .into_iter()
        .filter_map(|c| c.params)
        .collect()
}

#[test]
fn a_day_of_hourly_windows_is_24_calls_24_files_24_ok_rows_and_then_nothing() {
    let w = World::new(HOURLY);
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
        &[],
    );
    assert_exit(&o, 0);
    let calls = w.fake.calls();
    assert_eq!(calls.len(), 24, "one call per window");
    assert!(calls.iter().all(|c| c.outcome.is_ok()));
    let begins: BTreeSet<i64> = params_of(&w).iter().map(|p| p.begin).collect();
    let want: BTreeSet<i64> = (0..24).map(|h| 1_793_491_200 + h * 3600).collect(); // 2026-11-01T00:00Z + h
    assert_eq!(begins, want);
    for p in params_of(&w) {
        assert_eq!(p.end - p.begin, 3600);
        assert_eq!(p.granularity, 1);
        assert_eq!(p.device_id, "-1");
        assert_eq!(p.region, None);
        assert_eq!(p.device_list, None);
        assert_eq!(p.group_id, None);
        assert_eq!(p.gateway, Some(0));
    }
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 24)]);
    assert_eq!(w.ok_rows().len(), 24);
    w.assert_files_match_served();
    let files: Vec<_> = w
        .files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "xlsx"))
        .collect();
    assert_eq!(files.len(), 24);
    assert!(w.part_files().is_empty());
    assert!(stdout(&o).contains("24 ok, 0 failed"), "{}", stdout(&o));

    // the same range again: no call at all
    let again = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
        &[],
    );
    assert_exit(&again, 0);
    assert_eq!(w.fake.calls().len(), 24, "a done range makes no call");
    assert!(
        stdout(&again).contains("0 ok, 0 failed, 24 already done"),
        "{}",
        stdout(&again)
    );

    // --force fetches them again
    let forced = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T02:00:00Z",
        &["--force"],
    );
    assert_exit(&forced, 0);
    assert_eq!(w.fake.calls().len(), 26);
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 24)]);
}

#[test]
fn dry_run_prints_bodies_and_sends_and_writes_nothing() {
    let w = World::new(HOURLY);
    let o = w.run(&[
        "fetch",
        "--all",
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-11-01T03:00:00Z",
        "--dry-run",
    ]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("3 of 3 reports would be fetched"), "{out}");
    assert!(out.contains(r#"{"DeviceId":"-1","BeginTime":1793491200,"EndTime":1793494800,"TimeGranularity":1,"GatewayType":0}"#), "{out}");
    assert!(w.fake.calls().is_empty());
    assert!(!w.state().exists(), "a dry run creates nothing");
}

#[test]
fn device_lists_per_device_groups_and_regions_request_the_right_parameters() {
    let w = World::new(
        r#"
[[jobs]]
name = "sum"
granularity = "hourly"
devices = ["mna-a", "mna-b", "mna-c"]

[[jobs]]
name = "each"
granularity = "hourly"
devices = ["mna-a", "mna-b"]
per_device = true
regions = ["MC", "EU"]
gateway = "private"

[[jobs]]
name = "grp"
granularity = "5min"
window = "1h"
group = "grp-42"
regions = ["AP"]
"#,
    );
    let o = w.run(&[
        "fetch",
        "--all",
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-11-01T01:00:00Z",
    ]);
    assert_exit(&o, 0);
    let ps = params_of(&w);
    assert_eq!(ps.len(), 1 + 4 + 1);
    let sum: Vec<&Params> = ps.iter().filter(|p| p.device_list.is_some()).collect();
    assert_eq!(sum.len(), 1);
    assert_eq!(sum[0].device_id, "-1");
    assert_eq!(
        sum[0].device_list.as_deref(),
        Some(&["mna-a".to_string(), "mna-b".into(), "mna-c".into()][..])
    );
    assert_eq!(sum[0].region, None);
    let each: BTreeSet<(String, Option<String>, Option<u8>)> = ps
        .iter()
        .filter(|p| p.device_id != "-1")
        .map(|p| (p.device_id.clone(), p.region.clone(), p.gateway))
        .collect();
    let want: BTreeSet<(String, Option<String>, Option<u8>)> = [
        ("mna-a", "MC"),
        ("mna-a", "EU"),
        ("mna-b", "MC"),
        ("mna-b", "EU"),
    ]
    .iter()
    .map(|(d, r)| (d.to_string(), Some(r.to_string()), Some(1)))
    .collect();
    assert_eq!(each, want);
    let grp: Vec<&Params> = ps.iter().filter(|p| p.group_id.is_some()).collect();
    assert_eq!(grp.len(), 1);
    assert_eq!(grp[0].group_id.as_deref(), Some("grp-42"));
    assert_eq!(grp[0].device_id, "-1");
    assert_eq!(grp[0].granularity, 4);
    assert_eq!(grp[0].region.as_deref(), Some("AP"));
    assert_eq!(grp[0].end - grp[0].begin, 3600);
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 6)]);
    // the history names targets and regions
    let db = w.db();
    let targets: BTreeSet<(String, String, String)> = db
        .prepare("SELECT job, target, region FROM reports")
        .expect("q")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    assert!(targets.contains(&("sum".into(), "devices:mna-a+mna-b+mna-c".into(), "".into())));
    assert!(targets.contains(&("each".into(), "device:mna-b".into(), "EU".into())));
    assert!(targets.contains(&("grp".into(), "group:grp-42".into(), "AP".into())));
}

#[test]
fn daily_windows_in_shanghai_and_berlin_across_the_march_change() {
    let w = World::new(
        r#"
[[jobs]]
name = "sh"
granularity = "daily"
timezone = "Asia/Shanghai"

[[jobs]]
name = "be"
granularity = "daily"
timezone = "Europe/Berlin"
"#,
    );
    // local dates, read in each job's own zone
    let o = w.run(&[
        "fetch",
        "--all",
        "--from",
        "2026-03-28",
        "--to",
        "2026-03-31",
    ]);
    assert_exit(&o, 0);
    let ps = params_of(&w);
    assert_eq!(ps.len(), 6);
    assert!(ps.iter().all(|p| p.granularity == 2));
    let mut sh: Vec<(i64, i64)> = Vec::new();
    let mut be: Vec<(i64, i64)> = Vec::new();
    for p in &ps {
        // Shanghai midnights are 16:00 UTC; Berlin's 23:00 or 22:00 UTC
        match p.begin.rem_euclid(86_400) {
            57_600 => sh.push((p.begin, p.end)),
            _ => be.push((p.begin, p.end)),
        }
    }
    sh.sort();
    be.sort();
    assert_eq!(
        sh,
        vec![
            (1_774_627_200, 1_774_713_600),
            (1_774_713_600, 1_774_800_000),
            (1_774_800_000, 1_774_886_400)
        ]
    );
    let lens: Vec<i64> = be.iter().map(|(b, e)| e - b).collect();
    assert_eq!(
        lens,
        vec![86_400, 82_800, 86_400],
        "one 23-hour window on 2026-03-29"
    );
    assert_eq!(be[1], (1_774_738_800, 1_774_821_600)); // 2026-03-28T23:00Z .. 2026-03-29T22:00Z
}

#[test]
fn injected_faults_are_retried_until_every_window_is_ok_with_intact_bytes() {
    let w = World::new(HOURLY);
    w.fake.push_fault(Fault::api_error("InternalError"));
    w.fake
        .push_fault(Fault::api_error("InternalError.FileIOError"));
    w.fake.push_fault(Fault::api_error("RequestLimitExceeded"));
    w.fake.push_fault(Fault::HttpStatus(502));
    w.fake.push_fault(Fault::HttpStatus(503));
    w.fake.push_fault(Fault::Reset);
    w.fake.push_fault(Fault::api_error("ServiceUnavailable"));
    w.fake.push_fault(Fault::ExpireUrl);
    w.fake.push_fault(Fault::DownloadTruncated);
    w.fake.push_fault(Fault::DownloadReset);
    w.fake.push_fault(Fault::DownloadStatus(500));
    w.fake.push_fault(Fault::DownloadStatus(404));
    w.fake.push_fault(Fault::DownloadCorrupt);
    w.fake.push_fault(Fault::DownloadNotXlsx);
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T06:00:00Z",
        &[],
    );
    assert_exit(&o, 0);
    assert_eq!(w.fake.pending_faults(), (0, 0), "every fault was hit");
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 6)]);
    w.assert_files_match_served();
    assert!(w.part_files().is_empty());
    let db = w.db();
    let (attempts, failed_attempts): (i64, i64) = db
        .query_row(
            "SELECT count(*), count(error_code) FROM attempts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("attempts");
    // 14 faults, each a failed try recorded; 6 ok calls and 6 ok downloads (an
    // expired URL costs its own call too)
    assert_eq!(
        failed_attempts, 14,
        "every injected fault is a recorded try"
    );
    assert!(attempts >= 14 + 12);
    let sum: i64 = db
        .query_row("SELECT sum(attempts) FROM reports", [], |r| r.get(0))
        .expect("sum");
    // a successful call and the download of its URL are one try
    let ok_calls: i64 = db
        .query_row(
            "SELECT count(*) FROM attempts WHERE kind = 'call' AND error_code IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("ok calls");
    assert_eq!(sum, attempts - ok_calls, "reports.attempts counts tries");
    let codes: BTreeSet<String> = db
        .prepare("SELECT error_code FROM attempts WHERE error_code IS NOT NULL")
        .expect("q")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    for want in [
        "InternalError",
        "InternalError.FileIOError",
        "RequestLimitExceeded",
        "HTTP502",
        "HTTP503",
        "ServiceUnavailable",
        "DownloadExpired",
        "DownloadShort",
        "DownloadHttpError",
        "DownloadNotXlsx",
    ] {
        assert!(
            codes.contains(want),
            "no attempt recorded {want}: {codes:?}"
        );
    }
}

#[test]
fn a_report_that_keeps_failing_gives_up_after_max_attempts_and_exits_1() {
    let w = World::new(HOURLY);
    w.fake.push_api_faults(8, Fault::api_error("InternalError"));
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T01:00:00Z",
        &[],
    );
    assert_exit(&o, 1);
    assert_eq!(w.fake.calls().len(), 8);
    assert_eq!(
        only_report(&w),
        ("failed".to_string(), 8, "InternalError".to_string())
    );
    // the next fetch tries it again and succeeds
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T01:00:00Z",
        &[],
    );
    assert_exit(&o, 0);
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 1)]);
}

#[test]
fn a_wrong_key_fails_at_once_is_recorded_and_shown() {
    let w = World::new(HOURLY);
    let o = w
        .cmd()
        .env("TENCENTCLOUD_SECRET_KEY", "not-the-right-key")
        .args(FETCH_ONE_HOUR)
        .output()
        .expect("run");
    assert_exit(&o, 1);
    assert_eq!(w.fake.calls().len(), 1, "not retried");
    assert_eq!(
        only_report(&w),
        (
            "failed".to_string(),
            1,
            "AuthFailure.SignatureFailure".to_string()
        )
    );
    let err = stderr(&o);
    assert!(err.contains("AuthFailure.SignatureFailure"), "{err}");
    assert!(err.contains("fix:"), "{err}");
}

#[test]
fn an_invalid_parameter_fails_at_once() {
    let w = World::new(HOURLY);
    w.fake.push_fault(Fault::api_error("InvalidParameter"));
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T01:00:00Z",
        &[],
    );
    assert_exit(&o, 1);
    assert_eq!(w.fake.calls().len(), 1);
    assert_eq!(
        only_report(&w),
        ("failed".to_string(), 1, "InvalidParameter".to_string())
    );
    assert!(stderr(&o).contains("InvalidParameter"));
}

#[test]
fn a_signature_expired_error_says_the_clock_is_off() {
    let cfg = FakeConfig {
        clock_offset: 3600,
        ..FakeConfig::default()
    };
    let w = World::with(cfg, "", HOURLY);
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T01:00:00Z",
        &[],
    );
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("AuthFailure.SignatureExpire"), "{err}");
    assert!(err.contains("clock"), "{err}");
}

#[test]
fn temporary_credentials_send_their_token() {
    let cfg = FakeConfig {
        credentials: vec![
            fake_mna::Credential::new("AKIDtemp0001", "temp-key").with_token("tok-123"),
        ],
        ..FakeConfig::default()
    };
    let w = World::with(cfg, "", HOURLY);
    let o = w
        .cmd()
        .env("TENCENTCLOUD_SECRET_ID", "AKIDtemp0001")
        .env("TENCENTCLOUD_SECRET_KEY", "temp-key")
        .env("TENCENTCLOUD_TOKEN", "tok-123")
        .args(FETCH_ONE_HOUR)
        .output()
        .expect("run");
    assert_exit(&o, 0);
    let c = &w.fake.calls()[0];
    assert_eq!(c.header("x-tc-token"), Some("tok-123"));
    assert_eq!(
        c.header("x-tc-requestclient")
            .map(|v| v.starts_with("mna-reportd/")),
        Some(true)
    );
}

#[test]
fn files_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new(HOURLY);
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T02:00:00Z",
        &[],
    );
    assert_exit(&o, 0);
    let mut checked = 0;
    let mut stack = vec![w.state()];
    while let Some(d) = stack.pop() {
        let mode = std::fs::metadata(&d).expect("meta").permissions().mode();
        assert_eq!(
            mode & 0o007,
            0,
            "{} is open to others: {mode:o}",
            d.display()
        );
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
                assert_eq!(mode & 0o077 & !0o040, 0, "{} mode {mode:o}", p.display());
                assert_eq!(
                    mode & 0o007,
                    0,
                    "{} is readable by others: {mode:o}",
                    p.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 3);
}

#[test]
fn a_forced_fetch_that_fails_keeps_the_good_report() {
    let w = World::new(HOURLY);
    let range = [
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-11-01T01:00:00Z",
    ];
    let o = w.run(&[
        "fetch",
        "--job",
        "hourly-all",
        range[0],
        range[1],
        range[2],
        range[3],
    ]);
    assert_exit(&o, 0);
    let before = w.ok_rows();
    let rows_before: i64 = w
        .db()
        .query_row("SELECT count(*) FROM report_rows", [], |r| r.get(0))
        .expect("rows");
    let bytes_before = std::fs::read(&before[0].1).expect("the file");

    // the API refuses the forced fetch
    w.fake.push_fault(Fault::api_error("InvalidParameterValue"));
    let o = w.run(&[
        "fetch",
        "--job",
        "hourly-all",
        range[0],
        range[1],
        range[2],
        range[3],
        "--force",
    ]);
    assert_exit(&o, 1);
    assert_eq!(w.ok_rows(), before, "the report stays ok with its file");

    // every download of the forced fetch is a zip that is not a workbook
    for _ in 0..8 {
        w.fake.push_fault(Fault::DownloadNotXlsx);
    }
    let o = w.run(&[
        "fetch",
        "--job",
        "hourly-all",
        range[0],
        range[1],
        range[2],
        range[3],
        "--force",
    ]);
    assert_exit(&o, 1);
    assert_eq!(w.ok_rows(), before);
    assert_eq!(
        std::fs::read(&before[0].1).expect("the file"),
        bytes_before,
        "the good file was not replaced"
    );
    let rows_after: i64 = w
        .db()
        .query_row("SELECT count(*) FROM report_rows", [], |r| r.get(0))
        .expect("rows");
    assert_eq!(rows_after, rows_before);
    assert!(w.part_files().is_empty());
}
