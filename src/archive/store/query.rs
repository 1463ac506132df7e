//! Reading the history: the rows `history` shows, and the done set the
//! scheduler plans against.

use crate::domain::report::{self, Keyed, ReportKey, Status, Trigger};
use rusqlite::{Connection, params_from_iter, types::Value};
use serde::Serialize;
use std::collections::HashSet;

/// [`ReportRow`], its column list [`COLUMNS`] and its reading from a row,
/// from the one list of its fields (each named as its `reports` column).
/// Derived fields follow the columns, each with its SQL expression.
macro_rules! report_row {
    ($($field:ident: $ty:ty,)* ; $($derived:ident: $dty:ty = $sql:expr,)*) => {
        /// One `reports` row, as `history` shows it (json field names = column
        /// names, then the derived fields).
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        pub(crate) struct ReportRow {
            $(pub $field: $ty,)*
            $(pub $derived: $dty,)*
        }

        /// The fields `history` shows, in its order: `reports` columns, then
        /// the derived ones.
        pub(crate) const COLUMNS: &[&str] = &[$(stringify!($field),)* $(stringify!($derived)),*];

        /// The select list of [`ReportRow`] (columns quoted: `trigger` is an
        /// SQL keyword).
        fn select_list() -> String {
            let mut out: Vec<String> = vec![$(format!("\"{}\"", stringify!($field))),*];
            $(out.push(format!("{} AS {}", $sql, stringify!($derived)));)*
            out.join(", ")
        }

        fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportRow> {
            Ok(ReportRow {
                $($field: r.get(stringify!($field))?,)*
                $($derived: r.get(stringify!($derived))?,)*
            })
        }
    };
}

report_row! {
    id: i64,
    job: String,
    target: String,
    region: String,
    granularity: i64,
    window_start: i64,
    window_end: i64,
    status: Status,
    attempts: i64,
    trigger: Trigger,
    request_id: Option<String>,
    file_path: Option<String>,
    bytes: Option<i64>,
    sha256: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    created_at: i64,
    updated_at: i64,
    remote_key: Option<String>,
    uploaded_at: Option<i64>,
    ;
    // Where the file is kept: `local`, `remote`, `both`; null without one.
    stored: Option<String> = super::remote::STORED_SQL,
}

/// Filters of `history`.
#[derive(Debug, Clone, Default)]
pub(crate) struct HistoryFilter {
    pub(crate) jobs: Vec<String>,
    /// Windows ending at or after this moment.
    pub(crate) since: Option<i64>,
    pub(crate) status: Option<Status>,
    pub(crate) limit: Option<u32>,
}

/// The recorded reports matching `f`, newest window first.
pub(crate) fn history(conn: &Connection, f: &HistoryFilter) -> rusqlite::Result<Vec<ReportRow>> {
    let mut sql = format!("SELECT {} FROM reports WHERE 1 = 1", select_list());
    let mut args: Vec<Value> = Vec::new();
    if !f.jobs.is_empty() {
        sql.push_str(&format!(
            " AND job IN ({})",
            vec!["?"; f.jobs.len()].join(", ")
        ));
        args.extend(f.jobs.iter().cloned().map(Value::Text));
    }
    if let Some(since) = f.since {
        sql.push_str(" AND window_end >= ?");
        args.push(Value::Integer(since));
    }
    if let Some(status) = f.status {
        sql.push_str(" AND status = ?");
        args.push(Value::Text(status.as_str().to_string()));
    }
    sql.push_str(" ORDER BY window_end DESC, job, target, region, window_start DESC");
    if let Some(limit) = f.limit {
        sql.push_str(" LIMIT ?");
        args.push(Value::Integer(i64::from(limit)));
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), row)?;
    rows.collect()
}

/// The keys of `job`'s done (`ok` or `pruned`) reports whose window ends in `(after, until]`.
pub(crate) fn done_keys(
    conn: &Connection,
    job: &str,
    after: i64,
    until: i64,
) -> rusqlite::Result<HashSet<ReportKey>> {
    let mut stmt = conn.prepare(
        "SELECT target, region, window_start, window_end FROM reports
         WHERE job = ?1 AND window_end > ?2 AND window_end <= ?3 AND status IN (?4, ?5)",
    )?;
    let params = rusqlite::params![job, after, until, Status::Ok, Status::Pruned];
    let rows = stmt.query_map(params, |r| {
        Ok(ReportKey {
            job: job.to_string(),
            target: r.get(0)?,
            region: r.get(1)?,
            window_start: r.get(2)?,
            window_end: r.get(3)?,
        })
    })?;
    rows.collect()
}

/// `planned` minus the reports the history has as done.
pub(crate) fn not_done<T: Keyed>(conn: &Connection, planned: Vec<T>) -> rusqlite::Result<Vec<T>> {
    let mut done = HashSet::new();
    let keys: Vec<ReportKey> = planned.iter().map(Keyed::key).collect();
    let jobs: HashSet<&str> = keys.iter().map(|k| k.job.as_str()).collect();
    for job in jobs {
        let ends = keys.iter().filter(|k| k.job == job).map(|k| k.window_end);
        let min = ends.clone().min();
        let max = ends.max();
        if let (Some(min), Some(max)) = (min, max) {
            done.extend(done_keys(conn, job, min - 1, max)?);
        }
    }
    Ok(report::without_done(planned, &done))
}
