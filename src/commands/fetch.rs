//! `fetch`: what is due now, or every window inside `--from/--to`, now; a
//! manual fetch never moves a job's schedule; a job that discovers its
//! devices lists them first. `--dry-run` prints the reports and request
//! bodies, and how long they would take, and touches nothing (discovering
//! jobs: the devices the history knows).
//! The range is walked in window order, oldest first, a batch of windows at
//! a time: memory does not grow with its length. Progress shows while it runs.

use crate::archive::store::query;
use crate::archive::store::runs::RunTrigger;
use crate::commands::cli::FetchArgs;
use crate::commands::exit::{Exit, UsageError};
use crate::config::Job;
use crate::daemon::signals;
use crate::domain::report::Trigger;
use crate::domain::window::Window;
use crate::fetch::discovery;
use crate::fetch::end::RunEnd;
use crate::fetch::engine::{Control, Engine, Summary};
use crate::fetch::estimate;
use crate::fetch::plan::{self, Planned};
use crate::fetch::progress;
use crate::fetch::record::{self, RunRecord};
use crate::fetch::setup;
use jiff::Timestamp;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// Most reports one `fetch --from/--to` plans: more is a mistake in the
/// range (and would take hours at the API's 20 calls a second).
pub const MAX_RANGE_REPORTS: u64 = 1_000_000;

/// Reports taken from the history at once to subtract those done: whole
/// windows, about this many reports.
const BATCH: u64 = 1024;

/// What `args` asks for, as windows: the reports are made from them as they
/// are taken, so a long range is never held whole.
struct Plan {
    /// Each job's complete windows, oldest first, in job order.
    work: Vec<(Arc<Job>, Vec<Window>)>,
    /// Each job's windows not complete yet (never fetched by hand).
    later: Vec<(Arc<Job>, Vec<Window>)>,
    /// The lags of the jobs whose range reaches past now (those windows are
    /// not even planned).
    future: BTreeSet<Duration>,
}

impl Plan {
    /// The reports asked for (complete windows only).
    fn asked(&self) -> u64 {
        count(&self.work)
    }

    /// The reports in batches of whole windows, oldest first.
    fn batches(&self) -> impl Iterator<Item = Vec<Planned>> + '_ {
        self.work.iter().flat_map(|(job, windows)| {
            let most = plan::most_per_window(job).max(1);
            let per = usize::try_from((BATCH / most).max(1)).unwrap_or(1);
            windows.chunks(per).map(move |chunk| {
                chunk
                    .iter()
                    .flat_map(|w| plan::in_window(job, *w, Trigger::Manual))
                    .collect()
            })
        })
    }
}

fn count(windows: &[(Arc<Job>, Vec<Window>)]) -> u64 {
    windows
        .iter()
        .flat_map(|(job, w)| w.iter().map(|w| plan::per_window(job, w)))
        .sum()
}

/// The windows `args` asks for at `now`.
fn planned(jobs: &[Arc<Job>], args: &FetchArgs, now: Timestamp) -> anyhow::Result<Plan> {
    let mut ranges = Vec::new();
    let mut future = BTreeSet::new();
    let mut size: u64 = 0;
    if let (Some(from), Some(to)) = (&args.from, &args.to) {
        for job in jobs {
            let zone = job.cadence.zone();
            let usage = |e: crate::domain::timearg::TimeArgError| UsageError(e.to_string());
            if from.resolve(zone, now).map_err(usage)? >= to.resolve(zone, now).map_err(usage)? {
                return Err(UsageError(format!(
                    "--from {from} must be before --to {to}\n  fix: give the earlier time as --from"
                ))
                .into());
            }
            let from = from.resolve(zone, now).map_err(usage)?;
            let to = to.resolve(zone, now).map_err(usage)?;
            // No window ending after now is complete: none is planned.
            if to > now {
                future.insert(job.lag);
            }
            let to = to.min(now);
            size = size.saturating_add(plan::range_size(job, from, to));
            ranges.push((job, from, to));
        }
    }
    if size > MAX_RANGE_REPORTS {
        return Err(UsageError(format!(
            "--from/--to asks for about {size} reports, more than {MAX_RANGE_REPORTS} at once\n  \
             fix: split the range into several fetches (e.g. a month at a time)"
        ))
        .into());
    }
    let (mut work, mut later) = (Vec::new(), Vec::new());
    if args.from.is_some() {
        for (job, from, to) in ranges {
            if from < to {
                let (complete, not_yet) = plan::range_windows(job, from, to, now);
                work.push((job.clone(), complete));
                later.push((job.clone(), not_yet));
            }
        }
    } else {
        for job in jobs {
            work.push((job.clone(), plan::due_windows(job, now)));
        }
    }
    Ok(Plan {
        work,
        later,
        future,
    })
}

/// How often a fetch looks again at reports another process is fetching.
pub const BUSY_POLL: Duration = Duration::from_secs(1);

pub async fn run(
    config_flag: Option<&Path>,
    args: FetchArgs,
    quiet: bool,
    verbose: u8,
) -> anyhow::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let (source, found) = setup::find_credentials(&config)?;
    let jobs = setup::select_jobs(&config, &args.jobs, args.all)?;
    let discovering = jobs.iter().any(|j| j.discovery.is_some());
    let now = Timestamp::now();

    if args.dry_run {
        let conn = setup::open_readonly(&config)?;
        // A dry run sends nothing: a discovering job has the devices the history knows.
        let jobs = match &conn {
            Some(c) if discovering => jobs
                .iter()
                .map(|j| discovery::job_now(c, j))
                .collect::<rusqlite::Result<Vec<_>>>()?,
            _ => jobs,
        };
        if discovering {
            print_inventory_note(&jobs, conn.is_some());
        }
        // A report whose window end plus lag has not passed is incomplete: never fetched by hand.
        let plan = planned(&jobs, &args, now)?;
        print_not_complete(&plan);
        let asked = plan.asked();
        let conn = if args.force { None } else { conn };
        let todo = |batch| match &conn {
            Some(c) => query::not_done(c, batch),
            None => Ok(batch),
        };
        // A first pass counts, holding one batch at a time; the second lists.
        let mut n = 0;
        for batch in plan.batches() {
            n += todo(batch)?.len() as u64;
        }
        let limit = config.api.rate_limit;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let _ = writeln!(
            out,
            "dry run: {n} of {asked} reports would be fetched (credentials: {source}); nothing is sent\n\
             estimate: {}",
            estimate::describe(n, limit)
        );
        for batch in plan.batches() {
            if print_dry_run(&mut out, &todo(batch)?).is_err() {
                break; // the reader went away
            }
        }
        let _ = out.flush();
        return Ok(Exit::Ok);
    }

    // Checked before anything is written: a usage error leaves no trace (a
    // discovering job is checked with the devices the history knows).
    let first = match setup::open_readonly(&config)? {
        Some(c) if discovering => {
            let known = jobs
                .iter()
                .map(|j| discovery::job_now(&c, j))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            planned(&known, &args, now)?
        }
        _ => planned(&jobs, &args, now)?,
    };
    let store = setup::open_store(&config)?;
    let limiter = setup::limiter(&config);
    let engine = setup::engine(&config, found, store.clone(), limiter.clone())?;
    // Jobs whose device listing failed: they go on with the devices they
    // knew, but the fetch did not get everything asked for (exit 1).
    let mut unlisted = Vec::new();
    let plan = if discovering {
        let mut resolved = Vec::with_capacity(jobs.len());
        for job in &jobs {
            if job.discovery.is_some()
                && let Err(e) =
                    discovery::refresh(engine.client(), engine.retry_settings(), &store, job).await
            {
                unlisted.push((job.name.clone(), e.to_string()));
            }
            let j = job.clone();
            let (now_job, empty) = store.on_thread(move |c| discovery::resolve(c, &j))?;
            if let Some(e) = empty {
                let _ = writeln!(std::io::stderr().lock(), "warning: {e}");
            }
            resolved.push(now_job);
        }
        planned(&resolved, &args, now)?
    } else {
        first
    };
    // A report whose window end plus lag has not passed is incomplete: never fetched by hand.
    print_not_complete(&plan);
    let asked = plan.asked();
    // The reports not done, counted first (holding one batch at a time)
    // for the progress bar, then taken batch by batch as the engine has room.
    let mut total = asked;
    if !args.force {
        total = 0;
        for batch in plan.batches() {
            total += store.on_thread(|c| query::not_done(c, batch))?.len() as u64;
        }
    }
    let todo = plan.batches().flat_map(|batch| {
        if args.force {
            return batch;
        }
        let all = batch.clone();
        store
            .on_thread(|c| query::not_done(c, batch))
            .unwrap_or_else(|e| {
                // Each claim looks again: the done ones end up `already done`.
                warn!(error = %e, "cannot read the history to skip done reports; each is checked as it is claimed");
                all
            })
    });
    let ctl = Control::default();
    let signal = signals::stop_on_signal(ctl.clone(), signals::FETCH_GRACE)
        .inspect_err(|e| warn!(error = %e, "cannot install signal handlers; SIGINT/SIGTERM will kill the process outright"))
        .ok();
    let names = jobs.iter().map(|j| j.name.clone()).collect();
    let mut run = RunRecord::open(&store, RunTrigger::Manual, names).await;
    run.planned(asked).await;
    run.track(ctl.tally.clone());
    let mode = progress::Mode::pick(quiet);
    // Under a bar, each report's line shows only with -v: the summary tells.
    progress::set_per_report_lines(mode != progress::Mode::Bar || verbose > 0);
    let shown = progress::Shown::start(mode, total, ctl.tally.clone(), limiter);
    let mut summary = engine.run(todo, args.force, &ctl).await;
    if summary.fail_fast.is_none() {
        wait_for_busy(&engine, &mut summary, &ctl).await;
    }
    shown.finish().await;
    let stopped_by = signal.and_then(|s| s.stopped());
    // Left out as done, before the start or while the range was walked.
    let asked_n = usize::try_from(asked).unwrap_or(usize::MAX);
    let skipped = asked_n.saturating_sub(summary.total());
    let counts = record::counts(&summary, asked, skipped as u64);
    run.complete(counts, record::outcome(&summary, record::Kind::Fetch))
        .await;
    let end = RunEnd::of(&summary, asked_n, stopped_by.is_some());
    super::fetch_end::print(&summary, skipped, &end);
    for (job, e) in &unlisted {
        let _ = writeln!(
            std::io::stderr().lock(),
            "failed: job {job}: {}\n  fix: its reports were planned from the devices the history knows; \
             check the credentials and the API, then `mna-reportd devices --refresh`",
            super::shown(e)
        );
    }
    if let Some(damaged) = summary.damaged {
        return Err(damaged.into());
    }
    Ok(match stopped_by {
        Some(sig) if summary.interrupted > 0 => Exit::Signal(sig),
        _ if !summary.failed.is_empty() || !unlisted.is_empty() || summary.fail_fast.is_some() => {
            Exit::Failed
        }
        _ => Exit::Ok,
    })
}

/// Reports another process was fetching: wait until it lets go of them,
/// then take those it did not finish. `fetch` exits 0 only when everything
/// asked for is done, so it cannot leave them to chance. A stop counts the
/// ones still held as interrupted.
async fn wait_for_busy(engine: &Engine, summary: &mut Summary, ctl: &Control) {
    let mut asked = std::mem::take(&mut summary.busy_reports);
    let mut waiting = summary.busy;
    let mut told = 0;
    while waiting > 0 {
        if waiting != told {
            let _ = writeln!(
                std::io::stderr().lock(),
                "waiting for {waiting} report(s) another mna-reportd process is fetching; \
                 those it does not finish are fetched here (Ctrl-C to stop)"
            );
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
        let planned = asked.clone();
        let left = match engine
            .store()
            .on_pool(move |c| query::not_done(c, planned))
            .await
        {
            Ok(left) => left,
            Err(e) => {
                warn!(error = %e, "cannot read the history while waiting; trying again");
                continue;
            }
        };
        // Done by the other process meanwhile.
        let finished_elsewhere = waiting.saturating_sub(left.len());
        summary.already_done += finished_elsewhere;
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

/// Say which reports of the range were left out as not complete, and why.
fn print_not_complete(plan: &Plan) {
    let n = count(&plan.later);
    let first = plan
        .later
        .iter()
        .find_map(|(job, w)| w.first().map(|w| plan::window_text(*w, job.cadence.zone())));
    let what = match (first, !plan.future.is_empty()) {
        (None, false) => return,
        (None, true) => "every window ending after now".to_string(),
        (Some(first), false) => format!("{n} report(s) from {first}"),
        (Some(first), true) => {
            format!("{n} report(s) from {first} and every window ending after now")
        }
    };
    let mut lags = plan.future.clone();
    lags.extend(
        plan.later
            .iter()
            .filter(|(_, w)| !w.is_empty())
            .map(|(job, _)| job.lag),
    );
    let lag = match lags.iter().next() {
        Some(lag) if lags.len() == 1 => crate::domain::human::duration(*lag),
        _ => "its lag".to_string(),
    };
    let _ = writeln!(
        std::io::stdout().lock(),
        "left out {what}: a window that has not ended {lag} ago yet (the job's lag) has no complete report; \
         the daemon fetches them when due, or fetch again later"
    );
}

/// Say that the discovering jobs were planned from the inventory the history holds.
fn print_inventory_note(jobs: &[Arc<Job>], have_history: bool) {
    let mut out = std::io::stdout().lock();
    for j in jobs.iter().filter(|j| j.discovery.is_some()) {
        let _ = writeln!(
            out,
            "job {}: planned from the known inventory ({} devices{}); run `mna-reportd devices --refresh` to list them again",
            j.name,
            j.targets.len(),
            if have_history { "" } else { ", no history yet" }
        );
    }
}

/// One line per report: job, target, region, window and request body.
fn print_dry_run(out: &mut impl Write, todo: &[Planned]) -> std::io::Result<()> {
    for p in todo {
        let body = String::from_utf8(p.request().to_body()).unwrap_or_default();
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{body}",
            p.job.name,
            p.target.label(),
            p.region,
            p.window_text()
        )?;
    }
    Ok(())
}
