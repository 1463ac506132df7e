//! `fetch`: what is due now, or every window inside `--from/--to`, now; a
//! manual fetch never moves a job's schedule. `--dry-run` prints the reports
//! and request bodies and touches nothing.

use crate::app;
use crate::cli::FetchArgs;
use crate::engine::{Control, Summary};
use crate::exit::{Exit, UsageError};
use crate::plan::{self, Planned};
use crate::store::query;
use crate::store::reports::Trigger;
use jiff::Timestamp;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// How long reports in flight may finish after SIGINT/SIGTERM.
pub const GRACE: Duration = Duration::from_secs(10);

/// The reports `args` asks for, before subtracting those done.
fn planned(
    config: &crate::config::Config,
    args: &FetchArgs,
    now: Timestamp,
) -> anyhow::Result<Vec<Planned>> {
    let jobs = app::select_jobs(config, &args.jobs, args.all)?;
    let mut out = Vec::new();
    for job in &jobs {
        match (&args.from, &args.to) {
            (Some(from), Some(to)) => {
                let zone = job.cadence.zone();
                let from = from.resolve(zone).map_err(UsageError)?;
                let to = to.resolve(zone).map_err(UsageError)?;
                if from >= to {
                    return Err(
                        UsageError(format!("--from ({from}) must be before --to ({to})")).into(),
                    );
                }
                out.extend(plan::range(job, from, to, Trigger::Manual));
            }
            _ => out.extend(plan::due(job, now, false).into_iter().map(|p| Planned {
                trigger: Trigger::Manual,
                ..p
            })),
        }
    }
    Ok(out)
}

pub async fn run(config_flag: Option<&Path>, args: FetchArgs) -> anyhow::Result<Exit> {
    let config = app::load_config(config_flag)?;
    let (source, found) = app::find_credentials(&config)?;
    let mut todo = planned(&config, &args, Timestamp::now())?;
    let asked = todo.len();

    if args.dry_run {
        if !args.force
            && let Some(conn) = app::open_readonly(&config)?
        {
            todo = query::not_done(&conn, todo)?;
        }
        print_dry_run(&todo, asked, &source);
        return Ok(Exit::Ok);
    }

    let store = app::open_store(&config)?;
    if !args.force {
        todo = store.with(|c| query::not_done(c, todo))?;
    }
    let skipped = asked - todo.len();
    let engine = app::engine(&config, found, store, app::limiter(&config))?;
    let ctl = Control::default();
    let signal = crate::signals::stop_on_signal(ctl.clone(), GRACE);
    let summary = engine.run(todo, args.force, &ctl).await;
    let stopped_by = signal.stopped();
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

fn print_dry_run(todo: &[Planned], asked: usize, source: &crate::credentials::Source) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "dry run: {} of {asked} reports would be fetched (credentials: {source}); nothing is sent",
        todo.len()
    );
    for p in todo {
        let body = String::from_utf8(p.request().to_body()).unwrap_or_default();
        let region = p.region.map(|r| r.as_str()).unwrap_or("ALL");
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{body}",
            p.job.name,
            p.target.label(),
            region,
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
        let region = if f.key.region.is_empty() {
            "ALL"
        } else {
            &f.key.region
        };
        let _ = writeln!(
            err,
            "failed: {} {} {} {} ({} tries in all): {} ({}){}",
            f.key.job,
            f.key.target,
            region,
            f.window,
            f.attempts,
            f.code,
            f.message,
            f.request_id
                .as_deref()
                .map(|r| format!(", request id {r}"))
                .unwrap_or_default()
        );
        if let Some(h) = f.hint {
            let _ = writeln!(err, "  fix: {h}");
        }
    }
}
