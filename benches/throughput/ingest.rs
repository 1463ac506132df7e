//! The `ingest` scenario: the time of `ingest` alone
//! on a 100,000-row workbook (and of the commit after it), and the peak
//! RSS of fetches of 10k, 100k and 300k-row reports, which must stay flat.

use std::path::Path;
use std::time::{Duration, Instant};

use fake_mna::{FakeConfig, Params};
use mna_reportd::testing::{self, Ingested, Store, Trigger, reports};

use crate::Results;
use crate::harness::{MIB, fmt_runs, median};
use crate::world::{BASE, HOUR, SUMMARY_ROWS, World, report_key};

const INGEST_ROWS: usize = 100_000;
const INGEST_REPEATS: usize = 5;
const INGEST_TARGET: Duration = Duration::from_secs(1);

/// A fresh history with one planned report; its id.
fn fresh_store(dir: &Path) -> (Store, i64) {
    let store = Store::open(&dir.join("history.db")).expect("open a fresh history");
    let (id, _) = store
        .on_thread(|c| reports::record_planned(c, &report_key(0), 1, Trigger::Manual, BASE))
        .expect("plan a report");
    (store, id)
}

/// Time `ingest` alone, then the commit, on a fresh history.
fn time_ingest(workbook: &Path, dir: &Path) -> (Duration, Duration, Ingested) {
    let (store, id) = fresh_store(dir);
    store
        .on_thread(|c| {
            let tx = c.transaction()?;
            let t0 = Instant::now();
            let ingested = testing::ingest(&tx, id, workbook);
            let t_ingest = t0.elapsed();
            let t1 = Instant::now();
            tx.commit()?;
            Ok((t_ingest, t1.elapsed(), ingested))
        })
        .map(|(ti, tc, res)| (ti, tc, res.expect("ingest the workbook")))
        .expect("the history database works")
}

fn ingest_timing(r: &mut Results) {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let params = Params::new("-1", BASE, BASE + HOUR, 1);
    let t0 = Instant::now();
    let bytes = fake_mna::workbook_for(&params, INGEST_ROWS, true);
    println!(
        "  (built a {INGEST_ROWS}-row workbook of {:.1} MiB in {:.1} s)",
        bytes.len() as f64 / MIB,
        t0.elapsed().as_secs_f64()
    );
    let workbook = dir.path().join("report.xlsx");
    std::fs::write(&workbook, &bytes).expect("write the workbook");
    let mut ingest_s = Vec::new();
    let mut commit_s = Vec::new();
    for i in 0..INGEST_REPEATS {
        let db_dir = dir.path().join(format!("db{i}"));
        let (ti, tc, got) = time_ingest(&workbook, &db_dir);
        assert_eq!(got.rows, INGEST_ROWS + SUMMARY_ROWS, "rows ingested");
        ingest_s.push(ti.as_secs_f64());
        commit_s.push(tc.as_secs_f64());
    }
    let med = median(ingest_s.clone());
    r.check(
        "ingest",
        &format!("ingest of {INGEST_ROWS} rows, median of {INGEST_REPEATS}"),
        fmt_runs(&ingest_s),
        "< 1 s",
        med < INGEST_TARGET.as_secs_f64(),
    );
    r.info(
        "ingest",
        "rows/s (ingest alone)",
        format!("{:.0}", (INGEST_ROWS + SUMMARY_ROWS) as f64 / med),
    );
    r.info(
        "ingest",
        "commit after the ingest, median",
        format!("{:.3} s", median(commit_s)),
    );
}

fn ingest_rss(r: &mut Results) {
    let mut rss = Vec::new();
    for rows in [10_000usize, 100_000, 300_000] {
        let cfg = FakeConfig {
            rows_per_report: Some(rows),
            ..FakeConfig::default()
        };
        let w = World::new(cfg, 20, 4);
        let run = w.fetch(1, &format!("ingest-rss-{rows}"));
        let history = w.history();
        let ok = history.assert_all_ok(1);
        assert_eq!(
            history.report_rows(),
            (rows + SUMMARY_ROWS) as i64,
            "report_rows of a {rows}-row report"
        );
        r.info(
            "ingest",
            &format!("peak RSS, fetch of one {rows}-row report"),
            format!(
                "{:.1} MiB ({:.1} MiB file, {:.2} s)",
                run.rss_mib(),
                ok[0].2 as f64 / MIB,
                run.wall.as_secs_f64()
            ),
        );
        rss.push(run.rss_mib());
        r.keep.push(w.dir);
    }
    let growth = rss[2] - rss[0];
    r.check(
        "ingest",
        "RSS growth, 10k -> 300k rows",
        format!("{growth:+.1} MiB"),
        "flat (< 16 MiB)",
        growth < 16.0,
    );
}

pub fn scenario(r: &mut Results) {
    ingest_timing(r);
    ingest_rss(r);
}
