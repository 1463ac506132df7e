//! Per-job status for people and scripts: the last done window, the next
//! fire, the reports missing or failed inside the catch-up horizon, and the
//! last error of a report inside it that is still failed; with a bucket,
//! its upload backlog and lag ([`upload_of`]). Computed from the config,
//! the history and a moment.

use crate::archive::missing;
use crate::archive::resolved;
use crate::archive::store::{Store, StoreError, outbox, tally};
use crate::config::Job;
use crate::domain::schedule;
use jiff::Timestamp;
use rusqlite::Connection;
use serde::Serialize;
use std::sync::Arc;

/// The last error recorded for a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LastError {
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) window_start: i64,
    pub(crate) window_end: i64,
    /// When it was recorded (Unix seconds).
    pub(crate) at: i64,
}

/// One job's status. JSON field names are part of the interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct JobStatus {
    pub(crate) job: String,
    pub(crate) enabled: bool,
    /// The most recent done (`ok` or `pruned`) window, Unix seconds.
    pub(crate) last_done_window_start: Option<i64>,
    pub(crate) last_done_window_end: Option<i64>,
    /// When the last report of the job became `ok`.
    pub(crate) last_success_at: Option<i64>,
    /// The next scheduled fire (`null` when disabled).
    pub(crate) next_fire: Option<i64>,
    /// Reports due inside the horizon that are not done (failed ones included).
    pub(crate) missing: usize,
    /// Of those, the ones recorded `failed`.
    pub(crate) failed: usize,
    /// Reports being fetched right now.
    pub(crate) running: usize,
    pub(crate) last_error: Option<LastError>,
}

/// Status of `job` at `now`. The horizon is counted, never planned
/// ([`crate::archive::missing`]): its size does not change the cost.
pub(crate) fn job_status(
    conn: &Connection,
    job: &Job,
    now: Timestamp,
) -> rusqlite::Result<JobStatus> {
    let resolved = resolved::resolve(conn, &Arc::new(job.clone()))?;
    let last_done = tally::last_done(conn, &job.name)?;
    let last_success_at = tally::last_success_at(conn, &job.name)?;
    let due = missing::Due::new(&resolved, now);
    let count = due.total(conn)?;
    // Shown only while it matters: a report inside the horizon still failed.
    let last_error = match due.span() {
        Some(span) if count.tally.failed > 0 => tally::last_error(conn, &job.name, span)?,
        _ => None,
    }
    .map(|(code, message, window_start, window_end, at)| LastError {
        code,
        message,
        window_start,
        window_end,
        at,
    });
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
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
        missing: size(count.missing()),
        failed: size(count.tally.failed),
        running: size(count.tally.running),
        last_error,
    })
}

/// A job's upload outbox (with `[storage.remote]`): reports sealed and not
/// yet in the bucket, and how long the oldest of them has waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Upload {
    pub(crate) upload_backlog: u64,
    /// Seconds since the oldest waiting report was sealed; 0 when none waits.
    pub(crate) upload_lag_seconds: i64,
}

/// `job`'s upload outbox at `now` (Unix seconds), from the outbox of every
/// job (`backlog`, as [`crate::archive::store::Reader::upload_backlog`]
/// reads it).
pub(crate) fn upload_of(backlog: &[outbox::Backlog], job: &str, now: i64) -> Upload {
    backlog
        .iter()
        .find(|b| b.job == job)
        .map(|b| Upload {
            upload_backlog: b.reports,
            upload_lag_seconds: now.saturating_sub(b.oldest_sealed_at).max(0),
        })
        .unwrap_or(Upload {
            upload_backlog: 0,
            upload_lag_seconds: 0,
        })
}

/// [`job_status`], the history read through `store` on the blocking pool.
pub(crate) async fn job_status_of(
    store: &Store,
    job: &Arc<Job>,
    now: Timestamp,
) -> Result<JobStatus, StoreError> {
    let job = job.clone();
    store.on_pool(move |c| job_status(c, &job, now)).await
}

#[cfg(test)]
mod tests;
