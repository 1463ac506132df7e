//! Reading an export back: every Parquet file below a destination, each
//! cell checked against the history's `report_rows` and `reports`.

use crate::common::{World, path_str};
use arrow_array::{
    Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every file below `d`, recursively, sorted.
pub fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The files of one tree of an export, relative to the tree.
pub fn tree(out: &Path, tree: &str) -> Vec<String> {
    let root = out.join(tree);
    walk(&root)
        .iter()
        .map(|p| path_str(p.strip_prefix(&root).expect("below the tree")))
        .collect()
}

/// A sealed report as the history holds it.
#[derive(Debug, Clone)]
pub struct Report {
    pub job: String,
    pub target: String,
    pub region: String,
    pub granularity: i64,
    pub start: i64,
    pub end: i64,
}

/// Sealed reports by id, and their rows by (report, sheet, row number).
pub type Rows = BTreeMap<(i64, String, i64), Vec<(String, Value)>>;

pub fn history(w: &World) -> (BTreeMap<i64, Report>, Rows) {
    let db = w.db();
    let mut st = db
        .prepare("SELECT id, job, target, region, granularity, window_start, window_end FROM reports WHERE status IN ('ok', 'pruned')")
        .expect("reports");
    let reports = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                Report {
                    job: r.get(1)?,
                    target: r.get(2)?,
                    region: r.get(3)?,
                    granularity: r.get(4)?,
                    start: r.get(5)?,
                    end: r.get(6)?,
                },
            ))
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let mut st = db
        .prepare("SELECT report_id, sheet, row_number, data FROM report_rows")
        .expect("rows");
    let rows = st
        .query_map([], |r| {
            let data: String = r.get(3)?;
            let obj: serde_json::Map<String, Value> =
                serde_json::from_str(&data).expect("a JSON object");
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?), obj.into_iter().collect()))
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    (reports, rows)
}

pub fn utc_date(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .expect("a time")
        .strftime("%Y-%m-%d")
        .to_string()
}

/// Cell `i` of a column as the JSON value the history would hold for it.
pub fn cell(col: &dyn Array, i: usize) -> Value {
    if col.is_null(i) {
        return Value::Null;
    }
    let any = col.as_any();
    match col.data_type() {
        DataType::Int64 => Value::from(any.downcast_ref::<Int64Array>().expect("i64").value(i)),
        DataType::Float64 => Value::from(any.downcast_ref::<Float64Array>().expect("f64").value(i)),
        DataType::Utf8 => Value::from(any.downcast_ref::<StringArray>().expect("utf8").value(i)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let us = any
                .downcast_ref::<TimestampMicrosecondArray>()
                .expect("timestamp")
                .value(i);
            Value::from(us)
        }
        other => panic!("unexpected column type {other:?}"),
    }
}

/// `expected` (a history cell) as the file should hold it in a column of `ty`.
pub fn as_written(expected: &Value, ty: &DataType) -> Value {
    match (ty, expected) {
        (_, Value::Null) => Value::Null,
        (DataType::Utf8, Value::String(_)) => expected.clone(),
        (DataType::Utf8, other) => Value::from(other.to_string()),
        (DataType::Float64, Value::Number(n)) => Value::from(n.as_f64().expect("a number")),
        (DataType::Timestamp(..), Value::String(s)) => {
            let dt: jiff::civil::DateTime = if s.len() == 10 {
                s.parse::<jiff::civil::Date>()
                    .expect("a date")
                    .at(0, 0, 0, 0)
            } else {
                s.parse().expect("a date-time")
            };
            let ts = dt
                .to_zoned(jiff::tz::TimeZone::UTC)
                .expect("utc")
                .timestamp();
            Value::from(ts.as_microsecond())
        }
        _ => expected.clone(),
    }
}

/// A Parquet file's `header.<column>` metadata (column → original header)
/// and its batches.
pub fn read_parquet(path: &Path) -> (BTreeMap<String, String>, Vec<RecordBatch>) {
    let file = std::fs::File::open(path).expect("open");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("a Parquet file");
    let headers = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            let name = kv.key.strip_prefix("header.")?;
            Some((name.to_string(), kv.value.clone()?))
        })
        .collect();
    let batches = builder
        .build()
        .expect("reader")
        .map(|b| b.expect("a batch"))
        .collect();
    (headers, batches)
}

/// Check row `i` of `batch` (of file `rel`) against the history, removing
/// it from `rows`; record each header's column type in `types`.
pub fn check_row(
    rel: &str,
    batch: &RecordBatch,
    i: usize,
    headers: &BTreeMap<String, String>,
    (reports, rows): (&BTreeMap<i64, Report>, &mut Rows),
    types: &mut BTreeMap<String, DataType>,
) {
    let get = |c: usize| cell(batch.column(c).as_ref(), i);
    let id = get(0).as_i64().expect("report_id");
    let sheet = get(7).as_str().expect("sheet").to_string();
    let row_number = get(8).as_i64().expect("row_number");
    let report = reports
        .get(&id)
        .unwrap_or_else(|| panic!("{rel}: report {id} is not sealed"));
    assert_eq!(get(1), Value::from(report.job.clone()), "{rel}: job");
    assert_eq!(get(2), Value::from(report.target.clone()), "{rel}: target");
    assert_eq!(get(3), Value::from(report.region.clone()), "{rel}: region");
    assert_eq!(
        get(4),
        Value::from(report.granularity),
        "{rel}: granularity"
    );
    assert_eq!(
        get(5),
        Value::from(report.start * 1_000_000),
        "{rel}: window_start"
    );
    assert_eq!(
        get(6),
        Value::from(report.end * 1_000_000),
        "{rel}: window_end"
    );
    assert!(
        rel.starts_with(&format!(
            "job={}/date={}/",
            report.job,
            utc_date(report.start)
        )),
        "{rel}: partition of report {id}"
    );
    let expected = rows
        .remove(&(id, sheet.clone(), row_number))
        .unwrap_or_else(|| panic!("{rel}: row {id}/{sheet}/{row_number} twice or unknown"));
    let schema = batch.schema();
    let mut cells: BTreeMap<String, Value> = BTreeMap::new();
    for (c, field) in schema.fields().iter().enumerate().skip(9) {
        let header = headers
            .get(field.name())
            .unwrap_or_else(|| panic!("{rel}: no header for {}", field.name()));
        types.insert(header.clone(), field.data_type().clone());
        cells.insert(header.clone(), get(c));
    }
    for (header, value) in &expected {
        let ty = types
            .get(header)
            .unwrap_or_else(|| panic!("{rel}: no column for {header}"));
        assert_eq!(
            cells.remove(header),
            Some(as_written(value, ty)),
            "{rel}: report {id} {sheet} row {row_number} column {header}"
        );
    }
    assert!(
        cells.values().all(Value::is_null),
        "{rel}: cells the row has not: {cells:?}"
    );
}

/// Read every `report_rows` file below `out` and check each cell against
/// the history: every sealed row exactly once, in the partition of its job
/// and window date, fixed columns from `reports`, each header's cell equal
/// to the row's value. Returns the header columns' types by file.
pub fn check_export(w: &World, out: &Path) -> BTreeMap<String, BTreeMap<String, DataType>> {
    let (reports, mut rows) = history(w);
    assert!(!rows.is_empty(), "the history has rows to export");
    let mut types = BTreeMap::new();
    for rel in tree(out, "report_rows") {
        assert!(rel.ends_with(".parquet"), "a stray file {rel}");
        let (headers, batches) = read_parquet(&out.join("report_rows").join(&rel));
        let mut file_types = BTreeMap::new();
        for batch in &batches {
            let names: Vec<String> = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(
                names[..9],
                [
                    "report_id",
                    "job",
                    "target",
                    "region",
                    "granularity",
                    "window_start",
                    "window_end",
                    "sheet",
                    "row_number"
                ],
                "{rel}: fixed columns first"
            );
            for i in 0..batch.num_rows() {
                check_row(
                    &rel,
                    batch,
                    i,
                    &headers,
                    (&reports, &mut rows),
                    &mut file_types,
                );
            }
        }
        types.insert(rel, file_types);
    }
    assert!(
        rows.is_empty(),
        "rows not exported: {:?}",
        rows.keys().collect::<Vec<_>>()
    );
    let sets: BTreeSet<String> = tree(out, "report_rows").into_iter().collect();
    let report_sets: BTreeSet<String> = tree(out, "reports").into_iter().collect();
    assert!(
        sets.is_subset(&report_sets),
        "a reports file beside every rows file"
    );
    check_reports(out, report_sets, reports);
    types
}

/// Every sealed report once in the `reports` files, with its identity.
fn check_reports(out: &Path, files: BTreeSet<String>, mut left: BTreeMap<i64, Report>) {
    for rel in files {
        for batch in read_parquet(&out.join("reports").join(&rel)).1 {
            for i in 0..batch.num_rows() {
                let get = |c: usize| cell(batch.column(c).as_ref(), i);
                let id = get(0).as_i64().expect("report_id");
                let r = left
                    .remove(&id)
                    .unwrap_or_else(|| panic!("reports/{rel}: report {id} twice or unsealed"));
                assert_eq!(
                    (get(1), get(2), get(5)),
                    (
                        Value::from(r.job),
                        Value::from(r.target),
                        Value::from(r.start * 1_000_000)
                    ),
                    "reports/{rel}"
                );
            }
        }
    }
    assert!(
        left.is_empty(),
        "reports not exported: {:?}",
        left.keys().collect::<Vec<_>>()
    );
}
