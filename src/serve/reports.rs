//! One report for the page (its reading from the history is
//! [`crate::archive::store::page`]'s), its file (only through the archive root: the history's `file_path` is located
//! lexically inside the reports directory and opened through directory
//! handles, never through a link) and its rows as CSV, written as they
//! are read.

use crate::archive::root::ArchiveRoot;
use crate::archive::store::{Reader, StoreError};

pub(crate) use crate::archive::store::page::{Attempt, Report, hint};

/// Why a report's file is not given.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    #[error("report {0} has no file (only ok reports keep one)")]
    NoFile(i64),
    #[error("report {0} has no file in the archive")]
    Outside(i64),
    #[error("the report's file is gone: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Open report `id`'s file, recorded as `recorded`, through `archive`: a
/// recorded path outside it is refused and logged, never opened; a link
/// anywhere below the root, or anything but a regular file, is refused.
pub(crate) fn open_inside(
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

/// Call `each` with every row of report `id`, a batch at a time.
fn each_row(
    conn: &Reader,
    id: i64,
    mut each: impl FnMut(
        &str,
        i64,
        &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), RowsError>,
) -> Result<(), RowsError> {
    let mut last: Option<(String, i64)> = None;
    loop {
        let batch = conn.report_rows_after(id, last.as_ref())?;
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
pub(crate) enum RowsError {
    #[error("reading the report's rows from the history failed: {0}")]
    Store(#[from] StoreError),
    #[error("writing the rows as CSV failed: {0}")]
    Csv(#[from] csv::Error),
}

/// Write the rows of report `id` as CSV to `out`: `sheet,row`, then every
/// key the rows hold, in the order first seen; every cell neutralised for
/// spreadsheets ([`crate::domain::csv_cell`]). Two passes over the rows (the
/// keys, then the rows), each a batch at a time: memory stays flat
/// whatever the report's size.
pub(crate) fn write_rows_csv(
    conn: &Reader,
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
