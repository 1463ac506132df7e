//! Stage two: from [`RawConfig`] to [`Config`], checking every value and
//! collecting every problem with its key and line.

use super::model::*;
use super::raw::{OptSpanned, RawConfig, RawJob};
use super::{Problem, line_of};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

const DAY: u64 = 86_400;

/// Longest `[api] timeout`.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(3_600);
/// Longest `[retry] initial_delay` and `max_delay`.
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(3_600);
/// Longest `[storage] retention` (100 years of 365 days).
pub(crate) const MAX_RETENTION: Duration = Duration::from_secs(36_500 * DAY);
/// Longest `window` and `step` of a job.
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(366 * DAY);
/// Longest `lag` of a job.
pub(crate) const MAX_LAG: Duration = Duration::from_secs(30 * DAY);
/// Longest `catch_up` of a job.
pub(crate) const MAX_CATCH_UP: Duration = Duration::from_secs(400 * DAY);

pub(super) struct Ctx<'a> {
    text: &'a str,
    pub(super) problems: Vec<Problem>,
}

impl Ctx<'_> {
    pub(super) fn line(&self, span: Option<Range<usize>>) -> Option<usize> {
        span.map(|s| line_of(self.text, s.start))
    }

    pub(super) fn problem(
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

    /// A humantime duration at `key` of at most `max`, or a problem.
    pub(super) fn duration(
        &mut self,
        key: &str,
        v: &OptSpanned<String>,
        max: Duration,
    ) -> Option<Duration> {
        let v = v.as_ref()?;
        match humantime::parse_duration(v.get_ref().trim()) {
            Ok(d) if d <= max => Some(d),
            Ok(_) => {
                self.problem(
                    key,
                    Some(v.span()),
                    format!("{:?} is too long", v.get_ref()),
                    Some(format!("use at most {}", humantime::format_duration(max))),
                );
                None
            }
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

    pub(super) fn int_in(
        &mut self,
        key: &str,
        v: &OptSpanned<i64>,
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

pub(super) fn span<T>(v: &OptSpanned<T>) -> Option<Range<usize>> {
    v.as_ref().map(Spanned::span)
}

pub(super) fn resolve(base: &Path, p: &str) -> PathBuf {
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
pub(crate) fn host_header(url: &reqwest::Url) -> String {
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
    let web = raw.web.map(|w| super::web::web(&mut cx, w, &base));
    let export = raw.export.map(|e| super::export::export(&mut cx, e, &base));
    let (defaults, bad_default_zone) = defaults(&mut cx, raw.defaults);
    let mut jobs = jobs(&mut cx, &raw.jobs, &defaults, bad_default_zone);
    if let Some(api) = &api {
        for d in jobs.iter_mut().filter_map(|j| j.discovery.as_mut()) {
            d.max_devices = api.max_devices;
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
                web,
                export,
                jobs,
            })
        }
        _ => Err(cx.problems),
    }
}

/// The `[defaults]` table, and whether its zone is unknown (reported once
/// here, as `defaults.timezone`, not once for every job that takes it).
fn defaults(cx: &mut Ctx<'_>, raw: Option<toml::Spanned<RawJob>>) -> (RawJob, bool) {
    let defaults = match raw {
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
    // An unknown default zone is one problem, of `defaults.timezone`, not
    // one of every job that takes it.
    let bad_default_zone = match &defaults.timezone {
        Some(z) if !super::zone::known_zone(z.get_ref()) => {
            cx.problem(
                "defaults.timezone",
                Some(z.span()),
                format!("unknown time zone {:?}", z.get_ref()),
                Some(super::zone::unknown_zone_fix(z.get_ref())),
            );
            true
        }
        _ => false,
    };
    (defaults, bad_default_zone)
}

/// Every `[[jobs]]` entry with the defaults merged in, checked; the jobs
/// that pass.
fn jobs(
    cx: &mut Ctx<'_>,
    raw: &[toml::Spanned<RawJob>],
    defaults: &RawJob,
    bad_default_zone: bool,
) -> Vec<Job> {
    if raw.is_empty() {
        cx.problem(
            "jobs",
            None,
            "no [[jobs]] defined",
            Some("add at least one [[jobs]] table; see config.example.toml".to_string()),
        );
    }
    let mut names = HashSet::new();
    let mut jobs = Vec::new();
    for (i, j) in raw.iter().enumerate() {
        let mut merged = j.get_ref().with_defaults(defaults);
        if bad_default_zone && j.get_ref().timezone.is_none() {
            // reported above; the job is checked in UTC meanwhile
            merged.timezone = None;
        }
        if let Some(job) = super::job::job(cx, i, j.span(), &merged, &mut names) {
            jobs.push(job);
        }
    }
    jobs
}

fn api(cx: &mut Ctx<'_>, raw: super::raw::RawApi) -> Option<Api> {
    let endpoint = endpoint(cx, &raw.endpoint);
    let rate_limit = cx.int_in("api.rate_limit", &raw.rate_limit, 1..=10_000, 20);
    let concurrency = cx.int_in(
        "api.concurrency",
        &raw.concurrency,
        1..=256,
        super::DEFAULT_CONCURRENCY as i64,
    );
    let timeout = cx
        .duration("api.timeout", &raw.timeout, MAX_TIMEOUT)
        .unwrap_or(Duration::from_secs(30));
    if timeout.is_zero() {
        cx.problem(
            "api.timeout",
            span(&raw.timeout),
            "a timeout of zero",
            Some("use e.g. \"30s\"".to_string()),
        );
    }
    let language = language(cx, &raw.language);
    let max_devices = cx.int_in(
        "api.max_devices",
        &raw.max_devices,
        1..=super::MAX_MAX_DEVICES as i64,
        super::DEFAULT_MAX_DEVICES as i64,
    );
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
        concurrency: NonZeroUsize::new(
            usize::try_from(concurrency).unwrap_or(super::DEFAULT_CONCURRENCY),
        )
        .unwrap_or(NonZeroUsize::MIN),
        language,
        region,
        max_devices: u64::try_from(max_devices).unwrap_or(super::DEFAULT_MAX_DEVICES),
    })
}

/// `api.endpoint`: https, or http to a loopback test server; scheme and
/// host only.
fn endpoint(cx: &mut Ctx<'_>, raw: &Option<toml::Spanned<String>>) -> Option<reqwest::Url> {
    let endpoint_text = raw
        .as_ref()
        .map(|e| e.get_ref().clone())
        .unwrap_or_else(|| "https://mna.tencentcloudapi.com".to_string());
    match reqwest::Url::parse(&endpoint_text) {
        Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback_host(&u)) => {
            if u.path() != "/" || u.query().is_some() || !u.username().is_empty() {
                cx.problem(
                    "api.endpoint",
                    span(raw),
                    // Not echoed: a user part may hold a password.
                    "the endpoint has a path, query or user part".to_string(),
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
                span(raw),
                format!("{endpoint_text:?} must use https (http only for a loopback test server), got {}", u.scheme()),
                Some("use \"https://mna.tencentcloudapi.com\" or \"https://mna.intl.tencentcloudapi.com\"".to_string()),
            );
            None
        }
        Err(e) => {
            cx.problem(
                "api.endpoint",
                span(raw),
                format!("{endpoint_text:?} is not a URL: {e}"),
                Some("use \"https://mna.tencentcloudapi.com\" or \"https://mna.intl.tencentcloudapi.com\"".to_string()),
            );
            None
        }
    }
}

/// `api.language`: one of the two the API speaks, or none.
fn language(cx: &mut Ctx<'_>, raw: &Option<toml::Spanned<String>>) -> Option<String> {
    match raw {
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
    }
}

fn credentials(
    cx: &mut Ctx<'_>,
    raw: super::raw::RawCredentials,
    base: &Path,
) -> Option<CredentialSettings> {
    let file = |v: &OptSpanned<String>| v.as_ref().map(|p| resolve(base, p.get_ref()));
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
    let retention = cx.duration("storage.retention", &raw.retention, MAX_RETENTION);
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
    let max_report_size = max_report_size(cx, &raw.max_report_size);
    let remote = raw.remote.map(|r| super::export::remote(cx, r, base));
    Some(Storage {
        state_dir,
        reports_dir,
        retention,
        max_report_size,
        remote,
    })
}

/// `[storage] max_report_size`: at least 1 KiB; 1 GiB when left out.
fn max_report_size(cx: &mut Ctx<'_>, v: &OptSpanned<String>) -> u64 {
    let Some(v) = v else {
        return super::size::DEFAULT_MAX_SIZE;
    };
    let hint = Some(
        "write a size such as \"1GiB\" or \"500MiB\" (at least 1KiB), or leave the key out for 1GiB"
            .to_string(),
    );
    match super::size::parse_size(v.get_ref()) {
        Ok(n) if n >= 1024 => n,
        Ok(_) => {
            cx.problem(
                "storage.max_report_size",
                Some(v.span()),
                format!("{:?} is below 1KiB", v.get_ref()),
                hint,
            );
            super::size::DEFAULT_MAX_SIZE
        }
        Err(e) => {
            cx.problem(
                "storage.max_report_size",
                Some(v.span()),
                format!("{:?} is not a size: {e}", v.get_ref()),
                hint,
            );
            super::size::DEFAULT_MAX_SIZE
        }
    }
}

fn retry(cx: &mut Ctx<'_>, raw: super::raw::RawRetry) -> Option<RetrySettings> {
    let max_attempts = cx.int_in("retry.max_attempts", &raw.max_attempts, 1..=100, 8);
    let initial_delay = cx
        .duration("retry.initial_delay", &raw.initial_delay, MAX_RETRY_DELAY)
        .unwrap_or(Duration::from_secs(1));
    let max_delay = cx
        .duration("retry.max_delay", &raw.max_delay, MAX_RETRY_DELAY)
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
