//! `check`: validate the config, say where the credentials come from, and
//! show each job's targets (a discovering job's known devices and last
//! listing), next fires, the reports it would fetch now with how long they
//! take at the rate limit, and its steady demand in calls per second, with
//! the sum against `api.rate_limit`; with `[storage.remote]`, the bucket,
//! its request style and where its keys come from.
//! No API call; it only reads the history, if there is one. Without
//! credentials it still reports the whole config, then fails (exit 2), so a
//! job file can be checked on a machine without keys.

use crate::archive::resolved::{self, ResolvedJob};
use crate::archive::store::Reader;
use crate::archive::store::devices::Listing;
use crate::commands::exit::{Exit, Usage};
use crate::config::Job;
use crate::domain::report::RegionScope;
use crate::domain::schedule;
use crate::fetch::plan;
use crate::fetch::setup;
use crate::tencent::credentials::{Found, redact_id};
use jiff::Timestamp;
use std::fmt::Write as _;
use std::path::Path;

pub(crate) fn run(config_flag: Option<&Path>) -> super::exit::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "config {}: valid, {} job(s)",
        config.path.display(),
        config.jobs.len()
    );
    let credentials = setup::find_credentials(&config);
    let _ = writeln!(out, "{}", credentials_text(&credentials));
    let web_token = web_token(&mut out, &config);
    let _ = writeln!(
        out,
        "api: {} at most {}/s, {} in flight, timeout {}",
        config.api.endpoint,
        config.api.rate_limit,
        config.api.concurrency,
        crate::domain::human::duration(config.api.timeout)
    );
    let _ = writeln!(
        out,
        "storage: {} (reports in {})",
        config.storage.database_path().display(),
        config.storage.reports_dir.display()
    );
    if let Some(line) = remote_text(&config) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(line) = export_text(&config) {
        let _ = writeln!(out, "{line}");
    }
    let conn = setup::open_readonly(&config)?;
    if let Some(c) = &conn {
        let _ = writeln!(out, "{}", archive_text(c, &config)?);
    }
    let now = Timestamp::now();
    let mut demands = Vec::new();
    for job in &config.jobs {
        let resolved = match &conn {
            Some(c) => c.read(|c| resolved::resolve(c, &std::sync::Arc::new(job.clone())))?,
            None => ResolvedJob::from_config(std::sync::Arc::new(job.clone())),
        };
        describe_job(
            &mut out,
            &resolved,
            now,
            conn.as_ref(),
            config.api.rate_limit,
        )?;
        if resolved.job().enabled {
            let d = demand::of(&resolved);
            let _ = writeln!(out, "  demand: {}", d.text());
            demands.push(d);
        }
    }
    let _ = write!(
        out,
        "\n{}",
        demand::summary(&demands, config.api.rate_limit.get())
    );
    super::print(&out)?;
    // The config is valid and shown; missing keys still fail the check.
    credentials?;
    web_token?;
    Ok(Exit::Ok)
}

/// Where the credentials come from, and whose they are (the SecretId
/// redacted).
fn credentials_text<E>(credentials: &Result<(impl std::fmt::Display, Found), E>) -> String {
    match credentials {
        Ok((source, found)) => {
            let who = match found {
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
            format!("credentials: {source} ({who})")
        }
        Err(_) => "credentials: none usable (see the error below)".to_string(),
    }
}

/// The archive's damage the history shows: reports recording a file
/// outside the reports directory.
fn archive_text(conn: &Reader, config: &crate::config::Config) -> super::exit::Result<String> {
    let archive = crate::archive::root::ArchiveRoot::new(&config.storage.reports_dir);
    let outside = conn.files_outside(&archive.prefix())?;
    let n: u64 = outside.values().sum();
    Ok(if n > 0 {
        crate::archive::store::outside::damage_text(n, &archive, &config.storage.database_path())
    } else {
        "archive: every recorded file is inside the reports directory".to_string()
    })
}

/// With `[storage.remote]`: the bucket, its endpoint, the request style,
/// where its keys come from (never the keys), and what is kept. Missing keys
/// are said, not failed: fetching does not need them (`check --probe`
/// tries the bucket).
fn remote_text(config: &crate::config::Config) -> Option<String> {
    use crate::archive::remote::{bucket, client};
    let remote = config.storage.remote.as_ref()?;
    let endpoint = remote.endpoint.as_deref();
    let path_style = remote
        .path_style
        .unwrap_or_else(|| client::default_path_style(endpoint));
    let fallback = setup::cos_keys(config, endpoint);
    let keys = match bucket::keys_source(remote, fallback) {
        Ok(source) => format!("keys from {source}"),
        Err(e) => format!("no bucket keys: {e}"),
    };
    let human = crate::domain::human::duration;
    let kept = match remote.keep_local {
        Some(d) => format!("local copies kept {} after upload", human(d)),
        None => "local copies kept until retention".to_string(),
    };
    let snapshots = match remote.snapshot_interval {
        Some(d) => format!(
            "a history snapshot every {}, the newest {} kept",
            human(d),
            remote.snapshot_keep
        ),
        None => "no scheduled history snapshot".to_string(),
    };
    Some(format!(
        "remote: {} at {}{}, {} requests; {kept}; {snapshots}; {keys}",
        super::shown(&remote.url),
        endpoint.map_or_else(|| "AWS S3".to_string(), super::shown),
        remote
            .region
            .as_deref()
            .map(|r| format!(" ({})", super::shown(r)))
            .unwrap_or_default(),
        if path_style {
            "path-style"
        } else {
            "virtual-hosted-style"
        },
    ))
}

/// With `[export] to`: where the daemon exports, how often, and where the
/// bucket's keys come from (never the keys). Missing keys are said, not
/// failed: fetching does not need them.
fn export_text(config: &crate::config::Config) -> Option<String> {
    use crate::archive::remote::client;
    let export = config.export.as_ref()?;
    let to = export.to.as_deref()?;
    let keys = match to.strip_prefix("s3://").and_then(|r| r.split('/').next()) {
        None => String::new(),
        Some(bucket) => {
            let settings = crate::archive::export::bucket_settings(config, bucket);
            let env = |k: &str| std::env::var(k).ok();
            match client::find_keys(&settings, &env, None) {
                Ok((_, source)) => format!("; bucket keys from {source}"),
                Err(e) => format!("; no bucket keys: {e}"),
            }
        }
    };
    Some(format!(
        "export: to {} every {}{keys}",
        super::shown(to),
        crate::domain::human::duration(export.interval)
    ))
}

/// Whether the page's token (`[web] token_file`) can be read, as `run` and
/// `serve` will read it; a line about it in `out`.
fn web_token(out: &mut String, config: &crate::config::Config) -> Result<(), Usage> {
    let Some(web) = &config.web else {
        return Ok(());
    };
    let Some(path) = &web.token_file else {
        let _ = writeln!(
            out,
            "web: http://{}/ with no token (loopback only)",
            web.listen
        );
        return Ok(());
    };
    match crate::serve::auth::read_token(path) {
        Ok(_) => {
            let _ = writeln!(
                out,
                "web: http://{}/ with the token from {}",
                web.listen,
                path.display()
            );
            Ok(())
        }
        Err(e) => {
            let _ = writeln!(out, "web: the token is not usable (see the error below)");
            Err(Usage::Access(e.into()))
        }
    }
}

fn describe_job(
    out: &mut String,
    resolved: &ResolvedJob,
    now: Timestamp,
    conn: Option<&Reader>,
    limit: std::num::NonZeroU32,
) -> super::exit::Result<()> {
    let job = &**resolved.job();
    header_text(out, resolved);
    if job.discovery.is_some() {
        let listing = match conn {
            Some(c) => c.device_listing(&job.name)?,
            None => None,
        };
        let _ = writeln!(
            out,
            "  devices: {}",
            listing_text(job, resolved.targets().len(), listing.as_ref())
        );
    }
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
    due_text(out, resolved, now, conn, limit)
}

/// The job's cadence, targets and regions.
fn header_text(out: &mut String, resolved: &ResolvedJob) {
    let job = &**resolved.job();
    let _ = writeln!(
        out,
        "\njob {}{}: {} reports, window {}, step {}, zone {}, lag {}, catch-up {}",
        job.name,
        if job.enabled { "" } else { " (disabled)" },
        job.granularity.name(),
        crate::domain::human::duration(std::time::Duration::from_secs(
            job.cadence.window().nominal_secs()
        )),
        crate::domain::human::duration(std::time::Duration::from_secs(
            job.cadence.step().nominal_secs()
        )),
        job.timezone,
        crate::domain::human::duration(job.lag),
        crate::domain::human::duration(job.catch_up)
    );
    let targets: Vec<String> = resolved.targets().iter().map(|t| t.label()).collect();
    let regions: Vec<String> = job
        .regions
        .iter()
        .map(|r| RegionScope::from(*r).to_string())
        .collect();
    let _ = writeln!(
        out,
        "  targets: {}; regions: {}",
        targets_text(job, &targets),
        regions.join(", ")
    );
}

/// What the job has due now, and how long fetching it takes at `limit`.
fn due_text(
    out: &mut String,
    resolved: &ResolvedJob,
    now: Timestamp,
    conn: Option<&Reader>,
    limit: std::num::NonZeroU32,
) -> super::exit::Result<()> {
    let job = &**resolved.job();
    let Some(conn) = conn else {
        // No history: everything in the horizon is due; counted, not planned
        // (a large fleet would make millions of reports to print three lines).
        let due = crate::archive::missing::Due::new(resolved, now);
        let count = due.expected();
        match due.bounds() {
            Some((first, last)) if count > 0 => {
                let _ = writeln!(
                    out,
                    "  due now: {count} of {count} reports not done, windows {} .. {}\n  estimate: {}",
                    plan::window_text(first, job.cadence.zone()),
                    plan::window_text(last, job.cadence.zone()),
                    crate::fetch::estimate::describe(count, limit)
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  due now: nothing to fetch (0 reports in the horizon)"
                );
            }
        }
        return Ok(());
    };
    // Counted, not planned: a horizon of minutes over a year is millions of
    // reports. The oldest and newest not done are found by cutting it in parts.
    let dues = [crate::archive::missing::Due::new(resolved, now)];
    let due_count = dues[0].expected();
    let (todo, newest, oldest) = conn.newest_and_oldest_missing(&dues)?;
    match (oldest, newest) {
        (Some(first), Some(last)) if todo > 0 => {
            let _ = writeln!(
                out,
                "  due now: {} of {due_count} reports not done, windows {} .. {}\n  estimate: {}",
                todo,
                plan::window_text(first.window, job.cadence.zone()),
                plan::window_text(last.window, job.cadence.zone()),
                crate::fetch::estimate::describe(todo, limit)
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

/// The targets for people: a long list is cut, a discovering job says so.
fn targets_text(job: &Job, labels: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut text = labels
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if labels.len() > SHOWN {
        text.push_str(&format!(", ... ({} in all)", labels.len()));
    }
    match &job.discovery {
        Some(d) => format!(
            "one per device of {} listed{}",
            match &d.scope {
                crate::config::Scope::All => "the account".to_string(),
                crate::config::Scope::Group(g) => format!("group {g}"),
            },
            if labels.is_empty() {
                String::new()
            } else {
                format!(" ({text})")
            }
        ),
        None => text,
    }
}

/// How many devices a discovering job knows and when it last listed them.
fn listing_text(job: &Job, known: usize, listing: Option<&Listing>) -> String {
    let zone = job.cadence.zone();
    let interval = job
        .discovery
        .as_ref()
        .map(|d| crate::domain::human::duration(d.interval))
        .unwrap_or_default();
    let Some(l) = listing else {
        return format!(
            "{} known, never listed (the daemon lists them at start, then at most every {interval}; or run `mna-reportd devices --refresh`)",
            known
        );
    };
    let mut text = format!(
        "{} known, last listed {} (every {interval} at most)",
        known,
        match l.listed_at {
            Some(t) => super::time_cell(Some(t), zone),
            None => "never".to_string(),
        }
    );
    if let (Some(failed), Some(code)) = (l.failed_at, &l.error_code)
        && l.listed_at.is_none_or(|ok| failed >= ok)
    {
        text.push_str(&format!(
            "; the last listing failed at {} ({})",
            super::time_cell(Some(failed), zone),
            super::shown(code)
        ));
    }
    text
}

/// The steady demand of jobs on the API, in calls per second.
mod demand {
    use crate::archive::resolved::ResolvedJob;
    use crate::fetch::discovery;

    /// One job's steady demand.
    pub(crate) struct Demand {
        pub(crate) job: String,
        pub(crate) reports_per_day: f64,
        /// Listing calls per day.
        pub(crate) listings_per_day: f64,
    }

    impl Demand {
        pub(crate) fn per_second(&self) -> f64 {
            (self.reports_per_day + self.listings_per_day) / 86_400.0
        }

        pub(crate) fn text(&self) -> String {
            let mut t = format!(
                "{:.2} calls/s ({:.0} reports a day",
                self.per_second(),
                self.reports_per_day
            );
            if self.listings_per_day > 0.0 {
                t.push_str(&format!(
                    ", and {:.0} listing calls a day",
                    self.listings_per_day
                ));
            }
            t.push(')');
            t
        }
    }

    /// `job`'s demand: a report per target, region and step, plus, when it
    /// discovers, a listing (a call per 100 devices) per discovery interval
    /// (or per step, when the job fires less often).
    pub(crate) fn of(resolved: &ResolvedJob) -> Demand {
        let (job, targets) = (resolved.job(), resolved.targets().len());
        let step = job.cadence.step().nominal_secs().max(1) as f64;
        let per_window = (targets * job.regions.len()) as f64;
        let reports_per_day = per_window * 86_400.0 / step;
        let listings_per_day = match &job.discovery {
            Some(d) => {
                let every = (d.interval.as_secs() as f64).max(step).max(1.0);
                discovery::listing_calls(targets as u64) as f64 * 86_400.0 / every
            }
            None => 0.0,
        };
        Demand {
            job: job.name.clone(),
            reports_per_day,
            listings_per_day,
        }
    }

    /// The share of `rate_limit` above which `check` warns.
    pub(crate) const WARN_SHARE: f64 = 0.8;

    /// The sum against `rate_limit`, and a warning with what to change above [`WARN_SHARE`].
    pub(crate) fn summary(demands: &[Demand], rate_limit: u32) -> String {
        let sum: f64 = demands.iter().map(Demand::per_second).sum();
        let share = sum / f64::from(rate_limit.max(1));
        let mut out = format!(
            "demand: {sum:.2} calls/s in all against api.rate_limit {rate_limit}/s ({:.0}%)\n",
            share * 100.0
        );
        if share > WARN_SHARE {
            let top = demands
                .iter()
                .max_by(|a, b| a.per_second().total_cmp(&b.per_second()))
                .map(|d| format!(" (job {} alone needs {:.2} calls/s)", d.job, d.per_second()))
                .unwrap_or_default();
            out.push_str(&format!(
                "warning: the steady demand is above {:.0}% of api.rate_limit{top}: retries and catch-up after an outage have no room left, and reports fall behind\n  fix: use a longer step or granularity (daily instead of hourly), fewer regions, exclude devices or split the fleet over accounts; raise api.rate_limit only if the account's limit is higher than 20 calls a second\n",
                WARN_SHARE * 100.0
            ));
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn seventy_thousand_hourly_devices_need_over_nineteen_calls_a_second() {
            let d = Demand {
                job: "fleet".into(),
                reports_per_day: 70_000.0 * 24.0,
                listings_per_day: 0.0,
            };
            assert!((d.per_second() - 19.44).abs() < 0.01, "{}", d.per_second());
            let s = summary(&[d], 20);
            assert!(s.contains("19.44 calls/s"), "{s}");
            assert!(s.contains("warning:"), "{s}");
            let small = Demand {
                job: "s".into(),
                reports_per_day: 24.0,
                listings_per_day: 24.0,
            };
            assert!(!summary(&[small], 20).contains("warning"));
        }
    }
}
