//! `devices`: the device inventory the history keeps (what the API's
//! listings returned), as a table, JSON or CSV. `--refresh` lists every
//! discovering job's devices from the API first (every device of the
//! account when no job discovers).

use crate::archive::store::Reader;
use crate::archive::store::devices::DeviceRow;
use crate::commands::cli::{DevicesArgs, TableFormat};
use crate::commands::exit::Exit;
use crate::config::{Discovery, Job, Scope};
use crate::fetch::discovery;
use crate::fetch::setup;
use jiff::tz::TimeZone;
use std::path::Path;
use std::time::Duration;

/// The name a `--refresh` without discovering jobs records its listing under
/// (job names cannot hold parentheses).
pub(crate) const ACCOUNT_LISTING: &str = "(account)";

pub(crate) async fn run(
    config_flag: Option<&Path>,
    args: DevicesArgs,
) -> super::exit::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let mut failed = false;
    if args.refresh {
        let (_, found) = setup::find_credentials(&config)?;
        let store = setup::open_store(&config)?;
        let engine = setup::engine(&config, found, store.clone(), setup::limiter(&config))?;
        let mut jobs: Vec<Job> = config
            .jobs
            .iter()
            .filter(|j| j.enabled && j.discovery.is_some())
            .cloned()
            .collect();
        if jobs.is_empty() {
            jobs.push(account_job(&config));
        }
        for job in &jobs {
            match discovery::refresh(engine.client(), engine.retry_settings(), &store, job).await {
                Ok(l) => {
                    let none = match setup::open_readonly(&config)? {
                        Some(conn) => why_no_device(&conn, job)?,
                        None => None,
                    };
                    let refused = if l.refused > 0 {
                        format!(
                            ", {} refused (an id over {} bytes or with control characters: not fetched; see the log)",
                            l.refused,
                            crate::tencent::api::listing::MAX_DEVICE_ID,
                        )
                    } else {
                        String::new()
                    };
                    eprintln!(
                        "{}: listed; {} new, {} removed{refused}{}",
                        job.name,
                        l.change.added_count,
                        l.change.removed_count,
                        none.as_deref()
                            .map(|why| format!("; it reports on no device: {why}"))
                            .unwrap_or_default()
                    );
                }
                Err(e) => {
                    failed = true;
                    eprintln!("{}: {e}; the inventory keeps what it knew", job.name);
                }
            }
        }
    }
    let conn = setup::open_readonly(&config)?;
    let all = || -> super::exit::Result<Vec<DeviceRow>> {
        Ok(match &conn {
            Some(conn) => conn.device_inventory()?,
            None => Vec::new(),
        })
    };
    let text = match args.format {
        TableFormat::Json => format!("{}\n", serde_json::to_string_pretty(&all()?)?),
        TableFormat::Table => {
            let rows = all()?;
            if rows.is_empty() {
                empty_text(args.refresh, failed)
            } else {
                table_text(&rows)
            }
        }
        TableFormat::Csv => {
            match csv_out(conn.as_ref(), std::io::stdout().lock()) {
                Err(e) if is_broken_pipe(&e) => {}
                other => other?,
            }
            String::new()
        }
    };
    super::print(&text)?;
    Ok(if failed { Exit::Failed } else { Exit::Ok })
}

/// Why a discovering `job` reports on no device after a listing (`None`
/// when it has some): its scope holds none, or `exclude` leaves none.
fn why_no_device(conn: &Reader, job: &Job) -> super::exit::Result<Option<String>> {
    let Some(d) = &job.discovery else {
        return Ok(None);
    };
    if !conn.known_devices(d)?.is_empty() {
        return Ok(None);
    }
    let unexcluded = Discovery {
        exclude: Vec::new(),
        ..d.clone()
    };
    let listed = conn.known_devices(&unexcluded)?.len();
    let kind = match d.device_type {
        Some(1) => "own ",
        Some(2) => "third-party ",
        _ => "",
    };
    Ok(Some(match (&d.scope, listed) {
        (_, n) if n > 0 => format!(
            "all {n} devices it would report on are in its exclude list\n  fix: remove some from `exclude` in the job"
        ),
        (Scope::All, _) => format!(
            "the account has no {kind}devices\n  fix: add devices in the MNA console, or check that the keys are those of the right account"
        ),
        (Scope::Group(g), _) => format!(
            "group {g} has no {kind}devices\n  fix: add devices to the group in the MNA console, or correct `group` in the job"
        ),
    }))
}

/// What an empty inventory says: why, when `--refresh` just listed.
fn empty_text(refreshed: bool, failed: bool) -> String {
    match (refreshed, failed) {
        (false, _) => "no devices known; `mna-reportd devices --refresh` lists them\n",
        (true, true) => "no devices known: the listing failed (see above)\n",
        (true, false) => "no devices known: the listing found none (see above for why)\n",
    }
    .to_string()
}

/// A stand-in job that lists every device of the account.
fn account_job(config: &crate::config::Config) -> Job {
    let mut job = config.jobs[0].clone();
    job.name = ACCOUNT_LISTING.to_string();
    job.discovery = Some(Discovery {
        scope: Scope::All,
        device_type: None,
        exclude: Vec::new(),
        interval: Duration::from_secs(3600),
        max_devices: config.api.max_devices,
    });
    job
}

/// The CSV columns: those of [`DeviceRow`].
const COLUMNS: [&str; 10] = [
    "device_id",
    "name",
    "group_id",
    "group_name",
    "remark",
    "device_type",
    "created_at",
    "first_seen",
    "last_seen",
    "removed_at",
];

/// Devices read from the history per query of the CSV output.
const CSV_BATCH: i64 = 1_000;

/// The inventory as CSV to `out`, a batch of rows at a time (memory stays
/// flat whatever the fleet); server text escaped, formulas neutralised.
fn csv_out(conn: Option<&Reader>, out: impl std::io::Write) -> super::exit::Result<()> {
    let mut w = super::SafeCsv::new(std::io::BufWriter::new(out), &COLUMNS);
    let shown = |v: &Option<String>| v.as_deref().map(super::shown);
    let mut after = String::new();
    while let Some(conn) = conn {
        let batch = conn.devices_after(&after, CSV_BATCH)?;
        let Some(last) = batch.last() else { break };
        after = last.device_id.clone();
        for r in batch {
            w.row(DeviceRow {
                device_id: super::shown(&r.device_id),
                name: shown(&r.name),
                group_id: shown(&r.group_id),
                group_name: shown(&r.group_name),
                remark: shown(&r.remark),
                ..r
            })?;
        }
    }
    std::io::Write::flush(&mut w.finish()?)?;
    Ok(())
}

/// Whether `e` is a write to a reader that has gone (`| head`).
fn is_broken_pipe(e: &super::exit::Error) -> bool {
    let super::exit::Error::Failed(e) = e else {
        return false;
    };
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<csv::Error>().is_some_and(|ce| {
                matches!(ce.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
            })
    })
}

fn table_text(rows: &[DeviceRow]) -> String {
    let opt = |v: &Option<String>| {
        v.as_deref()
            .map(super::shown)
            .unwrap_or_else(|| "-".to_string())
    };
    let time = |t: Option<i64>| super::time_cell(t, &TimeZone::UTC);
    super::table(
        [
            "DEVICE",
            "NAME",
            "GROUP",
            "TYPE",
            "CREATED",
            "FIRST SEEN",
            "LAST SEEN",
            "REMOVED",
        ],
        rows.iter().map(|r| {
            [
                super::shown(&r.device_id),
                opt(&r.name),
                match (&r.group_id, &r.group_name) {
                    (Some(id), Some(name)) => {
                        format!("{} ({})", super::shown(id), super::shown(name))
                    }
                    (id, _) => opt(id),
                },
                match r.device_type {
                    Some(1) => "own".to_string(),
                    Some(2) => "third-party".to_string(),
                    _ => "-".to_string(),
                },
                time(r.created_at),
                time(Some(r.first_seen)),
                time(Some(r.last_seen)),
                time(r.removed_at),
            ]
        }),
    )
}
