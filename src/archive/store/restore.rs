//! The SQL of `restore`: a history restored from a snapshot is brought in
//! line with the bucket and the disk before it is installed. The claims and
//! open runs of the machine that wrote it are dropped; the bucket's listing
//! goes into a temporary table, so the objects the history does not know
//! as uploaded (sealed or uploaded after the snapshot) are found by a join,
//! not in memory; each such object with a report's identity is recorded
//! ([`decide`] says how); rows whose object is gone lose their upload;
//! rows whose local file is gone keep only their remote copy, or, with no
//! copy anywhere, go back to `pending` (or `pruned`, past the retention) so
//! the next fetch asks for them again.
//!
//! Every function works on the connection of the restored database; the
//! temporary tables live as long as it.

use crate::domain::report::{Status, Trigger};
use rusqlite::{Connection, OptionalExtension, params};

/// A report object of the bucket, as its metadata and listing say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Object {
    pub(crate) key: String,
    pub(crate) size: u64,
    /// When it was uploaded (Unix seconds).
    pub(crate) last_modified: i64,
    pub(crate) job: String,
    pub(crate) target: String,
    pub(crate) region: String,
    pub(crate) granularity: i64,
    pub(crate) window_start: i64,
    pub(crate) window_end: i64,
    pub(crate) sha256: String,
    pub(crate) request_id: Option<String>,
    pub(crate) trigger: String,
}

/// The row of an object's window, as far as [`decide`] needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) id: i64,
    pub(crate) status: Status,
    pub(crate) sha256: Option<String>,
    pub(crate) file_path: Option<String>,
}

/// What to do with the row of an object's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// No row: a new `ok` row from the object's metadata, remote only.
    Insert,
    /// The row is not done (or pruned) but the object is there: the row
    /// becomes the object's, `ok`, remote only.
    Adopt(i64),
    /// The row is the object's report: its upload is recorded.
    MarkUploaded(i64),
    /// The row's own file, on disk, differs from the object: the row keeps
    /// it and goes back to the outbox, to replace the object.
    Reupload(i64),
}

/// How the row of `obj`'s window (if any) meets the object: `local` says
/// whether the row's recorded file is on disk (asked only when it matters).
pub(crate) fn decide(row: Option<&Row>, obj: &Object, local: impl FnOnce(&str) -> bool) -> Action {
    let Some(row) = row else {
        return Action::Insert;
    };
    if row.status != Status::Ok {
        return Action::Adopt(row.id);
    }
    if row.sha256.as_deref() == Some(obj.sha256.as_str()) {
        return Action::MarkUploaded(row.id);
    }
    match row.file_path.as_deref() {
        Some(path) if local(path) => Action::Reupload(row.id),
        _ => Action::Adopt(row.id),
    }
}

/// What was dropped of the old machine's work in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub(crate) claims: u64,
    pub(crate) runs: u64,
}

/// Drop every claim (each report back to its status before it) and close
/// every run left `running` as `crashed`: no process of this machine holds
/// them, and the old machine's are gone.
pub(crate) fn drop_claims(conn: &mut Connection, now: i64) -> rusqlite::Result<Dropped> {
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE reports SET status = coalesce(
             (SELECT CASE WHEN c.previous_status IN ('pending', 'ok', 'failed', 'pruned')
                          THEN c.previous_status ELSE 'pending' END
              FROM claims c WHERE c.report_id = reports.id), 'pending'),
             updated_at = ?1
         WHERE status = 'running' OR id IN (SELECT report_id FROM claims)",
        [now],
    )?;
    // A claim's file never came to be on this machine.
    let claims = tx.execute("DELETE FROM claims", [])?;
    let runs = tx.execute(
        "UPDATE runs SET outcome = 'crashed', ended_at = ?1 WHERE outcome = 'running'",
        [now],
    )?;
    tx.commit()?;
    Ok(Dropped {
        claims: claims as u64,
        runs: runs as u64,
    })
}

/// Make the temporary tables: `listing` (the bucket's report objects, to
/// be filled by [`add_listed`]) and `recorded` (the uploads the history
/// knows, by key).
pub(crate) fn start_listing(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.listing;
         DROP TABLE IF EXISTS temp.recorded;
         CREATE TEMP TABLE listing (key TEXT PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TEMP TABLE recorded (key TEXT PRIMARY KEY, bytes INTEGER) WITHOUT ROWID;
         INSERT OR IGNORE INTO recorded (key, bytes)
             SELECT remote_key, bytes FROM main.reports
             WHERE remote_key IS NOT NULL AND uploaded_at IS NOT NULL;",
    )
}

/// Add objects of the listing (key, size).
pub(crate) fn add_listed(conn: &mut Connection, batch: &[(String, u64)]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut put =
            tx.prepare_cached("INSERT OR REPLACE INTO temp.listing (key, size) VALUES (?1, ?2)")?;
        for (key, size) in batch {
            put.execute(params![key, *size as i64])?;
        }
    }
    tx.commit()
}

/// Up to `limit` listed objects after key `after`, in key order, that the
/// history does not hold as uploaded with that size: the ones to look at.
pub(crate) fn unmatched(
    conn: &Connection,
    after: &str,
    limit: i64,
) -> rusqlite::Result<Vec<(String, u64)>> {
    conn.prepare_cached(
        "SELECT l.key, l.size FROM temp.listing l
         WHERE l.key > ?1 AND NOT EXISTS (
             SELECT 1 FROM temp.recorded r WHERE r.key = l.key AND r.bytes = l.size)
         ORDER BY l.key LIMIT ?2",
    )?
    .query_map(params![after, limit], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })?
    .collect()
}

/// The row of `obj`'s window, if there is one.
pub(crate) fn row_of(conn: &Connection, obj: &Object) -> rusqlite::Result<Option<Row>> {
    conn.prepare_cached(
        "SELECT id, status, sha256, file_path FROM reports
         WHERE job = ?1 AND target = ?2 AND region = ?3 AND window_start = ?4 AND window_end = ?5",
    )?
    .query_row(
        params![
            obj.job,
            obj.target,
            obj.region,
            obj.window_start,
            obj.window_end
        ],
        |r| {
            Ok(Row {
                id: r.get(0)?,
                status: r.get(1)?,
                sha256: r.get(2)?,
                file_path: r.get(3)?,
            })
        },
    )
    .optional()
}

/// Carry out `actions`, each for its object, in one transaction.
pub(crate) fn apply(
    conn: &mut Connection,
    actions: &[(Action, Object)],
    now: i64,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for (action, obj) in actions {
        let trigger = Trigger::parse(&obj.trigger).map_or("catch-up", Trigger::as_str);
        match *action {
            Action::Insert => {
                tx.prepare_cached(
                    r#"INSERT INTO reports (job, target, region, granularity, window_start, window_end,
                           status, attempts, "trigger", request_id, file_path, bytes, sha256,
                           created_at, updated_at, remote_key, uploaded_at)
                       VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'ok', 0, ?7, ?8, NULL, ?9, ?10, ?11, ?11, ?12, ?13)"#,
                )?
                .execute(params![
                    obj.job,
                    obj.target,
                    obj.region,
                    obj.granularity,
                    obj.window_start,
                    obj.window_end,
                    trigger,
                    obj.request_id,
                    obj.size as i64,
                    obj.sha256,
                    now,
                    obj.key,
                    obj.last_modified,
                ])?;
            }
            Action::Adopt(id) => {
                tx.prepare_cached(
                    "UPDATE reports SET status = 'ok', request_id = ?2, file_path = NULL, bytes = ?3,
                         sha256 = ?4, error_code = NULL, error_message = NULL, updated_at = ?5,
                         remote_key = ?6, uploaded_at = ?7
                     WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    obj.request_id,
                    obj.size as i64,
                    obj.sha256,
                    now,
                    obj.key,
                    obj.last_modified
                ])?;
            }
            Action::MarkUploaded(id) => {
                tx.prepare_cached(
                    "UPDATE reports SET remote_key = ?2, uploaded_at = coalesce(uploaded_at, ?3)
                     WHERE id = ?1",
                )?
                .execute(params![id, obj.key, obj.last_modified])?;
            }
            Action::Reupload(id) => {
                tx.prepare_cached(
                    "UPDATE reports SET remote_key = NULL, uploaded_at = NULL WHERE id = ?1",
                )?
                .execute([id])?;
            }
        }
    }
    tx.commit()
}

/// Rows whose recorded upload is not in the listing lose it (the object was
/// deleted since): they go back to the outbox, or are found lost below.
pub(crate) fn forget_missing_objects(conn: &Connection) -> rusqlite::Result<u64> {
    conn.execute(
        "UPDATE reports SET remote_key = NULL, uploaded_at = NULL
         WHERE remote_key IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM temp.listing l WHERE l.key = reports.remote_key)",
        [],
    )
    .map(|n| n as u64)
}

/// A row that claims a local file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalClaim {
    pub(crate) id: i64,
    pub(crate) file_path: String,
}

/// Up to `limit` `ok` rows with a recorded file, id above `after`, by id.
pub(crate) fn local_claims(
    conn: &Connection,
    after: i64,
    limit: i64,
) -> rusqlite::Result<Vec<LocalClaim>> {
    conn.prepare_cached(
        "SELECT id, file_path FROM reports
         WHERE status = 'ok' AND file_path IS NOT NULL AND id > ?1 ORDER BY id LIMIT ?2",
    )?
    .query_map(params![after, limit], |r| {
        Ok(LocalClaim {
            id: r.get(0)?,
            file_path: r.get(1)?,
        })
    })?
    .collect()
}

/// The rows `ids` have no local file: their `file_path` is cleared (those
/// uploaded are now remote only; the others are found lost by
/// [`refetch_lost`]).
pub(crate) fn forget_local_files(conn: &mut Connection, ids: &[i64]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for id in ids {
        tx.prepare_cached("UPDATE reports SET file_path = NULL WHERE id = ?1")?
            .execute([id])?;
    }
    tx.commit()
}

/// `ok` rows that are neither on disk nor in the bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lost {
    /// Back to `pending`: the next fetch asks for them again.
    pub(crate) pending: u64,
    /// Past the retention (`window_end` before `pruned_before`): `pruned`,
    /// as retention would have made them.
    pub(crate) pruned: u64,
}

/// Every `ok` row with neither a local file nor an upload: back to
/// `pending` (its file fields cleared; its attempts and rows stay, the
/// rows are replaced when it is fetched again), or `pruned` when its
/// window ended before `pruned_before`.
pub(crate) fn refetch_lost(
    conn: &mut Connection,
    pruned_before: Option<i64>,
    now: i64,
) -> rusqlite::Result<Lost> {
    let tx = conn.transaction()?;
    let cutoff = pruned_before.unwrap_or(i64::MIN);
    let pruned = tx.execute(
        "UPDATE reports SET status = 'pruned', updated_at = ?2
         WHERE status = 'ok' AND file_path IS NULL AND uploaded_at IS NULL AND window_end < ?1",
        params![cutoff, now],
    )?;
    let pending = tx.execute(
        "UPDATE reports SET status = 'pending', request_id = NULL, bytes = NULL, sha256 = NULL,
             remote_key = NULL, updated_at = ?1
         WHERE status = 'ok' AND file_path IS NULL AND uploaded_at IS NULL",
        [now],
    )?;
    tx.commit()?;
    Ok(Lost {
        pending: pending as u64,
        pruned: pruned as u64,
    })
}

/// Drop the temporary tables.
pub(crate) fn finish_listing(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("DROP TABLE IF EXISTS temp.listing; DROP TABLE IF EXISTS temp.recorded;")
}

#[cfg(test)]
mod tests;
