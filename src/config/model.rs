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
    pub path: PathBuf,
    pub api: Api,
    pub credentials: CredentialSettings,
    pub storage: Storage,
    pub retry: RetrySettings,
    pub metrics: Metrics,
    /// `[web]`; `None` when the section is absent.
    pub web: Option<Web>,
    pub jobs: Vec<Job>,
}

impl Config {
    /// The names the listeners answer to besides IP addresses and
    /// `localhost` (`[web] allowed_hosts`; none without `[web]`).
    pub fn allowed_hosts(&self) -> &[String] {
        self.web
            .as_ref()
            .map_or(&[], |w| w.allowed_hosts.as_slice())
    }

    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// The zone of job `name`; UTC for a job the config no longer has.
    pub fn zone_of(&self, name: &str) -> jiff::tz::TimeZone {
        self.job(name)
            .map_or(jiff::tz::TimeZone::UTC, |j| j.cadence.zone().clone())
    }
}

/// `[api]`.
#[derive(Debug, Clone)]
pub struct Api {
    pub endpoint: reqwest::Url,
    /// The `Host` header the client sends (and signs): host, plus `:port` when not the default.
    pub host: String,
    pub rate_limit: NonZeroU32,
    pub timeout: Duration,
    pub concurrency: NonZeroUsize,
    pub language: Option<String>,
    pub region: Option<String>,
    /// `max_devices`: the most devices one listing reads before it stops.
    pub max_devices: u64,
}

/// `[credentials]`: where to look; the keys themselves are read by [`crate::tencent::credentials`].
#[derive(Debug, Clone)]
pub struct CredentialSettings {
    pub secret_id_file: Option<PathBuf>,
    pub secret_key_file: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    pub profile: String,
    pub cvm_role: bool,
    pub metadata_endpoint: reqwest::Url,
}

/// `[storage]`.
#[derive(Debug, Clone)]
pub struct Storage {
    pub state_dir: PathBuf,
    pub reports_dir: PathBuf,
    pub retention: Option<Duration>,
    /// The largest report file taken, in bytes.
    pub max_report_size: u64,
}

impl Storage {
    pub fn database_path(&self) -> PathBuf {
        self.state_dir.join("history.db")
    }
}

/// `[retry]`: per report, inside one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    pub max_attempts: NonZeroU32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

/// `[metrics]`.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub listen: Option<SocketAddr>,
}

/// `[web]`: the read-only page and its JSON API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Web {
    pub listen: SocketAddr,
    /// The bearer token's file; required unless `listen` is loopback.
    pub token_file: Option<PathBuf>,
    /// Names every listener answers to in `Host:`, besides IP addresses and
    /// `localhost` (lower case, as written otherwise).
    pub allowed_hosts: Vec<String>,
}

/// Where the page listens when `[web]` names no address.
pub const DEFAULT_WEB_LISTEN: &str = "127.0.0.1:9465";

/// One `[[jobs]]` entry, defaults applied.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub granularity: Granularity,
    pub cadence: Cadence,
    /// The IANA name the zone was given as (for display).
    pub timezone: String,
    pub lag: Duration,
    pub catch_up: Duration,
    pub schedule: Option<Schedule>,
    /// The fixed targets; empty for a job that discovers its devices.
    pub targets: Vec<Target>,
    /// Set when the job's devices come from the API (`devices = "all"`, or
    /// `group` with `per_device`): one report per device listed.
    pub discovery: Option<Discovery>,
    /// `None` stands for all regions (no `AccessRegion`).
    pub regions: Vec<Option<Region>>,
    pub gateway: Gateway,
    pub enabled: bool,
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
pub struct Discovery {
    pub scope: Scope,
    /// The API's `DeviceType`: 1 own devices, 2 third-party (`GetDevices` only).
    pub device_type: Option<u8>,
    /// Device ids never reported on.
    pub exclude: Vec<String>,
    /// Shortest time between two listings of the job (`discovery_interval`).
    pub interval: Duration,
    /// The most devices a listing reads (`api.max_devices`): past it the
    /// listing stops with an error.
    pub max_devices: u64,
}

/// What a discovering job lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every device of the account (`GetDevices`).
    All,
    /// The devices of one group (`GetGroupDetail`).
    Group(String),
}

impl Scope {
    /// As stored in the history: `all` or `group:<id>`.
    pub fn label(&self) -> String {
        match self {
            Scope::All => "all".to_string(),
            Scope::Group(g) => format!("group:{g}"),
        }
    }
}
