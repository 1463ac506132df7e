//! Reading a report workbook into `report_rows`, so traffic can be queried
//! in SQL: every row of every sheet below its header row becomes one row
//! (`report_id`, `sheet`, `row_number` = the sheet's own 1-based row
//! number, `data` = a JSON object keyed by the header, numbers as numbers,
//! empty cells as null, dates as ISO 8601 text).
//!
//! Streams cells with calamine's cell reader, so memory does not grow with
//! the number of rows. Runs inside the caller's transaction: a workbook that
//! cannot be read leaves nothing behind.
//!
//! Calamine sees a workbook only once [`crate::archive::workbook::guard`] has checked
//! its parts; the cells are held to Excel's limits and every cell gets a key
//! of its own (`rows`). A workbook with no sheet or two sheets of one name
//! is refused: its rows could not be stored under their sheet faithfully.

mod rows;

use crate::archive::workbook::{self, GuardError, Limit, MAX_DATA_BYTES, WorkbookError};
use calamine::{Reader, Xlsx};
use rows::Rows;
use rusqlite::{Transaction, params};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// Why rows could not be read or stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file is not a readable workbook (a failed download: retried).
    #[error("cannot read the workbook: {0}")]
    Workbook(String),
    /// The history database refused the rows.
    #[error("cannot store the workbook's rows: {0}")]
    Store(#[from] rusqlite::Error),
    /// [`parse_rows`] stopped: the rows would not fit its memory budget.
    #[error("the rows exceed the in-memory budget")]
    OverBudget,
    /// The workbook breaks a limit or is malformed (not retried).
    #[error(transparent)]
    Refused(#[from] WorkbookError),
}

/// What was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ingested {
    pub(crate) sheets: usize,
    pub rows: usize,
}

/// One row of a sheet, ready for `report_rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SheetRow {
    pub(crate) sheet: String,
    /// The sheet's own 1-based row number.
    pub(crate) row_number: i64,
    /// A JSON object keyed by the header row.
    pub(crate) data: String,
}

/// Store the rows of the workbook at `path` as report `report_id`'s,
/// replacing any earlier ones, reading as it writes (memory does not grow
/// with the rows). (For tests and benches: a report file is opened
/// through the archive root, then given to [`ingest_file`].)
pub fn ingest(tx: &Transaction<'_>, report_id: i64, path: &Path) -> Result<Ingested, IngestError> {
    let file = File::open(path).map_err(|e| IngestError::Workbook(e.to_string()))?;
    ingest_file(tx, report_id, file)
}

/// [`ingest`] of a file already open (a report file, opened through
/// [`crate::archive::root::ArchiveRoot`]).
pub(crate) fn ingest_file(
    tx: &Transaction<'_>,
    report_id: i64,
    file: File,
) -> Result<Ingested, IngestError> {
    let mut insert = Inserter::new(tx, report_id)?;
    let sheets = read_rows(BufReader::with_capacity(64 * 1024, file), |row| {
        insert.add(&row)
    })?;
    Ok(Ingested {
        sheets,
        rows: insert.rows,
    })
}

/// Most JSON text [`parse_rows`] holds in memory; a workbook with more is
/// left to [`ingest`], which streams.
pub(crate) const PARSED_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Read every row of a workbook held in memory (so the reading can happen
/// before the history lock is taken); [`store_rows`] writes them. `None`
/// when the rows would take more than [`PARSED_MAX_BYTES`].
pub(crate) fn parse_rows(bytes: &[u8]) -> Result<Option<(usize, Vec<SheetRow>)>, IngestError> {
    let mut rows = Vec::new();
    let mut held = 0usize;
    let read = read_rows(std::io::Cursor::new(bytes), |row| {
        held += row.data.len() + row.sheet.len();
        if held > PARSED_MAX_BYTES {
            return Err(IngestError::OverBudget);
        }
        rows.push(row);
        Ok(())
    });
    match read {
        Ok(sheets) => Ok(Some((sheets, rows))),
        Err(IngestError::OverBudget) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Store rows read by [`parse_rows`] as report `report_id`'s, replacing any earlier ones.
pub(crate) fn store_rows(
    tx: &Transaction<'_>,
    report_id: i64,
    sheets: usize,
    rows: &[SheetRow],
) -> Result<Ingested, IngestError> {
    let mut insert = Inserter::new(tx, report_id)?;
    for row in rows {
        insert.add(row)?;
    }
    Ok(Ingested {
        sheets,
        rows: insert.rows,
    })
}

/// Writes rows of one report into `report_rows`.
struct Inserter<'t> {
    stmt: rusqlite::CachedStatement<'t>,
    report_id: i64,
    rows: usize,
}

impl<'t> Inserter<'t> {
    fn new(tx: &'t Transaction<'_>, report_id: i64) -> Result<Inserter<'t>, IngestError> {
        tx.prepare_cached("DELETE FROM report_rows WHERE report_id = ?1")?
            .execute([report_id])?;
        let stmt = tx.prepare_cached(
            "INSERT INTO report_rows (report_id, sheet, row_number, data) VALUES (?1, ?2, ?3, ?4)",
        )?;
        Ok(Inserter {
            stmt,
            report_id,
            rows: 0,
        })
    }

    fn add(&mut self, row: &SheetRow) -> Result<(), IngestError> {
        self.stmt
            .execute(params![self.report_id, row.sheet, row.row_number, row.data])?;
        self.rows += 1;
        Ok(())
    }
}

/// Read every sheet of a workbook, row by row, into `sink`; the number of
/// sheets. A workbook malformed enough to make the reader panic is an error
/// like any other, never a crash.
pub(crate) fn read_rows<RS: std::io::Read + std::io::Seek>(
    source: RS,
    mut sink: impl FnMut(SheetRow) -> Result<(), IngestError>,
) -> Result<usize, IngestError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_sheets(source, &mut sink)
    }))
    .unwrap_or_else(|_| {
        Err(IngestError::Workbook(
            "the workbook reader failed on this file".to_string(),
        ))
    })
}

fn read_sheets<RS: std::io::Read + std::io::Seek>(
    source: RS,
    sink: &mut impl FnMut(SheetRow) -> Result<(), IngestError>,
) -> Result<usize, IngestError> {
    // Every part calamine may read is checked against the limits first.
    let guarded = workbook::guard(source).map_err(|e| match e {
        GuardError::Refused(e) => IngestError::Refused(e),
        GuardError::Unreadable(e) => IngestError::Workbook(e),
    })?;
    let refusal = guarded.refusal();
    let err = |e: &dyn std::fmt::Display| match refusal.error() {
        Some(refused) => IngestError::Refused(refused),
        None => IngestError::Workbook(e.to_string()),
    };
    let mut wb: Xlsx<_> = Xlsx::new(guarded).map_err(|e| err(&e))?;
    let names = wb.sheet_names();
    check_sheet_names(&names)?;
    let mut data_bytes = 0u64;
    for sheet in &names {
        let mut cells = wb.worksheet_cells_reader(sheet).map_err(|e| err(&e))?;
        let mut rows = Rows::new(sheet);
        let mut emit = |(row, data): (u32, String)| {
            data_bytes += data.len() as u64;
            if data_bytes > MAX_DATA_BYTES {
                return Err(IngestError::Refused(WorkbookError::too_large(
                    format!("sheet {sheet:?}"),
                    Limit::DataBytes,
                )));
            }
            sink(SheetRow {
                sheet: sheet.clone(),
                row_number: i64::from(row) + 1,
                data,
            })
        };
        while let Some(cell) = cells.next_cell().map_err(|e| err(&e))? {
            let (r, c) = cell.get_position();
            if let Some(done) = rows.push(r, c, cell.get_value())? {
                emit(done)?;
            }
        }
        if let Some(done) = rows.finish()? {
            emit(done)?;
        }
    }
    Ok(names.len())
}

/// A workbook is a report only with at least one sheet, each under a name
/// of its own (the sheet name keys its rows; Excel refuses a repeat too).
fn check_sheet_names(names: &[String]) -> Result<(), WorkbookError> {
    if names.is_empty() {
        return Err(WorkbookError::Invalid("it has no sheet".to_string()));
    }
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(WorkbookError::Invalid(format!(
                "two sheets are named {name:?}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_damaged_workbooks_are_errors_not_panics() {
        // a real workbook, then every prefix and some damaged copies of it
        let params = fake_mna::Params::new("-1", 1_700_000_000, 1_700_010_800, 1);
        let good = fake_mna::workbook_for(&params, 3, true);
        let (sheets, rows) = parse_rows(&good)
            .expect("the whole workbook reads")
            .expect("small");
        assert_eq!(sheets, 2);
        assert!(rows.len() >= 3);
        for cut in (0..good.len()).step_by(13) {
            let _ = parse_rows(&good[..cut]);
        }
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..300 {
            let mut b = good.clone();
            for _ in 0..rng.usize(1..8) {
                let i = rng.usize(..b.len());
                b[i] = rng.u8(..);
            }
            let _ = parse_rows(&b);
        }
    }

    #[test]
    fn rows_from_memory_and_from_the_file_are_the_same() {
        let params = fake_mna::Params::new("dev-1", 1_700_000_000, 1_700_003_600, 1);
        let bytes = fake_mna::workbook_for(&params, 40, true);
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("w.xlsx");
        std::fs::write(&path, &bytes).expect("write");
        let mut conn = rusqlite::Connection::open_in_memory().expect("db");
        conn.execute_batch("CREATE TABLE report_rows (report_id, sheet, row_number, data)")
            .expect("table");
        let tx = conn.transaction().expect("tx");
        let streamed = ingest(&tx, 1, &path).expect("from the file");
        let (sheets, rows) = parse_rows(&bytes).expect("from memory").expect("small");
        let stored = store_rows(&tx, 2, sheets, &rows).expect("store");
        assert_eq!(streamed, stored);
        let same: i64 = tx
            .query_row(
                "SELECT count(*) FROM report_rows a JOIN report_rows b
                 ON a.sheet = b.sheet AND a.row_number = b.row_number AND a.data = b.data
                 WHERE a.report_id = 1 AND b.report_id = 2",
                [],
                |r| r.get(0),
            )
            .expect("compare");
        assert_eq!(same as usize, streamed.rows);
        // header order is the sheet's; numbers are numbers
        let first: String = tx
            .query_row("SELECT data FROM report_rows WHERE report_id = 1 AND sheet = 'Traffic' ORDER BY row_number LIMIT 1", [], |r| r.get(0))
            .expect("row");
        assert!(first.starts_with("{\"Time\":"), "{first}");
        let v: serde_json::Value = serde_json::from_str(&first).expect("json");
        assert!(v["TotalBytes"].is_i64(), "{first}");
    }

    #[test]
    fn rows_beyond_the_memory_budget_are_left_to_streaming() {
        let params = fake_mna::Params::new("dev-1", 1_700_000_000, 1_700_003_600, 1);
        // ~150 bytes of JSON a row: 40,000 rows exceed 4 MiB
        let bytes = fake_mna::workbook_for(&params, 40_000, false);
        assert!(bytes.len() < 4 * 1024 * 1024);
        assert_eq!(parse_rows(&bytes).expect("readable"), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("x.xlsx");
        std::fs::write(&p, b"PK\x03\x04garbage").expect("write");
        let mut conn = rusqlite::Connection::open_in_memory().expect("db");
        conn.execute_batch("CREATE TABLE report_rows (report_id, sheet, row_number, data)")
            .expect("table");
        let tx = conn.transaction().expect("tx");
        assert!(ingest(&tx, 1, &p).is_err());
    }
}
