//! Stage one of the config: the TOML file as written, with the byte span of
//! every value so that errors can name the line. Unknown keys are refused here
//! (`deny_unknown_fields`); meaning is checked in [`super::validate`].

use serde::Deserialize;
use toml::Spanned;

/// A key as the file gives it: absent, or its value and where it is written.
pub type OptSpanned<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub api: Option<RawApi>,
    pub credentials: Option<RawCredentials>,
    pub storage: Option<RawStorage>,
    pub retry: Option<RawRetry>,
    pub metrics: Option<RawMetrics>,
    pub web: Option<RawWeb>,
    pub export: Option<RawExport>,
    pub defaults: Option<Spanned<RawJob>>,
    #[serde(default)]
    pub jobs: Vec<Spanned<RawJob>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub endpoint: OptSpanned<String>,
    pub rate_limit: OptSpanned<i64>,
    pub timeout: OptSpanned<String>,
    pub concurrency: OptSpanned<i64>,
    pub language: OptSpanned<String>,
    pub region: OptSpanned<String>,
    pub max_devices: OptSpanned<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredentials {
    pub secret_id_file: OptSpanned<String>,
    pub secret_key_file: OptSpanned<String>,
    pub token_file: OptSpanned<String>,
    pub profile: OptSpanned<String>,
    pub cvm_role: OptSpanned<bool>,
    pub metadata_endpoint: OptSpanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub state_dir: OptSpanned<String>,
    pub reports_dir: OptSpanned<String>,
    pub retention: OptSpanned<String>,
    pub max_report_size: OptSpanned<String>,
    pub remote: Option<RawRemote>,
}

/// `[storage.remote]`: the bucket of the remote archive. (The export reads
/// its bucket, endpoint, region, path style and key files.)
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemote {
    pub url: OptSpanned<String>,
    pub endpoint: OptSpanned<String>,
    pub region: OptSpanned<String>,
    pub path_style: OptSpanned<bool>,
    pub access_key_id_file: OptSpanned<String>,
    pub secret_access_key_file: OptSpanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub max_attempts: OptSpanned<i64>,
    pub initial_delay: OptSpanned<String>,
    pub max_delay: OptSpanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: OptSpanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeb {
    pub listen: OptSpanned<String>,
    pub token_file: OptSpanned<String>,
    pub allowed_hosts: OptSpanned<Vec<Spanned<String>>>,
}

/// `[export]`: where and how often the daemon exports, and the bucket
/// settings an `s3://` destination uses.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExport {
    pub to: OptSpanned<String>,
    pub interval: OptSpanned<String>,
    pub endpoint: OptSpanned<String>,
    pub region: OptSpanned<String>,
    pub path_style: OptSpanned<bool>,
    pub access_key_id_file: OptSpanned<String>,
    pub secret_access_key_file: OptSpanned<String>,
}

/// A `[[jobs]]` entry, or `[defaults]` (which takes every key but `name`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub name: OptSpanned<String>,
    pub granularity: OptSpanned<String>,
    pub window: OptSpanned<String>,
    pub step: OptSpanned<String>,
    pub timezone: OptSpanned<String>,
    pub lag: OptSpanned<String>,
    pub catch_up: OptSpanned<String>,
    pub schedule: OptSpanned<String>,
    pub devices: OptSpanned<RawDevices>,
    pub per_device: OptSpanned<bool>,
    pub group: OptSpanned<String>,
    pub device_type: OptSpanned<i64>,
    pub exclude: OptSpanned<Vec<Spanned<String>>>,
    pub discovery_interval: OptSpanned<String>,
    pub regions: OptSpanned<Vec<Spanned<String>>>,
    pub gateway: OptSpanned<String>,
    pub enabled: OptSpanned<bool>,
}

impl RawJob {
    /// This job with every key it leaves out taken from `defaults`.
    pub fn with_defaults(&self, defaults: &RawJob) -> RawJob {
        fn pick<T: Clone>(own: &OptSpanned<T>, def: &OptSpanned<T>) -> OptSpanned<T> {
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
            device_type: pick(&self.device_type, &defaults.device_type),
            exclude: pick(&self.exclude, &defaults.exclude),
            discovery_interval: pick(&self.discovery_interval, &defaults.discovery_interval),
            regions: pick(&self.regions, &defaults.regions),
            gateway: pick(&self.gateway, &defaults.gateway),
            enabled: pick(&self.enabled, &defaults.enabled),
        }
    }
}

/// `devices`: a list of ids, or a word (`"all"`: every device of the account).
#[derive(Debug, Clone)]
pub enum RawDevices {
    Word(String),
    List(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawDevices {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawDevices;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of device ids, or \"all\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDevices, E> {
                Ok(RawDevices::Word(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawDevices, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    out.push(item);
                }
                Ok(RawDevices::List(out))
            }
        }
        d.deserialize_any(V)
    }
}
