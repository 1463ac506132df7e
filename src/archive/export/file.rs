//! Writing one set of reports as Parquet files at a temporary path: the
//! `report_rows` file in two passes over the rows (the column types, then
//! the cells), each a page of [`super::PAGE_ROWS`] rows at a time from the
//! history, and the `reports` file. The file is fsynced before it is
//! published.

use super::batch::{Misfit, RowsBatch, rows_schema};
use super::schema::{Columns, parse_row};
use super::{BATCH_ROWS, ExportError, PAGE_ROWS, ROW_GROUP_ROWS};
use crate::archive::store::Store;
use crate::archive::store::exports::{self, ReportMeta, StoredRow};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::Path;

/// Every row of report `id`, a page at a time, through `f`.
fn each_row(
    store: &Store,
    id: i64,
    mut f: impl FnMut(&StoredRow) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut after: Option<(String, i64)> = None;
    loop {
        let page = store.on_thread(|c| {
            exports::rows_page(
                c,
                id,
                after.as_ref().map(|(s, n)| (s.as_str(), *n)),
                PAGE_ROWS,
            )
        })?;
        for row in &page {
            f(row)?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE_ROWS => {
                after = Some((last.sheet.clone(), last.row_number))
            }
            _ => return Ok(()),
        }
    }
}

fn cells(id: i64, row: &StoredRow) -> Result<Vec<(String, serde_json::Value)>, ExportError> {
    parse_row(&row.data).map_err(|e| ExportError::BadRow {
        report_id: id,
        sheet: row.sheet.clone(),
        row_number: row.row_number,
        detail: e.to_string(),
    })
}

/// The header columns of the rows of reports `ids`, and how many rows
/// they have.
fn columns(store: &Store, ids: &[i64]) -> Result<(Columns, u64), ExportError> {
    let mut columns = Columns::default();
    let mut rows = 0u64;
    for &id in ids {
        each_row(store, id, |row| {
            columns.observe(&cells(id, row)?);
            rows += 1;
            Ok(())
        })?;
    }
    Ok((columns, rows))
}

/// The report row of `id`, which a set planned in the history always has.
fn report(store: &Store, id: i64) -> Result<ReportMeta, ExportError> {
    store
        .on_thread(|c| exports::report(c, id))?
        .ok_or(ExportError::Changed { report_id: id })
}

/// Exported files are readable by their group (the warehouse's reader
/// may be another user of it), by no one else.
const FILE_MODE: u32 = 0o640;

/// Parquet writer properties: Snappy, fixed row groups, `metadata`.
fn properties(metadata: Vec<KeyValue>) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata(Some(metadata))
        .build()
}

/// A Parquet file being written at a temporary path.
struct Writer<'a> {
    path: &'a Path,
    inner: ArrowWriter<File>,
}

impl<'a> Writer<'a> {
    fn create(path: &'a Path, schema: SchemaRef, kv: Vec<KeyValue>) -> Result<Self, ExportError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(path)
            .map_err(|e| ExportError::io(path, e))?;
        let inner = ArrowWriter::try_new(file, schema, Some(properties(kv)))
            .map_err(|e| ExportError::parquet(path, e))?;
        Ok(Writer { path, inner })
    }

    fn write(
        &mut self,
        batch: Result<RecordBatch, arrow_schema::ArrowError>,
    ) -> Result<(), ExportError> {
        let batch = batch.map_err(|e| ExportError::parquet(self.path, e.into()))?;
        self.inner
            .write(&batch)
            .map_err(|e| ExportError::parquet(self.path, e))
    }

    /// Close the file and make its bytes durable.
    fn finish(self) -> Result<(), ExportError> {
        let file = self
            .inner
            .into_inner()
            .map_err(|e| ExportError::parquet(self.path, e))?;
        file.sync_all().map_err(|e| ExportError::io(self.path, e))
    }
}

/// Write the `report_rows` file of reports `ids` at `path`; the number of
/// rows, or `None` (and nothing written) when the reports have no row.
pub(crate) fn write_rows(
    store: &Store,
    ids: &[i64],
    path: &Path,
) -> Result<Option<u64>, ExportError> {
    let (columns, counted) = columns(store, ids)?;
    if counted == 0 {
        return Ok(None);
    }
    let kv = columns
        .list()
        .iter()
        .map(|c| KeyValue::new(format!("header.{}", c.name), c.header.clone()))
        .collect();
    let mut w = Writer::create(path, rows_schema(&columns), kv)?;
    let mut batch = RowsBatch::new(&columns);
    let mut rows = 0u64;
    for &id in ids {
        let meta = report(store, id)?;
        each_row(store, id, |row| {
            batch
                .push(&meta, row, &cells(id, row)?, &columns)
                .map_err(|Misfit| ExportError::Changed { report_id: id })?;
            rows += 1;
            if batch.len() >= BATCH_ROWS {
                w.write(batch.finish())?;
            }
            Ok(())
        })?;
    }
    if !batch.is_empty() {
        w.write(batch.finish())?;
    }
    if rows != counted {
        return Err(ExportError::Changed { report_id: ids[0] });
    }
    w.finish()?;
    Ok(Some(rows))
}

/// Write the `reports` file of reports `ids` at `path`.
pub(crate) fn write_reports(store: &Store, ids: &[i64], path: &Path) -> Result<(), ExportError> {
    let mut w = Writer::create(path, super::reports::schema(), Vec::new())?;
    for chunk in ids.chunks(BATCH_ROWS) {
        let metas = chunk
            .iter()
            .map(|&id| report(store, id))
            .collect::<Result<Vec<_>, _>>()?;
        w.write(super::reports::batch(&metas))?;
    }
    w.finish()
}
