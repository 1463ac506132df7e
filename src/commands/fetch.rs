//! `fetch`: what is due now, or every window inside `--from/--to`, now; a
//! manual fetch never moves a job's schedule; a job that discovers its
//! devices lists them first. `--dry-run` prints the reports and request
//! bodies, and how long they would take, and touches nothing (discovering
//! jobs: the devices the history knows).
//! Parse the arguments, plan once, hand the plan to the fetch service
//! ([`service::run`]) and print what it did; the service walks the range in
//! window order, oldest first, a batch of windows at a time: memory does
//! not grow with its length. Progress shows while it runs.

use crate::archive::remote::outbox::Outbox;
use crate::archive::resolved::{self, ResolvedJob};
use crate::archive::store::query;
use crate::archive::store::runs::RunTrigger;
use crate::commands::cli::FetchArgs;
use crate::commands::exit::{self, Exit, Usage};
use crate::config::Job;
use crate::daemon::signals;
use crate::fetch::end::RunEnd;
use crate::fetch::engine::Control;
use crate::fetch::estimate;
use crate::fetch::plan::{self, Ask, Plan, Planned};
use crate::fetch::progress;
use crate::fetch::record;
use crate::fetch::service::{self, Listing, Ran, RunRequest};
use crate::fetch::setup;
use jiff::Timestamp;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use tracing::warn;

/// What `args` asks of each job at `now`: a usage error (a range the wrong
/// way round) before anything is read or written.
fn asks(jobs: &[Arc<Job>], args: &FetchArgs, now: Timestamp) -> exit::Result<Vec<Ask>> {
    let (Some(from), Some(to)) = (&args.from, &args.to) else {
        return Ok(jobs.iter().map(|_| Ask::DueNow(now)).collect());
    };
    let mut asks = Vec::with_capacity(jobs.len());
    for job in jobs {
        let zone = job.cadence.zone();
        let (f, t) = (from.resolve(zone, now)?, to.resolve(zone, now)?);
        if f >= t {
            return Err(Usage::RangeBackwards {
                from: from.to_string(),
                to: to.to_string(),
            }
            .into());
        }
        asks.push(Ask::Range {
            from: f,
            to: t,
            now,
        });
    }
    Ok(asks)
}

pub(crate) async fn run(
    config_flag: Option<&Path>,
    args: FetchArgs,
    quiet: bool,
    verbose: u8,
) -> exit::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let (source, found) = setup::find_credentials(&config)?;
    let jobs = setup::select_jobs(&config, &args.jobs, args.all)?;
    let now = Timestamp::now();
    let asks = asks(&jobs, &args, now)?;
    // Planned once, before anything is written: a usage error leaves no
    // trace (a discovering job is planned with the devices the history
    // knows; the service gives it those it lists).
    let history = setup::open_readonly(&config)?;
    let mut known = Vec::with_capacity(jobs.len());
    for job in &jobs {
        known.push(match &history {
            Some(c) => c.read(|c| resolved::resolve(c, job))?,
            None => ResolvedJob::from_config(job.clone()),
        });
    }
    let plan = Plan::new(known.into_iter().zip(asks).collect()).map_err(Usage::from)?;
    if args.dry_run {
        print_inventory_note(&plan, history.is_some());
        print_not_complete(&plan);
        // Forced: every report is fetched again, done or not.
        let history = if args.force { None } else { history };
        let todo = |batch| match &history {
            Some(c) => c.read(|c| query::not_done(c, batch)),
            None => Ok(batch),
        };
        return Ok(dry_run(
            &plan,
            todo,
            &source.to_string(),
            config.api.rate_limit,
        )?);
    }
    drop(history);
    let store = setup::open_store(&config)?;
    let outbox = setup::outbox(&config, &store)?.map(|o| o.quiet());
    let engine = setup::engine(&config, found, store, setup::limiter(&config))?;
    let ctl = Control::default();
    let uploading = outbox.map(Uploading::start);
    let signal = signals::stop_on_signal(ctl.clone(), signals::FETCH_GRACE)
        .inspect_err(|e| warn!(error = %e, "cannot install signal handlers; SIGINT/SIGTERM will kill the process outright"))
        .ok();
    let mode = progress::Mode::pick(quiet);
    // Under a bar, each report's line shows only with -v: the summary tells.
    progress::set_per_report_lines(mode != progress::Mode::Bar || verbose > 0);
    let req = RunRequest {
        plan,
        trigger: RunTrigger::Manual,
        kind: record::Kind::Fetch,
        force: args.force,
        listing: Listing::Now,
        wait_for_busy: true,
    };
    let ran = service::run(&engine, req, mode.sink(), &ctl).await?;
    let stopped_by = signal.and_then(|s| s.stopped());
    print_end(&ran, stopped_by.is_some());
    if let Some(u) = uploading {
        u.finish(stopped_by.is_none(), quiet).await;
    }
    let s = &ran.summary;
    if let Some(damaged) = &s.damaged {
        return Err(damaged.clone().into());
    }
    Ok(match stopped_by {
        Some(sig) if s.interrupted > 0 => Exit::Signal(sig),
        _ if !s.failed.is_empty() || !ran.unlisted.is_empty() || s.fail_fast.is_some() => {
            Exit::Failed
        }
        _ => Exit::Ok,
    })
}

/// Say what the fetch did: the jobs left with no device, the reports left
/// out as not complete, the counts and failures, the listings that failed.
fn print_end(ran: &Ran, signalled: bool) {
    for e in &ran.no_devices {
        let _ = writeln!(std::io::stderr().lock(), "warning: {e}");
    }
    print_not_complete(&ran.plan);
    let asked = usize::try_from(ran.asked).unwrap_or(usize::MAX);
    let end = RunEnd::of(&ran.summary, asked, signalled);
    let skipped = usize::try_from(ran.skipped).unwrap_or(usize::MAX);
    super::fetch_end::print(&ran.summary, skipped, &end);
    for (job, e) in &ran.unlisted {
        let _ = writeln!(
            std::io::stderr().lock(),
            "failed: job {job}: {}\n  fix: its reports were planned from the devices the history knows; \
             check the credentials and the API, then `mna-reportd devices --refresh`",
            super::shown(e)
        );
    }
}

/// The upload outbox of a fetch: reports upload while the fetch goes on;
/// what is left goes at its end.
struct Uploading {
    outbox: Outbox,
    task: tokio::task::JoinHandle<()>,
    stop: tokio_util::sync::CancellationToken,
}

impl Uploading {
    fn start(outbox: Outbox) -> Uploading {
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(outbox.clone().run(stop.clone()));
        Uploading { outbox, task, stop }
    }

    /// Stop the task; unless the fetch was stopped by a signal, drain the
    /// outbox and say what is left.
    async fn finish(self, drain: bool, quiet: bool) {
        self.stop.cancel();
        let _ = self.task.await;
        if drain {
            let last = self.outbox.drain(1).await;
            let url = self.outbox.bucket().url();
            print_uploads(&last, &self.outbox.status().get(), &url, quiet);
        }
    }
}

/// Say what is left in the upload outbox at the end of a fetch: the
/// bucket's failure once, with its fix (the reports are done locally and
/// upload at the next fetch or from the daemon).
fn print_uploads(
    pass: &crate::archive::remote::outbox::Pass,
    all: &crate::archive::remote::outbox::UploadState,
    url: &str,
    quiet: bool,
) {
    let mut err = std::io::stderr().lock();
    match &pass.problem {
        Some(e) => {
            let _ = writeln!(
                err,
                "warning: {} reports wait for their upload to {url}: {}",
                pass.backlog,
                super::shown(&e.to_string())
            );
        }
        None if pass.backlog > 0 => {
            let _ = writeln!(
                err,
                "warning: {} reports could not be uploaded to {url}; they stay in the outbox (for example: {})",
                pass.backlog,
                super::shown(pass.example.as_deref().unwrap_or("see the log"))
            );
        }
        None if !quiet && all.sent > 0 => {
            let _ = writeln!(
                err,
                "uploaded {} reports ({}) to {url}",
                all.sent,
                crate::domain::human::bytes(all.bytes)
            );
        }
        None => {}
    }
}

/// Print the reports of `plan` that `todo` keeps (those not done), with
/// how long they would take; nothing is sent.
fn dry_run<E>(
    plan: &Plan,
    todo: impl Fn(Vec<Planned>) -> Result<Vec<Planned>, E>,
    source: &str,
    limit: std::num::NonZeroU32,
) -> anyhow::Result<Exit>
where
    E: std::error::Error + Send + Sync + 'static,
{
    // A first pass counts, holding one batch at a time; the second lists.
    let mut n = 0;
    for batch in plan.batches() {
        n += todo(batch)?.len() as u64;
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = writeln!(
        out,
        "dry run: {n} of {} reports would be fetched (credentials: {source}); nothing is sent\n\
         estimate: {}",
        plan.asked(),
        estimate::describe(n, limit)
    );
    for batch in plan.batches() {
        if print_dry_run(&mut out, &todo(batch)?).is_err() {
            break; // the reader went away
        }
    }
    let _ = out.flush();
    Ok(Exit::Ok)
}

/// Say which reports of the range were left out as not complete, and why.
fn print_not_complete(plan: &Plan) {
    let n = plan.later_count();
    let first = plan.later.iter().find_map(|(job, w)| {
        w.first()
            .map(|w| plan::window_text(*w, job.job().cadence.zone()))
    });
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
            .map(|(job, _)| job.job().lag),
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
fn print_inventory_note(plan: &Plan, have_history: bool) {
    let mut out = std::io::stdout().lock();
    for j in plan.work.iter().map(|w| &w.job) {
        if j.job().discovery.is_none() {
            continue;
        }
        let _ = writeln!(
            out,
            "job {}: planned from the known inventory ({} devices{}); run `mna-reportd devices --refresh` to list them again",
            j.name(),
            j.targets().len(),
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
