//! Counting one target's reports over a stretch of windows without reading
//! them: how many of the windows of a [`Piece`] the history has done,
//! failed or running, an indexed range scan each
//! (`reports_by_target_end`); and the rows of a short stretch, for the
//! pages that list what is not done. The last done window, success and
//! error of a job, each one index probe (`reports_by_status_time`).

use crate::domain::report::Status;
use crate::domain::window::Window;
use crate::domain::window::grid::Piece;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

/// How many of a stretch's windows hold a report of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// `ok` or `pruned`.
    pub(crate) done: u64,
    pub(crate) failed: u64,
    pub(crate) running: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.done += o.done;
        self.failed += o.failed;
        self.running += o.running;
    }
}

fn add(t: &mut Tally, status: &str) {
    match status {
        "ok" | "pruned" => t.done += 1,
        "failed" => t.failed += 1,
        "running" => t.running += 1,
        _ => {}
    }
}

/// The reports of `job`'s `target` and `region` whose window is one of
/// `piece`'s and ends after `since`, by kind.
pub(crate) fn tally(
    conn: &Connection,
    job: &str,
    target: &str,
    region: &str,
    piece: &Piece,
    since: Option<i64>,
) -> rusqlite::Result<Tally> {
    let after = since.map_or(piece.after(), |s| s.max(piece.after()));
    match piece {
        Piece::Regular {
            until,
            offset,
            period,
            length,
            ..
        } => {
            if *until <= after {
                return Ok(Tally::default());
            }
            // One range of the index per status: a row costs a step and
            // two comparisons.
            let mut st = conn.prepare_cached(
                "SELECT count(*) FROM reports
                 WHERE job = ?1 AND target = ?2 AND region = ?3 AND status = ?4
                   AND window_end > ?5 AND window_end <= ?6
                   AND window_start = window_end - ?7 AND (window_end + ?8) % ?9 = 0",
            )?;
            let mut count = |status: &str| -> rusqlite::Result<u64> {
                st.query_row(
                    params![
                        job, target, region, status, after, until, length, offset, period
                    ],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| u64::try_from(n).unwrap_or(0))
            };
            Ok(Tally {
                done: count("ok")? + count("pruned")?,
                failed: count("failed")?,
                running: count("running")?,
            })
        }
        Piece::Listed { until, windows, .. } => {
            let wanted: HashSet<Window> = windows.iter().copied().collect();
            let mut t = Tally::default();
            for row in recorded(conn, job, target, region, after, *until)? {
                if wanted.contains(&row.window) {
                    add(&mut t, &row.status);
                }
            }
            Ok(t)
        }
    }
}

/// A report row, as the failures list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub(crate) id: i64,
    pub(crate) window: Window,
    pub(crate) status: String,
    pub(crate) attempts: i64,
    pub(crate) error_code: Option<String>,
    pub(crate) error_message: Option<String>,
    pub(crate) request_id: Option<String>,
}

impl Recorded {
    pub(crate) fn done(&self) -> bool {
        self.status == Status::Ok.as_str() || self.status == Status::Pruned.as_str()
    }
}

/// The rows of `job`'s `target` and `region` whose window ends in
/// `(after, until]`. The caller keeps the stretch short.
pub(crate) fn recorded(
    conn: &Connection,
    job: &str,
    target: &str,
    region: &str,
    after: i64,
    until: i64,
) -> rusqlite::Result<Vec<Recorded>> {
    let mut st = conn.prepare_cached(
        "SELECT id, window_start, window_end, status, attempts, error_code, error_message, request_id
         FROM reports
         WHERE job = ?1 AND target = ?2 AND region = ?3
           AND status IN ('pending', 'running', 'ok', 'failed', 'pruned')
           AND window_end > ?4 AND window_end <= ?5",
    )?;
    st.query_map(params![job, target, region, after, until], |r| {
        Ok(Recorded {
            id: r.get(0)?,
            window: Window {
                start: r.get(1)?,
                end: r.get(2)?,
            },
            status: r.get(3)?,
            attempts: r.get(4)?,
            error_code: r.get(5)?,
            error_message: r.get(6)?,
            request_id: r.get(7)?,
        })
    })?
    .collect()
}

/// The most recent done window of `job` (`ok` or `pruned`), as `(start, end)`:
/// read backwards by window end until the first done one (the index by
/// target would read every row of the job and sort them).
pub(crate) fn last_done(conn: &Connection, job: &str) -> rusqlite::Result<Option<(i64, i64)>> {
    conn.prepare_cached(
        "SELECT window_start, window_end FROM reports INDEXED BY reports_by_job_end
         WHERE job = ?1 AND status IN ('ok', 'pruned')
         ORDER BY window_end DESC, window_start DESC LIMIT 1",
    )?
    .query_row(params![job], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()
}

/// When the last report of `job` became `ok`.
pub(crate) fn last_success_at(conn: &Connection, job: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT max(updated_at) FROM reports WHERE job = ?1 AND status = 'ok'")?
        .query_row(params![job], |r| r.get(0))
}

/// The last error recorded for `job`: code, message, window and when.
pub(crate) type LastError = (String, String, i64, i64, i64);

/// [`last_error`]'s query. No `INDEXED BY`: a history not migrated yet (read
/// by a newer `status` while an older daemon runs) lacks the partial index
/// `reports_failed_by_end`, which the planner takes when it is there.
pub(crate) const LAST_ERROR_SQL: &str =
    "SELECT error_code, coalesce(error_message, ''), window_start, window_end, updated_at
     FROM reports
     WHERE job = ?1 AND status = 'failed' AND window_end > ?2 AND window_end <= ?3
       AND error_code IS NOT NULL
     ORDER BY updated_at DESC, id DESC LIMIT 1";

/// The error of `job` that still matters: of its reports still `failed`
/// (not since fetched) whose window ends in `(after, until]` (the horizon),
/// the most recently recorded one that carries an error code. A failure
/// outside the horizon (an old manual fetch's, say) is history, not status.
/// One range read of the failed reports' index ([`LAST_ERROR_SQL`]).
pub(crate) fn last_error(
    conn: &Connection,
    job: &str,
    (after, until): (i64, i64),
) -> rusqlite::Result<Option<LastError>> {
    conn.prepare_cached(LAST_ERROR_SQL)?
        .query_row(params![job, after, until], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()
}
