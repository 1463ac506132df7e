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
use serde_json::{Map, Value};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// Why a workbook could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the workbook: {0}")]
pub struct IngestError(pub String);

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

/// Store the rows of the workbook at `path` as report `report_id`'s, replacing any earlier ones.
pub fn ingest(tx: &Transaction<'_>, report_id: i64, path: &Path) -> Result<Ingested, IngestError> {
    let file = File::open(path).map_err(|e| IngestError(e.to_string()))?;
    ingest_from(tx, report_id, BufReader::with_capacity(64 * 1024, file))
}

/// [`ingest`] from any seekable source (a file, or bytes in memory). A
/// workbook malformed enough to make the reader panic is an error like any
/// other, never a crash.
pub fn ingest_from<RS: std::io::Read + std::io::Seek>(
    tx: &Transaction<'_>,
    report_id: i64,
    source: RS,
) -> Result<Ingested, IngestError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_into(tx, report_id, source)
    }))
    .unwrap_or_else(|_| {
        Err(IngestError(
            "the workbook reader failed on this file".to_string(),
        ))
    })
}

fn read_into<RS: std::io::Read + std::io::Seek>(
    tx: &Transaction<'_>,
    report_id: i64,
    source: RS,
) -> Result<Ingested, IngestError> {
    let err = |e: &dyn std::fmt::Display| IngestError(e.to_string());
    let mut wb: Xlsx<RS> = Xlsx::new(source).map_err(|e| err(&e))?;
    tx.execute("DELETE FROM report_rows WHERE report_id = ?1", [report_id])
        .map_err(|e| err(&e))?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO report_rows (report_id, sheet, row_number, data) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(|e| err(&e))?;
    let mut total = Ingested::default();
    for sheet in wb.sheet_names() {
        let mut cells = wb.worksheet_cells_reader(&sheet).map_err(|e| err(&e))?;
        let mut header: Option<Vec<(u32, String)>> = None;
        let mut row: Option<u32> = None;
        let mut values: Vec<(u32, Value)> = Vec::new();
        let mut header_cells: Vec<(u32, String)> = Vec::new();
        let mut flush = |row: u32,
                         header: &mut Option<Vec<(u32, String)>>,
                         header_cells: &mut Vec<(u32, String)>,
                         values: &mut Vec<(u32, Value)>|
         -> Result<(), IngestError> {
            match header {
                None => {
                    if !header_cells.is_empty() {
                        *header = Some(unique_headers(std::mem::take(header_cells)));
                    }
                }
                Some(h) => {
                    if values.iter().all(|(_, v)| v.is_null()) {
                        values.clear();
                        return Ok(());
                    }
                    let mut obj = Map::with_capacity(h.len());
                    for (col, name) in h.iter() {
                        obj.insert(name.clone(), Value::Null);
                        let _ = col;
                    }
                    for (col, v) in values.drain(..) {
                        let name = h
                            .iter()
                            .find(|(c, _)| *c == col)
                            .map(|(_, n)| n.clone())
                            .unwrap_or_else(|| column_name(col));
                        obj.insert(name, v);
                    }
                    insert
                        .execute(params![
                            report_id,
                            sheet,
                            i64::from(row) + 1,
                            Value::Object(obj).to_string()
                        ])
                        .map_err(|e| err(&e))?;
                    total.rows += 1;
                }
            }
            Ok(())
        };
        while let Some(cell) = cells.next_cell().map_err(|e| err(&e))? {
            let (r, c) = cell.get_position();
            if row.is_some_and(|cur| cur != r)
                && let Some(cur) = row
            {
                flush(cur, &mut header, &mut header_cells, &mut values)?;
            }
            row = Some(r);
            let v = cell.get_value();
            if header.is_none() {
                if !matches!(v, DataRef::Empty) {
                    header_cells.push((c, header_text(v, c)));
                }
            } else {
                values.push((c, json(v)));
            }
        }
        if let Some(cur) = row {
            flush(cur, &mut header, &mut header_cells, &mut values)?;
        }
        total.sheets += 1;
    }
    Ok(total)
}

/// A sheet's name and its cells, row by row.
pub type SheetCells = (String, Vec<Vec<Data>>);

/// Every cell of every sheet, as calamine reads it whole (for tests comparing against [`ingest`]).
pub fn read_all(path: &Path) -> Result<Vec<SheetCells>, IngestError> {
    let mut wb: Xlsx<BufReader<File>> = calamine::open_workbook(path)
        .map_err(|e: calamine::XlsxError| IngestError(e.to_string()))?;
    let mut out = Vec::new();
    for sheet in wb.sheet_names() {
        let range = wb
            .worksheet_range(&sheet)
            .map_err(|e| IngestError(e.to_string()))?;
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
        let mut conn = rusqlite::Connection::open_in_memory().expect("db");
        conn.execute_batch("CREATE TABLE report_rows (report_id, sheet, row_number, data)")
            .expect("table");
        let tx = conn.transaction().expect("tx");
        let rows =
            ingest_from(&tx, 1, std::io::Cursor::new(&good)).expect("the whole workbook reads");
        assert_eq!(rows.sheets, 2);
        assert!(rows.rows >= 3);
        for cut in (0..good.len()).step_by(13) {
            let _ = ingest_from(&tx, 1, std::io::Cursor::new(&good[..cut]));
        }
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..300 {
            let mut b = good.clone();
            for _ in 0..rng.usize(1..8) {
                let i = rng.usize(..b.len());
                b[i] = rng.u8(..);
            }
            let _ = ingest_from(&tx, 1, std::io::Cursor::new(&b));
        }
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
