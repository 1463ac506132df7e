//! Stage two of the config: the validated model the rest of the program uses.
//! Every value here has been checked; defaults are filled in.

use crate::domain::schedule::{Fires, Schedule};
use crate::domain::target::{Gateway, Granularity, Region, Target};
use crate::domain::window::Cadence;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub(crate) path: PathBuf,
    pub(crate) api: Api,
    pub(crate) credentials: CredentialSettings,
    pub(crate) storage: Storage,
    pub(crate) retry: RetrySettings,
    pub(crate) metrics: Metrics,
    /// `[web]`; `None` when the section is absent.
    pub(crate) web: Option<Web>,
    /// `[export]`; `None` when the section is absent.
    pub(crate) export: Option<Export>,
    pub jobs: Vec<Job>,
}

impl Config {
    /// The names the listeners answer to besides IP addresses and
    /// `localhost` (`[web] allowed_hosts`; none without `[web]`).
    pub(crate) fn allowed_hosts(&self) -> &[String] {
        self.web
            .as_ref()
            .map_or(&[], |w| w.allowed_hosts.as_slice())
    }

    pub(crate) fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// The zone of job `name`; UTC for a job the config no longer has.
    pub(crate) fn zone_of(&self, name: &str) -> jiff::tz::TimeZone {
        self.job(name)
            .map_or(jiff::tz::TimeZone::UTC, |j| j.cadence.zone().clone())
    }
}

/// `[api]`.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    pub(crate) endpoint: reqwest::Url,
    /// The `Host` header the client sends (and signs): host, plus `:port` when not the default.
    pub(crate) host: String,
    pub(crate) rate_limit: NonZeroU32,
    pub(crate) timeout: Duration,
    pub(crate) concurrency: NonZeroUsize,
    pub(crate) language: Option<String>,
    pub(crate) region: Option<String>,
    /// `max_devices`: the most devices one listing reads before it stops.
    pub(crate) max_devices: u64,
}

/// `[credentials]`: where to look; the keys themselves are read by [`crate::tencent::credentials`].
#[derive(Debug, Clone)]
pub(crate) struct CredentialSettings {
    pub(crate) secret_id_file: Option<PathBuf>,
    pub(crate) secret_key_file: Option<PathBuf>,
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) profile: String,
    pub(crate) cvm_role: bool,
    pub(crate) metadata_endpoint: reqwest::Url,
}

/// `[storage]`.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    pub(crate) state_dir: PathBuf,
    pub(crate) reports_dir: PathBuf,
    pub(crate) retention: Option<Duration>,
    /// The largest report file taken, in bytes.
    pub(crate) max_report_size: u64,
    /// `[storage.remote]`; `None` when the table is absent.
    pub(crate) remote: Option<Remote>,
}

/// `[storage.remote]`: an S3-compatible bucket (`url` = `s3://bucket/prefix`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remote {
    pub(crate) url: String,
    pub(crate) endpoint: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) path_style: Option<bool>,
    pub(crate) access_key_id_file: Option<PathBuf>,
    pub(crate) secret_access_key_file: Option<PathBuf>,
    /// How long a report's local file stays after its upload is verified;
    /// `None` = for good (until `retention` prunes it).
    pub(crate) keep_local: Option<Duration>,
    /// How often the daemon writes a history snapshot to the bucket;
    /// `None` = never on its own (`mna-reportd snapshot` still does).
    pub(crate) snapshot_interval: Option<Duration>,
    /// How many snapshots are kept in the bucket (the newest).
    pub(crate) snapshot_keep: u32,
}

/// Snapshots kept when `snapshot_keep` is not set.
pub(crate) const DEFAULT_SNAPSHOT_KEEP: u32 = 14;

impl Storage {
    pub(crate) fn database_path(&self) -> PathBuf {
        self.state_dir.join("history.db")
    }
}

/// `[retry]`: per report, inside one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetrySettings {
    pub(crate) max_attempts: NonZeroU32,
    pub(crate) initial_delay: Duration,
    pub(crate) max_delay: Duration,
}

/// `[metrics]`.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub(crate) listen: Option<SocketAddr>,
}

/// `[web]`: the read-only page and its JSON API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Web {
    pub(crate) listen: SocketAddr,
    /// The bearer token's file; required unless `listen` is loopback.
    pub(crate) token_file: Option<PathBuf>,
    /// Names every listener answers to in `Host:`, besides IP addresses and
    /// `localhost` (lower case, as written otherwise).
    pub(crate) allowed_hosts: Vec<String>,
}

/// `[export]`: the daemon's Parquet export, and the bucket an `s3://`
/// destination is reached with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Export {
    /// A directory or `s3://bucket/prefix`; the daemon exports only when set.
    pub(crate) to: Option<String>,
    pub(crate) interval: Duration,
    pub(crate) endpoint: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) path_style: Option<bool>,
    pub(crate) access_key_id_file: Option<PathBuf>,
    pub(crate) secret_access_key_file: Option<PathBuf>,
}

/// How often the daemon exports when `[export]` names no interval.
pub(crate) const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_secs(3600);

/// Where the page listens when `[web]` names no address.
pub(crate) const DEFAULT_WEB_LISTEN: &str = "127.0.0.1:9465";

/// One `[[jobs]]` entry, defaults applied.
#[derive(Debug, Clone)]
pub struct Job {
    pub(crate) name: String,
    pub(crate) granularity: Granularity,
    pub(crate) cadence: Cadence,
    /// The IANA name the zone was given as (for display).
    pub(crate) timezone: String,
    pub(crate) lag: Duration,
    pub(crate) catch_up: Duration,
    pub(crate) schedule: Option<Schedule>,
    /// The fixed targets; empty for a job that discovers its devices.
    pub(crate) targets: Vec<Target>,
    /// Set when the job's devices come from the API (`devices = "all"`, or
    /// `group` with `per_device`): one report per device listed.
    pub(crate) discovery: Option<Discovery>,
    /// `None` stands for all regions (no `AccessRegion`).
    pub(crate) regions: Vec<Option<Region>>,
    pub(crate) gateway: Gateway,
    pub(crate) enabled: bool,
}

impl Job {
    /// What decides when this job fires.
    pub fn fires(&self) -> Fires<'_> {
        Fires {
            schedule: self.schedule.as_ref(),
            cadence: &self.cadence,
            lag: self.lag,
        }
    }
}

/// Which devices a discovering job lists, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Discovery {
    pub(crate) scope: Scope,
    /// The API's `DeviceType`: 1 own devices, 2 third-party (`GetDevices` only).
    pub(crate) device_type: Option<u8>,
    /// Device ids never reported on.
    pub(crate) exclude: Vec<String>,
    /// Shortest time between two listings of the job (`discovery_interval`).
    pub(crate) interval: Duration,
    /// The most devices a listing reads (`api.max_devices`): past it the
    /// listing stops with an error.
    pub(crate) max_devices: u64,
}

/// What a discovering job lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    /// Every device of the account (`GetDevices`).
    All,
    /// The devices of one group (`GetGroupDetail`).
    Group(String),
}

impl Scope {
    /// As stored in the history: `all` or `group:<id>`.
    pub(crate) fn label(&self) -> String {
        match self {
            Scope::All => "all".to_string(),
            Scope::Group(g) => format!("group:{g}"),
        }
    }
}
