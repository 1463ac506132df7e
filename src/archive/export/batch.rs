//! Arrow record batches of one file's rows: the Arrow schema of a
//! [`Columns`] set and the builders that take rows one at a time. A batch
//! holds at most [`super::BATCH_ROWS`] rows, so memory does not grow with
//! the number of rows a file holds.

use super::schema::{Column, Columns, FIXED, Kind, timestamp_micros};
use crate::archive::store::exports::{ReportMeta, StoredRow};
use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::Value;
use std::sync::Arc;

/// A timestamp column in UTC (the report windows).
pub(crate) fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Seconds as microseconds.
pub(crate) fn micros(secs: i64) -> i64 {
    secs.saturating_mul(1_000_000)
}

/// The Arrow type of a header column.
fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Int => DataType::Int64,
        Kind::Float => DataType::Float64,
        Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        Kind::Text | Kind::Null => DataType::Utf8,
    }
}

/// The schema of a `report_rows` file with `columns`.
pub(crate) fn rows_schema(columns: &Columns) -> SchemaRef {
    let fixed = FIXED.iter().map(|&name| {
        let ty = match name {
            "report_id" | "granularity" | "row_number" => DataType::Int64,
            "window_start" | "window_end" => utc(),
            _ => DataType::Utf8,
        };
        Field::new(name, ty, false)
    });
    let headers = columns
        .list()
        .iter()
        .map(|c| Field::new(&c.name, data_type(c.kind), true));
    Arc::new(Schema::new(fixed.chain(headers).collect::<Vec<_>>()))
}

/// A cell that does not fit the type its column was given: the rows
/// changed between reading the types and writing.
#[derive(Debug)]
pub(crate) struct Misfit;

enum Cells {
    Int(Int64Builder),
    Float(Float64Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Text(StringBuilder),
}

impl Cells {
    fn new(c: &Column) -> Cells {
        match c.kind {
            Kind::Int => Cells::Int(Int64Builder::new()),
            Kind::Float => Cells::Float(Float64Builder::new()),
            Kind::Timestamp => Cells::Timestamp(TimestampMicrosecondBuilder::new()),
            Kind::Text | Kind::Null => Cells::Text(StringBuilder::new()),
        }
    }

    fn push_null(&mut self) {
        match self {
            Cells::Int(b) => b.append_null(),
            Cells::Float(b) => b.append_null(),
            Cells::Timestamp(b) => b.append_null(),
            Cells::Text(b) => b.append_null(),
        }
    }

    fn push(&mut self, v: &Value) -> Result<(), Misfit> {
        match (self, v) {
            (cells, Value::Null) => cells.push_null(),
            (Cells::Int(b), Value::Number(n)) => b.append_value(n.as_i64().ok_or(Misfit)?),
            (Cells::Float(b), Value::Number(n)) => b.append_value(n.as_f64().ok_or(Misfit)?),
            (Cells::Timestamp(b), Value::String(s)) => {
                b.append_value(timestamp_micros(s).ok_or(Misfit)?)
            }
            (Cells::Text(b), Value::String(s)) => b.append_value(s),
            (Cells::Text(b), other) => b.append_value(other.to_string()),
            _ => return Err(Misfit),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Cells::Int(b) => Arc::new(b.finish()),
            Cells::Float(b) => Arc::new(b.finish()),
            Cells::Timestamp(b) => Arc::new(b.finish()),
            Cells::Text(b) => Arc::new(b.finish()),
        }
    }
}

/// The builders of one `report_rows` batch.
pub(crate) struct RowsBatch {
    schema: SchemaRef,
    report_id: Int64Builder,
    job: StringBuilder,
    target: StringBuilder,
    region: StringBuilder,
    granularity: Int64Builder,
    window_start: TimestampMicrosecondBuilder,
    window_end: TimestampMicrosecondBuilder,
    sheet: StringBuilder,
    row_number: Int64Builder,
    cells: Vec<Cells>,
    seen: Vec<bool>,
    len: usize,
}

impl RowsBatch {
    pub(crate) fn new(columns: &Columns) -> RowsBatch {
        let ts = || TimestampMicrosecondBuilder::new().with_timezone("UTC");
        RowsBatch {
            schema: rows_schema(columns),
            report_id: Int64Builder::new(),
            job: StringBuilder::new(),
            target: StringBuilder::new(),
            region: StringBuilder::new(),
            granularity: Int64Builder::new(),
            window_start: ts(),
            window_end: ts(),
            sheet: StringBuilder::new(),
            row_number: Int64Builder::new(),
            cells: columns.list().iter().map(Cells::new).collect(),
            seen: vec![false; columns.list().len()],
            len: 0,
        }
    }

    /// Rows taken since the last [`RowsBatch::finish`].
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no row was taken since the last [`RowsBatch::finish`].
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Take one row of report `meta`, its cells parsed.
    pub(crate) fn push(
        &mut self,
        meta: &ReportMeta,
        row: &StoredRow,
        cells: &[(String, Value)],
        columns: &Columns,
    ) -> Result<(), Misfit> {
        self.seen.fill(false);
        for (header, value) in cells {
            let i = columns.index(header).ok_or(Misfit)?;
            if std::mem::replace(&mut self.seen[i], true) {
                return Err(Misfit);
            }
            self.cells[i].push(value)?;
        }
        for (cells, seen) in self.cells.iter_mut().zip(&self.seen) {
            if !seen {
                cells.push_null();
            }
        }
        self.report_id.append_value(meta.id);
        self.job.append_value(&meta.job);
        self.target.append_value(&meta.target);
        self.region.append_value(&meta.region);
        self.granularity.append_value(meta.granularity);
        self.window_start.append_value(micros(meta.window_start));
        self.window_end.append_value(micros(meta.window_end));
        self.sheet.append_value(&row.sheet);
        self.row_number.append_value(row.row_number);
        self.len += 1;
        Ok(())
    }

    /// The rows taken as a batch; the builders start empty again.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(self.report_id.finish()),
            Arc::new(self.job.finish()),
            Arc::new(self.target.finish()),
            Arc::new(self.region.finish()),
            Arc::new(self.granularity.finish()),
            Arc::new(self.window_start.finish()),
            Arc::new(self.window_end.finish()),
            Arc::new(self.sheet.finish()),
            Arc::new(self.row_number.finish()),
        ];
        arrays.extend(self.cells.iter_mut().map(Cells::finish));
        self.len = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}
