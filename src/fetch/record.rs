//! The record of one run (a daemon fire or a manual fetch) in the `runs`
//! table: opened when it starts (closing first the rows of runs whose
//! process is gone, as `crashed`), given its plan, its `ok` and `failed`
//! counts written every [`PROGRESS_EVERY`] while it runs (what a killed run
//! shows), completed from the engine's [`Summary`] when it ends. A record dropped without being
//! completed (a panicking fire, an error return) is closed `crashed`.
//! Recording is best effort: a history that cannot take the row is logged,
//! and the run goes on.

use crate::archive::store::Store;
use crate::archive::store::runs::{RunCounts, RunOutcome, RunProcess, RunTrigger};
use crate::fetch::end::{Outcome, RunEnd};
use crate::fetch::engine::{Summary, Tally};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tracing::warn;

/// How often a running run's `ok` and `failed` counts are written.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Who stops a run on a signal: a manual fetch is `interrupted`, a daemon
/// fire (the daemon shutting down, or its job removed) is `stopped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Fetch,
    Fire,
}

/// How a run ended, as the `runs` table records it: its [`RunEnd`], but
/// a fire cut short by the daemon's shutdown is `stopped` (a fetch cut
/// short by a signal is `interrupted`); `stopped` carries the code of the
/// error no retry can mend that stopped the whole run (or of a damaged
/// history).
pub(crate) fn outcome(summary: &Summary, kind: Kind) -> (RunOutcome, Option<String>) {
    let end = RunEnd::of(summary, 0, summary.interrupted > 0);
    let outcome = match (end.outcome, kind) {
        (Outcome::Done, _) => RunOutcome::Done,
        (Outcome::Stopped, _) | (Outcome::Interrupted, Kind::Fire) => RunOutcome::Stopped,
        (Outcome::Interrupted, Kind::Fetch) => RunOutcome::Interrupted,
    };
    (outcome, end.reason)
}

/// The counts of a run that planned `planned` reports, of which
/// `skipped_before` were left out as done before the engine saw them.
pub(crate) fn counts(summary: &Summary, planned: u64, skipped_before: u64) -> RunCounts {
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    RunCounts {
        planned,
        ok: n(summary.ok),
        failed: n(summary.failed.len()),
        skipped: skipped_before
            .saturating_add(n(summary.already_done))
            .saturating_add(n(summary.busy)),
    }
}

/// An open row of `runs` (`None` id: it could not be written).
pub(crate) struct RunRecord {
    store: Store,
    id: Option<i64>,
    /// Writes the counts while the run goes on.
    tracker: Option<tokio::task::JoinHandle<()>>,
}

impl RunRecord {
    /// Record the start of a run of `jobs`.
    pub(crate) async fn open(store: &Store, trigger: RunTrigger, jobs: Vec<String>) -> RunRecord {
        let process = RunProcess {
            pid: std::process::id(),
            holder: store.owner().to_string(),
            version: env!("CARGO_PKG_VERSION"),
        };
        let id = match store.open_run(trigger, jobs, process).await {
            Ok((id, closed)) => {
                if closed > 0 {
                    warn!(
                        closed,
                        "runs left unfinished by a process that is gone are recorded as crashed"
                    );
                }
                Some(id)
            }
            Err(e) => {
                warn!(error = %e, "cannot record the start of this run in the runs table");
                None
            }
        };
        RunRecord {
            store: store.clone(),
            id,
            tracker: None,
        }
    }

    /// Write the `ok` and `failed` counts of `tally` every [`PROGRESS_EVERY`]
    /// (when they changed) until the run is completed.
    pub(crate) fn track(&mut self, tally: Arc<Tally>) {
        let Some(id) = self.id else { return };
        let store = self.store.clone();
        self.tracker = Some(tokio::spawn(async move {
            let mut written = (0, 0);
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let now = (
                    tally.ok.load(Ordering::Relaxed) as u64,
                    tally.failed.load(Ordering::Relaxed) as u64,
                );
                if now == written {
                    continue;
                }
                match store.run_progress(id, now.0, now.1).await {
                    Ok(()) => written = now,
                    Err(e) => {
                        warn!(error = %e, "cannot record the progress of this run in the runs table")
                    }
                }
            }
        }));
    }

    /// How many reports the run planned.
    pub(crate) async fn planned(&self, planned: u64) {
        let Some(id) = self.id else { return };
        if let Err(e) = self.store.set_run_planned(id, planned).await {
            warn!(error = %e, "cannot record the plan of this run in the runs table");
        }
    }

    /// Complete the row.
    pub(crate) async fn complete(mut self, counts: RunCounts, ended: (RunOutcome, Option<String>)) {
        if let Some(t) = self.tracker.take() {
            t.abort();
        }
        let Some(id) = self.id.take() else { return };
        let (outcome, reason) = ended;
        if let Err(e) = self.store.complete_run(id, counts, outcome, reason).await {
            warn!(error = %e, "cannot record the end of this run in the runs table");
        }
    }
}

impl Drop for RunRecord {
    fn drop(&mut self) {
        if let Some(t) = self.tracker.take() {
            t.abort();
        }
        let Some(id) = self.id.take() else { return };
        // Only the outcome and the end: the counts stay as last written.
        let _ = self.store.close_run_crashed(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_is_interrupted_for_a_fetch_and_stopped_for_a_fire() {
        let s = Summary {
            ok: 2,
            interrupted: 3,
            ..Summary::default()
        };
        assert_eq!(outcome(&s, Kind::Fetch).0, RunOutcome::Interrupted);
        assert_eq!(outcome(&s, Kind::Fire).0, RunOutcome::Stopped);
        assert_eq!(
            outcome(&Summary::default(), Kind::Fetch),
            (RunOutcome::Done, None)
        );
        assert_eq!(
            outcome(
                &Summary {
                    fail_fast: Some(crate::fetch::end::FailFast {
                        code: "AuthFailure".to_string(),
                        message: "wrong key".to_string(),
                        fix: "check the key".to_string(),
                        request_id: None,
                    }),
                    ..Summary::default()
                },
                Kind::Fire
            ),
            (RunOutcome::Stopped, Some("AuthFailure".to_string()))
        );
    }

    #[test]
    fn skipped_counts_the_reports_done_before_and_during_the_run() {
        let s = Summary {
            ok: 1,
            already_done: 2,
            busy: 1,
            ..Summary::default()
        };
        assert_eq!(
            counts(&s, 10, 4),
            RunCounts {
                planned: 10,
                ok: 1,
                failed: 0,
                skipped: 7
            }
        );
    }
}
