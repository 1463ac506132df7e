//! Reading the history: the rows `history` shows, and the done set the
//! scheduler plans against.

use super::reports::ReportKey;
use rusqlite::{Connection, params_from_iter, types::Value};
use serde::Serialize;
use std::collections::HashSet;

/// [`ReportRow`], its column list [`COLUMNS`] and its reading from a row,
/// from the one list of its fields (each named as its `reports` column).
macro_rules! report_row {
    ($($field:ident: $ty:ty,)*) => {
        /// One `reports` row, as `history` shows it (json field names = column names).
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        pub struct ReportRow {
            $(pub $field: $ty,)*
        }

        /// The `reports` columns `history` shows, in its order.
        pub const COLUMNS: &[&str] = &[$(stringify!($field)),*];

        fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportRow> {
            Ok(ReportRow {
                $($field: r.get(stringify!($field))?,)*
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
    status: String,
    attempts: i64,
    trigger: String,
    request_id: Option<String>,
    file_path: Option<String>,
    bytes: Option<i64>,
    sha256: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    created_at: i64,
    updated_at: i64,
}

/// Filters of `history`.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub jobs: Vec<String>,
    /// Windows ending at or after this moment.
    pub since: Option<i64>,
    pub status: Option<String>,
    pub limit: Option<u32>,
}

/// The recorded reports matching `f`, newest window first.
pub fn history(conn: &Connection, f: &HistoryFilter) -> rusqlite::Result<Vec<ReportRow>> {
    // Quoted: `trigger` is an SQL keyword.
    let columns: Vec<String> = COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
    let mut sql = format!("SELECT {} FROM reports WHERE 1 = 1", columns.join(", "));
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
    if let Some(status) = &f.status {
        sql.push_str(" AND status = ?");
        args.push(Value::Text(status.clone()));
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
pub fn done_keys(
    conn: &Connection,
    job: &str,
    after: i64,
    until: i64,
) -> rusqlite::Result<HashSet<ReportKey>> {
    let mut stmt = conn.prepare(
        "SELECT target, region, window_start, window_end FROM reports
         WHERE job = ?1 AND window_end > ?2 AND window_end <= ?3 AND status IN ('ok', 'pruned')",
    )?;
    let rows = stmt.query_map(rusqlite::params![job, after, until], |r| {
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
pub fn not_done(
    conn: &Connection,
    planned: Vec<crate::plan::Planned>,
) -> rusqlite::Result<Vec<crate::plan::Planned>> {
    let mut done = HashSet::new();
    let jobs: HashSet<String> = planned.iter().map(|p| p.job.name.clone()).collect();
    for job in jobs {
        let mine: Vec<&crate::plan::Planned> =
            planned.iter().filter(|p| p.job.name == job).collect();
        let min = mine.iter().map(|p| p.window.end).min();
        let max = mine.iter().map(|p| p.window.end).max();
        if let (Some(min), Some(max)) = (min, max) {
            done.extend(done_keys(conn, &job, min - 1, max)?);
        }
    }
    Ok(crate::plan::without_done(planned, &done))
}
