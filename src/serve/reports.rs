//! One report as the page shows it (with the operator's hint for its error
//! code and its attempts), the reports of one window, a report's file
//! (only through the archive root: the history's `file_path` is located
//! lexically inside the reports directory and opened through directory
//! handles, never through a link) and its rows as CSV, written as they
//! are read.

use crate::archive::root::ArchiveRoot;
use crate::domain::code::CodeKind;
use crate::domain::report::RegionScope;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A report, for the page: no server paths, its hint, whether it has a file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub id: i64,
    pub job: String,
    pub target: String,
    /// `ALL` for every region.
    pub region: String,
    pub window_start: i64,
    pub window_end: i64,
    pub status: String,
    pub attempts: i64,
    pub trigger: String,
    pub request_id: Option<String>,
    pub bytes: Option<i64>,
    pub sha256: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// What to do about the error, when its code tells.
    pub hint: Option<&'static str>,
    /// An `ok` report whose file the history names: it can be downloaded.
    pub has_file: bool,
    pub updated_at: i64,
}

/// The operator's hint for an error `code`.
pub fn hint(code: Option<&str>) -> Option<&'static str> {
    code.and_then(|c| CodeKind::parse(c).hint())
}

const SELECT: &str = "SELECT id, job, target, region, window_start, window_end, status, attempts, \"trigger\",
    request_id, bytes, sha256, error_code, error_message, file_path IS NOT NULL, updated_at FROM reports";

fn report(r: &rusqlite::Row<'_>) -> rusqlite::Result<Report> {
    let code: Option<String> = r.get(12)?;
    let status: String = r.get(6)?;
    let region: String = r.get(3)?;
    Ok(Report {
        id: r.get(0)?,
        job: r.get(1)?,
        target: r.get(2)?,
        region: RegionScope::show_stored(&region).to_string(),
        window_start: r.get(4)?,
        window_end: r.get(5)?,
        attempts: r.get(7)?,
        trigger: r.get(8)?,
        request_id: r.get(9)?,
        bytes: r.get(10)?,
        sha256: r.get(11)?,
        hint: hint(code.as_deref()),
        error_code: code,
        error_message: r.get(13)?,
        has_file: status == "ok" && r.get::<_, bool>(14)?,
        status,
        updated_at: r.get(15)?,
    })
}

/// Report `id`.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Report>> {
    conn.query_row(&format!("{SELECT} WHERE id = ?1"), params![id], report)
        .optional()
}

/// The reports of `job`'s window `[start, end)`, by target and region, a page at a time.
pub fn of_window(
    conn: &Connection,
    job: &str,
    start: i64,
    end: i64,
    limit: u32,
    offset: u32,
) -> rusqlite::Result<Vec<Report>> {
    let mut st = conn.prepare_cached(&format!(
        "{SELECT} WHERE job = ?1 AND window_start = ?2 AND window_end = ?3
         ORDER BY status = 'ok', target, region LIMIT ?4 OFFSET ?5"
    ))?;
    st.query_map(params![job, start, end, limit, offset], report)?
        .collect()
}

/// One call or download try.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub attempt: i64,
    pub kind: String,
    pub started_at: i64,
    pub duration_ms: i64,
    pub http_status: Option<i64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: Option<String>,
}

/// The most attempts one answer lists.
pub const MAX_ATTEMPTS: u32 = 500;

/// The attempts of report `id`, in order.
pub fn attempts(conn: &Connection, id: i64) -> rusqlite::Result<Vec<Attempt>> {
    let mut st = conn.prepare_cached(
        "SELECT attempt, kind, started_at, duration_ms, http_status, error_code, error_message, request_id
         FROM attempts WHERE report_id = ?1 ORDER BY attempt LIMIT ?2",
    )?;
    st.query_map(params![id, MAX_ATTEMPTS], |r| {
        Ok(Attempt {
            attempt: r.get(0)?,
            kind: r.get(1)?,
            started_at: r.get(2)?,
            duration_ms: r.get(3)?,
            http_status: r.get(4)?,
            error_code: r.get(5)?,
            error_message: r.get(6)?,
            request_id: r.get(7)?,
        })
    })?
    .collect()
}

/// Why a report's file is not given.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("report {0} has no file (only ok reports keep one)")]
    NoFile(i64),
    #[error("report {0} has no file in the archive")]
    Outside(i64),
    #[error("the report's file is gone: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

/// The path the history records for `ok` report `id` (a string, never
/// followed as a path: see [`open_inside`]).
pub fn file_path(conn: &Connection, id: i64) -> Result<String, FileError> {
    let path: Option<String> = conn
        .query_row(
            "SELECT file_path FROM reports WHERE id = ?1 AND status = 'ok'",
            params![id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    path.ok_or(FileError::NoFile(id))
}

/// Open report `id`'s file, recorded as `recorded`, through `archive`: a
/// recorded path outside it is refused and logged, never opened; a link
/// anywhere below the root, or anything but a regular file, is refused.
pub fn open_inside(
    archive: &ArchiveRoot,
    id: i64,
    recorded: &str,
) -> Result<std::fs::File, FileError> {
    let rel = archive.locate(recorded).map_err(|e| {
        tracing::warn!(report = id, error = %e, "not serving a report file outside the archive");
        FileError::Outside(id)
    })?;
    archive.open_file(&rel).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::ENOTDIR) {
            tracing::warn!(report = id, file = %recorded, "not serving a report file reached through a link in the reports tree");
        }
        FileError::Io(e)
    })
}

/// Rows read from the history per query of the rows download: each batch
/// is a query of its own (no read transaction held while a client reads).
pub const ROWS_BATCH: i64 = 1_000;

/// A row of a report: its sheet, number and cells.
type Row = (String, i64, serde_json::Map<String, serde_json::Value>);

/// One batch of report `id`'s rows after `(sheet, row)`, in order.
fn rows_after(
    conn: &Connection,
    id: i64,
    after: Option<&(String, i64)>,
) -> rusqlite::Result<Vec<Row>> {
    let row = |r: &rusqlite::Row<'_>| {
        let data: String = r.get(2)?;
        let map = match serde_json::from_str::<serde_json::Value>(&data) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, map))
    };
    // Two statements, not one with `?2 IS NULL OR ...`: each batch must
    // walk the primary key from where the last one ended.
    match after {
        Some((sheet, n)) => conn
            .prepare_cached(
                "SELECT sheet, row_number, data FROM report_rows
                 WHERE report_id = ?1 AND (sheet, row_number) > (?2, ?3)
                 ORDER BY sheet, row_number LIMIT ?4",
            )?
            .query_map(params![id, sheet, n, ROWS_BATCH], row)?
            .collect(),
        None => conn
            .prepare_cached(
                "SELECT sheet, row_number, data FROM report_rows
                 WHERE report_id = ?1 ORDER BY sheet, row_number LIMIT ?2",
            )?
            .query_map(params![id, ROWS_BATCH], row)?
            .collect(),
    }
}

/// Call `each` with every row of report `id`, a batch at a time.
fn each_row(
    conn: &Connection,
    id: i64,
    mut each: impl FnMut(
        &str,
        i64,
        &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), RowsError>,
) -> Result<(), RowsError> {
    let mut last: Option<(String, i64)> = None;
    loop {
        let batch = rows_after(conn, id, last.as_ref())?;
        for (sheet, n, map) in &batch {
            each(sheet, *n, map)?;
        }
        match batch.into_iter().last() {
            Some((sheet, n, _)) => last = Some((sheet, n)),
            None => return Ok(()),
        }
    }
}

/// Why the rows download stopped.
#[derive(Debug, thiserror::Error)]
pub enum RowsError {
    #[error("reading the report's rows from the history failed: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("writing the rows as CSV failed: {0}")]
    Csv(#[from] csv::Error),
}

/// Write the rows of report `id` as CSV to `out`: `sheet,row`, then every
/// key the rows hold, in the order first seen; every cell neutralised for
/// spreadsheets ([`crate::domain::csv_cell`]). Two passes over the rows (the
/// keys, then the rows), each a batch at a time: memory stays flat
/// whatever the report's size.
pub fn write_rows_csv(
    conn: &Connection,
    id: i64,
    out: impl std::io::Write,
) -> Result<(), RowsError> {
    use crate::domain::csv_cell::neutralise;
    let mut keys: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    each_row(conn, id, |_, _, map| {
        for k in map.keys() {
            if !seen.contains(k) {
                seen.insert(k.clone());
                keys.push(k.clone());
            }
        }
        Ok(())
    })?;
    drop(seen);
    let mut w = csv::Writer::from_writer(out);
    let header = ["sheet", "row"]
        .into_iter()
        .chain(keys.iter().map(String::as_str));
    w.write_record(header.map(|c| neutralise(c).into_owned()))?;
    each_row(conn, id, |sheet, n, map| {
        w.write_field(neutralise(sheet).as_bytes())?;
        w.write_field(n.to_string())?;
        for k in &keys {
            let cell = match map.get(k) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => neutralise(s).into_owned(),
                Some(v) => neutralise(&v.to_string()).into_owned(),
            };
            w.write_field(cell)?;
        }
        w.write_record(None::<&[u8]>)?;
        Ok(())
    })?;
    w.flush().map_err(csv::Error::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_under_the_root_and_not_through_links_open() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("reports");
        let archive = ArchiveRoot::new(&root);
        std::fs::create_dir_all(root.join("job/2026/11")).expect("dirs");
        let f = root.join("job/2026/11/a.xlsx");
        std::fs::write(&f, b"x").expect("write");
        let open = |p: &std::path::Path| open_inside(&archive, 1, &p.to_string_lossy());
        assert!(open(&f).is_ok());
        let outside = d.path().join("secret");
        std::fs::write(&outside, b"s").expect("write");
        assert!(matches!(open(&outside), Err(FileError::Outside(1))));
        assert!(matches!(
            open(&root.join("job/../../secret")),
            Err(FileError::Outside(1))
        ));
        let link = root.join("job/2026/11/b.xlsx");
        std::os::unix::fs::symlink(&outside, &link).expect("link");
        assert!(open(&link).is_err());
        assert!(open(&root.join("job/2026/11")).is_err());
    }
}
