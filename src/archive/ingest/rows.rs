//! Turning a sheet's cells, in the order calamine reads them, into JSON
//! rows keyed by the sheet's header row, within Excel's limits.
//!
//! Keys: the first row with a value is the header. A header cell's key is
//! its trimmed text; an empty one takes its column letter (`C`). A key
//! already taken by a column to its left, and an empty cell's letter that
//! is also some header's text, get `_2`, `_3`, ... (the first suffix free
//! of every key given so far and of every header's own text). A value in a
//! column without a header is keyed by its column letter, suffixed the
//! same way if a header has that text. So no two cells of a row share a key.

use crate::archive::workbook::{
    Limit, MAX_CELL_CHARS, MAX_COLUMNS, MAX_ROW_BYTES, MAX_ROWS, WorkbookError,
};
use calamine::DataRef;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Column letters of a 0-based column index: 0 → A, 26 → AA.
pub(super) fn column_name(mut col: u32) -> String {
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

/// Whether a cell holds more characters than Excel allows.
fn too_many_chars(cell: &DataRef<'_>) -> bool {
    let text = match cell {
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.as_str(),
        DataRef::SharedString(s) => s,
        _ => return false,
    };
    text.len() > MAX_CELL_CHARS && text.chars().count() > MAX_CELL_CHARS
}

/// A header cell's text, trimmed (empty for a cell without text).
fn header_text(cell: &DataRef<'_>) -> String {
    match cell {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.trim().to_string(),
        DataRef::SharedString(s) => s.trim().to_string(),
        other => match json(other) {
            Value::String(s) => s,
            v => v.to_string(),
        },
    }
}

/// The key of each header cell, by column (see the module docs).
pub(super) fn unique_headers(cells: Vec<(u32, String)>) -> Vec<(u32, String)> {
    let texts: HashSet<String> = cells
        .iter()
        .filter(|(_, t)| !t.is_empty())
        .map(|(_, t)| t.clone())
        .collect();
    let mut taken: HashSet<String> = HashSet::new();
    let mut next: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::with_capacity(cells.len());
    for (col, text) in cells {
        let (base, own) = if text.is_empty() {
            (column_name(col), false)
        } else {
            (text, true)
        };
        let free = |k: &String, taken: &HashSet<String>| !taken.contains(k) && !texts.contains(k);
        let key = if !taken.contains(&base) && (own || !texts.contains(&base)) {
            base
        } else {
            let n = next.entry(base.clone()).or_insert(2);
            loop {
                let k = format!("{base}_{n}");
                *n += 1;
                if free(&k, &taken) {
                    break k;
                }
            }
        };
        taken.insert(key.clone());
        out.push((col, key));
    }
    out
}

/// `name` as a JSON string literal.
fn key_literal(name: &str) -> String {
    Value::String(name.to_string()).to_string()
}

/// Bits of a bounded index range.
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: u32) -> Bits {
        Bits(vec![0; len.div_ceil(64) as usize])
    }

    /// Set bit `i`; whether it was set already.
    fn set(&mut self, i: u32) -> bool {
        let (w, b) = ((i / 64) as usize, 1u64 << (i % 64));
        let was = self.0[w] & b != 0;
        self.0[w] |= b;
        was
    }

    fn clear(&mut self) {
        self.0.fill(0);
    }
}

/// The header of a sheet, once read.
struct Header {
    /// Column and JSON key (a string literal), by column.
    keys: Vec<(u32, String)>,
    /// Every header key, for the keys of values outside the header.
    names: HashSet<String>,
}

impl Header {
    fn new(cells: Vec<(u32, String)>) -> Header {
        let mut named = unique_headers(cells);
        named.sort_by_key(|(c, _)| *c);
        Header {
            names: named.iter().map(|(_, n)| n.clone()).collect(),
            keys: named
                .into_iter()
                .map(|(c, n)| (c, key_literal(&n)))
                .collect(),
        }
    }

    /// The key of a value in column `col`, outside the header.
    fn outside_key(&self, col: u32) -> String {
        let letter = column_name(col);
        if !self.names.contains(&letter) {
            return letter;
        }
        (2u32..)
            .map(|n| format!("{letter}_{n}"))
            .find(|k| !self.names.contains(k))
            .unwrap_or(letter)
    }
}

/// Turns a sheet's cells, in row order, into JSON rows keyed by its header.
pub(super) struct Rows {
    sheet: String,
    header: Option<Header>,
    header_cells: Vec<(u32, String)>,
    row: Option<u32>,
    values: Vec<(u32, Value)>,
    /// Text bytes held for the current row.
    row_bytes: usize,
    /// Rows seen in this sheet, and columns seen in the current row.
    rows_seen: Bits,
    cols_seen: Bits,
}

impl Rows {
    pub(super) fn new(sheet: &str) -> Rows {
        Rows {
            sheet: sheet.to_string(),
            header: None,
            header_cells: Vec::new(),
            row: None,
            values: Vec::new(),
            row_bytes: 0,
            rows_seen: Bits::new(MAX_ROWS),
            cols_seen: Bits::new(MAX_COLUMNS),
        }
    }

    fn too_large(&self, what: Limit) -> WorkbookError {
        WorkbookError::too_large(format!("sheet {:?}", self.sheet), what)
    }

    fn hold(&mut self, bytes: usize) -> Result<(), WorkbookError> {
        self.row_bytes += bytes;
        if self.row_bytes > MAX_ROW_BYTES {
            return Err(self.too_large(Limit::RowBytes));
        }
        Ok(())
    }

    /// Take cell (`row`, `col`); when it starts a new row, the finished one
    /// (its 0-based row number and JSON text), if it was a data row with a value.
    pub(super) fn push(
        &mut self,
        row: u32,
        col: u32,
        cell: &DataRef<'_>,
    ) -> Result<Option<(u32, String)>, WorkbookError> {
        if row >= MAX_ROWS {
            return Err(self.too_large(Limit::Rows));
        }
        if col >= MAX_COLUMNS {
            return Err(self.too_large(Limit::Columns));
        }
        if too_many_chars(cell) {
            return Err(self.too_large(Limit::CellChars));
        }
        let mut done = None;
        if self.row != Some(row) {
            if let Some(cur) = self.row {
                done = self.end_row(cur)?;
            }
            if self.rows_seen.set(row) {
                return Err(WorkbookError::Invalid(format!(
                    "row {} of sheet {:?} appears twice",
                    u64::from(row) + 1,
                    self.sheet
                )));
            }
            self.cols_seen.clear();
            self.row = Some(row);
        }
        if self.cols_seen.set(col) {
            return Err(WorkbookError::Invalid(format!(
                "cell {}{} of sheet {:?} appears twice",
                column_name(col),
                u64::from(row) + 1,
                self.sheet
            )));
        }
        if self.header.is_some() {
            let v = json(cell);
            self.hold(match &v {
                Value::String(s) => s.len() + 8,
                _ => 24,
            })?;
            self.values.push((col, v));
        } else if !matches!(cell, DataRef::Empty) {
            let text = header_text(cell);
            self.hold(text.len() + 8)?;
            self.header_cells.push((col, text));
        }
        Ok(done)
    }

    /// The last row, once the cells are over.
    pub(super) fn finish(&mut self) -> Result<Option<(u32, String)>, WorkbookError> {
        match self.row.take() {
            Some(cur) => self.end_row(cur),
            None => Ok(None),
        }
    }

    fn end_row(&mut self, row: u32) -> Result<Option<(u32, String)>, WorkbookError> {
        self.row_bytes = 0;
        let Some(header) = &self.header else {
            // The first row with a value is the header.
            if !self.header_cells.is_empty() {
                self.header = Some(Header::new(std::mem::take(&mut self.header_cells)));
            }
            return Ok(None);
        };
        if self.values.iter().all(|(_, v)| v.is_null()) {
            self.values.clear();
            return Ok(None);
        }
        if !self.values.is_sorted_by_key(|(c, _)| *c) {
            self.values.sort_by_key(|(c, _)| *c);
        }
        let value_at = |col: u32| {
            self.values
                .binary_search_by_key(&col, |(c, _)| *c)
                .ok()
                .map(|i| &self.values[i].1)
        };
        // Header columns in column order (null where the row has no value),
        // then any value beyond the header under its own key.
        let mut out = String::with_capacity(32 * header.keys.len());
        out.push('{');
        for (i, (col, key)) in header.keys.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push(':');
            out.push_str(&value_at(*col).map_or_else(|| "null".to_string(), Value::to_string));
        }
        for (col, v) in &self.values {
            if header.keys.binary_search_by_key(col, |(c, _)| *c).is_err() {
                if out.len() > 1 {
                    out.push(',');
                }
                out.push_str(&key_literal(&header.outside_key(*col)));
                out.push(':');
                out.push_str(&v.to_string());
            }
        }
        out.push('}');
        self.values.clear();
        if out.len() > MAX_ROW_BYTES {
            return Err(self.too_large(Limit::RowBytes));
        }
        Ok(Some((row, out)))
    }
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
        assert_eq!(column_name(MAX_COLUMNS - 1), "XFD");
    }

    fn named(texts: &[&str]) -> Vec<String> {
        let cells = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u32, t.to_string()))
            .collect();
        unique_headers(cells).into_iter().map(|(_, n)| n).collect()
    }

    fn assert_unique(keys: &[String]) {
        let set: HashSet<&String> = keys.iter().collect();
        assert_eq!(set.len(), keys.len(), "{keys:?}");
    }

    #[test]
    fn duplicate_headers_are_made_unique() {
        assert_eq!(
            named(&["Bytes", "Bytes", "Time"]),
            ["Bytes", "Bytes_2", "Time"]
        );
        // a suffix never takes another header's own text
        let k = named(&["Bytes", "Bytes", "Bytes_2"]);
        assert_eq!(k, ["Bytes", "Bytes_3", "Bytes_2"]);
        let k = named(&["Bytes_2", "Bytes", "Bytes", "Bytes"]);
        assert_eq!(k, ["Bytes_2", "Bytes", "Bytes_3", "Bytes_4"]);
    }

    #[test]
    fn empty_headers_take_their_column_letter_made_unique_too() {
        assert_eq!(named(&["Time", "", "C"]), ["Time", "B", "C"]);
        // the letter B is another header's text: suffixed, and that one keeps it
        assert_eq!(named(&["", "B"]), ["A", "B"]);
        assert_eq!(named(&["B", ""]), ["B", "B_2"]);
        assert_eq!(named(&["B", "", "B_2"]), ["B", "B_3", "B_2"]);
    }

    #[test]
    fn keys_never_collide() {
        let pool = ["A", "B", "A_2", "B_2", "", "A_3", "C"];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let texts: Vec<&str> = (0..rng.usize(1..9))
                .map(|_| pool[rng.usize(..pool.len())])
                .collect();
            assert_unique(&named(&texts));
        }
    }

    fn row_of(rows: &mut Rows, row: u32, cells: &[(u32, DataRef<'_>)]) -> Option<String> {
        let mut out = None;
        for (c, v) in cells {
            if let Some((_, d)) = rows.push(row, *c, v).expect("within limits") {
                out = Some(d);
            }
        }
        out
    }

    #[test]
    fn values_outside_the_header_get_keys_of_their_own() {
        let s = |t: &str| DataRef::String(t.to_string());
        let mut rows = Rows::new("S");
        row_of(&mut rows, 0, &[(0, s("C")), (1, s("C")), (2, s(""))]);
        row_of(
            &mut rows,
            1,
            &[
                (0, DataRef::Int(1)),
                (1, DataRef::Int(2)),
                (2, DataRef::Int(3)),
                (3, DataRef::Int(4)),
            ],
        );
        let (_, data) = rows.finish().expect("ok").expect("a row");
        let v: serde_json::Map<String, Value> = serde_json::from_str(&data).expect("json");
        assert_eq!(v.len(), 4, "{data}");
        assert_eq!(data, r#"{"C":1,"C_2":2,"C_3":3,"D":4}"#);
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

    fn limit(r: Result<Option<(u32, String)>, WorkbookError>) -> Option<Limit> {
        match r {
            Err(WorkbookError::TooLarge { what, .. }) => Some(what),
            _ => None,
        }
    }

    #[test]
    fn excel_limits_are_enforced() {
        let mut rows = Rows::new("S");
        assert_eq!(
            limit(rows.push(MAX_ROWS, 0, &DataRef::Int(1))),
            Some(Limit::Rows)
        );
        assert!(rows.push(MAX_ROWS - 1, 0, &DataRef::Int(1)).is_ok());
        let mut rows = Rows::new("S");
        assert_eq!(
            limit(rows.push(0, MAX_COLUMNS, &DataRef::Int(1))),
            Some(Limit::Columns)
        );
        assert!(rows.push(0, MAX_COLUMNS - 1, &DataRef::Int(1)).is_ok());
        let long = DataRef::String("é".repeat(MAX_CELL_CHARS + 1));
        assert_eq!(
            limit(Rows::new("S").push(0, 0, &long)),
            Some(Limit::CellChars)
        );
        let most = DataRef::String("é".repeat(MAX_CELL_CHARS));
        assert!(Rows::new("S").push(0, 0, &most).is_ok());
    }

    #[test]
    fn a_row_cannot_outgrow_its_budget() {
        let mut rows = Rows::new("S");
        rows.push(0, 0, &DataRef::String("H".into()))
            .expect("header");
        let big = "x".repeat(MAX_CELL_CHARS);
        let r = (0..MAX_COLUMNS)
            .try_for_each(|c| rows.push(1, c, &DataRef::SharedString(&big)).map(|_| ()));
        assert!(matches!(
            r,
            Err(WorkbookError::TooLarge {
                what: Limit::RowBytes,
                ..
            })
        ));
    }

    #[test]
    fn a_repeated_row_or_cell_is_malformed() {
        let mut rows = Rows::new("S");
        rows.push(0, 0, &DataRef::Int(1)).expect("a");
        rows.push(1, 0, &DataRef::Int(1)).expect("b");
        assert!(
            matches!(rows.push(0, 1, &DataRef::Int(1)), Err(WorkbookError::Invalid(m)) if m.contains("row 1 "))
        );
        let mut rows = Rows::new("S");
        rows.push(3, 2, &DataRef::Int(1)).expect("a");
        assert!(
            matches!(rows.push(3, 2, &DataRef::Int(1)), Err(WorkbookError::Invalid(m)) if m.contains("C4"))
        );
        // rows out of order are fine
        let mut rows = Rows::new("S");
        for r in [5, 2, 9] {
            rows.push(r, 0, &DataRef::Int(1)).expect("distinct rows");
        }
    }
}
