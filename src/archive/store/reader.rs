//! The read-only handle on the history ([`Reader`]) that the page and the
//! commands read through: opened without migrating (see [`open_readonly`]),
//! every answer a plain typed value, every error a [`StoreError`]. The
//! reads of the page live beside it ([`super::page`], [`super::calendar`],
//! [`super::traffic`]); the general ones (runs, devices, damage, failures)
//! are here.

use super::{BUSY_TIMEOUT, StoreError, devices, is_damage, outside, runs, sql_error};
use crate::archive::missing::{self, Due, NotDone};
use crate::config::Discovery;
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The history, open read-only.
pub(crate) struct Reader {
    conn: Connection,
    path: PathBuf,
}

/// Open the history at `path` read-only (for `history`, `status`, the page
/// and dry runs). In a directory this user cannot write, SQLite cannot make
/// the WAL index it shares with writers: the file is then read as it is on
/// disk (`immutable`), which misses only changes a writer has not
/// checkpointed yet.
pub(crate) fn open_readonly(path: &Path) -> Result<Reader, StoreError> {
    let open_error = |source| match is_damage(&source) {
        true => sql_error(path, source),
        false => StoreError::Open {
            path: path.to_path_buf(),
            source,
        },
    };
    let probe = |c: &Connection| {
        c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
    };
    let reader = |conn| Reader {
        conn,
        path: path.to_path_buf(),
    };
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(open_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    match probe(&conn) {
        Ok(_) => return Ok(reader(conn)),
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
            ) => {}
        Err(e) => return Err(open_error(e)),
    }
    drop(conn);
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => uri.push_str(&format!("%{:02X}", c as u32)),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    let conn = Connection::open_with_flags(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(open_error)?;
    probe(&conn).map_err(open_error)?;
    Ok(reader(conn))
}

impl Reader {
    /// An empty history in memory, with every table: what a process reads
    /// before the first fetch made the file.
    pub(crate) fn empty() -> Result<Reader, StoreError> {
        let path = PathBuf::from(":memory:");
        let mut conn = Connection::open_in_memory().map_err(|e| sql_error(&path, e))?;
        super::migrate(&mut conn).map_err(|source| StoreError::Migrate {
            path: path.clone(),
            source,
        })?;
        Ok(Reader { conn, path })
    }

    /// `r`, its error typed (a damaged file says so).
    pub(super) fn answer<R>(&self, r: rusqlite::Result<R>) -> Result<R, StoreError> {
        r.map_err(|e| sql_error(&self.path, e))
    }

    /// Run `f`, a reader of the history kept beside the store (a job's
    /// resolved targets, its status, the not-done filter of a plan), its
    /// error typed. The connection never leaves the call.
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        self.answer(f(&self.conn))
    }

    /// The recorded reports matching `filter`, newest window first.
    pub(crate) fn history(
        &self,
        filter: &super::query::HistoryFilter,
    ) -> Result<Vec<super::query::ReportRow>, StoreError> {
        self.answer(super::query::history(&self.conn, filter))
    }

    /// The connection, for the readers beside this one.
    pub(super) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The newest `limit` recorded fires and manual fetches (of `job`, if given).
    pub(crate) fn runs(
        &self,
        job: Option<&str>,
        limit: u32,
    ) -> Result<Vec<runs::RunRow>, StoreError> {
        self.answer(runs::list(&self.conn, job, limit))
    }

    /// The last listing of discovering job `job`, if any.
    pub(crate) fn device_listing(&self, job: &str) -> Result<Option<devices::Listing>, StoreError> {
        self.answer(devices::listing(&self.conn, job))
    }

    /// The devices `d` reports on now.
    pub(crate) fn known_devices(&self, d: &Discovery) -> Result<Vec<devices::Known>, StoreError> {
        self.answer(devices::known(&self.conn, d))
    }

    /// The whole device inventory.
    pub(crate) fn device_inventory(&self) -> Result<Vec<devices::DeviceRow>, StoreError> {
        self.answer(devices::all(&self.conn))
    }

    /// Up to `limit` devices of the inventory whose id sorts after `after`.
    pub(crate) fn devices_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<devices::DeviceRow>, StoreError> {
        self.answer(devices::page_after(&self.conn, after, limit))
    }

    /// Per job, how many reports record a file outside the archive whose
    /// prefix is `prefix` (see [`outside::files_outside`]).
    pub(crate) fn files_outside(&self, prefix: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        self.answer(outside::files_outside(&self.conn, prefix))
    }

    /// Items `[offset, offset + limit)` of the not-done reports of `dues`,
    /// newest first, and how many there are (see [`missing::page`]).
    pub(crate) fn failures_page(
        &self,
        dues: &[Due],
        offset: u64,
        limit: usize,
    ) -> Result<missing::Page, StoreError> {
        self.answer(missing::page(&self.conn, dues, offset, limit))
    }

    /// How many reports of `dues` are not done, the newest and the oldest.
    pub(crate) fn newest_and_oldest_missing(
        &self,
        dues: &[Due],
    ) -> Result<(u64, Option<NotDone>, Option<NotDone>), StoreError> {
        self.answer(missing::newest_and_oldest(&self.conn, dues))
    }
}
