//! Reading a report workbook into `report_rows`, so traffic can be queried
//! in SQL: every row of every sheet below its header row becomes one row
//! (`report_id`, `sheet`, `row_number` = the sheet's own 1-based row
//! number, `data` = a JSON object keyed by the header, numbers as numbers,
//! empty cells as null, dates as ISO 8601 text).
//!
//! Streams cells with calamine's cell reader, so memory does not grow with
//! the number of rows. Runs inside the caller's transaction: a workbook that
//! cannot be read leaves nothing behind.

use calamine::{Data, DataRef, Reader, Xlsx};
use rusqlite::{Transaction, params};
use serde_json::Value;
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
}

/// What was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ingested {
    pub sheets: usize,
    pub rows: usize,
}

/// Column letters of a 0-based column index: 0 → A, 26 → AA.
fn column_name(mut col: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

fn excel_datetime(dt: &calamine::ExcelDateTime) -> Value {
    if dt.is_duration() {
        return Value::from(dt.as_f64());
    }
    let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    let text = if (h, mi, s, ms) == (0, 0, 0, 0) {
        format!("{y:04}-{mo:02}-{d:02}")
    } else if ms == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}")
    };
    Value::String(text)
}

/// A cell as JSON: numbers as numbers.
fn json(cell: &DataRef<'_>) -> Value {
    match cell {
        DataRef::Int(i) => Value::from(*i),
        // xlsx stores every number as a float: whole ones become integers, so that sums stay exact.
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
            Value::from(*f as i64)
        }
        DataRef::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        DataRef::String(s) => Value::String(s.clone()),
        DataRef::SharedString(s) => Value::String((*s).to_string()),
        DataRef::Bool(b) => Value::Bool(*b),
        DataRef::DateTime(dt) => excel_datetime(dt),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Value::String(s.clone()),
        DataRef::Error(e) => Value::String(format!("#{e:?}")),
        DataRef::Empty => Value::Null,
    }
}

fn header_text(cell: &DataRef<'_>, col: u32) -> String {
    let text = match cell {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.trim().to_string(),
        DataRef::SharedString(s) => s.trim().to_string(),
        other => match json(other) {
            Value::String(s) => s,
            v => v.to_string(),
        },
    };
    if text.is_empty() {
        column_name(col)
    } else {
        text
    }
}

/// Header names, made unique (`Bytes`, `Bytes_2`, ...), by column.
fn unique_headers(cells: Vec<(u32, String)>) -> Vec<(u32, String)> {
    let mut seen = std::collections::HashMap::new();
    cells
        .into_iter()
        .map(|(col, name)| {
            let n = seen.entry(name.clone()).or_insert(0u32);
            *n += 1;
            let name = if *n == 1 { name } else { format!("{name}_{n}") };
            (col, name)
        })
        .collect()
}

/// One row of a sheet, ready for `report_rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetRow {
    pub sheet: String,
    /// The sheet's own 1-based row number.
    pub row_number: i64,
    /// A JSON object keyed by the header row.
    pub data: String,
}

/// Store the rows of the workbook at `path` as report `report_id`'s,
/// replacing any earlier ones, reading as it writes (memory does not grow
/// with the rows).
pub fn ingest(tx: &Transaction<'_>, report_id: i64, path: &Path) -> Result<Ingested, IngestError> {
    let file = File::open(path).map_err(|e| IngestError::Workbook(e.to_string()))?;
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
pub const PARSED_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Read every row of a workbook held in memory (so the reading can happen
/// before the history lock is taken); [`store_rows`] writes them. `None`
/// when the rows would take more than [`PARSED_MAX_BYTES`].
pub fn parse_rows(bytes: &[u8]) -> Result<Option<(usize, Vec<SheetRow>)>, IngestError> {
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
pub fn store_rows(
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
pub fn read_rows<RS: std::io::Read + std::io::Seek>(
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
    let err = |e: &dyn std::fmt::Display| IngestError::Workbook(e.to_string());
    let mut wb: Xlsx<RS> = Xlsx::new(source).map_err(|e| err(&e))?;
    let names = wb.sheet_names();
    for sheet in &names {
        let mut cells = wb.worksheet_cells_reader(sheet).map_err(|e| err(&e))?;
        let mut rows = Rows::default();
        let mut emit = |(row, data): (u32, String)| {
            sink(SheetRow {
                sheet: sheet.clone(),
                row_number: i64::from(row) + 1,
                data,
            })
        };
        while let Some(cell) = cells.next_cell().map_err(|e| err(&e))? {
            let (r, c) = cell.get_position();
            if let Some(done) = rows.push(r, c, cell.get_value()) {
                emit(done)?;
            }
        }
        if let Some(done) = rows.finish() {
            emit(done)?;
        }
    }
    Ok(names.len())
}

/// Turns a sheet's cells, in row order, into JSON rows keyed by its header.
#[derive(Default)]
struct Rows {
    /// Column and JSON key (already a JSON string literal) of each header cell.
    header: Option<Vec<(u32, String)>>,
    header_cells: Vec<(u32, String)>,
    row: Option<u32>,
    values: Vec<(u32, Value)>,
}

impl Rows {
    /// Take cell (`row`, `col`); when it starts a new row, the finished one
    /// (its 0-based row number and JSON text), if it was a data row with a value.
    fn push(&mut self, row: u32, col: u32, cell: &DataRef<'_>) -> Option<(u32, String)> {
        let done = match self.row {
            Some(cur) if cur != row => self.end_row(cur),
            _ => None,
        };
        self.row = Some(row);
        if self.header.is_some() {
            self.values.push((col, json(cell)));
        } else if !matches!(cell, DataRef::Empty) {
            self.header_cells.push((col, header_text(cell, col)));
        }
        done
    }

    /// The last row, once the cells are over.
    fn finish(&mut self) -> Option<(u32, String)> {
        let cur = self.row.take()?;
        self.end_row(cur)
    }

    fn end_row(&mut self, row: u32) -> Option<(u32, String)> {
        let Some(header) = &self.header else {
            // The first row with a value is the header.
            if !self.header_cells.is_empty() {
                let names = unique_headers(std::mem::take(&mut self.header_cells));
                self.header = Some(
                    names
                        .into_iter()
                        .map(|(c, n)| (c, key_literal(&n)))
                        .collect(),
                );
            }
            return None;
        };
        if self.values.iter().all(|(_, v)| v.is_null()) {
            self.values.clear();
            return None;
        }
        // Header columns in sheet order (null where the row has no value),
        // then any cell beyond the header under its column letter.
        let mut out = String::with_capacity(32 * header.len());
        out.push('{');
        for (i, (col, key)) in header.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push(':');
            let v = self.values.iter().find(|(c, _)| c == col).map(|(_, v)| v);
            out.push_str(&v.map_or_else(|| "null".to_string(), Value::to_string));
        }
        for (col, v) in &self.values {
            if !header.iter().any(|(c, _)| c == col) {
                if out.len() > 1 {
                    out.push(',');
                }
                out.push_str(&key_literal(&column_name(*col)));
                out.push(':');
                out.push_str(&v.to_string());
            }
        }
        out.push('}');
        self.values.clear();
        Some((row, out))
    }
}

/// `name` as a JSON string literal.
fn key_literal(name: &str) -> String {
    Value::String(name.to_string()).to_string()
}

/// A sheet's name and its cells, row by row.
pub type SheetCells = (String, Vec<Vec<Data>>);

/// Every cell of every sheet, as calamine reads it whole (for tests comparing against [`ingest`]).
pub fn read_all(path: &Path) -> Result<Vec<SheetCells>, IngestError> {
    let mut wb: Xlsx<BufReader<File>> = calamine::open_workbook(path)
        .map_err(|e: calamine::XlsxError| IngestError::Workbook(e.to_string()))?;
    let mut out = Vec::new();
    for sheet in wb.sheet_names() {
        let range = wb
            .worksheet_range(&sheet)
            .map_err(|e| IngestError::Workbook(e.to_string()))?;
        out.push((sheet, range.rows().map(|r| r.to_vec()).collect()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(27), "AB");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
    }

    #[test]
    fn duplicate_headers_are_made_unique() {
        let h = unique_headers(vec![
            (0, "Bytes".into()),
            (1, "Bytes".into()),
            (2, "Time".into()),
        ]);
        assert_eq!(
            h,
            vec![
                (0, "Bytes".into()),
                (1, "Bytes_2".into()),
                (2, "Time".into())
            ]
        );
    }

    #[test]
    fn numbers_stay_numbers() {
        assert_eq!(json(&DataRef::Int(5)), Value::from(5));
        assert_eq!(json(&DataRef::Float(1.5)), Value::from(1.5));
        assert_eq!(json(&DataRef::Float(1234.0)), Value::from(1234));
        assert!(json(&DataRef::Float(1234.0)).is_i64());
        assert_eq!(json(&DataRef::Float(f64::NAN)), Value::Null);
        assert_eq!(json(&DataRef::Empty), Value::Null);
    }

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
        let v: Value = serde_json::from_str(&first).expect("json");
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
