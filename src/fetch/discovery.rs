//! Which targets a job has now. A fixed job has those of its config; a
//! discovering job (`devices = "all"`, or a group with `per_device`) has one
//! per device of the inventory in its scope, each from its `CreateTime` on.
//!
//! Listing: page after page of [`listing::PAGE_SIZE`] devices until
//! `TotalPage`, every call through the process's rate limiter, signing and
//! retry rules, each page recorded in the inventory as it arrives (memory
//! stays one page, whatever the fleet), at most `api.max_devices` devices.
//! Only a listing whose every page came in, as many devices as it said,
//! may mark devices removed; a failed one marks none,
//! is logged with its code and counted in
//! `mna_reportd_discovery_failures_total{job,code}` (the code from a fixed
//! set, `other` for one the server invented).
//!
//! A discovering job left with no device is said so, and why
//! ([`NoDevices`]): the account or group lists none, every one is excluded,
//! the listing failed, or it never listed.

use crate::archive::resolved::ResolvedJob;
use crate::archive::store::devices::Change;
use crate::archive::store::inventory::ListingEnd;
use crate::archive::store::{Store, StoreError};
use crate::config::{Discovery, Job, RetrySettings, Scope};
use crate::fetch::retry::{self, Class};
use crate::tencent::api::listing::{self, DeviceInfo};
use crate::tencent::api::{CallError, Client};
use backon::Retryable;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Why a discovering job has no device to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Empty {
    /// Its devices were never listed.
    NeverListed,
    /// The last listing failed with this code, and the history knows none.
    ListingFailed { code: String },
    /// The last listing found none in its scope (of its type).
    NoneListed,
    /// Every device of its scope, this many, is in its `exclude`.
    AllExcluded { devices: usize },
}

/// A discovering job with no device to fetch, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job {job} has no device to fetch: {}\n  fix: {}", self.reason(), self.fix())]
pub(crate) struct NoDevices {
    pub(crate) job: String,
    pub(crate) discovery: Discovery,
    pub(crate) why: Empty,
}

impl NoDevices {
    /// What the listing found (or did not).
    pub(crate) fn reason(&self) -> String {
        let of_type = match self.discovery.device_type {
            Some(1) => " of device_type = 1 (own devices)",
            Some(_) => " of device_type = 2 (third-party devices)",
            None => "",
        };
        match (&self.why, &self.discovery.scope) {
            (Empty::NeverListed, _) => "its devices have never been listed".to_string(),
            (Empty::ListingFailed { code }, _) => format!(
                "the last listing of its devices failed ({code}) and the history knows none of them"
            ),
            (Empty::NoneListed, Scope::All) => {
                format!("the account lists no device{of_type} (GetDevices)")
            }
            (Empty::NoneListed, Scope::Group(g)) => {
                format!("group {g} lists no device{of_type} (GetGroupDetail)")
            }
            (Empty::AllExcluded { devices }, _) => {
                format!("all {devices} device(s) it lists are in its exclude list")
            }
        }
    }

    /// What the operator does about it.
    pub(crate) fn fix(&self) -> String {
        let typed = if self.discovery.device_type.is_some() {
            ", or leave out device_type"
        } else {
            ""
        };
        match (&self.why, &self.discovery.scope) {
            (Empty::NeverListed, _) => {
                "run `mna-reportd devices --refresh` (a fetch or the daemon lists them too)"
                    .to_string()
            }
            (Empty::ListingFailed { .. }, _) => "check the credentials and the endpoint \
                 (`mna-reportd check`), then `mna-reportd devices --refresh`"
                .to_string(),
            (Empty::NoneListed, Scope::All) => format!(
                "add devices to the account, or check that the keys are those of the account holding them{typed}"
            ),
            (Empty::NoneListed, Scope::Group(g)) => format!(
                "add devices to group {g}, or check the group id (GetGroupList lists the account's groups){typed}"
            ),
            (Empty::AllExcluded { .. }, _) => {
                "take device ids out of `exclude` in the job's config".to_string()
            }
        }
    }
}

/// Why `job` has no device to fetch, from the history; `None` when it
/// has one, or does not discover.
pub(crate) async fn why_empty(
    store: &Store,
    job: &ResolvedJob,
) -> Result<Option<NoDevices>, StoreError> {
    let Some(d) = &job.job().discovery else {
        return Ok(None);
    };
    if !job.targets().is_empty() {
        return Ok(None);
    }
    let why = match store.last_listing(job.name()).await? {
        None => Empty::NeverListed,
        Some(l)
            if l.failed_at
                .is_some_and(|f| l.listed_at.is_none_or(|t| f >= t)) =>
        {
            Empty::ListingFailed {
                code: l.error_code.unwrap_or_else(|| "unknown".to_string()),
            }
        }
        Some(_) => match store.in_scope_count(d).await? {
            0 => Empty::NoneListed,
            n => Empty::AllExcluded { devices: n },
        },
    };
    Ok(Some(NoDevices {
        job: job.name().to_string(),
        discovery: d.clone(),
        why,
    }))
}

/// `job` with the targets it has now, and why it has no device to fetch
/// if it has none.
pub(crate) async fn resolve(
    store: &Store,
    job: &Arc<Job>,
) -> Result<(ResolvedJob, Option<NoDevices>), StoreError> {
    let now = store.resolve(job).await?;
    let empty = why_empty(store, &now).await?;
    Ok((now, empty))
}

/// A listing whose every page came in and was recorded.
#[derive(Debug)]
pub(crate) struct Listed {
    /// Devices recorded (each once).
    pub(crate) devices: u64,
    /// Devices left out for their ids ([`listing::MAX_DEVICE_ID`]).
    pub(crate) refused: u64,
    pub(crate) calls: u32,
    /// The devices found are as many as the last page's `Length` says: the
    /// list did not change between pages, and a device it lacks is gone.
    pub(crate) complete: bool,
    pub(crate) change: Change,
}

/// A listing that did not complete: the error of the page that failed.
#[derive(Debug, thiserror::Error)]
#[error("listing the devices failed on page {page}: {error}")]
pub(crate) struct ListError {
    pub(crate) page: i64,
    pub(crate) error: CallError,
    pub(crate) calls: u32,
}

/// Why a refresh did not complete. Pages recorded before it stay recorded
/// (a device seen is a device that exists); nothing is marked removed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RefreshError {
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the device listing of job {job} holds more than {cap} devices (api.max_devices); it stopped there, and no device is taken as removed\n  fix: raise max_devices in [api] of the config above the fleet's size (each device is a report per window), or list a group of devices instead"
    )]
    TooMany { job: String, cap: u64 },
}

impl RefreshError {
    /// The code logged and counted.
    pub(crate) fn code(&self) -> String {
        match self {
            RefreshError::List(e) => e.error.code(),
            RefreshError::Store(_) => "HistoryError".to_string(),
            RefreshError::TooMany { .. } => "TooManyDevices".to_string(),
        }
    }
}

/// Fetch page `page` of `d`'s scope by the retry rules of every call.
async fn fetch_page(
    client: &Client,
    rules: &RetrySettings,
    d: &Discovery,
    page: i64,
    calls: &mut u32,
) -> Result<listing::Page<DeviceInfo>, ListError> {
    let req = match &d.scope {
        Scope::All => listing::devices_page(page, d.device_type),
        Scope::Group(g) => listing::group_detail_page(page, g),
    };
    let answer = (|| {
        *calls += 1;
        client.list_devices(&req)
    })
    .retry(retry::backoff(rules))
    .sleep(tokio::time::sleep)
    .when(|e: &CallError| retry::classify_call(e) == Class::Retry)
    .notify(|e: &CallError, after: Duration| {
        warn!(page, code = %e.code(), error = %e, retry_in = ?after, "device listing: try failed; retrying");
    })
    .await;
    answer.map_err(|error| ListError {
        page,
        error,
        calls: *calls,
    })
}

/// How many refused device ids one listing names in the log (the rest are
/// counted): a server giving a million bad ids writes no million lines.
const REFUSED_NAMED: usize = 20;

/// List every device of `d`'s scope for `job`, page by page, each page
/// recorded in the inventory as it arrives (memory stays one page, whatever
/// the fleet), at most `d.max_devices`; devices gone are marked at the end,
/// and only when the listing is complete.
pub(crate) async fn list(
    client: &Client,
    rules: &RetrySettings,
    store: &Store,
    job: &str,
    d: &Discovery,
) -> Result<Listed, RefreshError> {
    let stamp = store.begin_listing().await?;
    let (mut calls, mut page, mut fresh, mut refused) = (0u32, 1i64, 0u64, 0u64);
    let mut cut_short = false;
    let mut change = Change::default();
    let length = loop {
        let got = fetch_page(client, rules, d, page, &mut calls).await?;
        // The first few named; the rest counted in the summary line.
        for id in got
            .refused
            .iter()
            .take(REFUSED_NAMED.saturating_sub(refused as usize))
        {
            warn!(job, device = %id, max_bytes = listing::MAX_DEVICE_ID, "device id refused: longer than the limit or holding control characters, it could not be sent back as given; the device is not fetched");
        }
        refused += got.refused.len() as u64;
        if fresh + got.items.len() as u64 > d.max_devices {
            return Err(RefreshError::TooMany {
                job: job.to_string(),
                cap: d.max_devices,
            });
        }
        let recorded = store.record_page(d, got.items, stamp).await?;
        fresh += recorded.fresh;
        change.merge(recorded.change);
        if page >= got.total_page {
            break got.length;
        }
        if page >= listing::max_pages(d.max_devices) {
            warn!(
                job,
                pages = page,
                total_page = got.total_page,
                "the listing says it has more pages than its devices could fill; it stops here, and no device is taken as removed"
            );
            cut_short = true;
            break got.length;
        }
        page += 1;
    };
    let complete = !cut_short && i64::try_from(fresh + refused).is_ok_and(|n| n == length);
    let end = ListingEnd {
        stamp,
        listed: fresh,
        calls,
        complete,
    };
    let removed = store.finish_listing(job, d, end).await?;
    change.merge(removed);
    Ok(Listed {
        devices: fresh,
        refused,
        calls,
        complete,
        change,
    })
}

/// List `job`'s devices and record them (or the failure) in the history.
/// A failure marks no device removed.
pub(crate) async fn refresh(
    client: &Client,
    rules: &RetrySettings,
    store: &Store,
    job: &Job,
) -> Result<Listed, RefreshError> {
    let Some(d) = job.discovery.clone() else {
        return Ok(Listed {
            devices: 0,
            refused: 0,
            calls: 0,
            complete: true,
            change: Change::default(),
        });
    };
    let name = job.name.clone();
    let started = Instant::now();
    let result = list(client, rules, store, &name, &d).await;
    match &result {
        Ok(l) => {
            if !l.complete {
                warn!(job = %job.name, devices = l.devices, "the device list changed while it was being listed; no device is taken as removed until a listing is consistent");
            }
            let ch = &l.change;
            info!(job = %job.name, devices = l.devices, refused = l.refused, calls = l.calls, added = ch.added_count, removed = ch.removed_count, took = ?started.elapsed(), "devices listed");
            for id in &ch.added {
                info!(job = %job.name, device = %id, "new device: it gets reports from its first window after its creation");
            }
            for id in &ch.removed {
                info!(job = %job.name, device = %id, "device gone from the listing: no new windows for it; its history stays");
            }
            let unnamed =
                (ch.added_count + ch.removed_count) as usize - ch.added.len() - ch.removed.len();
            if unnamed > 0 {
                info!(job = %job.name, devices = unnamed, "more devices added or removed than named above; `mna-reportd devices` lists them all");
            }
        }
        Err(e) => {
            let code = e.code();
            metrics::counter!("mna_reportd_discovery_failures_total", "job" => job.name.clone(), "code" => crate::domain::code::metric_label(&code)).increment(1);
            let hint = match e {
                RefreshError::List(l) => match &l.error {
                    CallError::Api(a) => a.code.kind().hint(),
                    _ => None,
                },
                RefreshError::Store(_) | RefreshError::TooMany { .. } => None,
            };
            warn!(job = %job.name, code = %code, error = %e, hint = hint.unwrap_or(""), "device listing failed; the job goes on with the devices it knew");
            let _ = store
                .record_listing_failure(&name, &d, code, e.to_string())
                .await;
        }
    }
    result
}

/// When each discovering job last listed (tried to), in this process: a
/// job lists at most once per `discovery_interval`.
#[derive(Clone, Default)]
pub(crate) struct ListingPace {
    last: Arc<Mutex<HashMap<String, Instant>>>,
}

impl ListingPace {
    /// Whether `job` should list now; if so, the moment is taken as its last.
    pub(crate) fn take(&self, job: &Job) -> bool {
        let Some(d) = &job.discovery else {
            return false;
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let due = last
            .get(&job.name)
            .is_none_or(|t| t.elapsed() >= d.interval);
        if due {
            last.insert(job.name.clone(), Instant::now());
        }
        due
    }
}

/// The calls a listing of `devices` devices takes: one per page.
pub(crate) fn listing_calls(devices: u64) -> u64 {
    devices.div_ceil(listing::PAGE_SIZE as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn job(extra: &str) -> Job {
        let text = format!(
            "[storage]\nstate_dir = \"/tmp/x\"\n[[jobs]]\nname = \"j\"\ngranularity = \"hourly\"\n{extra}\n"
        );
        let c = crate::config::parse(&text, Path::new("/tmp/c.toml")).expect("config");
        c.jobs[0].clone()
    }

    #[test]
    fn pace_lists_once_per_interval() {
        let j = job("devices = \"all\"\nper_device = true\ndiscovery_interval = \"1h\"");
        let pace = ListingPace::default();
        assert!(pace.take(&j));
        assert!(!pace.take(&j));
        let fixed = job("");
        assert!(!pace.take(&fixed));
    }

    #[test]
    fn listing_calls_are_pages_of_a_hundred() {
        assert_eq!(listing_calls(2_000), 20);
        assert_eq!(listing_calls(2_001), 21);
        assert_eq!(listing_calls(0), 1);
        assert_eq!(listing_calls(70_000), 700);
    }
}
