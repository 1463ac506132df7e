//! One report as the page shows it: the report (no server paths, the
//! operator's hint for its error code), the reports of one window a page
//! at a time, its attempts (at most [`MAX_ATTEMPTS`]), and its rows a batch of [`ROWS_BATCH`] at a time
//! (each batch a query of its own: no read transaction held while a client
//! reads).

use super::remote::STORED_SQL;
use super::{Reader, StoreError};
use crate::domain::code::CodeKind;
use crate::domain::report::RegionScope;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// A report, for the page: no server paths, its hint, whether it has a file.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) id: i64,
    pub(crate) job: String,
    pub(crate) target: String,
    /// `ALL` for every region.
    pub(crate) region: String,
    pub(crate) window_start: i64,
    pub(crate) window_end: i64,
    pub(crate) status: String,
    pub(crate) attempts: i64,
    pub(crate) trigger: String,
    pub(crate) request_id: Option<String>,
    pub(crate) bytes: Option<i64>,
    pub(crate) sha256: Option<String>,
    pub(crate) error_code: Option<String>,
    pub(crate) error_message: Option<String>,
    /// What to do about the error, when its code tells.
    pub(crate) hint: Option<&'static str>,
    /// An `ok` report whose file the history names (on disk or in the
    /// bucket): it can be downloaded.
    pub(crate) has_file: bool,
    /// Where its file is kept: `local`, `remote`, `both`; `None` without one.
    pub(crate) stored: Option<String>,
    pub(crate) updated_at: i64,
}

/// The operator's hint for an error `code`.
pub(crate) fn hint(code: Option<&str>) -> Option<&'static str> {
    code.and_then(|c| CodeKind::parse(c).hint())
}

/// The columns of [`report`], from `reports`.
static SELECT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT id, job, target, region, window_start, window_end, status, attempts, \"trigger\",
         request_id, bytes, sha256, error_code, error_message, {STORED_SQL}, updated_at FROM reports"
    )
});

fn report(r: &rusqlite::Row<'_>) -> rusqlite::Result<Report> {
    let code: Option<String> = r.get(12)?;
    let status: String = r.get(6)?;
    let region: String = r.get(3)?;
    let stored: Option<String> = r.get(14)?;
    Ok(Report {
        id: r.get(0)?,
        job: r.get(1)?,
        target: r.get(2)?,
        region: RegionScope::show_stored(&region).to_string(),
        window_start: r.get(4)?,
        window_end: r.get(5)?,
        attempts: r.get(7)?,
        trigger: r.get(8)?,
        request_id: r.get(9)?,
        bytes: r.get(10)?,
        sha256: r.get(11)?,
        hint: hint(code.as_deref()),
        error_code: code,
        error_message: r.get(13)?,
        has_file: status == "ok" && stored.is_some(),
        stored,
        status,
        updated_at: r.get(15)?,
    })
}

/// One call or download try.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Attempt {
    pub(crate) attempt: i64,
    pub(crate) kind: String,
    pub(crate) started_at: i64,
    pub(crate) duration_ms: i64,
    pub(crate) http_status: Option<i64>,
    pub(crate) error_code: Option<String>,
    pub(crate) error_message: Option<String>,
    pub(crate) request_id: Option<String>,
}

/// The most attempts one answer lists.
pub(crate) const MAX_ATTEMPTS: u32 = 500;

/// Rows read from the history per batch of a report's rows.
pub(crate) const ROWS_BATCH: i64 = 1_000;

/// A row of a report: its sheet, number and cells.
pub(crate) type Row = (String, i64, serde_json::Map<String, serde_json::Value>);

impl Reader {
    /// Report `id`.
    pub(crate) fn report(&self, id: i64) -> Result<Option<Report>, StoreError> {
        self.answer(
            self.conn()
                .query_row(&format!("{} WHERE id = ?1", *SELECT), params![id], report)
                .optional(),
        )
    }

    /// Report `id` with its first [`MAX_ATTEMPTS`] attempts, in order.
    pub(crate) fn report_with_attempts(
        &self,
        id: i64,
    ) -> Result<Option<(Report, Vec<Attempt>)>, StoreError> {
        let Some(report) = self.report(id)? else {
            return Ok(None);
        };
        Ok(Some((report, self.attempts(id)?)))
    }

    /// The reports of `job`'s window `[start, end)`, by target and region
    /// (not-ok first), `limit` of them from `offset` on.
    pub(crate) fn window_reports(
        &self,
        job: &str,
        start: i64,
        end: i64,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Report>, StoreError> {
        let read = || -> rusqlite::Result<Vec<Report>> {
            let mut st = self.conn().prepare_cached(&format!(
                "{} WHERE job = ?1 AND window_start = ?2 AND window_end = ?3
                 ORDER BY status = 'ok', target, region LIMIT ?4 OFFSET ?5",
                *SELECT
            ))?;
            st.query_map(params![job, start, end, limit, offset], report)?
                .collect()
        };
        self.answer(read())
    }

    /// The attempts of report `id`, in order, at most [`MAX_ATTEMPTS`].
    fn attempts(&self, id: i64) -> Result<Vec<Attempt>, StoreError> {
        let read = || -> rusqlite::Result<Vec<Attempt>> {
            let mut st = self.conn().prepare_cached(
                "SELECT attempt, kind, started_at, duration_ms, http_status, error_code, error_message, request_id
                 FROM attempts WHERE report_id = ?1 ORDER BY attempt LIMIT ?2",
            )?;
            st.query_map(params![id, MAX_ATTEMPTS], |r| {
                Ok(Attempt {
                    attempt: r.get(0)?,
                    kind: r.get(1)?,
                    started_at: r.get(2)?,
                    duration_ms: r.get(3)?,
                    http_status: r.get(4)?,
                    error_code: r.get(5)?,
                    error_message: r.get(6)?,
                    request_id: r.get(7)?,
                })
            })?
            .collect()
        };
        self.answer(read())
    }

    /// Up to [`ROWS_BATCH`] rows of report `id` after `(sheet, row)` (from
    /// the first without), in order; a row whose data is not a JSON object
    /// has no cells.
    pub(crate) fn report_rows_after(
        &self,
        id: i64,
        after: Option<&(String, i64)>,
    ) -> Result<Vec<Row>, StoreError> {
        let row = |r: &rusqlite::Row<'_>| {
            let data: String = r.get(2)?;
            let map = match serde_json::from_str::<serde_json::Value>(&data) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, map))
        };
        // Two statements, not one with `?2 IS NULL OR ...`: each batch must
        // walk the primary key from where the last one ended.
        let read = || -> rusqlite::Result<Vec<Row>> {
            match after {
                Some((sheet, n)) => self
                    .conn()
                    .prepare_cached(
                        "SELECT sheet, row_number, data FROM report_rows
                     WHERE report_id = ?1 AND (sheet, row_number) > (?2, ?3)
                     ORDER BY sheet, row_number LIMIT ?4",
                    )?
                    .query_map(params![id, sheet, n, ROWS_BATCH], row)?
                    .collect(),
                None => self
                    .conn()
                    .prepare_cached(
                        "SELECT sheet, row_number, data FROM report_rows
                     WHERE report_id = ?1 ORDER BY sheet, row_number LIMIT ?2",
                    )?
                    .query_map(params![id, ROWS_BATCH], row)?
                    .collect(),
            }
        };
        self.answer(read())
    }
}
