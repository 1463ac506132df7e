//! The `exports` table and the reads the Parquet export makes: which sealed
//! reports a destination has not received, the planned sets a crash left,
//! a report's rows a page at a time, and the export lag.
//!
//! A report is sealed when it is `ok` or `pruned` (pruning keeps the rows).
//! Every statement here is short: the exporter pages through the rows, so
//! no read holds the database for the length of an export.

use rusqlite::{Connection, OptionalExtension, params};

/// The statuses whose rows are final.
const SEALED: &str = "status IN ('ok', 'pruned')";

/// Which reports an export takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ExportFilter {
    /// Only these jobs (all when empty).
    pub(crate) jobs: Vec<String>,
    /// Only windows starting at or after this moment (Unix seconds).
    pub(crate) since: Option<i64>,
    /// Only windows starting before this moment (Unix seconds).
    pub(crate) until: Option<i64>,
}

/// A sealed report not yet exported: enough to place it in a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unexported {
    pub(crate) id: i64,
    pub(crate) job: String,
    pub(crate) window_start: i64,
}

/// The `reports` columns an export writes to `reports/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReportMeta {
    pub(crate) id: i64,
    pub(crate) job: String,
    pub(crate) target: String,
    pub(crate) region: String,
    pub(crate) granularity: i64,
    pub(crate) window_start: i64,
    pub(crate) window_end: i64,
    pub(crate) status: String,
    pub(crate) attempts: i64,
    pub(crate) trigger: String,
    pub(crate) request_id: Option<String>,
    pub(crate) bytes: Option<i64>,
    pub(crate) sha256: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// One `report_rows` row with the identity of its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredRow {
    pub(crate) sheet: String,
    pub(crate) row_number: i64,
    pub(crate) data: String,
}

/// A set of reports planned into one file and not yet written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub(crate) file: String,
    pub(crate) ids: Vec<i64>,
}

/// Sealed reports inside `filter` that `destination` has no row for, by
/// job, window start and id.
pub(crate) fn unexported(
    conn: &Connection,
    destination: &str,
    filter: &ExportFilter,
) -> rusqlite::Result<Vec<Unexported>> {
    let jobs = serde_json::Value::from(filter.jobs.clone()).to_string();
    let sql = format!(
        "SELECT id, job, window_start FROM reports r
         WHERE {SEALED}
           AND (?2 = '[]' OR job IN (SELECT value FROM json_each(?2)))
           AND (?3 IS NULL OR window_start >= ?3)
           AND (?4 IS NULL OR window_start < ?4)
           AND NOT EXISTS (SELECT 1 FROM exports e WHERE e.destination = ?1 AND e.report_id = r.id)
         ORDER BY job, window_start, id"
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(
        params![destination, jobs, filter.since, filter.until],
        |r| {
            Ok(Unexported {
                id: r.get(0)?,
                job: r.get(1)?,
                window_start: r.get(2)?,
            })
        },
    )?;
    rows.collect()
}

/// Record that reports `ids` go to `file` of `destination` (not written
/// yet). A set planned before under another name is planned again.
pub(crate) fn plan(
    conn: &mut Connection,
    destination: &str,
    file: &str,
    ids: &[i64],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO exports (report_id, destination, file, exported_at) VALUES (?1, ?2, ?3, NULL)
             ON CONFLICT (destination, report_id) DO UPDATE SET file = excluded.file
             WHERE exported_at IS NULL",
        )?;
        for id in ids {
            st.execute(params![id, destination, file])?;
        }
    }
    tx.commit()
}

/// The sets planned for `destination` whose file is not written yet.
pub(crate) fn planned(conn: &Connection, destination: &str) -> rusqlite::Result<Vec<Planned>> {
    let mut st = conn.prepare(
        "SELECT file, report_id FROM exports WHERE destination = ?1 AND exported_at IS NULL
         ORDER BY file, report_id",
    )?;
    let rows = st.query_map([destination], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut out: Vec<Planned> = Vec::new();
    for row in rows {
        let (file, id) = row?;
        match out.last_mut() {
            Some(p) if p.file == file => p.ids.push(id),
            _ => out.push(Planned {
                file,
                ids: vec![id],
            }),
        }
    }
    Ok(out)
}

/// Record that `file` of `destination` is written, at `at`.
pub(crate) fn complete(
    conn: &Connection,
    destination: &str,
    file: &str,
    at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE exports SET exported_at = ?3 WHERE destination = ?1 AND file = ?2 AND exported_at IS NULL",
        params![destination, file, at],
    )
    .map(drop)
}

/// The `reports` row of report `id`.
pub(crate) fn report(conn: &Connection, id: i64) -> rusqlite::Result<Option<ReportMeta>> {
    conn.prepare_cached(
        "SELECT id, job, target, region, granularity, window_start, window_end, status,
                attempts, \"trigger\", request_id, bytes, sha256, created_at, updated_at
         FROM reports WHERE id = ?1",
    )?
    .query_row([id], |r| {
        Ok(ReportMeta {
            id: r.get(0)?,
            job: r.get(1)?,
            target: r.get(2)?,
            region: r.get(3)?,
            granularity: r.get(4)?,
            window_start: r.get(5)?,
            window_end: r.get(6)?,
            status: r.get(7)?,
            attempts: r.get(8)?,
            trigger: r.get(9)?,
            request_id: r.get(10)?,
            bytes: r.get(11)?,
            sha256: r.get(12)?,
            created_at: r.get(13)?,
            updated_at: r.get(14)?,
        })
    })
    .optional()
}

/// Up to `limit` rows of report `id` after `after` (sheet, row number),
/// in that order.
pub(crate) fn rows_page(
    conn: &Connection,
    id: i64,
    after: Option<(&str, i64)>,
    limit: usize,
) -> rusqlite::Result<Vec<StoredRow>> {
    let (sheet, row) = after.unwrap_or(("", i64::MIN));
    let mut st = conn.prepare_cached(
        "SELECT sheet, row_number, data FROM report_rows
         WHERE report_id = ?1 AND (sheet, row_number) > (?2, ?3)
         ORDER BY sheet, row_number LIMIT ?4",
    )?;
    let rows = st.query_map(
        params![id, sheet, row, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| {
            Ok(StoredRow {
                sheet: r.get(0)?,
                row_number: r.get(1)?,
                data: r.get(2)?,
            })
        },
    )?;
    rows.collect()
}

/// When the oldest sealed report that `destination` has not received
/// (planned sets included) was sealed, Unix seconds, of `job` or of all;
/// `None` when every one is exported. A history not yet migrated to the
/// `exports` table (read by `status` before any writer opened it) has
/// exported nothing.
pub(crate) fn oldest_unexported(
    conn: &Connection,
    destination: &str,
    job: Option<&str>,
) -> rusqlite::Result<Option<i64>> {
    let has_table: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'exports'",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return conn.query_row(
            &format!("SELECT min(updated_at) FROM reports WHERE {SEALED}"),
            [],
            |r| r.get(0),
        );
    }
    conn.query_row(
        &format!(
            "SELECT min(updated_at) FROM reports r WHERE {SEALED} AND (?2 IS NULL OR job = ?2)
             AND NOT EXISTS (SELECT 1 FROM exports e WHERE e.destination = ?1
                             AND e.report_id = r.id AND e.exported_at IS NOT NULL)"
        ),
        rusqlite::params![destination, job],
        |r| r.get(0),
    )
}
