//! `fetch`: what is due now, or every window inside `--from/--to`, now; a
//! manual fetch never moves a job's schedule; a job that discovers its
//! devices lists them first. `--dry-run` prints the reports and request
//! bodies and touches nothing (discovering jobs: the devices the history knows).

use crate::archive::store::query;
use crate::commands::cli::FetchArgs;
use crate::config::Job;
use crate::core::report::{RegionScope, ReportKey, Trigger};
use crate::run::discovery;
use crate::run::engine::{Control, Engine, Summary};
use crate::run::exit::{Exit, UsageError};
use crate::run::plan::{self, Planned};
use crate::run::setup;
use crate::run::signals;
use jiff::Timestamp;
use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// Most reports one `fetch --from/--to` plans: more is a mistake in the
/// range (and would take hours at the API's 20 calls a second).
pub const MAX_RANGE_REPORTS: u64 = 1_000_000;

/// The reports `args` asks for, before subtracting those done, and the lags
/// of the jobs whose range reaches past `now` (those windows are not even
/// planned).
fn planned(
    jobs: &[Arc<Job>],
    args: &FetchArgs,
    now: Timestamp,
) -> anyhow::Result<(Vec<Planned>, BTreeSet<Duration>)> {
    let mut ranges = Vec::new();
    let mut future = BTreeSet::new();
    let mut size: u64 = 0;
    if let (Some(from), Some(to)) = (&args.from, &args.to) {
        for job in jobs {
            let zone = job.cadence.zone();
            let usage = |e: crate::core::timearg::TimeArgError| UsageError(e.to_string());
            let from = from.resolve(zone).map_err(usage)?;
            let to = to.resolve(zone).map_err(usage)?;
            if from >= to {
                return Err(
                    UsageError(format!("--from ({from}) must be before --to ({to})")).into(),
                );
            }
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
    let mut out = Vec::new();
    if args.from.is_some() {
        for (job, from, to) in ranges {
            if from < to {
                out.extend(plan::range(job, from, to, Trigger::Manual));
            }
        }
    } else {
        for job in jobs {
            out.extend(plan::due(job, now, false).into_iter().map(|p| Planned {
                trigger: Trigger::Manual,
                ..p
            }));
        }
    }
    Ok((out, future))
}

/// How often a fetch looks again at reports another process is fetching.
pub const BUSY_POLL: Duration = Duration::from_secs(1);

pub async fn run(config_flag: Option<&Path>, args: FetchArgs) -> anyhow::Result<Exit> {
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
        let (planned, future) = planned(&jobs, &args, now)?;
        let (mut todo, not_complete) = plan::split_complete(planned, now);
        print_not_complete(&not_complete, &future);
        let asked = todo.len();
        if !args.force
            && let Some(conn) = conn
        {
            todo = query::not_done(&conn, todo)?;
        }
        print_dry_run(&todo, asked, &source);
        return Ok(Exit::Ok);
    }

    // Checked before anything is written: a usage error leaves no trace (a
    // discovering job has no target before its devices are read: cheap).
    let first = planned(&jobs, &args, now)?;
    let store = setup::open_store(&config)?;
    let engine = setup::engine(&config, found, store.clone(), setup::limiter(&config))?;
    let (planned, future) = if discovering {
        let mut resolved = Vec::with_capacity(jobs.len());
        for job in &jobs {
            if job.discovery.is_some() {
                // A failure is logged; the job goes on with the devices it knew.
                let _ =
                    discovery::refresh(engine.client(), engine.retry_settings(), &store, job).await;
            }
            let j = job.clone();
            resolved.push(store.on_thread(move |c| discovery::job_now(c, &j))?);
        }
        planned(&resolved, &args, now)?
    } else {
        first
    };
    // A report whose window end plus lag has not passed is incomplete: never fetched by hand.
    let (mut todo, not_complete) = plan::split_complete(planned, now);
    print_not_complete(&not_complete, &future);
    let asked = todo.len();
    if !args.force {
        todo = store.on_thread(|c| query::not_done(c, todo))?;
    }
    let skipped = asked - todo.len();
    let ctl = Control::default();
    let signal = signals::stop_on_signal(ctl.clone(), signals::FETCH_GRACE)
        .inspect_err(|e| warn!(error = %e, "cannot install signal handlers; SIGINT/SIGTERM will kill the process outright"))
        .ok();
    let mut summary = engine.run(todo.clone(), args.force, &ctl).await;
    wait_for_busy(&engine, todo, &mut summary, &ctl).await;
    let stopped_by = signal.and_then(|s| s.stopped());
    print_summary(&summary, skipped);
    if let Some(damaged) = summary.damaged {
        return Err(damaged.into());
    }
    Ok(match stopped_by {
        Some(sig) if summary.interrupted > 0 => Exit::Signal(sig),
        _ if !summary.failed.is_empty() => Exit::Failed,
        _ => Exit::Ok,
    })
}

/// Reports another process was fetching: wait until it lets go of them,
/// then take those it did not finish. `fetch` exits 0 only when everything
/// asked for is done, so it cannot leave them to chance. A stop counts the
/// ones still held as interrupted.
async fn wait_for_busy(engine: &Engine, asked: Vec<Planned>, summary: &mut Summary, ctl: &Control) {
    let failed: HashSet<ReportKey> = summary.failed.iter().map(|f| f.key.clone()).collect();
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
        let left: Vec<Planned> = left
            .into_iter()
            .filter(|p| !failed.contains(&p.key()))
            .collect();
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
    }
}

/// Say which reports of the range were left out as not complete, and why.
fn print_not_complete(later: &[Planned], future: &BTreeSet<Duration>) {
    let what = match (later.first(), !future.is_empty()) {
        (None, false) => return,
        (None, true) => "every window ending after now".to_string(),
        (Some(first), false) => format!("{} report(s) from {}", later.len(), first.window_text()),
        (Some(first), true) => format!(
            "{} report(s) from {} and every window ending after now",
            later.len(),
            first.window_text()
        ),
    };
    let mut lags = future.clone();
    lags.extend(later.iter().map(|p| p.job.lag));
    let lag = match lags.iter().next() {
        Some(lag) if lags.len() == 1 => humantime::format_duration(*lag).to_string(),
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

fn print_dry_run(todo: &[Planned], asked: usize, source: &crate::tencent::credentials::Source) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "dry run: {} of {asked} reports would be fetched (credentials: {source}); nothing is sent",
        todo.len()
    );
    for p in todo {
        let body = String::from_utf8(p.request().to_body()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{body}",
            p.job.name,
            p.target.label(),
            p.region,
            p.window_text()
        );
    }
}

fn print_summary(s: &Summary, skipped: usize) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} ok, {} failed, {} already done, {} busy elsewhere, {} interrupted ({} bytes)",
        s.ok,
        s.failed.len(),
        s.already_done + skipped,
        s.busy,
        s.interrupted,
        s.bytes
    );
    let mut err = std::io::stderr().lock();
    for f in &s.failed {
        let region = RegionScope::show_stored(&f.key.region);
        let _ = writeln!(
            err,
            "failed: {} {} {} {} ({} tries in all): {} ({}){}",
            f.key.job,
            f.key.target,
            region,
            f.window,
            f.attempts,
            super::shown(&f.code),
            super::shown(&f.message),
            f.request_id
                .as_deref()
                .map(|r| format!(", request id {}", super::shown(r)))
                .unwrap_or_default()
        );
        if let Some(h) = f.hint {
            let _ = writeln!(err, "  fix: {h}");
        }
    }
}
