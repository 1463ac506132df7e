//! How a report that did not end `ok` is left: given back (`pending`) when
//! a stop or a halt cut it short, or recorded `failed` with its code; and
//! the error that halts the run for every report.

use super::{Engine, Outcome, ReportFailure, attempt, gate};
use crate::archive::root::RelPath;
use crate::domain::report::{RegionScope, ReportKey};
use crate::fetch::end::FailFast;
use crate::fetch::plan::Planned;
use crate::fetch::retry::Class;
use std::sync::atomic::{AtomicU32, Ordering};
use tracing::{debug, warn};

impl Engine {
    /// Report `id` (`p`) failed its last try with `e`: recorded `failed`;
    /// an error no retry mends halts the run too.
    pub(super) async fn ended_with(
        &self,
        p: &Planned,
        key: ReportKey,
        id: i64,
        e: attempt::StepError,
        tries: &AtomicU32,
        gate: &gate::Gate,
    ) -> Outcome {
        if let attempt::StepError::Store(e) = &e {
            self.note_damage(e);
        }
        // What the history records: tries before the claim, then
        // each one recorded since (a try not recorded is not counted).
        let attempts = tries.load(Ordering::Relaxed);
        let failure = ReportFailure {
            request_id: e.request_id(),
            hint: e.hint(),
            ..ReportFailure::new(p, key, &e.code(), &e.to_string(), attempts)
        };
        let stops = e.class() == Class::StopRun;
        if stops {
            gate.halt(FailFast {
                code: failure.code.clone(),
                message: failure.message.clone(),
                fix: failure.hint.unwrap_or("see the error above").to_string(),
                request_id: failure.request_id.clone(),
            });
        }
        self.failed(Some(id), failure, stops).await
    }

    /// Give back report `id`, claimed but not finished: its `.part` file
    /// goes, the report is `pending` again.
    pub(super) async fn give_back(&self, id: i64, key: &ReportKey, final_path: &RelPath) {
        let (archive, part) = (self.archive.clone(), final_path.part());
        let _ = tokio::task::spawn_blocking(move || archive.remove(&part)).await;
        if let Err(e) = self.store.give_back(id).await {
            self.left_claims.store(true, Ordering::Relaxed);
            warn!(job = %key.job, error = %e, "could not give back an interrupted report; trying again at the end of the run");
        }
    }

    /// Record `failure` in the history (report `id`, when it was claimed),
    /// count it and tell the operator (unless `stops`: the failure stopped
    /// the run, whose end tells it once, with the fix).
    pub(super) async fn failed(
        &self,
        id: Option<i64>,
        failure: ReportFailure,
        stops: bool,
    ) -> Outcome {
        let key = &failure.key;
        if let Some(id) = id {
            let (code, message, request_id) = (
                failure.code.clone(),
                failure.message.clone(),
                failure.request_id.clone(),
            );
            if let Err(e) = self
                .store
                .record_failed(id, code, message, request_id)
                .await
            {
                self.left_claims.store(true, Ordering::Relaxed);
                warn!(job = %key.job, error = %e, "could not record a failure in the history; the report is given back at the end of the run");
            }
        }
        metrics::counter!("mna_reportd_reports_total", "job" => key.job.clone(), "outcome" => "failed").increment(1);
        if stops {
            debug!(job = %key.job, window = %failure.window, code = %failure.code, "report failed; the run stops");
            return Outcome::Failed(Box::new(failure));
        }
        per_report!(warn,
            job = %key.job, target = %key.target, region = %RegionScope::show_stored(&key.region), window = %failure.window,
            attempts = failure.attempts, code = %failure.code, request_id = failure.request_id.as_deref().unwrap_or("-"), error = %failure.message,
            hint = failure.hint.unwrap_or("-"), "report failed"
        );
        Outcome::Failed(Box::new(failure))
    }
}
