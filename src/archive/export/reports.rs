//! The `reports/` side of an export: one row per report of the file's set,
//! the `reports` columns a warehouse needs (times as UTC timestamps; the
//! local file path and the error columns, meaningless outside this host or
//! empty for a sealed report, are left out).

use super::batch::{micros, utc};
use crate::archive::store::exports::ReportMeta;
use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use std::sync::Arc;

/// The schema of a `reports` file.
pub(crate) fn schema() -> SchemaRef {
    let f = |name: &str, ty: DataType, nullable: bool| Field::new(name, ty, nullable);
    Arc::new(Schema::new(vec![
        f("report_id", DataType::Int64, false),
        f("job", DataType::Utf8, false),
        f("target", DataType::Utf8, false),
        f("region", DataType::Utf8, false),
        f("granularity", DataType::Int64, false),
        f("window_start", utc(), false),
        f("window_end", utc(), false),
        f("status", DataType::Utf8, false),
        f("attempts", DataType::Int64, false),
        f("trigger", DataType::Utf8, false),
        f("request_id", DataType::Utf8, true),
        f("bytes", DataType::Int64, true),
        f("sha256", DataType::Utf8, true),
        f("created_at", utc(), false),
        f("updated_at", utc(), false),
    ]))
}

/// `reports` as one batch of the [`schema`].
pub(crate) fn batch(reports: &[ReportMeta]) -> Result<RecordBatch, ArrowError> {
    let ints = |f: fn(&ReportMeta) -> i64| {
        let mut b = Int64Builder::with_capacity(reports.len());
        reports.iter().for_each(|r| b.append_value(f(r)));
        Arc::new(b.finish()) as ArrayRef
    };
    let opt_ints = |f: fn(&ReportMeta) -> Option<i64>| {
        let mut b = Int64Builder::with_capacity(reports.len());
        reports.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish()) as ArrayRef
    };
    let times = |f: fn(&ReportMeta) -> i64| {
        let mut b = TimestampMicrosecondBuilder::with_capacity(reports.len()).with_timezone("UTC");
        reports.iter().for_each(|r| b.append_value(micros(f(r))));
        Arc::new(b.finish()) as ArrayRef
    };
    let texts = |f: fn(&ReportMeta) -> Option<&str>| {
        let mut b = StringBuilder::new();
        reports.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish()) as ArrayRef
    };
    RecordBatch::try_new(
        schema(),
        vec![
            ints(|r| r.id),
            texts(|r| Some(&r.job)),
            texts(|r| Some(&r.target)),
            texts(|r| Some(&r.region)),
            ints(|r| r.granularity),
            times(|r| r.window_start),
            times(|r| r.window_end),
            texts(|r| Some(&r.status)),
            ints(|r| r.attempts),
            texts(|r| Some(&r.trigger)),
            texts(|r| r.request_id.as_deref()),
            opt_ints(|r| r.bytes),
            texts(|r| r.sha256.as_deref()),
            times(|r| r.created_at),
            times(|r| r.updated_at),
        ],
    )
}
