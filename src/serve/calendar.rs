//! The window calendar: every window of a job inside a range with its
//! state, for the job as a whole or one target and region. The history is
//! read aggregated ([`Reader::window_counts`]: one row per window and
//! status), so a month costs one indexed range scan however many reports a
//! window holds.

use crate::archive::resolved::{self, ResolvedJob};
use crate::archive::store::{Reader, StoreError};
use crate::config::Job;
use crate::domain::window::Window;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::HashMap;

/// The state a cell is coloured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum CellState {
    /// Every report of the window is done and its file kept.
    Ok,
    /// A report of the window failed.
    Failed,
    /// Due (its end plus the job's lag has passed) and not done.
    Missing,
    /// A report of the window is being fetched.
    Running,
    /// Done, and its files deleted by pruning.
    Pruned,
    /// Its report is not complete yet.
    NotDue,
    /// No report belongs to the window: every device of the job (or the
    /// chosen one) came to exist after it ended.
    Empty,
    /// Not done, and ended before the job's horizon (`catch_up`): never due
    /// to the daemon, so not missing; `fetch --from --to` gets it by hand.
    Old,
}

/// How many reports of a window the history has, by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) running: u64,
    pub(crate) pruned: u64,
    pub(crate) pending: u64,
}

impl Counts {
    fn add(&mut self, status: &str, n: u64) {
        match status {
            "ok" => self.ok += n,
            "failed" => self.failed += n,
            "running" => self.running += n,
            "pruned" => self.pruned += n,
            _ => self.pending += n,
        }
    }
}

/// The state of a window of `expected` reports with `counts` recorded;
/// `due` when its end plus the lag has passed. Failed outranks running,
/// which outranks the rest; a window is ok or pruned only when all its
/// reports are done.
pub(crate) fn state(expected: u64, c: &Counts, due: bool) -> CellState {
    if expected == 0 && c.ok + c.failed + c.running + c.pruned == 0 {
        return CellState::Empty;
    }
    if c.failed > 0 {
        return CellState::Failed;
    }
    if c.running > 0 {
        return CellState::Running;
    }
    let done = c.ok + c.pruned;
    if done > 0 && done >= expected {
        return if c.pruned > 0 {
            CellState::Pruned
        } else {
            CellState::Ok
        };
    }
    if due {
        CellState::Missing
    } else {
        CellState::NotDue
    }
}

/// A window that ended before the horizon is old, not missing: the daemon
/// never fetches it (the overview's and the failures' "missing" is inside
/// the horizon too).
pub(crate) fn aged(state: CellState, before_horizon: bool) -> CellState {
    match state {
        CellState::Missing if before_horizon => CellState::Old,
        s => s,
    }
}

/// One cell.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Cell {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) state: CellState,
    pub(crate) counts: Counts,
    /// The report's id when the cell holds exactly one recorded report.
    pub(crate) report: Option<i64>,
}

/// Which reports of the job a calendar shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) target: Option<String>,
    pub(crate) region: Option<String>,
}

impl Filter {
    /// How many reports a window of `job` holds under this filter, at most.
    pub(crate) fn expected(&self, job: &ResolvedJob) -> u64 {
        self.count(job, |_| true)
    }

    /// How many reports `window` of `job` holds under this filter: a
    /// discovered device has none of a window that ended before it existed.
    pub(crate) fn expected_in(&self, job: &ResolvedJob, window: &Window) -> u64 {
        self.count(job, |t| t.covers(window))
    }

    fn count(
        &self,
        resolved: &ResolvedJob,
        covers: impl Fn(&crate::domain::target::Target) -> bool,
    ) -> u64 {
        let job = resolved.job();
        let mut targets = resolved.targets().iter().filter(|t| covers(t));
        let targets = match &self.target {
            Some(t) => u64::from(targets.any(|x| &x.label() == t)),
            None => targets.count() as u64,
        };
        let regions = match &self.region {
            Some(r) => u64::from(
                job.regions
                    .iter()
                    .any(|x| crate::domain::report::RegionScope::from(*x).stored() == r),
            ),
            None => job.regions.len() as u64,
        };
        targets * regions
    }
}

/// The most cells one answer holds (a month of minute windows is refused;
/// the page asks for a day of those).
pub(crate) const MAX_CELLS: usize = 10_000;

/// The windows of `job` inside `[from, to)`, or `None` when they are more
/// than [`MAX_CELLS`]: a range far too long is refused by counting, before
/// any window is listed.
pub(crate) fn windows(job: &Job, from: Timestamp, to: Timestamp) -> Option<Vec<Window>> {
    let before = from
        .checked_sub(jiff::SignedDuration::from_secs(1))
        .unwrap_or(from);
    // Windows ending in the range but starting before it are not the
    // range's: at most a window's worth of steps, twice over a DST fold.
    let spill =
        2 * (job.cadence.window().nominal_secs() / job.cadence.step().nominal_secs().max(1)) + 2;
    if job.cadence.count_ending_between(before, to) > MAX_CELLS as u64 + spill {
        return None;
    }
    let windows = job.cadence.windows_within(from, to);
    (windows.len() <= MAX_CELLS).then_some(windows)
}

/// The cells of `job`'s windows inside `[from, to)` at `now`.
pub(crate) fn cells(
    conn: &Reader,
    resolved: &ResolvedJob,
    from: Timestamp,
    to: Timestamp,
    filter: &Filter,
    now: Timestamp,
) -> Result<Option<Vec<Cell>>, StoreError> {
    let job = &**resolved.job();
    let Some(windows) = windows(job, from, to) else {
        return Ok(None);
    };
    let mut recorded: HashMap<(i64, i64), (Counts, Option<i64>, u64)> = HashMap::new();
    let counts = conn.window_counts(
        &job.name,
        from.as_second(),
        to.as_second(),
        filter.target.as_deref(),
        filter.region.as_deref(),
    )?;
    for c in counts {
        let e = recorded.entry((c.window_start, c.window_end)).or_default();
        e.0.add(&c.status, c.count);
        e.1 = Some(c.first_id);
        e.2 += c.count;
    }
    let cutoff = resolved::cutoff(job, now).map_or(i64::MIN, |c| c.as_second());
    let horizon = crate::domain::window::sub(now, job.catch_up).map_or(i64::MIN, |h| h.as_second());
    Ok(Some(
        windows
            .into_iter()
            .map(|w| {
                let (counts, id, total) =
                    recorded.get(&(w.start, w.end)).copied().unwrap_or_default();
                Cell {
                    start: w.start,
                    end: w.end,
                    state: aged(
                        state(filter.expected_in(resolved, &w), &counts, w.end <= cutoff),
                        w.end <= horizon,
                    ),
                    counts,
                    report: if total == 1 { id } else { None },
                }
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(ok: u64, failed: u64, running: u64, pruned: u64) -> Counts {
        Counts {
            ok,
            failed,
            running,
            pruned,
            pending: 0,
        }
    }

    #[test]
    fn a_window_no_report_belongs_to_is_empty() {
        assert_eq!(state(0, &c(0, 0, 0, 0), true), CellState::Empty);
        assert_eq!(state(0, &c(0, 0, 0, 0), false), CellState::Empty);
        // a report recorded anyway (a device removed from the job) shows
        assert_eq!(state(0, &c(1, 0, 0, 0), true), CellState::Ok);
    }

    #[test]
    fn a_window_not_done_before_the_horizon_is_old_not_missing() {
        assert_eq!(aged(CellState::Missing, true), CellState::Old);
        assert_eq!(aged(CellState::Missing, false), CellState::Missing);
        for s in [
            CellState::Ok,
            CellState::Failed,
            CellState::Pruned,
            CellState::Running,
        ] {
            assert_eq!(aged(s, true), s);
        }
    }

    #[test]
    fn a_window_takes_its_worst_state() {
        assert_eq!(state(2, &c(2, 0, 0, 0), true), CellState::Ok);
        assert_eq!(state(2, &c(1, 1, 0, 0), true), CellState::Failed);
        assert_eq!(state(2, &c(1, 1, 1, 0), true), CellState::Failed);
        assert_eq!(state(2, &c(1, 0, 1, 0), true), CellState::Running);
        assert_eq!(state(2, &c(1, 0, 0, 0), true), CellState::Missing);
        assert_eq!(state(2, &c(0, 0, 0, 2), true), CellState::Pruned);
        assert_eq!(state(2, &c(1, 0, 0, 1), true), CellState::Pruned);
        assert_eq!(state(2, &c(0, 0, 0, 0), false), CellState::NotDue);
        assert_eq!(state(1, &c(0, 0, 0, 0), true), CellState::Missing);
    }
}
