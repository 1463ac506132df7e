//! Stage two: from [`RawConfig`] to [`Config`], checking every value and
//! collecting every problem with its key and line.

use super::model::*;
use super::raw::{RawConfig, RawJob, S};
use super::{Problem, line_of};
use crate::schedule::Schedule;
use crate::target::{Gateway, Granularity, Region, Selection, Target};
use crate::window::{Cadence, Length};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Most devices one summed request may name (`DeviceList`).
pub const MAX_DEVICE_LIST: usize = 10;

struct Ctx<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn line(&self, span: Option<Range<usize>>) -> Option<usize> {
        span.map(|s| line_of(self.text, s.start))
    }

    fn problem(
        &mut self,
        key: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: impl Into<Option<String>>,
    ) {
        let line = self.line(span);
        self.problems.push(Problem {
            key: key.into(),
            line,
            message: message.into(),
            hint: hint.into(),
        });
    }

    /// A humantime duration at `key`, or a problem.
    fn duration(&mut self, key: &str, v: &S<String>) -> Option<Duration> {
        let v = v.as_ref()?;
        match humantime::parse_duration(v.get_ref().trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(
                    key,
                    Some(v.span()),
                    format!("{:?} is not a duration: {e}", v.get_ref()),
                    Some("write a duration such as \"90s\", \"15m\", \"1h\" or \"7d\"".to_string()),
                );
                None
            }
        }
    }

    fn int_in(
        &mut self,
        key: &str,
        v: &S<i64>,
        range: std::ops::RangeInclusive<i64>,
        default: i64,
    ) -> i64 {
        match v {
            None => default,
            Some(v) if range.contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                self.problem(
                    key,
                    Some(v.span()),
                    format!("{} is out of range", v.get_ref()),
                    Some(format!(
                        "use a whole number from {} to {}",
                        range.start(),
                        range.end()
                    )),
                );
                default
            }
        }
    }
}

fn span<T>(v: &S<T>) -> Option<Range<usize>> {
    v.as_ref().map(Spanned::span)
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn is_loopback_host(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The `Host` header reqwest sends for `url`: host, and `:port` when it is not the scheme's default.
pub fn host_header(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

pub(super) fn validate(
    raw: RawConfig,
    text: &str,
    path: &Path,
    default_state: &Path,
) -> Result<Config, Vec<Problem>> {
    let mut cx = Ctx {
        text,
        problems: Vec::new(),
    };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let api = api(&mut cx, raw.api.unwrap_or_default());
    let credentials = credentials(&mut cx, raw.credentials.unwrap_or_default(), &base);
    let storage = storage(
        &mut cx,
        raw.storage.unwrap_or_default(),
        &base,
        default_state,
    );
    let retry = retry(&mut cx, raw.retry.unwrap_or_default());
    let metrics = metrics(&mut cx, raw.metrics.unwrap_or_default());
    let defaults = match raw.defaults {
        Some(d) => {
            if let Some(name) = &d.get_ref().name {
                cx.problem(
                    "defaults.name",
                    Some(name.span()),
                    "a job name cannot be a default",
                    Some("give each [[jobs]] entry its own name".to_string()),
                );
            }
            d.into_inner()
        }
        None => RawJob::default(),
    };
    if raw.jobs.is_empty() {
        cx.problem(
            "jobs",
            None,
            "no [[jobs]] defined",
            Some("add at least one [[jobs]] table; see config.example.toml".to_string()),
        );
    }
    let mut names = HashSet::new();
    let mut jobs = Vec::new();
    for (i, j) in raw.jobs.iter().enumerate() {
        let merged = j.get_ref().with_defaults(&defaults);
        if let Some(job) = job(&mut cx, i, j.span(), &merged, &mut names) {
            jobs.push(job);
        }
    }
    match (api, credentials, storage, retry, metrics) {
        (Some(api), Some(credentials), Some(storage), Some(retry), Some(metrics))
            if cx.problems.is_empty() =>
        {
            Ok(Config {
                path: path.to_path_buf(),
                api,
                credentials,
                storage,
                retry,
                metrics,
                jobs,
            })
        }
        _ => Err(cx.problems),
    }
}

fn api(cx: &mut Ctx<'_>, raw: super::raw::RawApi) -> Option<Api> {
    let endpoint_text = raw
        .endpoint
        .as_ref()
        .map(|e| e.get_ref().clone())
        .unwrap_or_else(|| "https://mna.tencentcloudapi.com".to_string());
    let endpoint = match reqwest::Url::parse(&endpoint_text) {
        Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback_host(&u)) => {
            if u.path() != "/" || u.query().is_some() || !u.username().is_empty() {
                cx.problem(
                    "api.endpoint",
                    span(&raw.endpoint),
                    format!("{endpoint_text:?} has a path, query or user part"),
                    Some(
                        "give only scheme and host, e.g. \"https://mna.tencentcloudapi.com\""
                            .to_string(),
                    ),
                );
                None
            } else {
                Some(u)
            }
        }
        Ok(u) => {
            cx.problem(
                "api.endpoint",
                span(&raw.endpoint),
                format!("{endpoint_text:?} must use https (http only for a loopback test server), got {}", u.scheme()),
                Some("use \"https://mna.tencentcloudapi.com\" or \"https://mna.intl.tencentcloudapi.com\"".to_string()),
            );
            None
        }
        Err(e) => {
            cx.problem(
                "api.endpoint",
                span(&raw.endpoint),
                format!("{endpoint_text:?} is not a URL: {e}"),
                Some("use \"https://mna.tencentcloudapi.com\" or \"https://mna.intl.tencentcloudapi.com\"".to_string()),
            );
            None
        }
    };
    let rate_limit = cx.int_in("api.rate_limit", &raw.rate_limit, 1..=10_000, 20);
    let concurrency = cx.int_in("api.concurrency", &raw.concurrency, 1..=256, 4);
    let timeout = cx
        .duration("api.timeout", &raw.timeout)
        .unwrap_or(Duration::from_secs(30));
    if timeout.is_zero() {
        cx.problem(
            "api.timeout",
            span(&raw.timeout),
            "a timeout of zero",
            Some("use e.g. \"30s\"".to_string()),
        );
    }
    let language = match &raw.language {
        Some(l) if ["zh-CN", "en-US"].contains(&l.get_ref().as_str()) => Some(l.get_ref().clone()),
        Some(l) => {
            cx.problem(
                "api.language",
                Some(l.span()),
                format!("{:?} is not a language the API speaks", l.get_ref()),
                Some("use \"en-US\" or \"zh-CN\", or leave the key out".to_string()),
            );
            None
        }
        None => None,
    };
    let region = raw
        .region
        .as_ref()
        .map(|r| r.get_ref().trim().to_string())
        .filter(|r| !r.is_empty());
    let endpoint = endpoint?;
    Some(Api {
        host: host_header(&endpoint),
        endpoint,
        rate_limit: NonZeroU32::new(u32::try_from(rate_limit).unwrap_or(20))
            .unwrap_or(NonZeroU32::MIN),
        timeout,
        concurrency: NonZeroUsize::new(usize::try_from(concurrency).unwrap_or(4))
            .unwrap_or(NonZeroUsize::MIN),
        language,
        region,
    })
}

fn credentials(
    cx: &mut Ctx<'_>,
    raw: super::raw::RawCredentials,
    base: &Path,
) -> Option<CredentialSettings> {
    let file = |v: &S<String>| v.as_ref().map(|p| resolve(base, p.get_ref()));
    let (id, key) = (file(&raw.secret_id_file), file(&raw.secret_key_file));
    if id.is_some() != key.is_some() {
        let which = if id.is_some() {
            &raw.secret_id_file
        } else {
            &raw.secret_key_file
        };
        cx.problem(
            if id.is_some() {
                "credentials.secret_id_file"
            } else {
                "credentials.secret_key_file"
            },
            span(which),
            "secret_id_file and secret_key_file go together",
            Some("set both, or neither".to_string()),
        );
    }
    let metadata_text = raw
        .metadata_endpoint
        .as_ref()
        .map(|m| m.get_ref().clone())
        .unwrap_or_else(|| "http://metadata.tencentyun.com/latest/meta-data/".to_string());
    let metadata_endpoint = match reqwest::Url::parse(&metadata_text) {
        Ok(mut u) if u.scheme() == "http" || u.scheme() == "https" => {
            if !u.path().ends_with('/') {
                let p = format!("{}/", u.path());
                u.set_path(&p);
            }
            Some(u)
        }
        _ => {
            cx.problem(
                "credentials.metadata_endpoint",
                span(&raw.metadata_endpoint),
                format!("{metadata_text:?} is not an http(s) URL"),
                Some(
                    "leave it out to use http://metadata.tencentyun.com/latest/meta-data/"
                        .to_string(),
                ),
            );
            None
        }
    };
    Some(CredentialSettings {
        secret_id_file: id,
        secret_key_file: key,
        token_file: file(&raw.token_file),
        profile: raw
            .profile
            .map(Spanned::into_inner)
            .unwrap_or_else(|| "default".to_string()),
        cvm_role: raw.cvm_role.map(Spanned::into_inner).unwrap_or(false),
        metadata_endpoint: metadata_endpoint?,
    })
}

fn storage(
    cx: &mut Ctx<'_>,
    raw: super::raw::RawStorage,
    base: &Path,
    default_state: &Path,
) -> Option<Storage> {
    let state_dir = raw
        .state_dir
        .as_ref()
        .map(|s| resolve(base, s.get_ref()))
        .unwrap_or_else(|| default_state.to_path_buf());
    for (key, v) in [
        ("storage.state_dir", &raw.state_dir),
        ("storage.reports_dir", &raw.reports_dir),
    ] {
        if let Some(v) = v
            && v.get_ref().trim().is_empty()
        {
            cx.problem(
                key,
                Some(v.span()),
                "an empty path",
                Some("give a directory path".to_string()),
            );
        }
    }
    let reports_dir = raw
        .reports_dir
        .as_ref()
        .map(|s| resolve(base, s.get_ref()))
        .unwrap_or_else(|| state_dir.join("reports"));
    let retention = cx.duration("storage.retention", &raw.retention);
    if retention.is_some_and(|r| r < Duration::from_secs(86_400)) {
        cx.problem(
            "storage.retention",
            span(&raw.retention),
            "a retention under one day would delete reports as they arrive",
            Some(
                "use at least \"1d\" (e.g. \"400d\"), or leave the key out to keep every file"
                    .to_string(),
            ),
        );
    }
    Some(Storage {
        state_dir,
        reports_dir,
        retention,
    })
}

fn retry(cx: &mut Ctx<'_>, raw: super::raw::RawRetry) -> Option<RetrySettings> {
    let max_attempts = cx.int_in("retry.max_attempts", &raw.max_attempts, 1..=100, 8);
    let initial_delay = cx
        .duration("retry.initial_delay", &raw.initial_delay)
        .unwrap_or(Duration::from_secs(1));
    let max_delay = cx
        .duration("retry.max_delay", &raw.max_delay)
        .unwrap_or(Duration::from_secs(60));
    if max_delay < initial_delay {
        cx.problem(
            "retry.max_delay",
            span(&raw.max_delay).or(span(&raw.initial_delay)),
            format!(
                "max_delay ({}) is shorter than initial_delay ({})",
                humantime::format_duration(max_delay),
                humantime::format_duration(initial_delay)
            ),
            Some("make max_delay at least initial_delay".to_string()),
        );
    }
    Some(RetrySettings {
        max_attempts: NonZeroU32::new(u32::try_from(max_attempts).unwrap_or(8))
            .unwrap_or(NonZeroU32::MIN),
        initial_delay,
        max_delay,
    })
}

fn metrics(cx: &mut Ctx<'_>, raw: super::raw::RawMetrics) -> Option<Metrics> {
    let listen = match &raw.listen {
        None => None,
        Some(l) => match l.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                cx.problem(
                    "metrics.listen",
                    Some(l.span()),
                    format!("{:?} is not an address:port", l.get_ref()),
                    Some("use e.g. \"127.0.0.1:9464\"".to_string()),
                );
                None
            }
        },
    };
    Some(Metrics { listen })
}

fn valid_job_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn strings(cx: &mut Ctx<'_>, key: &str, v: &S<Vec<Spanned<String>>>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in v.iter().flat_map(|v| v.get_ref()) {
        let s = item.get_ref().trim();
        if s.is_empty() {
            cx.problem(
                key,
                Some(item.span()),
                "an empty entry",
                Some("remove it".to_string()),
            );
        } else if !seen.insert(s.to_string()) {
            cx.problem(
                key,
                Some(item.span()),
                format!("{s:?} is listed twice"),
                Some("list each once".to_string()),
            );
        } else {
            out.push(s.to_string());
        }
    }
    out
}

fn job(
    cx: &mut Ctx<'_>,
    i: usize,
    job_span: Range<usize>,
    raw: &RawJob,
    names: &mut HashSet<String>,
) -> Option<Job> {
    let before = cx.problems.len();
    let k = |field: &str| format!("jobs[{i}].{field}");
    let at_job = Some(job_span.clone());

    let name = match &raw.name {
        None => {
            cx.problem(
                k("name"),
                at_job.clone(),
                "every job needs a name",
                Some("add name = \"...\" ([A-Za-z0-9_-], 1 to 64 characters)".to_string()),
            );
            format!("jobs[{i}]")
        }
        Some(n) if !valid_job_name(n.get_ref()) => {
            cx.problem(
                k("name"),
                Some(n.span()),
                format!(
                    "{:?} is not a safe job name (it names directories and files)",
                    n.get_ref()
                ),
                Some("use 1 to 64 characters of A-Z a-z 0-9 _ -".to_string()),
            );
            n.get_ref().clone()
        }
        Some(n) => {
            if !names.insert(n.get_ref().clone()) {
                cx.problem(
                    k("name"),
                    Some(n.span()),
                    format!("job {:?} is defined twice", n.get_ref()),
                    Some("give each job a unique name".to_string()),
                );
            }
            n.get_ref().clone()
        }
    };

    let granularity = match &raw.granularity {
        None => {
            cx.problem(
                k("granularity"),
                at_job.clone(),
                "missing",
                Some(format!(
                    "set granularity to one of {}",
                    Granularity::NAMES.join(", ")
                )),
            );
            None
        }
        Some(g) => {
            let parsed = Granularity::parse(g.get_ref());
            if parsed.is_none() {
                cx.problem(
                    k("granularity"),
                    Some(g.span()),
                    format!("unknown granularity {:?}", g.get_ref()),
                    Some(format!("use one of {}", Granularity::NAMES.join(", "))),
                );
            }
            parsed
        }
    };

    let (timezone, zone) = match &raw.timezone {
        None => ("UTC".to_string(), Some(jiff::tz::TimeZone::UTC)),
        Some(z) => {
            match jiff::tz::TimeZone::get(z.get_ref()) {
                Ok(tz) => (z.get_ref().clone(), Some(tz)),
                Err(_) => {
                    cx.problem(
                    k("timezone"),
                    Some(z.span()),
                    format!("unknown time zone {:?}", z.get_ref()),
                    Some("use an IANA name such as \"Asia/Shanghai\", \"Europe/Berlin\" or \"UTC\"".to_string()),
                );
                    (z.get_ref().clone(), None)
                }
            }
        }
    };

    let window = cx.duration(&k("window"), &raw.window);
    let step = cx.duration(&k("step"), &raw.step);
    let mut cadence = None;
    if let Some(g) = granularity {
        let unit = g.unit_secs();
        let window = window.unwrap_or(Duration::from_secs(unit));
        let step = step.unwrap_or(window);
        let mut ok = true;
        for (field, d, v) in [("window", window, &raw.window), ("step", step, &raw.step)] {
            // A step left out inherits the window: its problem is the window's.
            let inherited = field == "step" && v.is_none();
            if !inherited && (d.is_zero() || d.subsec_nanos() != 0 || d.as_secs() % unit != 0) {
                cx.problem(
                    k(field),
                    span(v).or(at_job.clone()),
                    format!(
                        "{} is not a whole multiple of the {} granularity ({})",
                        humantime::format_duration(d),
                        g.name(),
                        humantime::format_duration(Duration::from_secs(unit))
                    ),
                    Some(format!(
                        "use a multiple of {}",
                        humantime::format_duration(Duration::from_secs(unit))
                    )),
                );
                ok = false;
            }
        }
        if ok {
            if let (Some(step_len), Some(window_len), Some(zone)) = (
                Length::from_secs(step.as_secs()),
                Length::from_secs(window.as_secs()),
                zone.clone(),
            ) {
                match Cadence::new(step_len, window_len, zone) {
                    Ok(c) => cadence = Some(c),
                    Err(e) => cx.problem(
                        k("step"),
                        span(&raw.step).or(at_job.clone()),
                        e.to_string(),
                        None,
                    ),
                }
            } else if zone.is_some() {
                cx.problem(
                    k("window"),
                    span(&raw.window).or(at_job.clone()),
                    "too long",
                    Some("use a window and step of at most a few years".to_string()),
                );
            }
        }
    }

    let lag = cx
        .duration(&k("lag"), &raw.lag)
        .unwrap_or(Duration::from_secs(300));
    let step_secs = cadence
        .as_ref()
        .map(|c| c.step().nominal_secs())
        .unwrap_or(3600);
    let default_catch_up =
        Duration::from_secs(86_400).max(Duration::from_secs(2 * step_secs) + lag);
    let catch_up = cx
        .duration(&k("catch_up"), &raw.catch_up)
        .unwrap_or(default_catch_up);
    if catch_up <= lag + Duration::from_secs(step_secs) && raw.catch_up.is_some() {
        cx.problem(
            k("catch_up"),
            span(&raw.catch_up),
            format!(
                "the horizon {} must be longer than lag + step ({}), or windows could fall out of it before they are due",
                humantime::format_duration(catch_up),
                humantime::format_duration(lag + Duration::from_secs(step_secs))
            ),
            Some("raise catch_up (the default is 1d, or two steps plus lag when longer)".to_string()),
        );
    }

    let schedule = match &raw.schedule {
        None => None,
        Some(s) => match Schedule::parse(s.get_ref()) {
            Ok(s) => Some(s),
            Err(e) => {
                cx.problem(
                    k("schedule"),
                    Some(s.span()),
                    format!("{:?} is not a valid cron expression: {e}", s.get_ref()),
                    Some("write 5 fields (\"5 * * * *\" = five past every hour) or 6 with seconds first".to_string()),
                );
                None
            }
        },
    };

    let devices = strings(cx, &k("devices"), &raw.devices);
    let per_device = raw
        .per_device
        .as_ref()
        .map(|p| *p.get_ref())
        .unwrap_or(false);
    let group = raw.group.as_ref().map(|g| g.get_ref().trim().to_string());
    if group.as_deref() == Some("") {
        cx.problem(
            k("group"),
            span(&raw.group),
            "an empty group id",
            Some("give the GroupId, or leave the key out".to_string()),
        );
    }
    if group.is_some() && !devices.is_empty() {
        cx.problem(
            k("group"),
            span(&raw.group),
            "a job selects either devices or a group, not both",
            Some("split it into two jobs".to_string()),
        );
    }
    if per_device && devices.is_empty() {
        cx.problem(
            k("per_device"),
            span(&raw.per_device),
            "per_device = true needs a devices list",
            Some("list the devices, or drop per_device".to_string()),
        );
    }
    if !per_device && devices.len() > MAX_DEVICE_LIST {
        cx.problem(
            k("devices"),
            span(&raw.devices),
            format!("{} devices in one summed request; the API takes at most {MAX_DEVICE_LIST}", devices.len()),
            Some("set per_device = true for one report per device, or split the list over several jobs".to_string()),
        );
    }
    let targets: Vec<Target> = if per_device {
        devices
            .iter()
            .cloned()
            .map(|d| Target::new(Selection::Device(d)))
            .collect()
    } else if let Some(g) = group {
        vec![Target::new(Selection::Group(g))]
    } else if devices.is_empty() {
        vec![Target::new(Selection::All)]
    } else {
        vec![Target::new(Selection::Devices(devices))]
    };

    let mut regions: Vec<Option<Region>> = Vec::new();
    for r in strings(cx, &k("regions"), &raw.regions) {
        match Region::parse(&r) {
            Some(region) => regions.push(Some(region)),
            None => {
                let at = raw.regions.as_ref().and_then(|v| {
                    v.get_ref()
                        .iter()
                        .find(|s| s.get_ref().trim() == r)
                        .map(Spanned::span)
                });
                cx.problem(k("regions"), at, format!("unknown region {r:?}"), Some(format!("use {} (MC = Chinese mainland, AP = Asia Pacific, EU = Europe, AM = Americas)", Region::NAMES.join(", "))));
            }
        }
    }
    if regions.is_empty() {
        regions.push(None);
    }

    let gateway = match &raw.gateway {
        None => Gateway::Public,
        Some(g) => Gateway::parse(g.get_ref()).unwrap_or_else(|| {
            cx.problem(
                k("gateway"),
                Some(g.span()),
                format!("unknown gateway {:?}", g.get_ref()),
                Some("use \"public\" or \"private\"".to_string()),
            );
            Gateway::Public
        }),
    };
    let enabled = raw.enabled.as_ref().map(|e| *e.get_ref()).unwrap_or(true);

    if cx.problems.len() != before {
        return None;
    }
    Some(Job {
        name,
        granularity: granularity?,
        cadence: cadence?,
        timezone,
        lag,
        catch_up,
        schedule,
        targets,
        regions,
        gateway,
        enabled,
    })
}
