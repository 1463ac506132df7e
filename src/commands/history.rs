//! `history`: the recorded reports, newest first, as an aligned table, JSON
//! (an array of objects whose fields are the `reports` columns and
//! `stored`: where the file is kept, `local`, `remote` or `both`) or CSV
//! (the same fields, with a header row).

use crate::archive::store::query::{COLUMNS, HistoryFilter, ReportRow};
use crate::commands::cli::{HistoryArgs, TableFormat};
use crate::commands::exit::Exit;
use crate::config::Config;
use crate::domain::report::RegionScope;
use crate::fetch::setup;
use jiff::tz::TimeZone;
use std::path::Path;

pub(crate) fn run(config_flag: Option<&Path>, args: HistoryArgs) -> super::exit::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    // `--since` in local form is read in the zone of the job asked for (UTC otherwise).
    let zone = match args.jobs.as_slice() {
        [one] => config
            .job(one)
            .map(|j| j.cadence.zone().clone())
            .unwrap_or(TimeZone::UTC),
        _ => TimeZone::UTC,
    };
    let since = args
        .since
        .map(|t| t.resolve(&zone, jiff::Timestamp::now()))
        .transpose()
        .map_err(crate::commands::exit::Usage::from)?
        .map(|t| t.as_second());
    let filter = HistoryFilter {
        jobs: args.jobs.clone(),
        since,
        status: args.status,
        limit: args.limit,
    };
    let conn = setup::open_readonly(&config)?;
    // A job neither in the config nor in the history is a typo: say so and
    // list the jobs, as `fetch` does. A job removed from the config keeps
    // its history readable.
    for name in &args.jobs {
        if config.job(name).is_some() {
            continue;
        }
        let recorded = match &conn {
            Some(c) => !c
                .history(&HistoryFilter {
                    jobs: vec![name.clone()],
                    since: None,
                    status: None,
                    limit: Some(1),
                })?
                .is_empty(),
            None => false,
        };
        if !recorded {
            setup::select_jobs(&config, std::slice::from_ref(name), false)?;
        }
    }
    let rows = match &conn {
        Some(conn) => conn.history(&filter)?,
        None => Vec::new(),
    };
    let text = match args.format {
        TableFormat::Json => format!("{}\n", serde_json::to_string_pretty(&rows)?),
        TableFormat::Csv => csv_text(&rows)?,
        TableFormat::Table if rows.is_empty() => empty_text(&filter),
        TableFormat::Table => table_text(&rows, &config),
    };
    super::print(&text)?;
    Ok(Exit::Ok)
}

/// CSV with a header row of the column names; server text escaped.
pub(crate) fn csv_text(rows: &[ReportRow]) -> super::exit::Result<String> {
    let shown = |v: &Option<String>| v.as_deref().map(super::shown);
    Ok(super::csv_of(
        rows.iter().map(|r| ReportRow {
            request_id: shown(&r.request_id),
            error_code: shown(&r.error_code),
            error_message: shown(&r.error_message),
            ..r.clone()
        }),
        COLUMNS,
    )?)
}

/// Byte counts for people (a table cell: the unit only).
pub(crate) fn human_bytes(b: i64) -> String {
    crate::domain::human::size(u64::try_from(b).unwrap_or(0))
}

/// What an empty table says: no reports at all, or none that match.
fn empty_text(filter: &HistoryFilter) -> String {
    let mut what = vec![match filter.status {
        Some(s) => format!("no {s} reports"),
        None => "no reports".to_string(),
    }];
    if !filter.jobs.is_empty() {
        what.push(format!("of {}", filter.jobs.join(", ")));
    }
    if filter.since.is_some() {
        what.push("ending since that time".to_string());
    }
    if filter.status.is_none() && filter.jobs.is_empty() && filter.since.is_none() {
        return "no reports recorded\n".to_string();
    }
    format!("{}\n", what.join(" "))
}

/// An aligned table; window times in each job's zone.
pub(crate) fn table_text(rows: &[ReportRow], config: &Config) -> String {
    if rows.is_empty() {
        return "no reports recorded\n".to_string();
    }
    let header = [
        "WINDOW START",
        "WINDOW END",
        "JOB",
        "TARGET",
        "REGION",
        "STATUS",
        "TRIES",
        "SIZE",
        "FILE",
        "TRIGGER",
        "ERROR",
    ];
    super::table(
        header,
        rows.iter().map(|r| {
            let zone = config.zone_of(&r.job);
            [
                super::time_cell(Some(r.window_start), &zone),
                super::time_cell(Some(r.window_end), &zone),
                r.job.clone(),
                r.target.clone(),
                RegionScope::show_stored(&r.region).to_string(),
                r.status.to_string(),
                r.attempts.to_string(),
                r.bytes.map(human_bytes).unwrap_or_else(|| "-".to_string()),
                r.stored.clone().unwrap_or_else(|| "-".to_string()),
                r.trigger.to_string(),
                r.error_code
                    .as_deref()
                    .map(super::shown)
                    .unwrap_or_else(|| "-".to_string()),
            ]
        }),
    )
}
