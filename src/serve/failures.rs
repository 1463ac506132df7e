//! The failures inside the horizon: every report due (as `status` counts
//! them, [`crate::archive::missing`]) that is not done, failed or never
//! fetched, with its code, message and hint, newest window first, a page at
//! a time, and how many there are in all. Its cost follows the page and the
//! history inside the horizon, never the horizon's planned reports.

use crate::archive::missing;
use crate::archive::resolved::ResolvedJob;
use crate::archive::store::{Reader, StoreError};
use crate::domain::report::RegionScope;
use jiff::Timestamp;
use serde::Serialize;

/// A failed or missing report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Failure {
    pub(crate) job: String,
    pub(crate) target: String,
    pub(crate) region: String,
    pub(crate) window_start: i64,
    pub(crate) window_end: i64,
    /// `failed`, `running`, `pending`, or `missing` (no row at all).
    pub(crate) status: String,
    pub(crate) report: Option<i64>,
    pub(crate) attempts: i64,
    pub(crate) error_code: Option<String>,
    pub(crate) error_message: Option<String>,
    pub(crate) hint: Option<&'static str>,
    pub(crate) request_id: Option<String>,
}

/// A page of failures and how many there are in all.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Page {
    pub(crate) total: usize,
    pub(crate) offset: usize,
    pub(crate) items: Vec<Failure>,
}

/// The failed and missing reports of `jobs` at `now`, newest first: the
/// horizon counted and halved down to the page ([`missing::page`]).
pub(crate) fn failures(
    conn: &Reader,
    jobs: &[ResolvedJob],
    now: Timestamp,
    offset: usize,
    limit: usize,
) -> Result<Page, StoreError> {
    let dues: Vec<missing::Due> = jobs
        .iter()
        .filter(|j| j.job().enabled)
        .map(|j| missing::Due::new(j, now))
        .collect();
    let page = conn.failures_page(&dues, offset as u64, limit)?;
    let items = page
        .items
        .into_iter()
        .map(|n| {
            let region = RegionScope::show_stored(&n.region).to_string();
            let (start, end) = (n.window.start, n.window.end);
            match n.row {
                Some(r) => Failure {
                    job: n.job,
                    target: n.target,
                    region,
                    window_start: start,
                    window_end: end,
                    status: r.status,
                    report: Some(r.id),
                    attempts: r.attempts,
                    hint: super::reports::hint(r.error_code.as_deref()),
                    error_code: r.error_code,
                    error_message: r.error_message,
                    request_id: r.request_id,
                },
                None => Failure {
                    job: n.job,
                    target: n.target,
                    region,
                    window_start: start,
                    window_end: end,
                    status: "missing".to_string(),
                    report: None,
                    attempts: 0,
                    error_code: None,
                    error_message: None,
                    hint: None,
                    request_id: None,
                },
            }
        })
        .collect();
    Ok(Page {
        total: usize::try_from(page.total).unwrap_or(usize::MAX),
        offset,
        items,
    })
}
