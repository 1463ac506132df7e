//! The one fetch service, used by `fetch` and by the daemon's fires: the
//! devices of discovering jobs listed, the plan given the targets each job
//! has then, the reports not done taken batch by batch, each claimed,
//! called, downloaded and sealed by the [`Engine`], the run recorded in
//! `runs`, and (for `fetch`) the reports another process was fetching
//! waited for. [`run`] drives it; what differs between callers (trigger,
//! force, listing, waiting, progress sink, cancellation) is a parameter.
//! The plan is made once by the caller ([`Plan::new`]) and only given the
//! targets the jobs have after listing here.

use crate::archive::resolved::ResolvedJob;
use crate::archive::store::StoreError;
use crate::archive::store::runs::RunTrigger;
use crate::fetch::discovery::{self, ListingPace, NoDevices};
use crate::fetch::engine::{Control, Engine, Summary};
use crate::fetch::plan::{Plan, Planned};
use crate::fetch::progress::{ProgressSink, ProgressTask};
use crate::fetch::record::{self, RunRecord};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// How often a fetch looks again at reports another process is fetching.
pub(crate) const BUSY_POLL: Duration = Duration::from_secs(1);

/// Whether discovering jobs list their devices before the plan is expanded.
#[derive(Clone)]
pub(crate) enum Listing {
    /// Every discovering job lists now (`fetch`).
    Now,
    /// At most once per `discovery_interval` (the daemon's fires); a stop
    /// drops a listing in flight and the run does nothing.
    Paced(ListingPace),
}

/// What a run asks the service for.
pub(crate) struct RunRequest {
    /// The windows to fetch, planned once.
    pub(crate) plan: Plan,
    /// Who started the run (recorded in `runs`).
    pub(crate) trigger: RunTrigger,
    /// Whether a signal's stop is a fetch's `interrupted` or a fire's `stopped`.
    pub(crate) kind: record::Kind,
    /// Fetch done reports again (`fetch --force`).
    pub(crate) force: bool,
    pub(crate) listing: Listing,
    /// Wait for the reports another process is fetching and take those it
    /// leaves (`fetch` exits 0 only when everything asked for is done).
    pub(crate) wait_for_busy: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub(crate) struct Ran {
    pub(crate) summary: Summary,
    /// The reports planned.
    pub(crate) asked: u64,
    /// Left out as done before the engine saw them.
    pub(crate) skipped: u64,
    /// Jobs whose device listing failed, and why: they went on with the
    /// devices the history knew.
    pub(crate) unlisted: Vec<(String, String)>,
    /// Discovering jobs left with no device to fetch, and why.
    pub(crate) no_devices: Vec<NoDevices>,
    /// The plan, with the targets the jobs had once listed.
    pub(crate) plan: Plan,
}

/// Run `req` with `engine`: list, plan, fetch and record (see the module
/// docs), showing progress on `sink`, stopped by `ctl`. An error is the
/// history's, before any report was tried (the inventory or the done set
/// could not be read).
pub(crate) async fn run(
    engine: &Engine,
    req: RunRequest,
    sink: Arc<dyn ProgressSink>,
    ctl: &Control,
) -> Result<Ran, StoreError> {
    let mut ran = Ran::default();
    let kind = req.kind;
    let names = req
        .plan
        .work
        .iter()
        .map(|w| w.job.name().to_string())
        .collect();
    let mut run = RunRecord::open(engine.store(), req.trigger, names).await;
    run.track(ctl.tally.clone());
    let nothing = |run: RunRecord, asked: u64| async move {
        let none = Summary::default();
        let counts = record::counts(&none, asked, asked);
        run.complete(counts, record::outcome(&none, kind)).await;
    };
    let plan = match list_and_resolve(engine, req.plan, &req.listing, ctl, &mut ran).await {
        Ok(Some(plan)) => plan,
        Ok(None) => {
            nothing(run, 0).await;
            return Ok(ran);
        }
        Err(e) => {
            nothing(run, 0).await;
            return Err(e);
        }
    };
    ran.asked = plan.asked();
    run.planned(ran.asked).await;
    let total = if req.force {
        ran.asked
    } else {
        match count_not_done(engine, &plan).await {
            Ok(n) => n,
            Err(e) => {
                nothing(run, ran.asked).await;
                return Err(e);
            }
        }
    };
    let progress = ProgressTask::start(sink.clone(), total, ctl.tally.clone(), engine.limiter());
    let todo = todo(engine, &plan, req.force);
    let mut summary = engine.run(todo, req.force, ctl).await;
    if req.wait_for_busy && summary.fail_fast.is_none() {
        wait_for_busy(engine, &mut summary, ctl, sink.as_ref()).await;
    }
    progress.finish().await;
    let asked = usize::try_from(ran.asked).unwrap_or(usize::MAX);
    ran.skipped = asked.saturating_sub(summary.total()) as u64;
    let counts = record::counts(&summary, ran.asked, ran.skipped);
    run.complete(counts, record::outcome(&summary, kind)).await;
    ran.summary = summary;
    ran.plan = plan;
    Ok(ran)
}

/// List the devices of the plan's discovering jobs (as `listing` says)
/// and give each job the targets it has then. `None`: a stop came while
/// listing, and the run does nothing.
async fn list_and_resolve(
    engine: &Engine,
    plan: Plan,
    listing: &Listing,
    ctl: &Control,
    ran: &mut Ran,
) -> Result<Option<Plan>, StoreError> {
    let mut now: HashMap<String, ResolvedJob> = HashMap::new();
    for w in plan.work.iter().filter(|w| w.job.job().discovery.is_some()) {
        let job = w.job.job();
        let lists = match listing {
            Listing::Now => true,
            Listing::Paced(pace) => !ctl.stop.is_cancelled() && pace.take(job),
        };
        if lists {
            let (client, rules) = (engine.client(), engine.retry_settings());
            // A failure is logged and counted there; the known devices go
            // on. A stop drops a listing in flight: nothing of it is recorded.
            tokio::select! {
                r = discovery::refresh(client, rules, engine.store(), job) => {
                    if let Err(e) = r {
                        ran.unlisted.push((job.name.clone(), e.to_string()));
                    }
                }
                _ = ctl.stop.cancelled(), if matches!(listing, Listing::Paced(_)) => return Ok(None),
            }
        }
        let (resolved, empty) = discovery::resolve(engine.store(), job).await?;
        ran.no_devices.extend(empty);
        now.insert(job.name.clone(), resolved);
    }
    Ok(Some(plan.with_targets(|j| {
        now.remove(j.name()).unwrap_or_else(|| j.clone())
    })))
}

/// The reports of `plan` not done, counted holding one batch at a time
/// (for the progress shown).
async fn count_not_done(engine: &Engine, plan: &Plan) -> Result<u64, StoreError> {
    let mut total = 0;
    for batch in plan.batches() {
        total += engine.store().not_done(batch).await?.len() as u64;
    }
    Ok(total)
}

/// The reports of `plan` to fetch, taken batch by batch as the engine has
/// room: those not done (all of them with `force`).
fn todo<'a>(
    engine: &'a Engine,
    plan: &'a Plan,
    force: bool,
) -> impl Iterator<Item = Planned> + Send + 'a {
    plan.batches().flat_map(move |batch| {
        if force {
            return batch;
        }
        let all = batch.clone();
        engine.store().not_done_now(batch).unwrap_or_else(|e| {
            // Each claim looks again: the done ones end up `already done`.
            warn!(error = %e, "cannot read the history to skip done reports; each is checked as it is claimed");
            all
        })
    })
}

/// Reports another process was fetching: wait until it lets go of them,
/// then take those it did not finish. A stop counts the ones still held
/// as interrupted.
async fn wait_for_busy(
    engine: &Engine,
    summary: &mut Summary,
    ctl: &Control,
    sink: &dyn ProgressSink,
) {
    let mut asked = std::mem::take(&mut summary.busy_reports);
    let mut waiting = summary.busy;
    let mut told = 0;
    while waiting > 0 {
        if waiting != told {
            sink.waiting_for(waiting);
            told = waiting;
        }
        tokio::select! {
            _ = tokio::time::sleep(BUSY_POLL) => {}
            _ = ctl.stop.cancelled() => {}
        }
        if ctl.stop.is_cancelled() {
            summary.busy = 0;
            summary.interrupted += waiting;
            return;
        }
        let left = match engine.store().not_done(asked.clone()).await {
            Ok(left) => left,
            Err(e) => {
                warn!(error = %e, "cannot read the history while waiting; trying again");
                continue;
            }
        };
        // Done by the other process meanwhile.
        summary.already_done += waiting.saturating_sub(left.len());
        let again = engine.run(left, false, ctl).await;
        summary.ok += again.ok;
        summary.bytes += again.bytes;
        summary.already_done += again.already_done;
        summary.interrupted += again.interrupted;
        summary.failed.extend(again.failed);
        summary.busy = again.busy;
        waiting = again.busy;
        asked = again.busy_reports;
    }
}
