//! The history's side of reading the remote archive: where a report's file
//! is kept ([`STORED_SQL`]: on disk, in the bucket or both), the file of an
//! `ok` report as the page downloads it, the upload backlog per job, and
//! the remote objects of pruned reports that are still to be deleted.
//!
//! A report's object is in the bucket while its row has `remote_key` and
//! `uploaded_at`; its local file while it has `file_path`. A prune marks
//! rows `pruned` and deletes their local files; their objects are deleted
//! afterwards, each row keeping its `remote_key` until its object is gone,
//! so an object a prune could not delete (the bucket was down) is tried
//! again by the next one.

use super::{Reader, StoreError, outbox};
use crate::domain::report::Status;
use rusqlite::{Connection, OptionalExtension, params};

/// Where a report's file is: `'local'`, `'remote'`, `'both'`, or NULL when
/// it has none (an SQL expression over a `reports` row).
pub(crate) const STORED_SQL: &str = "CASE
    WHEN file_path IS NOT NULL AND remote_key IS NOT NULL AND uploaded_at IS NOT NULL THEN 'both'
    WHEN file_path IS NOT NULL THEN 'local'
    WHEN remote_key IS NOT NULL AND uploaded_at IS NOT NULL THEN 'remote'
    END";

/// The file of an `ok` report, wherever it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReportFile {
    pub(crate) job: String,
    /// The local file the history records (a string, never followed as a
    /// path by the store).
    pub(crate) file_path: Option<String>,
    /// The object key of its verified upload.
    pub(crate) remote_key: Option<String>,
    pub(crate) bytes: Option<i64>,
    pub(crate) sha256: Option<String>,
}

impl ReportFile {
    /// Whether the report has a file anywhere.
    pub(crate) fn exists(&self) -> bool {
        self.file_path.is_some() || self.remote_key.is_some()
    }
}

/// A pruned report whose object is still in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrunedObject {
    pub(crate) id: i64,
    pub(crate) job: String,
    pub(crate) remote_key: String,
}

impl Reader {
    /// The file of report `id` when it is `ok` (`None` otherwise).
    pub(crate) fn ok_report_file(&self, id: i64) -> Result<Option<ReportFile>, StoreError> {
        self.answer(
            self.conn()
                .query_row(
                    "SELECT job, file_path, CASE WHEN uploaded_at IS NOT NULL THEN remote_key END,
                            bytes, sha256
                     FROM reports WHERE id = ?1 AND status = ?2",
                    params![id, Status::Ok],
                    |r| {
                        Ok(ReportFile {
                            job: r.get(0)?,
                            file_path: r.get(1)?,
                            remote_key: r.get(2)?,
                            bytes: r.get(3)?,
                            sha256: r.get(4)?,
                        })
                    },
                )
                .optional(),
        )
    }

    /// The upload outbox by job: reports waiting, and when the oldest was
    /// sealed.
    pub(crate) fn upload_backlog(&self) -> Result<Vec<outbox::Backlog>, StoreError> {
        self.answer(outbox::backlog(self.conn()))
    }
}

/// Up to `limit` pruned reports with an id above `after` whose object is
/// still in the bucket, by id, not being fetched.
pub(crate) fn pruned_objects(
    conn: &Connection,
    after: i64,
    limit: i64,
) -> rusqlite::Result<Vec<PrunedObject>> {
    conn.prepare_cached(
        "SELECT id, job, remote_key FROM reports
         WHERE status = ?1 AND remote_key IS NOT NULL AND id > ?2
           AND id NOT IN (SELECT report_id FROM claims)
         ORDER BY id LIMIT ?3",
    )?
    .query_map(params![Status::Pruned, after, limit], |r| {
        Ok(PrunedObject {
            id: r.get(0)?,
            job: r.get(1)?,
            remote_key: r.get(2)?,
        })
    })?
    .collect()
}

/// How many pruned reports have an object still in the bucket.
pub(crate) fn pruned_objects_left(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached(
        "SELECT count(*) FROM reports WHERE status = ?1 AND remote_key IS NOT NULL",
    )?
    .query_row(params![Status::Pruned], |r| r.get::<_, i64>(0))
    .map(|n| n.max(0) as u64)
}

/// Whether report `id` is still pruned, unclaimed, with its object at
/// `key` (checked right before the object is deleted: a forced refetch
/// in between claims the report and will upload a new object there).
pub(crate) fn still_pruned_at(conn: &Connection, id: i64, key: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT count(*) FROM reports WHERE id = ?1 AND status = ?2 AND remote_key = ?3
           AND id NOT IN (SELECT report_id FROM claims)",
    )?
    .query_row(params![id, Status::Pruned, key], |r| r.get::<_, i64>(0))
    .map(|n| n > 0)
}

/// Pruned report `id`'s object at `key` is deleted: its row forgets the
/// key (if it still records it).
pub(crate) fn forget_object(conn: &Connection, id: i64, key: &str) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE reports SET remote_key = NULL WHERE id = ?1 AND status = ?2 AND remote_key = ?3",
        )?
        .execute(params![id, Status::Pruned, key])?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().expect("open");
        crate::archive::store::migrate(&mut c).expect("migrate");
        c.execute_batch(
            "INSERT INTO reports (id, job, target, granularity, window_start, window_end, status,
                 \"trigger\", file_path, bytes, sha256, remote_key, uploaded_at, created_at, updated_at)
             VALUES (1, 'j', 't', 1, 0, 3600, 'ok', 'schedule', '/r/j/a.xlsx', 10, 'aa', NULL, NULL, 5, 5),
                    (2, 'j', 't', 1, 3600, 7200, 'ok', 'schedule', '/r/j/b.xlsx', 10, 'bb', 'p/j/b', 9, 6, 6),
                    (3, 'j', 't', 1, 7200, 10800, 'ok', 'schedule', NULL, 10, 'cc', 'p/j/c', 9, 7, 7),
                    (4, 'j', 't', 1, 10800, 14400, 'pruned', 'schedule', NULL, 10, 'dd', 'p/j/d', 9, 7, 7),
                    (5, 'j', 't', 1, 14400, 18000, 'failed', 'schedule', NULL, NULL, NULL, NULL, NULL, 7, 7);",
        )
        .expect("rows");
        c
    }

    #[test]
    fn a_report_is_stored_locally_remotely_both_or_nowhere() {
        let c = db();
        let stored: Vec<Option<String>> = c
            .prepare(&format!("SELECT {STORED_SQL} FROM reports ORDER BY id"))
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let want = [
            Some("local"),
            Some("both"),
            Some("remote"),
            Some("remote"),
            None,
        ];
        assert_eq!(stored, want.map(|s| s.map(str::to_string)));
    }

    #[test]
    fn a_pruned_object_is_forgotten_only_once_deleted_and_only_its_own_key() {
        let c = db();
        let left = pruned_objects(&c, 0, 10).expect("left");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].remote_key, "p/j/d");
        assert_eq!(pruned_objects_left(&c).expect("count"), 1);
        assert!(still_pruned_at(&c, 4, "p/j/d").expect("still"));
        assert!(!still_pruned_at(&c, 3, "p/j/c").expect("ok is not pruned"));
        assert!(!forget_object(&c, 4, "p/j/other").expect("other key"));
        assert!(!forget_object(&c, 3, "p/j/c").expect("an ok report keeps its object"));
        assert!(forget_object(&c, 4, "p/j/d").expect("forget"));
        assert_eq!(pruned_objects_left(&c).expect("count"), 0);
        // a claimed report is not touched
        c.execute_batch(
            "UPDATE reports SET status = 'pruned' WHERE id = 3;
             INSERT INTO claims (report_id, owner, claimed_at, previous_status, file_path)
             VALUES (3, 'h:1:1', 0, 'pruned', NULL);",
        )
        .expect("claim");
        assert!(pruned_objects(&c, 0, 10).expect("left").is_empty());
        assert!(!still_pruned_at(&c, 3, "p/j/c").expect("claimed"));
    }
}
