//! Pruning: report files whose window ended before a cutoff are deleted and
//! their rows marked `pruned` (the rows, and their `report_rows`, stay: the
//! history is the record). A pruned report counts as done, so it is never
//! fetched again.
//!
//! Rows are marked first (a crash in between leaves a stray file, never an
//! `ok` row without its file), and a report being fetched (claimed) is
//! skipped. A file is then deleted only while the history's write lock is
//! held and its row is still `pruned` and unclaimed, so a `fetch --force`
//! of the same report can neither lose its new file nor race the deletion.
//! A deleted file's path leaves its row (only a report whose file exists
//! carries one).
//!
//! The objects of pruned reports in the bucket (`[storage.remote]`) are
//! deleted after, by [`objects`]: a report kept only in the bucket is
//! pruned as any other, and a bucket that is down leaves its objects to
//! the next prune without stopping this one.
//!
//! Every file is deleted through the [`ArchiveRoot`], never by the path
//! string its row holds: a row whose recorded file is outside the archive
//! is skipped (left `ok`, not marked, counted in [`Pruned::outside`] and
//! logged: `check` and `status` report it as damage), and a file reached
//! through a link anywhere in the reports tree is left alone, with a warning.

mod objects;

pub(crate) use objects::InBucket;

use crate::archive::root::ArchiveRoot;
use crate::archive::store::outside::{outside_ids, outside_sql, prefix_end};
use crate::archive::store::{self, Store, StoreError};
use crate::domain::report::Status;
use rusqlite::params;
use tracing::{info, warn};

/// What a prune did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub(crate) reports: usize,
    pub(crate) files_deleted: usize,
    pub(crate) bytes: u64,
    pub(crate) missing_files: usize,
    /// Files left alone: reached through a link in the reports tree.
    pub(crate) refused_files: usize,
    /// Reports skipped: their row records a file outside the archive.
    pub(crate) outside: usize,
    /// Dry: the files that would be deleted, in report order, then the
    /// objects (`s3://bucket/key`).
    pub(crate) would_delete: Vec<String>,
    /// Objects of pruned reports deleted from the bucket (dry: that would be).
    pub(crate) objects_deleted: usize,
    /// Objects of pruned reports left in the bucket (the bucket down or
    /// refusing, or not configured): the next prune deletes them.
    pub(crate) objects_left: usize,
    /// Why objects were left, with the fix.
    pub(crate) objects_why: Option<String>,
    /// Pruned reports whose recorded object key is not a report key of
    /// their job below the bucket's prefix: never deleted.
    pub(crate) objects_refused: usize,
}

/// Rows per transaction.
const BATCH: i64 = 500;

/// The reports to prune: `ok`, ended before the cutoff, not being fetched,
/// and not recording a file outside the archive (prefix `?7`).
fn candidates() -> String {
    format!(
        "SELECT id FROM reports WHERE status = ?4 AND window_end < ?1 AND id > ?2
         AND id NOT IN (SELECT report_id FROM claims)
         AND (file_path IS NULL OR NOT {}) ORDER BY id LIMIT ?3",
        outside_sql("?7")
    )
}

/// Prune reports whose window ended before `cutoff` (Unix seconds), their
/// files in `archive`, their objects in `bucket` (`None`: no
/// `[storage.remote]`).
pub(crate) fn prune(
    store: &Store,
    archive: &ArchiveRoot,
    cutoff: i64,
    dry_run: bool,
    bucket: Option<&InBucket>,
) -> Result<Pruned, StoreError> {
    let mut out = Pruned {
        outside: skipped_outside(store, archive, cutoff)?,
        ..Pruned::default()
    };
    let prefix = archive.prefix();
    let mut after_id = 0i64;
    let mut objects = Vec::new();
    loop {
        let row =
            |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?));
        type Row = (i64, Option<String>, Option<i64>, String, Option<String>);
        let batch: Vec<Row> = store.on_thread(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let p = params![cutoff, after_id, BATCH, Status::Ok, store::now(), Status::Pruned, prefix];
            let rows = if dry_run {
                tx.prepare(&format!("SELECT id, file_path, bytes, job, remote_key FROM reports WHERE id IN ({}) ORDER BY id", candidates()))?
                    .query_map(p, row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            } else {
                tx.prepare(&format!(
                    "UPDATE reports SET status = ?6, updated_at = ?5 WHERE id IN ({}) RETURNING id, file_path, bytes, job, remote_key", candidates()
                ))?
                .query_map(p, row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.commit()?;
            Ok(rows)
        })?;
        let Some(last) = batch.iter().map(|b| b.0).max() else {
            break;
        };
        after_id = last;
        out.reports += batch.len();
        out.bytes += batch
            .iter()
            .map(|b| b.2.unwrap_or(0).max(0) as u64)
            .sum::<u64>();
        if dry_run {
            objects.extend(
                batch
                    .iter()
                    .filter_map(|(_, _, _, job, key)| Some((job.clone(), key.clone()?))),
            );
        }
        let files: Vec<(i64, String)> = batch
            .into_iter()
            .filter_map(|(id, p, ..)| p.map(|p| (id, p)))
            .collect();
        match dry_run {
            true => would_delete_files(archive, files, &mut out),
            false => delete_files(store, archive, &files, &mut out)?,
        }
    }
    match dry_run {
        true => objects::would_delete(store, bucket, objects, &mut out)?,
        false => objects::delete(store, bucket, &mut out)?,
    }
    if (out.reports > 0 || out.objects_deleted > 0) && !dry_run {
        info!(
            reports = out.reports,
            files = out.files_deleted,
            objects = out.objects_deleted,
            bytes = out.bytes,
            "pruned old report files"
        );
    }
    Ok(out)
}

/// Dry: count the files of `files` a prune would delete, and list them.
fn would_delete_files(archive: &ArchiveRoot, files: Vec<(i64, String)>, out: &mut Pruned) {
    for (_, path) in files {
        match archive.locate(&path).map(|rel| archive.is_file(&rel)) {
            Ok(Ok(true)) => {
                out.files_deleted += 1;
                out.would_delete.push(path);
            }
            Ok(Ok(false)) => out.missing_files += 1,
            Ok(Err(_)) | Err(_) => out.refused_files += 1,
        }
    }
}

/// How many reports a prune to `cutoff` skips because their row records a
/// file outside the archive; the first few are logged.
fn skipped_outside(store: &Store, archive: &ArchiveRoot, cutoff: i64) -> Result<usize, StoreError> {
    const LOGGED: usize = 20;
    let prefix = archive.prefix();
    let (count, rows): (i64, Vec<(i64, String)>) = store.on_thread(|c| {
        let from = format!(
            "FROM reports WHERE id IN ({}) AND status = ?3 AND window_end < ?4",
            outside_ids("?1", "?2")
        );
        let p = params![prefix, prefix_end(&prefix), Status::Ok, cutoff];
        let count = c.query_row(&format!("SELECT count(*) {from}"), p, |r| r.get(0))?;
        let rows = c
            .prepare(&format!(
                "SELECT id, file_path {from} ORDER BY id LIMIT {LOGGED}"
            ))?
            .query_map(p, |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok((count, rows))
    })?;
    for (id, path) in &rows {
        let error = match archive.locate(path) {
            Err(e) => e.to_string(),
            Ok(_) => format!("{path:?} is not a path inside the reports directory"),
        };
        warn!(report = id, %error, "not pruning a report whose recorded file is outside the archive");
    }
    Ok(count.max(0) as usize)
}

/// Delete the files of pruned reports through `archive`, each only if its
/// row is still `pruned` and unclaimed, under the history's write lock.
fn delete_files(
    store: &Store,
    archive: &ArchiveRoot,
    files: &[(i64, String)],
    out: &mut Pruned,
) -> Result<(), StoreError> {
    store.on_thread(|c| {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut still = tx.prepare(
            "SELECT count(*) FROM reports WHERE id = ?1 AND status = ?2 AND id NOT IN (SELECT report_id FROM claims)",
        )?;
        let mut forget = tx.prepare("UPDATE reports SET file_path = NULL WHERE id = ?1")?;
        for (id, path) in files {
            if still.query_row(params![id, Status::Pruned], |r| r.get::<_, i64>(0))? == 0 {
                continue;
            }
            let rel = match archive.locate(path) {
                Ok(rel) => rel,
                Err(e) => {
                    out.outside += 1;
                    warn!(report = id, error = %e, "not deleting a file outside the archive");
                    continue;
                }
            };
            let gone = match archive.remove(&rel) {
                Ok(true) => {
                    out.files_deleted += 1;
                    true
                }
                Ok(false) => {
                    out.missing_files += 1;
                    true
                }
                Err(e) if e.raw_os_error() == Some(libc::ELOOP)
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
                {
                    out.refused_files += 1;
                    warn!(file = %path, error = %e, "not deleting a pruned report file reached through a link in the reports tree; replace the link with a real directory");
                    false
                }
                Err(e) => {
                    warn!(file = %path, error = %e, "cannot delete a pruned report file");
                    false
                }
            };
            if gone {
                forget.execute([id])?;
            }
        }
        drop((still, forget));
        tx.commit()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::store::reports::{self, Fetched};
    use crate::domain::report::{ReportKey, Trigger};

    fn ok_report(s: &Store, dir: &std::path::Path, end: i64) -> std::path::PathBuf {
        let key = ReportKey {
            job: "j".into(),
            target: "all".into(),
            region: String::new(),
            window_start: end - 3600,
            window_end: end,
        };
        let file = dir.join(format!("{end}.xlsx"));
        std::fs::write(&file, b"x").expect("write");
        s.on_thread(|c| {
            let (id, _) = reports::record_planned(c, &key, 1, Trigger::Manual, 0)?;
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
    fn a_report_being_fetched_is_not_pruned() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&d.path().join("h.db")).expect("open");
        let old = ok_report(&s, d.path(), 1_000);
        let me = s.owner().to_string();
        // a forced fetch holds it
        s.on_thread(|c| {
            reports::claim(
                c,
                1,
                &reports::ClaimRequest {
                    owner: &me,
                    force: true,
                    trigger: Trigger::Manual,
                    file_path: &old.to_string_lossy(),
                    now: 5,
                },
            )
        })
        .expect("claim");
        let p = prune(&s, &ArchiveRoot::new(d.path()), 5_000, false, None).expect("prune");
        assert_eq!(p.reports, 0);
        assert!(old.exists());
    }

    #[test]
    fn prunes_only_what_ended_before_the_cutoff_and_keeps_rows() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&d.path().join("h.db")).expect("open");
        let old = ok_report(&s, d.path(), 1_000);
        let new = ok_report(&s, d.path(), 10_000);
        let dry = prune(&s, &ArchiveRoot::new(d.path()), 5_000, true, None).expect("dry");
        assert_eq!(dry.reports, 1);
        assert_eq!(dry.would_delete, vec![old.to_string_lossy().into_owned()]);
        assert!(old.exists());
        let done = prune(&s, &ArchiveRoot::new(d.path()), 5_000, false, None).expect("prune");
        assert_eq!(
            done,
            Pruned {
                reports: 1,
                files_deleted: 1,
                bytes: 1,
                missing_files: 0,
                refused_files: 0,
                outside: 0,
                ..Pruned::default()
            }
        );
        assert!(!old.exists() && new.exists());
        let statuses: Vec<String> = s
            .on_thread(|c| {
                let mut st = c.prepare("SELECT status FROM reports ORDER BY window_end")?;
                let r = st.query_map([], |r| r.get(0))?;
                r.collect()
            })
            .expect("statuses");
        assert_eq!(statuses, vec!["pruned", "ok"]);
        // pruned counts as done
        let done = s
            .on_thread(|c| crate::archive::store::query::done_keys(c, "j", 0, 2_000))
            .expect("done");
        assert_eq!(done.len(), 1);
        // a second prune finds nothing
        assert_eq!(
            prune(&s, &ArchiveRoot::new(d.path()), 5_000, false, None)
                .expect("again")
                .reports,
            0
        );
    }

    /// A row pointing at a file outside the archive (a restored or edited
    /// database, a moved reports directory): the file stays, the row stays
    /// `ok`, the skip is counted.
    #[test]
    fn a_file_outside_the_archive_is_never_deleted() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&d.path().join("h.db")).expect("open");
        let notes = ok_report(&s, d.path(), 1_000);
        let archive = ArchiveRoot::new(d.path().join("reports"));
        let traversal = d.path().join("reports/../notes.txt");
        std::fs::write(d.path().join("notes.txt"), b"mine").expect("notes");
        ok_report(&s, d.path(), 2_000);
        s.on_thread(|c| {
            c.execute(
                "UPDATE reports SET file_path = ?1 WHERE window_end = 2000",
                [traversal.to_string_lossy()],
            )
        })
        .expect("edit");
        let dry = prune(&s, &archive, 5_000, true, None).expect("dry");
        assert_eq!((dry.reports, dry.outside), (0, 2));
        let done = prune(&s, &archive, 5_000, false, None).expect("prune");
        assert_eq!((done.reports, done.files_deleted, done.outside), (0, 0, 2));
        assert!(notes.exists() && d.path().join("notes.txt").exists());
        let ok: i64 = s
            .on_thread(|c| {
                c.query_row(
                    "SELECT count(*) FROM reports WHERE status = 'ok'",
                    [],
                    |r| r.get(0),
                )
            })
            .expect("count");
        assert_eq!(ok, 2);
    }
}
