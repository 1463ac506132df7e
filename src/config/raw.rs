//! Stage one of the config: the TOML file as written, with the byte span of
//! every value so that errors can name the line. Unknown keys are refused here
//! (`deny_unknown_fields`); meaning is checked in [`super::validate`].

use serde::Deserialize;
use toml::Spanned;

/// A key as the file gives it: absent, or its value and where it is written.
pub(crate) type OptSpanned<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) api: Option<RawApi>,
    pub(crate) credentials: Option<RawCredentials>,
    pub(crate) storage: Option<RawStorage>,
    pub(crate) retry: Option<RawRetry>,
    pub(crate) metrics: Option<RawMetrics>,
    pub(crate) web: Option<RawWeb>,
    pub(crate) export: Option<RawExport>,
    pub(crate) defaults: Option<Spanned<RawJob>>,
    #[serde(default)]
    pub(crate) jobs: Vec<Spanned<RawJob>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    pub(crate) endpoint: OptSpanned<String>,
    pub(crate) rate_limit: OptSpanned<i64>,
    pub(crate) timeout: OptSpanned<String>,
    pub(crate) concurrency: OptSpanned<i64>,
    pub(crate) language: OptSpanned<String>,
    pub(crate) region: OptSpanned<String>,
    pub(crate) max_devices: OptSpanned<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCredentials {
    pub(crate) secret_id_file: OptSpanned<String>,
    pub(crate) secret_key_file: OptSpanned<String>,
    pub(crate) token_file: OptSpanned<String>,
    pub(crate) profile: OptSpanned<String>,
    pub(crate) cvm_role: OptSpanned<bool>,
    pub(crate) metadata_endpoint: OptSpanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    pub(crate) state_dir: OptSpanned<String>,
    pub(crate) reports_dir: OptSpanned<String>,
    pub(crate) retention: OptSpanned<String>,
    pub(crate) max_report_size: OptSpanned<String>,
    pub(crate) remote: Option<RawRemote>,
}

/// `[storage.remote]`: the bucket of the remote archive. (The export reads
/// its bucket, endpoint, region, path style and key files.)
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRemote {
    pub(crate) url: OptSpanned<String>,
    pub(crate) endpoint: OptSpanned<String>,
    pub(crate) region: OptSpanned<String>,
    pub(crate) path_style: OptSpanned<bool>,
    pub(crate) access_key_id_file: OptSpanned<String>,
    pub(crate) secret_access_key_file: OptSpanned<String>,
    pub(crate) keep_local: OptSpanned<String>,
    pub(crate) snapshot_interval: OptSpanned<String>,
    pub(crate) snapshot_keep: OptSpanned<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetry {
    pub(crate) max_attempts: OptSpanned<i64>,
    pub(crate) initial_delay: OptSpanned<String>,
    pub(crate) max_delay: OptSpanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    pub(crate) listen: OptSpanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeb {
    pub(crate) listen: OptSpanned<String>,
    pub(crate) token_file: OptSpanned<String>,
    pub(crate) allowed_hosts: OptSpanned<Vec<Spanned<String>>>,
}

/// `[export]`: where and how often the daemon exports, and the bucket
/// settings an `s3://` destination uses.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExport {
    pub(crate) to: OptSpanned<String>,
    pub(crate) interval: OptSpanned<String>,
    pub(crate) endpoint: OptSpanned<String>,
    pub(crate) region: OptSpanned<String>,
    pub(crate) path_style: OptSpanned<bool>,
    pub(crate) access_key_id_file: OptSpanned<String>,
    pub(crate) secret_access_key_file: OptSpanned<String>,
}

/// A `[[jobs]]` entry, or `[defaults]` (which takes every key but `name`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJob {
    pub(crate) name: OptSpanned<String>,
    pub(crate) granularity: OptSpanned<String>,
    pub(crate) window: OptSpanned<String>,
    pub(crate) step: OptSpanned<String>,
    pub(crate) timezone: OptSpanned<String>,
    pub(crate) lag: OptSpanned<String>,
    pub(crate) catch_up: OptSpanned<String>,
    pub(crate) schedule: OptSpanned<String>,
    pub(crate) devices: OptSpanned<RawDevices>,
    pub(crate) per_device: OptSpanned<bool>,
    pub(crate) group: OptSpanned<String>,
    pub(crate) device_type: OptSpanned<i64>,
    pub(crate) exclude: OptSpanned<Vec<Spanned<String>>>,
    pub(crate) discovery_interval: OptSpanned<String>,
    pub(crate) regions: OptSpanned<Vec<Spanned<String>>>,
    pub(crate) gateway: OptSpanned<String>,
    pub(crate) enabled: OptSpanned<bool>,
}

impl RawJob {
    /// This job with every key it leaves out taken from `defaults`.
    pub(crate) fn with_defaults(&self, defaults: &RawJob) -> RawJob {
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
pub(crate) enum RawDevices {
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
