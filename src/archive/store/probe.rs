//! Proving the history takes a write (for `/healthz`): a connection of its
//! own commits one tiny change to the `health` table within a timeout, so a
//! stuck writer holding the lock fails it.

use super::{StoreError, sql_error};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Commit a write to the history at `path`, waiting at most `timeout` for
/// the write lock. Never creates the file.
pub(crate) fn probe_write(path: &Path, timeout: Duration) -> Result<(), StoreError> {
    let write = || -> rusqlite::Result<()> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        conn.busy_timeout(timeout)?;
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             INSERT INTO health (id, probed_at) VALUES (1, unixepoch()) ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at;
             COMMIT;",
        )
    };
    write().map_err(|e| sql_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_database_is_reported() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = d.path().join("h.db");
        super::super::Store::open(&db).expect("open");
        let holder = Connection::open(&db).expect("open");
        holder.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        let err = probe_write(&db, Duration::from_secs(2))
            .expect_err("locked")
            .to_string();
        assert!(err.contains("locked"), "{err}");
        holder.execute_batch("COMMIT").expect("unlock");
        assert_eq!(
            probe_write(&db, Duration::from_secs(2)).map_err(|e| e.to_string()),
            Ok(())
        );
    }
}
