//! mna-reportd's per-report disk and history steps, replayed with the
//! library's own functions on a 24-row workbook, one report after another,
//! without the network: where the time of the `sdk` scenario goes inside
//! mna-reportd. Owns the replay and its figures (reported under `sdk`).

use std::path::Path;
use std::time::{Duration, Instant};

use fake_mna::Params;
use mna_reportd::testing::{self, ArchiveRoot, RelPath, Store, Trigger, reports};
use rusqlite::TransactionBehavior;

use crate::Results;
use crate::harness::{median, ms};
use crate::world::{BASE, HOUR, report_key};

/// Per-report costs of mna-reportd's disk and history steps, replayed here
/// with the library's own functions on a 24-row workbook, one report after
/// the other, without the network. The database steps go through the one
/// connection of a `Store`, so across reports in flight they run one at a
/// time. Milliseconds, medians over the reports.
struct HistoryCost {
    claim_ms: f64,
    record_ms: f64,
    ingest_ms: f64,
    rename_ms: f64,
    commit_ms: f64,
    /// Mean of claim + record + ingest + commit.
    db_total_ms: f64,
    /// Creating, writing, fsyncing and checking the `.part` file.
    part_file_ms: f64,
}

fn attempt(kind: reports::AttemptKind) -> reports::AttemptRecord {
    reports::AttemptRecord {
        kind,
        started_at: BASE,
        duration_ms: 1,
        http_status: Some(200),
        error_code: None,
        error_message: None,
        request_id: Some("bench".into()),
    }
}

/// Plan and claim report `i`; its id.
fn replay_claim(store: &Store, i: i64, file: &str) -> i64 {
    let key = report_key(i);
    let owner = store.owner().to_string();
    store
        .on_thread(|c| {
            let (id, _) = reports::record_planned(c, &key, 1, Trigger::Manual, BASE)?;
            let req = reports::ClaimRequest {
                owner: &owner,
                force: false,
                trigger: Trigger::Manual,
                file_path: file,
                now: BASE,
            };
            // No claim exists yet, so no holder is asked after.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            reports::claim_in(&tx, id, &req, |_| false)?;
            tx.commit()?;
            Ok(id)
        })
        .expect("plan and claim")
}

/// The commit transaction: (ingest, rename + dir fsync, the rest).
fn replay_commit(
    store: &Store,
    archive: &ArchiveRoot,
    id: i64,
    part: &RelPath,
    final_path: &RelPath,
    bytes: u64,
) -> [Duration; 3] {
    let fetched = reports::Fetched {
        request_id: "bench".into(),
        file_path: archive.absolute(final_path).to_string_lossy().into_owned(),
        bytes,
        sha256: String::new(),
    };
    store
        .on_thread(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let t = Instant::now();
            testing::ingest(&tx, id, &archive.absolute(part)).expect("ingest a 24-row workbook");
            let ingest = t.elapsed();
            let t = Instant::now();
            archive
                .commit(part, final_path)
                .expect("rename, fsync the directory");
            let rename = t.elapsed();
            let t = Instant::now();
            let download = attempt(reports::AttemptKind::Download);
            reports::record_try(&tx, id, std::slice::from_ref(&download), BASE)?;
            reports::mark_ok(&tx, id, &fetched, BASE)?;
            tx.commit()?;
            Ok([ingest, rename, t.elapsed()])
        })
        .expect("commit the report")
}

/// One report's steps: claim, record the call, ingest, rename, rest of the
/// commit; and apart, the time of the `.part` file.
fn replay_report(
    store: &Store,
    workbook: &[u8],
    archive: &ArchiveRoot,
    i: i64,
) -> ([Duration; 5], Duration) {
    let final_path = RelPath::new(Path::new(&format!("r{i}.xlsx"))).expect("a file name");
    let part = final_path.part();
    let t = Instant::now();
    let id = replay_claim(store, i, &archive.absolute(&final_path).to_string_lossy());
    let claim = t.elapsed();
    let t = Instant::now();
    let call = attempt(reports::AttemptKind::Call);
    store
        .on_thread(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            reports::record_try(&tx, id, std::slice::from_ref(&call), BASE)?;
            tx.commit()
        })
        .expect("record the call");
    let record = t.elapsed();
    let part_time = write_part(archive, &part, workbook);
    let [ingest, rename, commit] = replay_commit(
        store,
        archive,
        id,
        &part,
        &final_path,
        workbook.len() as u64,
    );
    ([claim, record, ingest, rename, commit], part_time)
}

/// Create, write, fsync and check a `.part` file as a download does.
fn write_part(archive: &ArchiveRoot, part: &RelPath, workbook: &[u8]) -> Duration {
    use std::io::Write;
    let t = Instant::now();
    let mut f = archive.create_part(part).expect("create the part file");
    f.write_all(workbook).expect("write the part file");
    f.sync_all().expect("fsync the part file");
    testing::check_xlsx(&archive.absolute(part)).expect("a valid workbook");
    t.elapsed()
}

fn history_cost(n: i64) -> HistoryCost {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let store = Store::open(&dir.path().join("history.db")).expect("open a fresh history");
    let files = dir.path().join("reports");
    std::fs::create_dir_all(&files).expect("create the reports dir");
    let archive = ArchiveRoot::new(&files);
    let workbook = fake_mna::workbook_for(&Params::new("-1", BASE, BASE + HOUR, 1), 24, true);
    let mut steps: [Vec<f64>; 5] = Default::default();
    let mut db = Vec::new();
    let mut part_file = Vec::new();
    for i in 0..n {
        let (d, part) = replay_report(&store, &workbook, &archive, i);
        for (v, d) in steps.iter_mut().zip(d) {
            v.push(ms(d));
        }
        let [claim, record, ingest, _, commit] = d;
        db.push(ms(claim + record + ingest + commit));
        part_file.push(ms(part));
    }
    let [claim, record, ingest, rename, commit] = steps.map(median);
    HistoryCost {
        claim_ms: claim,
        record_ms: record,
        ingest_ms: ingest,
        rename_ms: rename,
        commit_ms: commit,
        db_total_ms: db.iter().sum::<f64>() / n as f64,
        part_file_ms: median(part_file),
    }
}

/// The replay of `n` reports, as `sdk` figures.
pub fn report(r: &mut Results, n: i64) {
    let c = history_cost(n);
    r.info(
        "sdk",
        "replayed per report: claim / record call / ingest / rename+dir fsync / commit",
        format!(
            "{:.2} / {:.2} / {:.2} / {:.2} / {:.2} ms",
            c.claim_ms, c.record_ms, c.ingest_ms, c.rename_ms, c.commit_ms
        ),
    );
    r.info(
        "sdk",
        &format!("replayed: database work of {n} reports (one connection, so serial)"),
        format!("{:.3} s", c.db_total_ms * n as f64 / 1000.0),
    );
    r.info(
        "sdk",
        "replayed: create + write + fsync + check of a .part file, per report",
        format!("{:.2} ms", c.part_file_ms),
    );
}
