//! The history database (`<state_dir>/history.db`): SQLite in WAL mode,
//! migrated on open from `migrations/` (embedded at build time) under the
//! write lock, created 0600. This module is the only owner of SQL outside
//! the fetch engine: [`reports`] owns the life of a report row (plan,
//! claim, attempts, outcome); [`query`] reads the history for people and
//! for the scheduler; [`recover`] settles the copies a forced refetch
//! keeps; [`devices`] keeps the device inventory; [`runs`] records each
//! fire and manual fetch; [`reader`] is the read-only handle the page and
//! the commands read through, with [`page`] (one report, its attempts and
//! rows), [`calendar`] (a window's reports by status) and [`traffic`]
//! (sums of the rows' numeric columns) behind it; [`remote`] tells where a
//! report's file is kept (disk, bucket) and which pruned objects are left; [`probe`] proves the
//! database takes a write for `/healthz`; [`backup`] copies the live
//! database whole (snapshots) and installs a restored one, [`restore`]
//! reconciles a restored history with the bucket and the disk, and
//! [`snapshots`] forgets the snapshots pruned from the bucket. An error
//! SQLite gives for a damaged file is
//! [`StoreError::Damaged`], which says what to do.
//!
//! rusqlite is synchronous: async code goes through [`Store::on_pool`], which
//! runs the closure on tokio's blocking pool with the connection locked.

pub(crate) mod backup;
pub(crate) mod calendar;
pub(crate) mod claim;
pub(crate) mod devices;
pub(crate) mod exports;
pub(crate) mod inventory;
pub(crate) mod outbox;
pub(crate) mod outside;
pub(crate) mod page;
pub(crate) mod probe;
pub(crate) mod query;
pub(crate) mod reader;
pub(crate) mod recover;
pub(crate) mod remote;
pub mod reports;
pub(crate) mod restore;
pub(crate) mod run_log;
pub(crate) mod runs;
pub(crate) mod seal;
pub(crate) mod snapshots;
pub(crate) mod tally;
pub(crate) mod traffic;

pub(crate) use reader::{Reader, open_readonly};

use include_dir::{Dir, include_dir};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

static MIGRATIONS_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// The `up.sql` of each directory of `migrations/`, in name order; the
/// schema version (`PRAGMA user_version`) is how many of them ran.
static MIGRATIONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut dirs: Vec<&Dir<'static>> = MIGRATIONS_DIR.dirs().collect();
    dirs.sort_by_key(|d| d.path());
    dirs.into_iter()
        .filter_map(|d| d.get_file(d.path().join("up.sql")))
        .filter_map(|f| f.contents_utf8())
        .collect()
});

/// How long a writer waits for another process's write lock.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Test seam: a writer's wait for the write lock, in place of
/// [`BUSY_TIMEOUT`] (a `humantime` duration), so that the tests that hold
/// the lock until a commit gives up wait seconds, not half a minute.
pub(crate) const BUSY_TIMEOUT_ENV: &str = "MNA_REPORTD_BUSY_TIMEOUT";

/// [`BUSY_TIMEOUT`], or what [`BUSY_TIMEOUT_ENV`] says.
fn busy_timeout() -> Duration {
    std::env::var(BUSY_TIMEOUT_ENV)
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(BUSY_TIMEOUT)
}

/// Why the history database failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create {}: {source}\n  fix: check storage.state_dir and that this user may write there", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the history database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot migrate the history database {}: {source}", path.display())]
    Migrate {
        path: PathBuf,
        #[source]
        source: MigrateError,
    },
    #[error(transparent)]
    Owner(#[from] crate::archive::holder::HolderError),
    #[error("history database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("history database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Damaged(HistoryDamaged),
}

impl StoreError {
    /// The database file is damaged: nothing works until it is replaced.
    pub(crate) fn damaged(&self) -> Option<&HistoryDamaged> {
        match self {
            StoreError::Damaged(d) => Some(d),
            _ => None,
        }
    }
}

/// The history database is damaged (SQLite reports it corrupt or not a
/// database). What happened and what to do, for the operator.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the history database {} is damaged ({detail}); nothing can be recorded until it is replaced\n  fix: stop mna-reportd, move history.db and its -wal and -shm files aside, then restore a backup, or save what is readable with `sqlite3 <moved history.db> .recover | sqlite3 history.db`; the report files under the reports directory are not affected", path.display())]
pub struct HistoryDamaged {
    pub(crate) path: PathBuf,
    pub(crate) detail: String,
}

/// Whether `e` says the database file is damaged.
pub(crate) fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// `e`, as [`StoreError::Damaged`] when it says the file at `path` is damaged.
fn sql_error(path: &Path, e: rusqlite::Error) -> StoreError {
    if is_damage(&e) {
        StoreError::Damaged(HistoryDamaged {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })
    } else {
        StoreError::Sql(e)
    }
}

/// A handle on the history database, shared by the tasks of a process.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<Path>,
    owner: Arc<str>,
    /// Reports this process is working on now: a claim of ours on any
    /// other report is stale (say its release failed) and may be retaken.
    in_flight: Arc<Mutex<std::collections::HashSet<i64>>>,
    /// Notified after each seal commits (the upload outbox waits on it).
    sealed: Arc<tokio::sync::Notify>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout())?;
    use_wal(conn)?;
    // NORMAL in WAL mode never corrupts; a power cut may lose the last
    // commits, which only costs a refetch: a report is `ok` only after its
    // file is durable.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Switch to WAL mode. Switching takes a lock SQLite does not wait for
/// (another process opening the database at the same moment holds one
/// briefly): try again for up to [`BUSY_TIMEOUT`].
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        let mode =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0));
        let busy = match &mode {
            Ok(m) if m.eq_ignore_ascii_case("wal") => return Ok(()),
            // Still another mode: the switch did not happen.
            Ok(_) => true,
            Err(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy),
        };
        if !busy || std::time::Instant::now() >= deadline {
            return mode.map(drop);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Store {
    /// Open (creating it 0600 and its directory 0750 if needed) and migrate.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            crate::archive::files::create_dirs(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        if !path.exists() {
            // Create it private before SQLite does; -wal and -shm copy its
            // mode. Another process may be creating it too: never truncate.
            crate::archive::files::create_private_if_missing(path).map_err(|source| {
                StoreError::CreateDir {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        }
        let open_error = |source| match is_damage(&source) {
            true => sql_error(path, source),
            false => StoreError::Open {
                path: path.to_path_buf(),
                source,
            },
        };
        let mut conn = Connection::open(path).map_err(open_error)?;
        configure(&conn).map_err(open_error)?;
        migrate(&mut conn).map_err(|source| match source {
            MigrateError::Sql(e) if is_damage(&e) => sql_error(path, e),
            source => StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            },
        })?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: path.into(),
            owner: crate::archive::holder::current()?.into(),
            in_flight: Arc::default(),
            sealed: Arc::default(),
        })
    }

    /// Notified after each seal of this process commits (a permit is kept
    /// while nobody waits, so a seal is never missed).
    pub(crate) fn sealed(&self) -> Arc<tokio::sync::Notify> {
        self.sealed.clone()
    }

    /// This process's claim owner string.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Whether the holder of a claim on report `id` still works on it: a
    /// live other process, or this one with the report in flight.
    pub(crate) fn holder_alive(&self, id: i64, holder: &str) -> bool {
        if holder == &*self.owner {
            self.in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&id)
        } else {
            crate::archive::holder::is_alive(holder)
        }
    }

    /// Mark report `id` in flight in this process until the guard drops.
    pub(crate) fn in_flight(&self, id: i64) -> InFlight {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        InFlight {
            store: self.clone(),
            id,
        }
    }

    /// Run `f` with the connection, on the calling thread. For start-up,
    /// commands and tests; async code uses [`Store::on_pool`].
    pub fn on_thread<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        // A panic while the lock was held unwound through the open transaction,
        // which rolled it back: the connection is fine to use again.
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard).map_err(|e| sql_error(&self.path, e))
    }

    /// Run `f` with the connection on the blocking pool.
    pub(crate) async fn on_pool<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.on_thread(f))
            .await
            .map_err(StoreError::Task)?
    }
}

/// A report in flight in this process (see [`Store::in_flight`]).
pub(crate) struct InFlight {
    store: Store,
    id: i64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.store
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "its schema version is {found}, newer than this mna-reportd knows ({known})\n  fix: run the mna-reportd that wrote it (or a newer one)"
    )]
    TooNew { found: usize, known: usize },
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

fn schema_version(conn: &Connection) -> rusqlite::Result<usize> {
    conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
}

/// Bring `conn` to the latest schema of `migrations/`. The version is read
/// again under the write lock (`BEGIN IMMEDIATE`, which waits the busy
/// timeout), so processes opening one database at once migrate it once.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let known = MIGRATIONS.len();
    if schema_version(conn)? == known {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found = schema_version(&tx)?;
    if found > known {
        return Err(MigrateError::TooNew { found, known });
    }
    for sql in &MIGRATIONS[found..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", known as i64)?;
    tx.commit()?;
    Ok(())
}

/// Now, Unix seconds.
pub(crate) fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

#[cfg(test)]
mod tests;
