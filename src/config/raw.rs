//! Stage one of the config: the TOML file as written, with the byte span of
//! every value so that errors can name the line. Unknown keys are refused here
//! (`deny_unknown_fields`); meaning is checked in [`super::validate`].

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub api: Option<RawApi>,
    pub credentials: Option<RawCredentials>,
    pub storage: Option<RawStorage>,
    pub retry: Option<RawRetry>,
    pub metrics: Option<RawMetrics>,
    pub defaults: Option<Spanned<RawJob>>,
    #[serde(default)]
    pub jobs: Vec<Spanned<RawJob>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub endpoint: S<String>,
    pub rate_limit: S<i64>,
    pub timeout: S<String>,
    pub concurrency: S<i64>,
    pub language: S<String>,
    pub region: S<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredentials {
    pub secret_id_file: S<String>,
    pub secret_key_file: S<String>,
    pub token_file: S<String>,
    pub profile: S<String>,
    pub cvm_role: S<bool>,
    pub metadata_endpoint: S<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub state_dir: S<String>,
    pub reports_dir: S<String>,
    pub retention: S<String>,
    pub max_report_size: S<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub max_attempts: S<i64>,
    pub initial_delay: S<String>,
    pub max_delay: S<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: S<String>,
}

/// A `[[jobs]]` entry, or `[defaults]` (which takes every key but `name`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub name: S<String>,
    pub granularity: S<String>,
    pub window: S<String>,
    pub step: S<String>,
    pub timezone: S<String>,
    pub lag: S<String>,
    pub catch_up: S<String>,
    pub schedule: S<String>,
    pub devices: S<Vec<Spanned<String>>>,
    pub per_device: S<bool>,
    pub group: S<String>,
    pub regions: S<Vec<Spanned<String>>>,
    pub gateway: S<String>,
    pub enabled: S<bool>,
}

impl RawJob {
    /// This job with every key it leaves out taken from `defaults`.
    pub fn with_defaults(&self, defaults: &RawJob) -> RawJob {
        fn pick<T: Clone>(own: &S<T>, def: &S<T>) -> S<T> {
            own.clone().or_else(|| def.clone())
        }
        RawJob {
            name: self.name.clone(),
            granularity: pick(&self.granularity, &defaults.granularity),
            window: pick(&self.window, &defaults.window),
            step: pick(&self.step, &defaults.step),
            timezone: pick(&self.timezone, &defaults.timezone),
            lag: pick(&self.lag, &defaults.lag),
            catch_up: pick(&self.catch_up, &defaults.catch_up),
            schedule: pick(&self.schedule, &defaults.schedule),
            devices: pick(&self.devices, &defaults.devices),
            per_device: pick(&self.per_device, &defaults.per_device),
            group: pick(&self.group, &defaults.group),
            regions: pick(&self.regions, &defaults.regions),
            gateway: pick(&self.gateway, &defaults.gateway),
            enabled: pick(&self.enabled, &defaults.enabled),
        }
    }
}
