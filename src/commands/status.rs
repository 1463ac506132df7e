//! `status`: per job, the last done window, the next fire, the reports
//! missing or failed inside the horizon and the last error, as a table or
//! as JSON (an array of [`crate::archive::status::JobStatus`] objects, each
//! with `files_outside`: how many of the job's reports record a file
//! outside the reports directory, damage that the table reports in a line
//! after it).

use crate::archive::root::ArchiveRoot;
use crate::archive::status::{self, JobStatus};
use crate::archive::store::outside;
use crate::commands::cli::{StatusArgs, StatusFormat};
use crate::commands::exit::Exit;
use crate::config::Config;
use crate::fetch::setup;
use jiff::Timestamp;
use std::path::Path;

pub fn run(config_flag: Option<&Path>, args: StatusArgs) -> anyhow::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let now = Timestamp::now();
    let conn = match setup::open_readonly(&config)? {
        Some(c) => c,
        // No history yet: an empty in-memory one with the same tables.
        None => {
            let mut c = rusqlite::Connection::open_in_memory()?;
            crate::archive::store::migrate(&mut c).map_err(anyhow::Error::msg)?;
            c
        }
    };
    let rows: Vec<JobStatus> = config
        .jobs
        .iter()
        .map(|j| status::job_status(&conn, j, now))
        .collect::<rusqlite::Result<_>>()?;
    let archive = ArchiveRoot::new(&config.storage.reports_dir);
    let outside = outside::files_outside(&conn, &archive.prefix())?;
    let text = match args.format {
        StatusFormat::Json => {
            let rows: Vec<WithDamage<'_>> = rows
                .iter()
                .map(|status| WithDamage {
                    files_outside: outside.get(&status.job).copied().unwrap_or(0),
                    status,
                })
                .collect();
            format!("{}\n", serde_json::to_string_pretty(&rows)?)
        }
        StatusFormat::Table => {
            let mut text = table_text(&rows, &config);
            let n: u64 = outside.values().sum();
            if n > 0 {
                let db = config.storage.database_path();
                text.push_str(&format!("\n{}\n", outside::damage_text(n, &archive, &db)));
            }
            text
        }
    };
    super::print(&text)?;
    Ok(Exit::Ok)
}

/// A job's status with its reports recording a file outside the archive.
#[derive(serde::Serialize)]
struct WithDamage<'a> {
    #[serde(flatten)]
    status: &'a JobStatus,
    files_outside: u64,
}

/// An aligned table, times in each job's zone.
pub fn table_text(rows: &[JobStatus], config: &Config) -> String {
    let header = [
        "JOB",
        "LAST DONE WINDOW END",
        "NEXT FIRE",
        "MISSING",
        "FAILED",
        "RUNNING",
        "LAST ERROR",
    ];
    super::table(
        header,
        rows.iter().map(|r| {
            let zone = config.zone_of(&r.job);
            [
                if r.enabled {
                    r.job.clone()
                } else {
                    format!("{} (disabled)", r.job)
                },
                super::time_cell(r.last_done_window_end, &zone),
                super::time_cell_seconds(r.next_fire, &zone),
                r.missing.to_string(),
                r.failed.to_string(),
                r.running.to_string(),
                r.last_error
                    .as_ref()
                    .map(|e| super::shown(&e.code))
                    .unwrap_or_else(|| "-".to_string()),
            ]
        }),
    )
}
