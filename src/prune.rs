//! Pruning: report files whose window ended before a cutoff are deleted and
//! their rows marked `pruned` (the rows, and their `report_rows`, stay: the
//! history is the record). A pruned report counts as done, so it is never
//! fetched again. Rows are marked before files are deleted: a crash in
//! between leaves a stray file, never an `ok` row without its file.

use crate::store::{self, Store, StoreError};
use rusqlite::params;
use std::path::PathBuf;
use tracing::{info, warn};

/// What a prune did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub reports: usize,
    pub files_deleted: usize,
    pub bytes: u64,
    pub missing_files: usize,
}

/// Rows per transaction.
const BATCH: i64 = 500;

/// Prune reports whose window ended before `cutoff` (Unix seconds).
pub fn prune(store: &Store, cutoff: i64, dry_run: bool) -> Result<Pruned, StoreError> {
    let mut out = Pruned::default();
    let mut after_id = 0i64;
    loop {
        let batch: Vec<(i64, Option<String>, Option<i64>)> = store.with(|c| {
            let mut st = c.prepare(
                "SELECT id, file_path, bytes FROM reports WHERE status = 'ok' AND window_end < ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )?;
            let rows = st.query_map(params![cutoff, after_id, BATCH], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })?;
        let Some(last) = batch.last() else { break };
        after_id = last.0;
        if !dry_run {
            store.with(|c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                for (id, _, _) in &batch {
                    tx.execute(
                        "UPDATE reports SET status = 'pruned', updated_at = ?2 WHERE id = ?1 AND status = 'ok'",
                        params![id, store::now()],
                    )?;
                }
                tx.commit()
            })?;
        }
        for (_, path, bytes) in batch {
            out.reports += 1;
            out.bytes += bytes.unwrap_or(0).max(0) as u64;
            let Some(path) = path.map(PathBuf::from) else {
                continue;
            };
            if dry_run {
                if path.exists() {
                    out.files_deleted += 1;
                } else {
                    out.missing_files += 1;
                }
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => out.files_deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.missing_files += 1,
                Err(e) => {
                    warn!(file = %path.display(), error = %e, "cannot delete a pruned report file")
                }
            }
        }
    }
    if out.reports > 0 && !dry_run {
        info!(
            reports = out.reports,
            files = out.files_deleted,
            bytes = out.bytes,
            "pruned old report files"
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::reports::{self, Fetched, ReportKey, Trigger};

    fn ok_report(s: &Store, dir: &std::path::Path, end: i64) -> PathBuf {
        let key = ReportKey {
            job: "j".into(),
            target: "all".into(),
            region: String::new(),
            window_start: end - 3600,
            window_end: end,
        };
        let file = dir.join(format!("{end}.xlsx"));
        std::fs::write(&file, b"x").expect("write");
        s.with(|c| {
            let (id, _) = reports::plan(c, &key, 1, Trigger::Manual, 0)?;
            let tx = c.transaction()?;
            reports::mark_ok(
                &tx,
                id,
                &Fetched {
                    request_id: "r".into(),
                    file_path: file.to_string_lossy().into_owned(),
                    bytes: 1,
                    sha256: "s".into(),
                },
                0,
            )?;
            tx.commit()
        })
        .expect("ok row");
        file
    }

    #[test]
    fn prunes_only_what_ended_before_the_cutoff_and_keeps_rows() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&d.path().join("h.db")).expect("open");
        let old = ok_report(&s, d.path(), 1_000);
        let new = ok_report(&s, d.path(), 10_000);
        let dry = prune(&s, 5_000, true).expect("dry");
        assert_eq!(dry.reports, 1);
        assert!(old.exists());
        let done = prune(&s, 5_000, false).expect("prune");
        assert_eq!(
            done,
            Pruned {
                reports: 1,
                files_deleted: 1,
                bytes: 1,
                missing_files: 0
            }
        );
        assert!(!old.exists() && new.exists());
        let statuses: Vec<String> = s
            .with(|c| {
                let mut st = c.prepare("SELECT status FROM reports ORDER BY window_end")?;
                let r = st.query_map([], |r| r.get(0))?;
                r.collect()
            })
            .expect("statuses");
        assert_eq!(statuses, vec!["pruned", "ok"]);
        // pruned counts as done
        let done = s
            .with(|c| crate::store::query::done_keys(c, "j", 0, 2_000))
            .expect("done");
        assert_eq!(done.len(), 1);
        // a second prune finds nothing
        assert_eq!(prune(&s, 5_000, false).expect("again").reports, 0);
    }
}
