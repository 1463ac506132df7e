//! `status`: per job, the last done window, the next fire, the reports
//! missing or failed inside the horizon and the last error, as a table or
//! as JSON (an array of [`crate::archive::status::JobStatus`] objects, each
//! with `files_outside`: how many of the job's reports record a file
//! outside the reports directory, damage that the table reports in a line
//! after it, and with `[export] to`, `export_lag_seconds`: how long the
//! job's oldest sealed report not yet exported has waited, which the table
//! reports for all jobs in a line after it; and with `[storage.remote]`,
//! `upload_backlog` and `upload_lag_seconds`: the reports waiting for their
//! upload and how long the oldest has waited, which the table reports per
//! job in lines after it).

use crate::archive::root::ArchiveRoot;
use crate::archive::status::{self, JobStatus};
use crate::archive::store::{Reader, outside};
use crate::commands::cli::{StatusArgs, StatusFormat};
use crate::commands::exit::Exit;
use crate::config::Config;
use crate::fetch::setup;
use jiff::Timestamp;
use std::path::Path;

pub(crate) fn run(config_flag: Option<&Path>, args: StatusArgs) -> super::exit::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let now = Timestamp::now();
    let conn = match setup::open_readonly(&config)? {
        Some(c) => c,
        // No history yet: an empty one with the same tables.
        None => Reader::empty()?,
    };
    let mut rows: Vec<JobStatus> = Vec::with_capacity(config.jobs.len());
    for j in &config.jobs {
        rows.push(conn.read(|c| status::job_status(c, j, now))?);
    }
    let archive = ArchiveRoot::new(&config.storage.reports_dir);
    let outside = conn.files_outside(&archive.prefix())?;
    let backlog = match &config.storage.remote {
        Some(_) => Some(conn.upload_backlog()?),
        None => None,
    };
    let upload = |job: &str| {
        backlog
            .as_deref()
            .map(|b| status::upload_of(b, job, now.as_second()))
    };
    let text = match args.format {
        StatusFormat::Json => {
            let to = config.export.as_ref().and_then(|e| e.to.as_deref());
            let rows: Vec<WithDamage<'_>> = rows
                .iter()
                .map(|status| {
                    let lag = to
                        .map(|to| {
                            crate::archive::export::lag_on(
                                &conn,
                                to,
                                Some(&status.job),
                                now.as_second(),
                            )
                        })
                        .transpose()?
                        .map(|lag| lag.unwrap_or(0));
                    Ok(WithDamage {
                        files_outside: outside.get(&status.job).copied().unwrap_or(0),
                        export_lag_seconds: lag,
                        upload: upload(&status.job),
                        status,
                    })
                })
                .collect::<super::exit::Result<_>>()?;
            format!("{}\n", serde_json::to_string_pretty(&rows)?)
        }
        StatusFormat::Table => {
            let mut text = table_text(&rows, &config);
            let n: u64 = outside.values().sum();
            if n > 0 {
                let db = config.storage.database_path();
                text.push_str(&format!("\n{}\n", outside::damage_text(n, &archive, &db)));
            }
            text.push_str(&export_line(&conn, &config, now.as_second())?);
            if let Some(remote) = &config.storage.remote {
                let per_job = rows.iter().map(|r| (r.job.as_str(), upload(&r.job)));
                text.push_str(&upload_text(&remote.url, per_job));
            }
            text
        }
    };
    super::print(&text)?;
    Ok(Exit::Ok)
}

/// With `[export] to`: the export's lag, after the table.
fn export_line(conn: &Reader, config: &Config, now: i64) -> super::exit::Result<String> {
    let Some(to) = config.export.as_ref().and_then(|e| e.to.as_deref()) else {
        return Ok(String::new());
    };
    let shown = super::shown(to);
    Ok(match crate::archive::export::lag_on(conn, to, None, now)? {
        None => format!("\nexport to {shown}: every sealed report exported (lag 0s)\n"),
        Some(secs) => format!(
            "\nexport to {shown}: lag {} (the oldest sealed report not yet exported has waited that long)\n",
            crate::domain::human::duration(std::time::Duration::from_secs(secs.unsigned_abs()))
        ),
    })
}

/// With `[storage.remote]`: per job, the reports waiting for their upload
/// and how long the oldest has waited, after the table.
fn upload_text<'a>(
    url: &str,
    per_job: impl Iterator<Item = (&'a str, Option<status::Upload>)>,
) -> String {
    let mut text = format!("\nupload to {}:\n", super::shown(url));
    let rows: Vec<(&str, String)> = per_job
        .map(|(job, u)| {
            let said = match u {
                Some(u) if u.upload_backlog > 0 => format!(
                    "{} report{} waiting (backlog), the oldest for {} (lag)",
                    u.upload_backlog,
                    if u.upload_backlog == 1 { "" } else { "s" },
                    crate::domain::human::duration(std::time::Duration::from_secs(
                        u.upload_lag_seconds.unsigned_abs()
                    ))
                ),
                _ => "every sealed report uploaded (backlog 0, lag 0s)".to_string(),
            };
            (job, said)
        })
        .collect();
    let width = rows
        .iter()
        .map(|(j, _)| j.chars().count())
        .max()
        .unwrap_or(0);
    for (job, said) in rows {
        text.push_str(&format!("  {job:<width$}  {said}\n"));
    }
    text
}

/// A job's status with its reports recording a file outside the archive.
#[derive(serde::Serialize)]
struct WithDamage<'a> {
    #[serde(flatten)]
    status: &'a JobStatus,
    files_outside: u64,
    /// With `[export] to`: how long the job's oldest sealed report not yet
    /// exported there has waited (0: all exported).
    #[serde(skip_serializing_if = "Option::is_none")]
    export_lag_seconds: Option<i64>,
    /// With `[storage.remote]`: `upload_backlog` (reports waiting for their
    /// upload) and `upload_lag_seconds` (how long the oldest has waited).
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    upload: Option<status::Upload>,
}

/// An aligned table, times in each job's zone.
pub(crate) fn table_text(rows: &[JobStatus], config: &Config) -> String {
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
