//! Crash safety, shown rather than argued: a 120-report backfill is killed
//! with SIGKILL at random moments, five times; after each kill no file
//! under a final name is partial and the database is intact; one more run
//! then finishes with every report `ok` exactly once, files equal to what
//! was served, no temporary files, and few repeated calls.

use crate::common;

use common::daemon::poll_until;
use common::*;
use fake_mna::FakeConfig;
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

const REPORTS: i64 = 120;
const KILLS: usize = 5;
const CONCURRENCY: usize = 4;

fn backfill(w: &World) -> std::process::Command {
    let mut cmd = w.cmd();
    cmd.args([
        "fetch",
        "--job",
        "h",
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-11-06T00:00:00Z",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

/// Every completed (non-`.part`) report file must be a whole workbook that
/// the fake served, byte for byte.
fn assert_no_partial_final_files(w: &World, served: &BTreeSet<String>) {
    for f in w.files() {
        let name = f.to_string_lossy();
        if !name.ends_with(".xlsx") {
            continue;
        }
        let data = std::fs::read(&f).expect("read");
        let sha = fake_mna::sign::sha256_hex(&data);
        assert!(
            served.contains(&sha),
            "{} is not a file the fake served whole ({} bytes)",
            name,
            data.len()
        );
    }
}

#[test]
fn five_kills_at_random_moments_then_one_more_run_leave_every_report_ok_exactly_once() {
    let cfg = FakeConfig {
        // bigger workbooks: downloads, ingestion and commits take long enough to be hit
        rows_per_report: Some(3_000),
        ..FakeConfig::default()
    };
    let w = World::with(
        cfg,
        "",
        "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\ntimezone = \"UTC\"\n",
    );
    // Time one undisturbed report to aim the kills inside the run.
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut kills_that_hit_work = 0;
    for round in 0..KILLS {
        let before = count_ok(&w);
        let mut child = backfill(&w).spawn().expect("spawn");
        // wait until this run has done some work (a random number of
        // reports ok, so that the kill lands at a random moment of the others
        // in flight), then kill
        let done = before + 1 + rng.i64(0..4);
        poll_until(Duration::from_secs(60), || {
            count_ok(&w) >= done || child.try_wait().expect("try_wait").is_some()
        });
        let finished = child.try_wait().expect("try_wait").is_some();
        // SAFETY: sends SIGKILL to our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        if !finished {
            kills_that_hit_work += 1;
        }
        let served: BTreeSet<String> = w
            .fake
            .calls()
            .into_iter()
            .filter_map(|c| c.outcome.request_id().and_then(|r| w.fake.served_sha256(r)))
            .collect();
        assert_no_partial_final_files(&w, &served);
        assert_eq!(integrity(&w.db_path()), "ok", "after kill {round}");
    }
    assert!(
        kills_that_hit_work >= 3,
        "the backfill finished before most kills; the test proves little (seed {seed})"
    );

    let o = backfill(&w)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("final run");
    assert_exit(&o, 0);

    assert_eq!(integrity(&w.db_path()), "ok");
    assert_eq!(w.status_counts(), vec![("ok".to_string(), REPORTS)]);
    let db = w.db();
    let claims: i64 = db
        .query_row("SELECT count(*) FROM claims", [], |r| r.get(0))
        .expect("claims");
    assert_eq!(claims, 0, "claims of killed processes are released");
    w.assert_files_match_served();
    assert!(
        w.part_files().is_empty(),
        "temp files left: {:?}",
        w.part_files()
    );
    let xlsx = w
        .files()
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".xlsx"))
        .count() as i64;
    assert_eq!(xlsx, REPORTS, "one file per report, nothing else");
    // each report's rows are there exactly once
    let rows: i64 = db
        .query_row("SELECT count(*) FROM report_rows", [], |r| r.get(0))
        .expect("rows");
    let per_report: i64 = db
        .query_row(
            "SELECT count(*) FROM report_rows WHERE report_id = (SELECT min(id) FROM reports)",
            [],
            |r| r.get(0),
        )
        .expect("rows");
    assert_eq!(rows, per_report * REPORTS);
    // few repeated calls: at most the reports in flight at each kill
    let ok_calls = w.fake.calls().iter().filter(|c| c.outcome.is_ok()).count();
    let repeated = ok_calls as i64 - REPORTS;
    assert!(
        repeated <= (KILLS * CONCURRENCY) as i64,
        "{repeated} repeated calls"
    );
}

fn count_ok(w: &World) -> i64 {
    common::daemon::count_status(w, "ok")
}
