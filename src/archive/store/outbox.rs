//! The upload outbox of the remote archive: which `ok` reports are not in
//! the bucket yet, recording a verified upload, the multipart uploads in
//! progress (so the ones a crash leaves are aborted at start), the local
//! copies whose `keep_local` has passed, the backlog per job, and the
//! snapshots written.
//!
//! A report enters the outbox when it is sealed (`reports::mark_ok` clears
//! `remote_key` and `uploaded_at`) and leaves it when its upload is
//! recorded; the two columns are set together, only after the object was
//! verified.

use rusqlite::{Connection, OptionalExtension, params};

/// An `ok` report waiting for its upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) id: i64,
    pub(crate) job: String,
    pub(crate) target: String,
    pub(crate) region: String,
    pub(crate) granularity: i64,
    pub(crate) window_start: i64,
    pub(crate) window_end: i64,
    pub(crate) trigger: String,
    pub(crate) request_id: Option<String>,
    /// The recorded local file; `None` only for a damaged row.
    pub(crate) file_path: Option<String>,
    pub(crate) bytes: Option<i64>,
    pub(crate) sha256: Option<String>,
}

/// Up to `limit` reports of the outbox with an id above `after`, by id.
pub(crate) fn pending(conn: &Connection, after: i64, limit: i64) -> rusqlite::Result<Vec<Pending>> {
    conn.prepare_cached(
        "SELECT id, job, target, region, granularity, window_start, window_end, \"trigger\",
                request_id, file_path, bytes, sha256
         FROM reports WHERE status = 'ok' AND uploaded_at IS NULL AND id > ?1
           AND id NOT IN (SELECT report_id FROM claims)
         ORDER BY id LIMIT ?2",
    )?
    .query_map(params![after, limit], |r| {
        Ok(Pending {
            id: r.get(0)?,
            job: r.get(1)?,
            target: r.get(2)?,
            region: r.get(3)?,
            granularity: r.get(4)?,
            window_start: r.get(5)?,
            window_end: r.get(6)?,
            trigger: r.get(7)?,
            request_id: r.get(8)?,
            file_path: r.get(9)?,
            bytes: r.get(10)?,
            sha256: r.get(11)?,
        })
    })?
    .collect()
}

/// Record report `id`'s upload to `key`, if it is still the file that was
/// uploaded: still `ok`, still not uploaded, same checksum (a forced
/// refetch in between put it back in the outbox with a new file). Whether
/// it was recorded.
pub(crate) fn record_uploaded(
    conn: &Connection,
    id: i64,
    sha256: &str,
    key: &str,
    at: i64,
) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE reports SET remote_key = ?2, uploaded_at = ?3
             WHERE id = ?1 AND status = 'ok' AND uploaded_at IS NULL AND sha256 = ?4
               AND id NOT IN (SELECT report_id FROM claims)",
        )?
        .execute(params![id, key, at, sha256])?;
    Ok(n == 1)
}

/// Whether report `id` left the outbox without an upload of record: it is
/// no longer `ok` (pruned, or being fetched again and failed) and records
/// no object. An object sent for it meanwhile belongs to no row.
pub(crate) fn gone_unrecorded(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT status != 'ok' AND remote_key IS NULL FROM reports WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()
        .map(|v| v.unwrap_or(true))
}

/// The outbox by job: reports waiting, and the window end of the oldest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backlog {
    pub(crate) job: String,
    pub(crate) reports: u64,
    /// When the oldest waiting report was sealed (Unix seconds).
    pub(crate) oldest_sealed_at: i64,
}

/// The outbox by job.
pub(crate) fn backlog(conn: &Connection) -> rusqlite::Result<Vec<Backlog>> {
    conn.prepare_cached(
        "SELECT job, count(*), min(updated_at) FROM reports
         WHERE status = 'ok' AND uploaded_at IS NULL GROUP BY job ORDER BY job",
    )?
    .query_map([], |r| {
        Ok(Backlog {
            job: r.get(0)?,
            reports: r.get::<_, i64>(1)?.max(0) as u64,
            oldest_sealed_at: r.get(2)?,
        })
    })?
    .collect()
}

/// A local copy whose upload is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    pub(crate) id: i64,
    pub(crate) file_path: String,
    pub(crate) uploaded_at: i64,
}

/// Up to `limit` uploaded reports with a local copy, uploaded at or before
/// `before`, oldest upload first, not being fetched.
pub(crate) fn kept_before(
    conn: &Connection,
    before: i64,
    limit: i64,
) -> rusqlite::Result<Vec<Kept>> {
    conn.prepare_cached(
        "SELECT id, file_path, uploaded_at FROM reports
         WHERE uploaded_at IS NOT NULL AND file_path IS NOT NULL AND uploaded_at <= ?1
           AND status = 'ok' AND id NOT IN (SELECT report_id FROM claims)
         ORDER BY uploaded_at, id LIMIT ?2",
    )?
    .query_map(params![before, limit], |r| {
        Ok(Kept {
            id: r.get(0)?,
            file_path: r.get(1)?,
            uploaded_at: r.get(2)?,
        })
    })?
    .collect()
}

/// The upload time of the oldest uploaded report that still has a local
/// copy (when the next `keep_local` deletion is due).
pub(crate) fn oldest_kept(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT min(uploaded_at) FROM reports
         WHERE uploaded_at IS NOT NULL AND file_path IS NOT NULL AND status = 'ok'",
    )?
    .query_row([], |r| r.get(0))
}

/// Report `id` keeps only its remote copy: its `file_path` is cleared, if
/// it is still the uploaded file `path` and unclaimed. Whether it was.
pub(crate) fn forget_local(conn: &Connection, id: i64, path: &str) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE reports SET file_path = NULL
             WHERE id = ?1 AND file_path = ?2 AND uploaded_at IS NOT NULL AND status = 'ok'
               AND id NOT IN (SELECT report_id FROM claims)",
        )?
        .execute(params![id, path])?;
    Ok(n == 1)
}

/// A multipart upload begun and not yet completed or aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Multipart {
    pub(crate) upload_id: String,
    pub(crate) remote_key: String,
    /// The process that began it.
    pub(crate) owner: String,
}

/// Note a multipart upload before its first part is sent.
pub(crate) fn begin_multipart(
    conn: &Connection,
    upload_id: &str,
    key: &str,
    owner: &str,
    at: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO multipart_uploads (upload_id, remote_key, owner, started_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![upload_id, key, owner, at])?;
    Ok(())
}

/// Forget a multipart upload that was completed or aborted.
pub(crate) fn end_multipart(conn: &Connection, upload_id: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM multipart_uploads WHERE upload_id = ?1")?
        .execute([upload_id])?;
    Ok(())
}

/// Every multipart upload noted and not ended (left by a crash when no
/// upload runs).
pub(crate) fn open_multiparts(conn: &Connection) -> rusqlite::Result<Vec<Multipart>> {
    conn.prepare_cached(
        "SELECT upload_id, remote_key, owner FROM multipart_uploads ORDER BY started_at",
    )?
    .query_map([], |r| {
        Ok(Multipart {
            upload_id: r.get(0)?,
            remote_key: r.get(1)?,
            owner: r.get(2)?,
        })
    })?
    .collect()
}

/// Note a snapshot written to the bucket.
pub(crate) fn record_snapshot(
    conn: &Connection,
    key: &str,
    taken_at: i64,
    bytes: u64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO snapshots (remote_key, taken_at, bytes) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![key, taken_at, bytes as i64])?;
    Ok(())
}

/// When the newest snapshot was taken (Unix seconds).
pub(crate) fn last_snapshot(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT max(taken_at) FROM snapshots")?
        .query_row([], |r| r.get(0))
        .optional()
        .map(Option::flatten)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().expect("open");
        crate::archive::store::migrate(&mut c).expect("migrate");
        c.execute_batch(
            "INSERT INTO reports (id, job, target, granularity, window_start, window_end, status,
                 \"trigger\", file_path, bytes, sha256, created_at, updated_at)
             VALUES (1, 'j', 't', 1, 0, 3600, 'ok', 'schedule', '/r/j/a.xlsx', 10, 'aa', 5, 5),
                    (2, 'j', 't', 1, 3600, 7200, 'ok', 'schedule', '/r/j/b.xlsx', 10, 'bb', 6, 6),
                    (3, 'j', 't', 1, 7200, 10800, 'failed', 'schedule', NULL, NULL, NULL, 7, 7);",
        )
        .expect("rows");
        c
    }

    #[test]
    fn an_upload_is_recorded_once_and_only_for_the_file_that_was_sent() {
        let c = db();
        let ids = |c: &Connection| -> Vec<i64> {
            pending(c, 0, 10)
                .expect("pending")
                .iter()
                .map(|p| p.id)
                .collect()
        };
        assert_eq!(ids(&c), vec![1, 2]);
        assert_eq!(backlog(&c).expect("backlog")[0].reports, 2);
        // A checksum that is no longer the report's (refetched meanwhile).
        assert!(!record_uploaded(&c, 1, "other", "p/j/a.xlsx", 9).expect("record"));
        assert!(record_uploaded(&c, 1, "aa", "p/j/a.xlsx", 9).expect("record"));
        assert!(!record_uploaded(&c, 1, "aa", "p/j/a.xlsx", 10).expect("twice"));
        assert_eq!(ids(&c), vec![2]);
        assert_eq!(pending(&c, 1, 10).expect("after").len(), 1);
        // Kept local copies, and forgetting one.
        let kept = kept_before(&c, 9, 10).expect("kept");
        assert_eq!(kept.len(), 1);
        assert_eq!(oldest_kept(&c).expect("oldest"), Some(9));
        assert!(!forget_local(&c, 1, "/r/j/other.xlsx").expect("other path"));
        assert!(forget_local(&c, 1, "/r/j/a.xlsx").expect("forget"));
        assert!(kept_before(&c, 9, 10).expect("kept").is_empty());
        assert_eq!(oldest_kept(&c).expect("oldest"), None);
    }

    #[test]
    fn a_new_seal_puts_an_uploaded_report_back_in_the_outbox() {
        let mut c = db();
        assert!(record_uploaded(&c, 2, "bb", "p/j/b.xlsx", 9).expect("record"));
        let tx = c.transaction().expect("tx");
        let f = crate::archive::store::reports::Fetched {
            request_id: "r".into(),
            file_path: "/r/j/b.xlsx".into(),
            bytes: 11,
            sha256: "cc".into(),
        };
        crate::archive::store::reports::mark_ok(&tx, 2, &f, 10).expect("mark");
        tx.commit().expect("commit");
        assert!(
            pending(&c, 0, 10)
                .expect("pending")
                .iter()
                .any(|p| p.id == 2)
        );
    }

    #[test]
    fn multipart_uploads_are_noted_until_ended() {
        let c = db();
        begin_multipart(&c, "u1", "p/k", "1:2", 5).expect("begin");
        begin_multipart(&c, "u2", "p/k2", "3:4", 6).expect("begin");
        end_multipart(&c, "u1").expect("end");
        let open = open_multiparts(&c).expect("open");
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].upload_id, "u2");
        assert_eq!(open[0].owner, "3:4");
        assert_eq!(last_snapshot(&c).expect("none"), None);
        record_snapshot(&c, "p/_history/a", 100, 5).expect("snap");
        assert_eq!(last_snapshot(&c).expect("one"), Some(100));
    }
}
