//! `check`: validate the config, say where the credentials come from, and
//! show each job's targets, next fires and the reports it would fetch now,
//! with how long they take at the rate limit.
//! No API call; it only reads the history, if there is one.

use crate::archive::store::query;
use crate::config::Job;
use crate::core::report::RegionScope;
use crate::core::schedule;
use crate::run::exit::Exit;
use crate::run::plan;
use crate::run::setup;
use crate::tencent::credentials::{Found, redact_id};
use jiff::Timestamp;
use std::fmt::Write as _;
use std::path::Path;

pub fn run(config_flag: Option<&Path>) -> anyhow::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "config {}: valid, {} job(s)",
        config.path.display(),
        config.jobs.len()
    );
    let (source, found) = setup::find_credentials(&config)?;
    let who = match &found {
        Found::Static(c) => format!(
            "SecretId {}{}",
            redact_id(&c.secret_id),
            if c.token.is_some() {
                ", with token"
            } else {
                ""
            }
        ),
        Found::CvmRole => "fetched at first use".to_string(),
    };
    let _ = writeln!(out, "credentials: {source} ({who})");
    let _ = writeln!(
        out,
        "api: {} at most {}/s, {} in flight, timeout {}",
        config.api.endpoint,
        config.api.rate_limit,
        config.api.concurrency,
        humantime::format_duration(config.api.timeout)
    );
    let _ = writeln!(
        out,
        "storage: {} (reports in {})",
        config.storage.database_path().display(),
        config.storage.reports_dir.display()
    );
    let conn = setup::open_readonly(&config)?;
    let now = Timestamp::now();
    for job in &config.jobs {
        describe_job(&mut out, job, now, conn.as_ref(), config.api.rate_limit)?;
    }
    super::print(&out)?;
    Ok(Exit::Ok)
}

fn describe_job(
    out: &mut String,
    job: &Job,
    now: Timestamp,
    conn: Option<&rusqlite::Connection>,
    limit: std::num::NonZeroU32,
) -> anyhow::Result<()> {
    let job = std::sync::Arc::new(job.clone());
    let _ = writeln!(
        out,
        "\njob {}{}: {} reports, window {}, step {}, zone {}, lag {}, catch-up {}",
        job.name,
        if job.enabled { "" } else { " (disabled)" },
        job.granularity.name(),
        humantime::format_duration(std::time::Duration::from_secs(
            job.cadence.window().nominal_secs()
        )),
        humantime::format_duration(std::time::Duration::from_secs(
            job.cadence.step().nominal_secs()
        )),
        job.timezone,
        humantime::format_duration(job.lag),
        humantime::format_duration(job.catch_up)
    );
    let targets: Vec<String> = job.targets.iter().map(|t| t.label()).collect();
    let regions: Vec<String> = job
        .regions
        .iter()
        .map(|r| RegionScope::from(*r).to_string())
        .collect();
    let _ = writeln!(
        out,
        "  targets: {}; regions: {}",
        targets.join(", "),
        regions.join(", ")
    );
    let schedule = job
        .schedule
        .as_ref()
        .map(|s| format!("cron {:?}", s.as_str()))
        .unwrap_or_else(|| "every window end + lag".to_string());
    let fires: Vec<String> = schedule::next_fires(job.fires(), now, 3)
        .into_iter()
        .map(|t| {
            t.to_zoned(job.cadence.zone().clone())
                .strftime("%Y-%m-%d %H:%M:%S%:z")
                .to_string()
        })
        .collect();
    let _ = writeln!(
        out,
        "  schedule: {schedule}; next fires: {}",
        fires.join(", ")
    );
    let due = plan::due(&job, now, false);
    let due_count = due.len();
    let todo = match conn {
        Some(c) => query::not_done(c, due)?,
        None => due,
    };
    match (todo.first(), todo.last()) {
        (Some(first), Some(last)) => {
            let _ = writeln!(
                out,
                "  due now: {} of {due_count} reports not done, windows {} .. {}\n  estimate: {}",
                todo.len(),
                first.window_text(),
                last.window_text(),
                crate::run::estimate::describe(todo.len() as u64, limit)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "  due now: nothing to fetch ({due_count} reports in the horizon, all done)"
            );
        }
    }
    Ok(())
}
