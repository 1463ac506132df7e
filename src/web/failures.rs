//! The failures inside the horizon: every report due (as `status` counts
//! them, from [`crate::run::plan::due`]) that is not done, failed or never
//! fetched, with its code, message and hint, newest window first, a page at
//! a time. Its size follows the horizon, not the history.

use crate::archive::store::query;
use crate::config::Job;
use crate::core::report::RegionScope;
use crate::run::plan;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::sync::Arc;

/// A failed or missing report.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub job: String,
    pub target: String,
    pub region: String,
    pub window_start: i64,
    pub window_end: i64,
    /// `failed`, `running`, `pending`, or `missing` (no row at all).
    pub status: String,
    pub report: Option<i64>,
    pub attempts: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub hint: Option<&'static str>,
    pub request_id: Option<String>,
}

/// A page of failures and how many there are in all.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub total: usize,
    pub offset: usize,
    pub items: Vec<Failure>,
}

type Row = (
    i64,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The failed and missing reports of `jobs` at `now`, newest first.
pub fn failures(
    conn: &Connection,
    jobs: &[Arc<Job>],
    now: Timestamp,
    offset: usize,
    limit: usize,
) -> rusqlite::Result<Page> {
    let mut missing = Vec::new();
    for job in jobs.iter().filter(|j| j.enabled) {
        missing.extend(query::not_done(conn, plan::due(job, now, false))?);
    }
    missing.sort_by(|a, b| {
        b.window
            .end
            .cmp(&a.window.end)
            .then_with(|| a.job.name.cmp(&b.job.name))
            .then_with(|| a.target.label().cmp(&b.target.label()))
    });
    let total = missing.len();
    let mut st = conn.prepare_cached(
        "SELECT id, status, attempts, error_code, error_message, request_id FROM reports
         WHERE job = ?1 AND target = ?2 AND region = ?3 AND window_start = ?4 AND window_end = ?5",
    )?;
    let mut items = Vec::new();
    for p in missing.iter().skip(offset).take(limit) {
        let k = p.key();
        let row: Option<Row> = st
            .query_row(
                params![k.job, k.target, k.region, k.window_start, k.window_end],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()?;
        let region = RegionScope::show_stored(&k.region).to_string();
        items.push(match row {
            Some((id, status, attempts, code, message, request_id)) => Failure {
                job: k.job,
                target: k.target,
                region,
                window_start: k.window_start,
                window_end: k.window_end,
                status,
                report: Some(id),
                attempts,
                hint: super::reports::hint(code.as_deref()),
                error_code: code,
                error_message: message,
                request_id,
            },
            None => Failure {
                job: k.job,
                target: k.target,
                region,
                window_start: k.window_start,
                window_end: k.window_end,
                status: "missing".to_string(),
                report: None,
                attempts: 0,
                error_code: None,
                error_message: None,
                hint: None,
                request_id: None,
            },
        });
    }
    Ok(Page {
        total,
        offset,
        items,
    })
}
