//! Copies of the history database as whole files: [`backup`] makes a
//! consistent copy of a live database with SQLite's online backup API (one
//! read transaction, so writers go on and the copy is one moment of the
//! history; never a file copy of a WAL database), [`check_copy`] proves a
//! copy opens, is whole and migrates, and [`install`] puts a restored copy
//! in place of `history.db` with one rename.

use super::{BUSY_TIMEOUT, StoreError, is_damage, migrate, sql_error};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Pages of the destination SQLite keeps in memory while copying (each
/// page is written out as it is copied: memory does not grow with the
/// database).
const COPY_CACHE_PAGES: i64 = 256;

/// The files SQLite keeps beside a database in WAL mode.
pub(crate) const SIDE_FILES: [&str; 2] = ["-wal", "-shm"];

/// What a backup copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Copied {
    pub(crate) pages: u64,
    pub(crate) bytes: u64,
}

/// Copy the database at `src` (which may be written meanwhile, by this
/// process or another) into a new file `dest` (created 0600; nothing may
/// be there). The copy is the database as of one moment.
pub(crate) fn backup(src: &Path, dest: &Path) -> Result<Copied, StoreError> {
    let open_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source: rusqlite::Error| match is_damage(&source) {
            true => sql_error(&path, source),
            false => StoreError::Open {
                path: path.clone(),
                source,
            },
        }
    };
    let from = Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_error(src))?;
    from.busy_timeout(BUSY_TIMEOUT).map_err(open_error(src))?;
    crate::archive::files::create_private_new(dest)
        .map(drop)
        .map_err(|source| StoreError::CreateDir {
            path: dest.to_path_buf(),
            source,
        })?;
    let mut to = Connection::open(dest).map_err(open_error(dest))?;
    // A scratch file: no journal to keep, nothing to fsync until the end.
    to.execute_batch(&format!(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = {COPY_CACHE_PAGES};"
    ))
    .map_err(open_error(dest))?;
    copy_all(&from, &mut to).map_err(|e| sql_error(src, e))?;
    let pages: i64 = to
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(|e| sql_error(dest, e))?;
    let page_size: i64 = to
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(|e| sql_error(dest, e))?;
    to.close().map_err(|(_, e)| sql_error(dest, e))?;
    Ok(Copied {
        pages: pages.max(0) as u64,
        bytes: (pages.max(0) as u64).saturating_mul(page_size.max(0) as u64),
    })
}

/// Every page in one step: one read transaction on `from` for the whole
/// copy, so a write in between cannot make it start over (and a WAL reader
/// does not block writers). Busy or locked (a writer switching the journal
/// mode): wait and try again, up to [`BUSY_TIMEOUT`].
fn copy_all(from: &Connection, to: &mut Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let copy = Backup::new(from, to)?;
    loop {
        match copy.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            StepResult::Busy | StepResult::Locked => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("the history stayed locked for the whole busy timeout".into()),
                ));
            }
            _ => {}
        }
    }
}

/// What a checked copy holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Rows of `reports`.
    pub(crate) reports: u64,
}

/// Prove the database file `path` is whole (`PRAGMA quick_check`) and bring
/// it to this version's schema. A file that is not a database, a damaged
/// one, or one newer than this program is an error naming it.
pub(crate) fn check_copy(path: &Path) -> Result<Checked, StoreError> {
    let mut conn = Connection::open(path).map_err(|e| sql_error(path, e))?;
    let damaged = |detail: String| {
        StoreError::Damaged(super::HistoryDamaged {
            path: path.to_path_buf(),
            detail,
        })
    };
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| match is_damage(&e) {
            true => damaged(e.to_string()),
            false => sql_error(path, e),
        })?;
    if verdict != "ok" {
        return Err(damaged(
            crate::domain::text::cap(&verdict, 300).into_owned(),
        ));
    }
    migrate(&mut conn).map_err(|source| StoreError::Migrate {
        path: path.to_path_buf(),
        source,
    })?;
    let reports: i64 = conn
        .query_row("SELECT count(*) FROM reports", [], |r| r.get(0))
        .map_err(|e| sql_error(path, e))?;
    conn.close().map_err(|(_, e)| sql_error(path, e))?;
    Ok(Checked {
        reports: reports.max(0) as u64,
    })
}

/// Make the database of `conn` one self-contained file before it is
/// closed and moved: its WAL checkpointed into it and removed (rollback
/// journal mode; the next open switches back to WAL).
pub(crate) fn settle(conn: &mut Connection) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    match mode.eq_ignore_ascii_case("delete") {
        true => Ok(()),
        false => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some(format!("the restored history stayed in {mode} mode")),
        )),
    }
}

/// Put the database `restored` (closed, no side files) in place of `db`
/// with one rename, its content and the rename made durable. Whatever was at `db`
/// (with `--force`) is first moved aside with its side files, under
/// `aside` (returned), so no WAL of the old database is ever read with the
/// new one.
pub(crate) fn install(
    restored: &Path,
    db: &Path,
    aside: &Path,
) -> std::io::Result<Option<PathBuf>> {
    let with = |p: &Path, side: &str| {
        let mut s = p.as_os_str().to_owned();
        s.push(side);
        PathBuf::from(s)
    };
    // Durable before it takes the name: a crash after the rename must not
    // find a history whose pages were still in the page cache.
    std::fs::File::open(restored)?.sync_all()?;
    let mut moved = None;
    if db.exists() {
        std::fs::rename(db, aside)?;
        moved = Some(aside.to_path_buf());
    }
    for side in SIDE_FILES {
        let old = with(db, side);
        if old.exists() {
            std::fs::rename(&old, with(aside, side))?;
        }
    }
    std::fs::rename(restored, db)?;
    if let Some(dir) = db.parent() {
        crate::archive::files::sync_dir(dir)?;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_of_a_database_being_written_is_one_whole_moment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("history.db");
        let store = crate::archive::store::Store::open(&src).expect("open");
        store
            .on_thread(|c| {
                c.execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2), (3);")
            })
            .expect("rows");
        let dest = dir.path().join("copy.db");
        let copied = backup(&src, &dest).expect("backup");
        assert!(copied.pages > 1 && copied.bytes >= copied.pages * 512);
        // Writes after the copy are not in it; the copy checks whole.
        store
            .on_thread(|c| c.execute("INSERT INTO t VALUES (4)", []))
            .expect("later row");
        let checked = check_copy(&dest).expect("check");
        assert_eq!(checked.reports, 0);
        let c = Connection::open(&dest).expect("open copy");
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 3);
        // Nothing may be at the destination already.
        assert!(backup(&src, &dest).is_err());
    }

    #[test]
    fn a_file_that_is_not_a_database_does_not_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("bad.db");
        std::fs::write(&bad, b"not a database at all, just some text ".repeat(200)).expect("write");
        let e = check_copy(&bad).expect_err("not a database");
        assert!(e.damaged().is_some(), "{e}");
    }

    #[test]
    fn install_moves_the_old_database_and_its_wal_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("history.db");
        for (name, text) in [("history.db", "old"), ("history.db-wal", "old wal")] {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        let restored = dir.path().join("restored.db");
        std::fs::write(&restored, "new").expect("write");
        let aside = dir.path().join("history.db.replaced");
        let moved = install(&restored, &db, &aside).expect("install");
        assert_eq!(moved.as_deref(), Some(aside.as_path()));
        assert_eq!(std::fs::read_to_string(&db).expect("db"), "new");
        assert!(!dir.path().join("history.db-wal").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("history.db.replaced-wal")).expect("aside"),
            "old wal"
        );
        assert!(!restored.exists());
    }
}
