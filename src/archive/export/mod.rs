//! The Parquet export of the history: the rows of sealed reports (`ok` or
//! `pruned`) as Hive-partitioned Parquet files a warehouse reads, in a local
//! directory or a bucket, incrementally.
//!
//! Layout below the destination, one file per job and UTC date of the
//! window start and per export run:
//! `report_rows/job=<job>/date=<YYYY-MM-DD>/<first>-<last report id>.parquet`
//! and the reports themselves at the same path under `reports/`.
//!
//! How a run goes ([`export`]): the sets a crashed run planned are written
//! first, under the names they were planned with; then the sealed reports
//! the destination has not received are grouped by job and date, each group
//! recorded in the `exports` table as planned (`exported_at` NULL), written
//! to a temporary name, published under its final name (a rename or a whole
//! upload, see [`dest`]) and recorded as exported. The same set of reports
//! always gives the same file name, a crash leaves no partial file under a
//! final name, and a second run writes only what was sealed since.
//!
//! Memory does not grow with the rows: they are read a page at a time
//! ([`PAGE_ROWS`]), turned into Arrow batches of [`BATCH_ROWS`] and written
//! in row groups of [`ROW_GROUP_ROWS`] ([`file`]); the columns are chosen
//! in a first pass over the same pages ([`schema`]).

pub(crate) mod batch;
pub(crate) mod dest;
pub(crate) mod file;
pub(crate) mod periodic;
pub(crate) mod remote;
pub(crate) mod reports;
pub(crate) mod schema;

use crate::archive::remote::client::{BucketSettings, S3Keys, find_keys};
use crate::archive::store::exports::{self, ExportFilter, Unexported};
use crate::archive::store::{Store, StoreError};
pub(crate) use dest::Destination;
use std::path::{Path, PathBuf};

/// Rows read from the history per query.
pub(crate) const PAGE_ROWS: usize = 4096;
/// Rows per Arrow batch handed to the Parquet writer.
pub(crate) const BATCH_ROWS: usize = 8192;
/// Rows per Parquet row group.
pub(crate) const ROW_GROUP_ROWS: usize = 65_536;

/// The two trees of an export.
pub(crate) const ROWS_TREE: &str = "report_rows";
pub(crate) const REPORTS_TREE: &str = "reports";

/// Why an export stopped. Files already published stay, and are recorded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {}: {source}\n  fix: check that the export destination exists and that this user may write there", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the Parquet file {}: {detail}\n  fix: check the free space where it is written, then export again", path.display())]
    Parquet { path: PathBuf, detail: String },
    #[error(
        "row {row_number} of sheet {sheet:?} of report {report_id} is not a JSON object ({detail})\n  fix: fetch that report again with `mna-reportd fetch --force`, then export again"
    )]
    BadRow {
        report_id: i64,
        sheet: String,
        row_number: i64,
        detail: String,
    },
    #[error(
        "the rows of report {report_id} changed while they were exported\n  fix: export again (nothing was published under a final name for them)"
    )]
    Changed { report_id: i64 },
    #[error("export destination: {0}")]
    Destination(String),
    #[error("{0}")]
    Remote(String),
}

impl ExportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> ExportError {
        ExportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn parquet(path: &Path, e: parquet::errors::ParquetError) -> ExportError {
        ExportError::Parquet {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    }
}

/// What a run exported.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exported {
    /// Sets written (each a `reports` file and, with rows, a `report_rows` file).
    pub(crate) files: usize,
    pub(crate) reports: usize,
    pub(crate) rows: u64,
}

/// Export to `dest` the sealed reports inside `filter` it has not
/// received, after finishing what a crashed run planned. `spool` holds
/// files bound for a bucket while they upload.
pub(crate) fn export(
    store: &Store,
    dest: &Destination,
    filter: &ExportFilter,
    spool: &Path,
) -> Result<Exported, ExportError> {
    let key = dest.key();
    let mut out = Exported::default();
    for set in store.on_thread(|c| exports::planned(c, &key))? {
        write_set(store, dest, &key, &set.file, &set.ids, spool, &mut out)?;
    }
    let pending = store.on_thread(|c| exports::unexported(c, &key, filter))?;
    for group in groups(&pending) {
        let ids: Vec<i64> = group.iter().map(|r| r.id).collect();
        let file = file_name(&group[0], &ids);
        store.on_thread(|c| exports::plan(c, &key, &file, &ids))?;
        write_set(store, dest, &key, &file, &ids, spool, &mut out)?;
    }
    Ok(out)
}

/// Write, publish and record the files of one set.
fn write_set(
    store: &Store,
    dest: &Destination,
    key: &str,
    file: &str,
    ids: &[i64],
    spool: &Path,
    out: &mut Exported,
) -> Result<(), ExportError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    let temp = dest.temp_path(ROWS_TREE, file, spool)?;
    let rows = file::write_rows(store, &ids, &temp);
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
    };
    if let Some(n) = rows {
        dest.publish(&temp, ROWS_TREE, file)?;
        out.rows += n;
    }
    let temp = dest.temp_path(REPORTS_TREE, file, spool)?;
    if let Err(e) = file::write_reports(store, &ids, &temp) {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    dest.publish(&temp, REPORTS_TREE, file)?;
    store.on_thread(|c| exports::complete(c, key, file, crate::archive::store::now()))?;
    out.files += 1;
    out.reports += ids.len();
    Ok(())
}

/// The bucket settings of `[export]` for `bucket`, each key falling back
/// to `[storage.remote]`'s.
pub(crate) fn bucket_settings(config: &crate::config::Config, bucket: &str) -> BucketSettings {
    let e = config.export.as_ref();
    let r = config.storage.remote.as_ref();
    BucketSettings {
        bucket: bucket.to_string(),
        endpoint: e
            .and_then(|e| e.endpoint.clone())
            .or_else(|| r.and_then(|r| r.endpoint.clone())),
        region: e
            .and_then(|e| e.region.clone())
            .or_else(|| r.and_then(|r| r.region.clone())),
        path_style: e
            .and_then(|e| e.path_style)
            .or_else(|| r.and_then(|r| r.path_style)),
        access_key_id_file: e
            .and_then(|e| e.access_key_id_file.clone())
            .or_else(|| r.and_then(|r| r.access_key_id_file.clone())),
        secret_access_key_file: e
            .and_then(|e| e.secret_access_key_file.clone())
            .or_else(|| r.and_then(|r| r.secret_access_key_file.clone())),
    }
}

/// The destination `to` (`--to` or `[export] to`), with the bucket
/// settings of `config` for an `s3://` URL and its keys from the chain of
/// [`crate::archive::remote::client`] (`fallback` last: for a COS
/// endpoint, the account's key). Must be called on the runtime the
/// uploads will run on.
pub(crate) fn destination(
    config: &crate::config::Config,
    to: &str,
    fallback: Option<S3Keys>,
) -> Result<Destination, ExportError> {
    match Destination::parse(to)? {
        Destination::Remote(r) => {
            let settings = bucket_settings(config, r.bucket());
            let env = |k: &str| std::env::var(k).ok();
            let (keys, _) = find_keys(&settings, &env, fallback)
                .map_err(|e| ExportError::Remote(e.to_string()))?;
            Ok(Destination::Remote(r.connect(&settings, &keys)?))
        }
        local => Ok(local),
    }
}

/// Where files bound for a bucket are written before they upload.
pub(crate) fn spool(config: &crate::config::Config) -> PathBuf {
    config.storage.state_dir.join("export-spool")
}

/// The UTC date of a moment, `YYYY-MM-DD`.
pub(crate) fn utc_date(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| "invalid".to_string())
}

/// Reports by job and UTC date of their window start (`pending` is in
/// that order).
fn groups(pending: &[Unexported]) -> Vec<&[Unexported]> {
    pending
        .chunk_by(|a, b| a.job == b.job && utc_date(a.window_start) == utc_date(b.window_start))
        .collect()
}

/// A partition value the Hive way: bytes outside `[A-Za-z0-9_.-]` as `%XX`.
fn partition_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => out.push(b as char),
            b'.' if !out.is_empty() => out.push('.'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The path of a set's files below each tree:
/// `job=<job>/date=<YYYY-MM-DD>/<first>-<last>.parquet`.
fn file_name(first: &Unexported, ids: &[i64]) -> String {
    let lo = ids.iter().min().copied().unwrap_or(first.id);
    let hi = ids.iter().max().copied().unwrap_or(first.id);
    format!(
        "job={}/date={}/{lo}-{hi}.parquet",
        partition_value(&first.job),
        utc_date(first.window_start)
    )
}

/// The export lag of `dest`: how long the oldest sealed report it has not
/// received has been sealed, in seconds (0 when it has them all).
pub(crate) fn lag(store: &Store, dest: &Destination, now: i64) -> Result<i64, StoreError> {
    let key = dest.key();
    let oldest = store.on_thread(|c| exports::oldest_unexported(c, &key, None))?;
    Ok(oldest.map_or(0, |t| (now - t).max(0)))
}

/// For `status`: how long the oldest sealed report (of `job`, or of all)
/// that `to` has not received has waited, seconds (`None`: it has them
/// all), read through `reader`.
pub(crate) fn lag_on(
    reader: &crate::archive::store::Reader,
    to: &str,
    job: Option<&str>,
    now: i64,
) -> Result<Option<i64>, ExportError> {
    let key = Destination::parse(to)?.key();
    let oldest = reader.read(|c| exports::oldest_unexported(c, &key, job))?;
    Ok(oldest.map(|t| (now - t).max(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_are_escaped_the_hive_way() {
        assert_eq!(partition_value("daily-1_a"), "daily-1_a");
        assert_eq!(partition_value("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(partition_value(".."), "%2E.");
    }

    #[test]
    fn a_set_is_named_by_its_first_and_last_report() {
        let r = Unexported {
            id: 7,
            job: "daily".into(),
            window_start: 86_400 * 3 + 5,
        };
        assert_eq!(
            file_name(&r, &[9, 7, 12]),
            "job=daily/date=1970-01-04/7-12.parquet"
        );
    }
}
