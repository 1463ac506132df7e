//! The columns of a `report_rows` file: the fixed ones, then one per sheet
//! header, named in snake case and typed by the values the file holds.
//!
//! A header's type is the narrowest that holds every non-null value of
//! the file: int64, float64 (integers and floats mixed), timestamp (every
//! value a date or date-time text, as the workbook reader writes dates),
//! else utf8. Anything else (booleans, a mix of numbers and text) is utf8,
//! so a header that changes type never breaks a file.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The fixed columns of a `report_rows` file, in order.
pub(crate) const FIXED: [&str; 9] = [
    "report_id",
    "job",
    "target",
    "region",
    "granularity",
    "window_start",
    "window_end",
    "sheet",
    "row_number",
];

/// What a header column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No value seen yet (a column of nulls is written as utf8).
    Null,
    Int,
    Float,
    Timestamp,
    Text,
}

impl Kind {
    /// The kind of one cell.
    pub(crate) fn of(v: &Value) -> Kind {
        match v {
            Value::Null => Kind::Null,
            Value::Number(n) if n.is_i64() => Kind::Int,
            Value::Number(_) => Kind::Float,
            Value::String(s) if timestamp_micros(s).is_some() => Kind::Timestamp,
            _ => Kind::Text,
        }
    }

    /// The narrowest kind that holds both.
    pub(crate) fn join(self, other: Kind) -> Kind {
        match (self, other) {
            (a, b) if a == b => a,
            (Kind::Null, k) | (k, Kind::Null) => k,
            (Kind::Int, Kind::Float) | (Kind::Float, Kind::Int) => Kind::Float,
            _ => Kind::Text,
        }
    }
}

/// A date (`2026-11-03`) or date-time (`2026-11-03T10:00:00`, optionally
/// with fractional seconds) as the workbook reader writes cells that Excel
/// stores as dates, or the same with a space for the `T` as the service
/// writes times as text: microseconds since the epoch, the wall time read
/// as UTC (the workbook carries no zone). Other text is not a timestamp.
pub(crate) fn timestamp_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let shaped = match b.len() {
        10 => b[4] == b'-' && b[7] == b'-',
        19..=29 => b[4] == b'-' && b[7] == b'-' && matches!(b[10], b'T' | b' ') && b[13] == b':',
        _ => false,
    };
    if !shaped || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let dt: jiff::civil::DateTime = if b.len() == 10 {
        s.parse::<jiff::civil::Date>()
            .ok()?
            .to_datetime(jiff::civil::Time::midnight())
    } else {
        s.parse().ok()?
    };
    let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    Some(ts.as_microsecond())
}

/// A header as a column name: lower snake case (`Traffic (MB)` →
/// `traffic_mb`, `UpLink` → `up_link`), letters of any script kept; empty
/// → `column`.
pub(crate) fn snake_case(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    let mut prev_lower = false;
    let mut gap = false;
    for c in header.chars() {
        if c.is_alphanumeric() {
            if (gap || (c.is_uppercase() && prev_lower)) && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            out.extend(c.to_lowercase());
        } else {
            gap = true;
            prev_lower = false;
        }
    }
    if out.is_empty() {
        out.push_str("column");
    }
    out
}

/// One header column of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    /// The header as the sheet writes it (the key of the row's JSON).
    pub(crate) header: String,
    /// Its column name in the file.
    pub(crate) name: String,
    pub(crate) kind: Kind,
}

/// The header columns of one file, built by [`Columns::observe`] over
/// every row it will hold, in the order headers first appear.
#[derive(Debug, Default, Clone)]
pub(crate) struct Columns {
    columns: Vec<Column>,
    by_header: HashMap<String, usize>,
    names: HashSet<String>,
}

impl Columns {
    /// Take the cells of one row into account.
    pub(crate) fn observe(&mut self, row: &[(String, Value)]) {
        for (header, value) in row {
            let i = match self.by_header.get(header) {
                Some(&i) => i,
                None => self.add(header),
            };
            let c = &mut self.columns[i];
            c.kind = c.kind.join(Kind::of(value));
        }
    }

    fn add(&mut self, header: &str) -> usize {
        let base = snake_case(header);
        let mut name = base.clone();
        let mut n = 2;
        while FIXED.contains(&name.as_str()) || self.names.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.names.insert(name.clone());
        self.by_header
            .insert(header.to_string(), self.columns.len());
        self.columns.push(Column {
            header: header.to_string(),
            name,
            kind: Kind::Null,
        });
        self.columns.len() - 1
    }

    /// The columns, in order.
    pub(crate) fn list(&self) -> &[Column] {
        &self.columns
    }

    /// The index of the column of `header`.
    pub(crate) fn index(&self, header: &str) -> Option<usize> {
        self.by_header.get(header).copied()
    }
}

/// A row's JSON object as its cells in the order written (the header's
/// column order), which a map would lose.
pub(crate) fn parse_row(data: &str) -> Result<Vec<(String, Value)>, serde_json::Error> {
    struct Ordered;
    impl<'de> Visitor<'de> for Ordered {
        type Value = Vec<(String, Value)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
            while let Some(entry) = map.next_entry::<String, Value>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(data);
    let row = (&mut de).deserialize_map(Ordered)?;
    de.end()?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn headers_become_snake_case_names() {
        assert_eq!(snake_case("Traffic (MB)"), "traffic_mb");
        assert_eq!(snake_case("UpLink"), "up_link");
        assert_eq!(snake_case("device_id"), "device_id");
        assert_eq!(snake_case("  "), "column");
        assert_eq!(snake_case("流量 (MB)"), "流量_mb");
        assert_eq!(snake_case("Time5G"), "time5_g");
    }

    #[test]
    fn names_never_collide_with_fixed_columns_or_each_other() {
        let mut c = Columns::default();
        c.observe(&[
            ("Job".into(), json!(1)),
            ("Traffic MB".into(), json!(1)),
            ("traffic_mb".into(), json!(1)),
        ]);
        let names: Vec<&str> = c.list().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["job_2", "traffic_mb", "traffic_mb_2"]);
    }

    #[test]
    fn a_column_takes_the_narrowest_type_of_its_values() {
        let mut c = Columns::default();
        for row in [
            json!({"a": 1, "b": 1, "c": "2026-01-02", "d": "x", "e": null, "f": true}),
            json!({"a": 2, "b": 1.5, "c": "2026-01-02T03:04:05", "d": 3, "e": null, "f": false}),
        ] {
            c.observe(&parse_row(&row.to_string()).expect("row"));
        }
        let kinds: Vec<Kind> = c.list().iter().map(|c| c.kind).collect();
        use Kind::*;
        assert_eq!(kinds, [Int, Float, Timestamp, Text, Null, Text]);
    }

    #[test]
    fn rows_keep_their_cell_order() {
        let row = parse_row(r#"{"z":1,"a":2,"m":null}"#).expect("row");
        let keys: Vec<&str> = row.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert!(parse_row("[1]").is_err());
        assert!(parse_row(r#"{"a":1} x"#).is_err());
    }

    #[test]
    fn only_date_shaped_text_is_a_timestamp() {
        assert_eq!(timestamp_micros("1970-01-02"), Some(86_400_000_000));
        assert_eq!(timestamp_micros("1970-01-01T00:00:01.500"), Some(1_500_000));
        assert_eq!(timestamp_micros("1970-01-01 00:01:00"), Some(60_000_000));
        for not in [
            "20260101",
            "2026-13-01",
            "device-01",
            "2026-01-01 10:00",
            "",
        ] {
            assert_eq!(timestamp_micros(not), None, "{not}");
        }
    }
}
