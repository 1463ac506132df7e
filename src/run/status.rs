//! Per-job status for people and scripts: the last done window, the next
//! fire, the reports missing or failed inside the catch-up horizon, and the
//! last error. Computed from the config, the history and a moment.

use crate::archive::store::query;
use crate::config::Job;
use crate::core::report::Status;
use crate::core::schedule;
use crate::run::plan;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::sync::Arc;

/// The last error recorded for a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    pub code: String,
    pub message: String,
    pub window_start: i64,
    pub window_end: i64,
    /// When it was recorded (Unix seconds).
    pub at: i64,
}

/// One job's status. JSON field names are part of the interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    pub job: String,
    pub enabled: bool,
    /// The most recent done (`ok` or `pruned`) window, Unix seconds.
    pub last_done_window_start: Option<i64>,
    pub last_done_window_end: Option<i64>,
    /// When the last report of the job became `ok`.
    pub last_success_at: Option<i64>,
    /// The next scheduled fire (`null` when disabled).
    pub next_fire: Option<i64>,
    /// Reports due inside the horizon that are not done (failed ones included).
    pub missing: usize,
    /// Of those, the ones recorded `failed`.
    pub failed: usize,
    /// Reports being fetched right now.
    pub running: usize,
    pub last_error: Option<LastError>,
}

/// Status of `job` at `now`.
pub fn job_status(conn: &Connection, job: &Job, now: Timestamp) -> rusqlite::Result<JobStatus> {
    let job = crate::run::discovery::job_now(conn, &Arc::new(job.clone()))?;
    let last_done: Option<(i64, i64)> = conn
        .query_row(
            "SELECT window_start, window_end FROM reports WHERE job = ?1 AND status IN (?2, ?3)
             ORDER BY window_end DESC, window_start DESC LIMIT 1",
            params![job.name, Status::Ok, Status::Pruned],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let last_success_at: Option<i64> = conn.query_row(
        "SELECT max(updated_at) FROM reports WHERE job = ?1 AND status = ?2",
        params![job.name, Status::Ok],
        |r| r.get(0),
    )?;
    let due = plan::due(&job, now, false);
    let missing = query::not_done(conn, due)?;
    let mut failed = 0;
    let mut running = 0;
    {
        let mut st = conn.prepare_cached(
            "SELECT status FROM reports WHERE job = ?1 AND target = ?2 AND region = ?3 AND window_start = ?4 AND window_end = ?5",
        )?;
        for p in &missing {
            let k = p.key();
            let s: Option<String> = st
                .query_row(
                    params![k.job, k.target, k.region, k.window_start, k.window_end],
                    |r| r.get(0),
                )
                .optional()?;
            match s.as_deref() {
                Some("failed") => failed += 1,
                Some("running") => running += 1,
                _ => {}
            }
        }
    }
    let last_error = conn
        .query_row(
            "SELECT error_code, coalesce(error_message, ''), window_start, window_end, updated_at FROM reports
             WHERE job = ?1 AND status = ?2 AND error_code IS NOT NULL ORDER BY updated_at DESC, id DESC LIMIT 1",
            params![job.name, Status::Failed],
            |r| {
                Ok(LastError {
                    code: r.get(0)?,
                    message: r.get(1)?,
                    window_start: r.get(2)?,
                    window_end: r.get(3)?,
                    at: r.get(4)?,
                })
            },
        )
        .optional()?;
    Ok(JobStatus {
        job: job.name.clone(),
        enabled: job.enabled,
        last_done_window_start: last_done.map(|w| w.0),
        last_done_window_end: last_done.map(|w| w.1),
        last_success_at,
        next_fire: if job.enabled {
            schedule::next_fire(job.fires(), now).map(|t| t.as_second())
        } else {
            None
        },
        missing: missing.len(),
        failed,
        running,
        last_error,
    })
}
