//! `runs`: the recorded daemon fires and manual fetches (the `runs` table),
//! newest first, as an aligned table, JSON (an array of objects whose fields
//! are the columns, `jobs` a list) or CSV (the same columns, `jobs` as the
//! JSON list the table stores, with a header row).

use crate::archive::store::runs::{COLUMNS, RunRow};
use crate::commands::cli::{RunsArgs, TableFormat};
use crate::commands::exit::Exit;
use crate::config::Config;
use crate::fetch::setup;
use jiff::tz::TimeZone;
use std::path::Path;

/// Rows listed when `--limit` is not given.
pub(crate) const DEFAULT_LIMIT: u32 = 20;

pub(crate) fn run(config_flag: Option<&Path>, args: RunsArgs) -> super::exit::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let conn = setup::open_readonly(&config)?;
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
    let rows = match &conn {
        Some(c) => c.runs(args.job.as_deref(), limit)?,
        None => Vec::new(),
    };
    // A job neither in the config nor in any run is a typo: say so and list the jobs.
    if let Some(name) = &args.job
        && config.job(name).is_none()
        && rows.is_empty()
    {
        setup::select_jobs(&config, std::slice::from_ref(name), false)?;
    }
    let text = match args.format {
        TableFormat::Json => format!("{}\n", serde_json::to_string_pretty(&rows)?),
        TableFormat::Csv => csv_text(&rows)?,
        TableFormat::Table => table_text(&rows, &config),
    };
    super::print(&text)?;
    Ok(Exit::Ok)
}

/// A row as CSV takes it: the job list as JSON text.
#[derive(serde::Serialize)]
struct CsvRow<'a> {
    id: i64,
    trigger: &'a str,
    jobs: String,
    started_at: i64,
    ended_at: Option<i64>,
    planned: i64,
    ok: i64,
    failed: i64,
    skipped: i64,
    outcome: &'a str,
    reason: Option<String>,
    pid: i64,
    version: &'a str,
}

/// CSV with a header row of the column names, through the formula-safe writer.
pub(crate) fn csv_text(rows: &[RunRow]) -> super::exit::Result<String> {
    Ok(super::csv_of(
        rows.iter().map(|r| CsvRow {
            id: r.id,
            trigger: &r.trigger,
            jobs: serde_json::to_string(&r.jobs).unwrap_or_default(),
            started_at: r.started_at,
            ended_at: r.ended_at,
            planned: r.planned,
            ok: r.ok,
            failed: r.failed,
            skipped: r.skipped,
            outcome: &r.outcome,
            reason: r.reason.as_deref().map(super::shown),
            pid: r.pid,
            version: &r.version,
        }),
        COLUMNS,
    )?)
}

/// An aligned table; times in the zone of the run's job (UTC for several).
pub(crate) fn table_text(rows: &[RunRow], config: &Config) -> String {
    if rows.is_empty() {
        return "no runs recorded (a run is recorded when the daemon fires or a fetch starts)\n"
            .to_string();
    }
    let header = [
        "STARTED", "TOOK", "TRIGGER", "JOBS", "PLANNED", "OK", "FAILED", "SKIPPED", "OUTCOME",
        "REASON",
    ];
    super::table(
        header,
        rows.iter().map(|r| {
            let zone = match r.jobs.as_slice() {
                [one] => config.zone_of(one),
                _ => TimeZone::UTC,
            };
            [
                super::time_cell_seconds(Some(r.started_at), &zone),
                took(r),
                r.trigger.clone(),
                super::shown(&r.jobs.join(",")),
                r.planned.to_string(),
                r.ok.to_string(),
                r.failed.to_string(),
                r.skipped.to_string(),
                r.outcome.clone(),
                r.reason
                    .as_deref()
                    .map(super::shown)
                    .unwrap_or_else(|| "-".to_string()),
            ]
        }),
    )
}

/// How long a run took, `-` while it runs.
fn took(r: &RunRow) -> String {
    match r.ended_at {
        Some(end) => {
            let secs = u64::try_from(end.saturating_sub(r.started_at)).unwrap_or(0);
            humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
        }
        None => "-".to_string(),
    }
}
