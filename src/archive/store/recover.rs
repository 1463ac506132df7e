//! Recovery of a forced refetch that did not finish: the `<final>.prev`
//! copies it left are settled against the history, so that every `ok`
//! report's file is the one its row records (see [`crate::archive::root`]).
//! And the file a forced refetch replaces under an older name.

use super::Store;
use crate::archive::root::{ArchiveRoot, RelPath, Resolved};
use crate::domain::report::Status;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use tracing::{info, warn};

/// What the history says of the report whose file is `final_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// `ok` and not being fetched: its file's (sha256, size).
    File(String, u64),
    /// Being fetched again right now: that fetch settles the copy.
    Claimed,
    /// No `ok` report has that file.
    Unknown,
}

/// What the history records for the report whose file is `final_path`.
pub(crate) fn recorded_file(conn: &Connection, final_path: &Path) -> rusqlite::Result<Recorded> {
    let row: Option<(Option<String>, Option<i64>, bool)> = conn
        .prepare_cached(
            "SELECT sha256, bytes, id IN (SELECT report_id FROM claims) FROM reports
             WHERE file_path = ?1 AND status IN (?2, ?3)",
        )?
        .query_row(
            params![final_path.to_string_lossy(), Status::Ok, Status::Running],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(match row {
        Some((_, _, true)) => Recorded::Claimed,
        Some((Some(sha), Some(bytes), false)) => Recorded::File(sha, bytes.max(0) as u64),
        _ => Recorded::Unknown,
    })
}

/// The file report `id` had before its claim, when it was `ok` then (a
/// forced refetch): (sha256, size).
pub(crate) fn file_before_claim(
    conn: &Connection,
    id: i64,
) -> rusqlite::Result<Option<(String, u64)>> {
    let row: Option<(Option<String>, Option<i64>)> = conn
        .prepare_cached(
            "SELECT r.sha256, r.bytes FROM reports r JOIN claims c ON c.report_id = r.id
             WHERE r.id = ?1 AND c.previous_status = ?2",
        )?
        .query_row(params![id, Status::Ok], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        Some((Some(sha), Some(bytes))) => Some((sha, bytes.max(0) as u64)),
        _ => None,
    })
}

/// Before a forced refetch of report `id` replaces its good file at
/// `final_path`, keep that file as `<final>.prev` (settling a copy an
/// earlier try left). Returns whether a copy is kept.
pub(crate) fn keep_previous(
    store: &Store,
    archive: &ArchiveRoot,
    id: i64,
    final_path: &RelPath,
) -> Result<bool, KeepError> {
    let Some((sha, bytes)) = store.on_thread(|c| file_before_claim(c, id))? else {
        return Ok(false);
    };
    archive
        .resolve_previous(final_path, (&sha, bytes))
        .map_err(KeepError::Io)?;
    archive.keep_previous(final_path).map_err(KeepError::Io)
}

/// Inside the transaction that records `new_path` as report `id`'s file:
/// the path it recorded until now, when that is another one that no other
/// report records (an old name of the same report, from before the
/// injective names). Its file is removed once the transaction commits: a
/// failed commit leaves it as it was, and no row keeps a removed file.
pub(crate) fn replaced_file(
    conn: &Connection,
    id: i64,
    new_path: &str,
) -> rusqlite::Result<Option<String>> {
    let old: Option<String> = conn
        .prepare_cached("SELECT file_path FROM reports WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten();
    let Some(old) = old.filter(|old| old != new_path) else {
        return Ok(None);
    };
    // Two reports sharing an old name share the job and the window.
    let shared: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM reports o JOIN reports r ON r.id = ?1
             WHERE o.job = r.job AND o.window_end = r.window_end AND o.id <> r.id AND o.file_path = ?2)",
        )?
        .query_row(params![id, old], |r| r.get(0))?;
    Ok((!shared).then_some(old))
}

/// Why the good copy could not be kept.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeepError {
    #[error(transparent)]
    Store(#[from] super::StoreError),
    #[error(transparent)]
    Io(std::io::Error),
}

/// Settle each `.prev` copy in `found` (see [`ArchiveRoot::resolve_previous`]);
/// a copy whose report is being fetched again right now is left to that
/// fetch. Returns how many were settled.
pub(crate) fn resolve_previous_copies(
    store: &Store,
    archive: &ArchiveRoot,
    found: &[RelPath],
) -> usize {
    let mut settled = 0;
    for prev in found {
        let Some(rel) = prev.strip_suffix(crate::archive::root::PREV_SUFFIX) else {
            continue;
        };
        let final_path = archive.absolute(&rel);
        let final_path = final_path.as_path();
        // Under the write lock: no fetch of this report commits meanwhile.
        let done = store.on_thread(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let resolved = match recorded_file(&tx, final_path)? {
                Recorded::File(sha, bytes) => Some(archive.resolve_previous(&rel, (&sha, bytes))),
                Recorded::Claimed => None,
                Recorded::Unknown => Some(Ok(Resolved::Unresolved)),
            };
            tx.commit()?;
            Ok(resolved)
        });
        match done {
            Ok(Some(Ok(Resolved::Restored))) => {
                settled += 1;
                info!(file = %final_path.display(), "put back the report file an unfinished forced fetch had replaced");
            }
            Ok(Some(Ok(Resolved::Dropped))) => settled += 1,
            Ok(Some(Ok(Resolved::Nothing))) | Ok(None) => {}
            Ok(Some(Ok(Resolved::Unresolved))) => warn!(
                file = %final_path.display(),
                copy = %archive.absolute(prev).display(),
                "neither this report file nor its .prev copy is the one the history records; fix: check both, keep the right one, or fetch the report again with --force"
            ),
            Ok(Some(Err(e))) => {
                warn!(file = %final_path.display(), error = %e, "cannot settle the .prev copy of a report file")
            }
            Err(e) => {
                warn!(file = %final_path.display(), error = %e, "cannot read the history to settle a .prev copy")
            }
        }
    }
    settled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(conn: &Connection, target: &str, path: &str) -> i64 {
        conn.execute(
            "INSERT INTO reports (job, target, region, granularity, window_start, window_end, status, attempts, \"trigger\", file_path, created_at, updated_at)
             VALUES ('j', ?1, '', 1, 0, 3600, 'ok', 1, 'manual', ?2, 0, 0)",
            params![target, path],
        )
        .expect("row");
        conn.last_insert_rowid()
    }

    /// The old name of a report goes after its refetch, unless the other
    /// report of an old collision still records it.
    #[test]
    fn an_old_name_is_replaced_only_when_no_other_report_records_it() {
        let mut conn = Connection::open_in_memory().expect("db");
        super::super::migrate(&mut conn).expect("schema");
        let a = row(&conn, "device:x.y", "/r/j/old.xlsx");
        let new = "/r/j/j_device-x%2Ey.xlsx";
        assert_eq!(
            replaced_file(&conn, a, new).expect("q"),
            Some("/r/j/old.xlsx".into())
        );
        assert_eq!(replaced_file(&conn, a, "/r/j/old.xlsx").expect("q"), None);
        let b = row(&conn, "device:x_y_0123456789ab", "/r/j/old.xlsx");
        assert_eq!(replaced_file(&conn, a, new).expect("q"), None);
        assert_eq!(replaced_file(&conn, b, "/r/j/other.xlsx").expect("q"), None);
        conn.execute("UPDATE reports SET file_path = NULL WHERE id = ?1", [a])
            .expect("edit");
        assert_eq!(replaced_file(&conn, a, new).expect("q"), None);
    }
}
