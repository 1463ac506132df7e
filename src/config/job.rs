//! Stage two for `[[jobs]]` (with `[defaults]` applied): names, granularity,
//! window and step, zone ([`super::zone`]), lag and horizon, schedule, targets (or the
//! discovery of devices) and regions.

use super::model::{Discovery, Job, Scope};
use super::raw::{OptSpanned, RawDevices, RawJob};
use super::validate::{Ctx, MAX_CATCH_UP, MAX_LAG, MAX_WINDOW, span};
use crate::domain::schedule::Schedule;
use crate::domain::target::{Gateway, Granularity, Region, Selection, Target};
use crate::domain::window::{Cadence, Length};
use jiff::tz::TimeZone;
use std::collections::HashSet;
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

/// Most devices one summed request may name (`DeviceList`).
pub(crate) const MAX_DEVICE_LIST: usize = 10;

fn valid_job_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn strings(cx: &mut Ctx<'_>, key: &str, v: &OptSpanned<Vec<Spanned<String>>>) -> Vec<String> {
    match v {
        Some(v) => list(cx, key, v.get_ref()),
        None => Vec::new(),
    }
}

fn list(cx: &mut Ctx<'_>, key: &str, v: &[Spanned<String>]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in v {
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

/// Where the problems of job `i` are reported: `jobs[i].<key>`, at the
/// key's value or, when the key is missing, at the job.
pub(super) struct At {
    i: usize,
    job: Range<usize>,
}

impl At {
    pub(super) fn key(&self, field: &str) -> String {
        format!("jobs[{}].{field}", self.i)
    }

    fn job(&self) -> Option<Range<usize>> {
        Some(self.job.clone())
    }
}

pub(super) fn job(
    cx: &mut Ctx<'_>,
    i: usize,
    job_span: Range<usize>,
    raw: &RawJob,
    names: &mut HashSet<String>,
) -> Option<Job> {
    let before = cx.problems.len();
    let at = At { i, job: job_span };
    let name = name(cx, &at, raw, names);
    let granularity = granularity(cx, &at, raw);
    let (timezone, zone) = super::zone::zone(cx, &at, raw);
    let cadence = cadence(cx, &at, raw, granularity, zone);
    let (lag, catch_up) = lag_and_horizon(cx, &at, raw, cadence.as_ref());
    let schedule = schedule(cx, &at, raw);
    let (targets, discovery) = targets(cx, &at, raw);
    let regions = regions(cx, &at, raw);
    let gateway = gateway(cx, &at, raw);
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
        discovery,
        regions,
        gateway,
        enabled,
    })
}

/// `name`: present, safe for paths, unique among `names`.
fn name(cx: &mut Ctx<'_>, at: &At, raw: &RawJob, names: &mut HashSet<String>) -> String {
    match &raw.name {
        None => {
            cx.problem(
                at.key("name"),
                at.job(),
                "every job needs a name",
                Some("add name = \"...\" ([A-Za-z0-9_-], 1 to 64 characters)".to_string()),
            );
            format!("jobs[{}]", at.i)
        }
        Some(n) if !valid_job_name(n.get_ref()) => {
            cx.problem(
                at.key("name"),
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
                    at.key("name"),
                    Some(n.span()),
                    format!("job {:?} is defined twice", n.get_ref()),
                    Some("give each job a unique name".to_string()),
                );
            }
            n.get_ref().clone()
        }
    }
}

/// `granularity`: required, one of [`Granularity::NAMES`].
fn granularity(cx: &mut Ctx<'_>, at: &At, raw: &RawJob) -> Option<Granularity> {
    let Some(g) = &raw.granularity else {
        cx.problem(
            at.key("granularity"),
            at.job(),
            "missing",
            Some(format!(
                "set granularity to one of {}",
                Granularity::NAMES.join(", ")
            )),
        );
        return None;
    };
    let parsed = Granularity::parse(g.get_ref());
    if parsed.is_none() {
        cx.problem(
            at.key("granularity"),
            Some(g.span()),
            format!("unknown granularity {:?}", g.get_ref()),
            Some(format!("use one of {}", Granularity::NAMES.join(", "))),
        );
    }
    parsed
}

/// `window` and `step`: whole multiples of the granularity (the window one
/// unit, the step the window, when left out), in `zone`.
fn cadence(
    cx: &mut Ctx<'_>,
    at: &At,
    raw: &RawJob,
    granularity: Option<Granularity>,
    zone: Option<TimeZone>,
) -> Option<Cadence> {
    let window = cx.duration(&at.key("window"), &raw.window, MAX_WINDOW);
    let step = cx.duration(&at.key("step"), &raw.step, MAX_WINDOW);
    let g = granularity?;
    let unit = g.unit_secs();
    let window = window.unwrap_or(Duration::from_secs(unit));
    let step = step.unwrap_or(window);
    if !whole_units(cx, at, raw, g, window, step) {
        return None;
    }
    let (Some(step_len), Some(window_len)) = (
        Length::from_secs(step.as_secs()),
        Length::from_secs(window.as_secs()),
    ) else {
        if zone.is_some() {
            cx.problem(
                at.key("window"),
                span(&raw.window).or(at.job()),
                "too long",
                Some("use a window and step of at most a few years".to_string()),
            );
        }
        return None;
    };
    match Cadence::new(step_len, window_len, zone?) {
        Ok(c) => Some(c),
        Err(e) => {
            cx.problem(
                at.key("step"),
                span(&raw.step).or(at.job()),
                e.to_string(),
                None,
            );
            None
        }
    }
}

/// Whether `window` and `step` are whole multiples of `g`'s unit (a problem
/// for each that is not).
fn whole_units(
    cx: &mut Ctx<'_>,
    at: &At,
    raw: &RawJob,
    g: Granularity,
    window: Duration,
    step: Duration,
) -> bool {
    let unit = g.unit_secs();
    let mut ok = true;
    for (field, d, v) in [("window", window, &raw.window), ("step", step, &raw.step)] {
        // A step left out inherits the window: its problem is the window's.
        let inherited = field == "step" && v.is_none();
        if !inherited && (d.is_zero() || d.subsec_nanos() != 0 || d.as_secs() % unit != 0) {
            cx.problem(
                at.key(field),
                span(v).or(at.job()),
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
    ok
}

/// `lag` (5m when left out) and `catch_up`, the horizon: longer than lag +
/// step (1d when left out, or two steps plus lag when longer).
fn lag_and_horizon(
    cx: &mut Ctx<'_>,
    at: &At,
    raw: &RawJob,
    cadence: Option<&Cadence>,
) -> (Duration, Duration) {
    let lag = cx
        .duration(&at.key("lag"), &raw.lag, MAX_LAG)
        .unwrap_or(Duration::from_secs(300));
    let step_secs = cadence.map(|c| c.step().nominal_secs()).unwrap_or(3600);
    // Every value is bounded above; the arithmetic is checked all the same.
    let lag_step = lag.saturating_add(Duration::from_secs(step_secs));
    let default_catch_up =
        Duration::from_secs(86_400).max(lag_step.saturating_add(Duration::from_secs(step_secs)));
    let catch_up = cx
        .duration(&at.key("catch_up"), &raw.catch_up, MAX_CATCH_UP)
        .unwrap_or(default_catch_up);
    if catch_up <= lag_step && raw.catch_up.is_some() {
        cx.problem(
            at.key("catch_up"),
            span(&raw.catch_up),
            format!(
                "the horizon {} must be longer than lag + step ({}), or windows could fall out of it before they are due",
                humantime::format_duration(catch_up),
                humantime::format_duration(lag_step)
            ),
            Some("raise catch_up (the default is 1d, or two steps plus lag when longer)".to_string()),
        );
    }
    (lag, catch_up)
}

/// `schedule`: a cron expression, if given.
fn schedule(cx: &mut Ctx<'_>, at: &At, raw: &RawJob) -> Option<Schedule> {
    let s = raw.schedule.as_ref()?;
    match Schedule::parse(s.get_ref()) {
        Ok(s) => Some(s),
        Err(e) => {
            cx.problem(
                at.key("schedule"),
                Some(s.span()),
                format!("{:?} is not a valid cron expression: {e}", s.get_ref()),
                Some(
                    "write 5 fields (\"5 * * * *\" = five past every hour) or 6 with seconds first"
                        .to_string(),
                ),
            );
            None
        }
    }
}

/// Longest `discovery_interval`.
pub(crate) const MAX_DISCOVERY_INTERVAL: Duration = Duration::from_secs(7 * 86_400);
/// Shortest `discovery_interval`.
pub(crate) const MIN_DISCOVERY_INTERVAL: Duration = Duration::from_secs(1);
/// `discovery_interval` when left out.
pub(crate) const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(3_600);

/// `devices`, `per_device` and `group`: what each report covers; with
/// `devices = "all"` or a `group` per device, the devices come from the API
/// (`device_type`, `exclude` and `discovery_interval` then apply).
fn targets(cx: &mut Ctx<'_>, at: &At, raw: &RawJob) -> (Vec<Target>, Option<Discovery>) {
    let (all, devices) = match raw.devices.as_ref().map(Spanned::get_ref) {
        None => (false, Vec::new()),
        Some(RawDevices::Word(w)) => {
            if w.trim() != "all" {
                cx.problem(
                    at.key("devices"),
                    span(&raw.devices),
                    format!("{w:?} is not a device list"),
                    Some("write devices = \"all\" for every device of the account, or a list such as [\"mna-1\", \"mna-2\"]".to_string()),
                );
            }
            (true, Vec::new())
        }
        Some(RawDevices::List(items)) => (false, list(cx, &at.key("devices"), items)),
    };
    let per_device = raw
        .per_device
        .as_ref()
        .map(|p| *p.get_ref())
        .unwrap_or(false);
    let group = raw.group.as_ref().map(|g| g.get_ref().trim().to_string());
    if group.as_deref() == Some("") {
        cx.problem(
            at.key("group"),
            span(&raw.group),
            "an empty group id",
            Some("give the GroupId, or leave the key out".to_string()),
        );
    }
    combination(cx, at, raw, all, &devices, per_device, group.is_some());
    let discovering = per_device && (all || group.is_some());
    let discovery = discovery(cx, at, raw, discovering, all, group.clone());
    if discovering {
        (Vec::new(), discovery)
    } else if per_device {
        let t = devices
            .into_iter()
            .map(|d| Target::new(Selection::Device(d)))
            .collect();
        (t, None)
    } else if let Some(g) = group {
        (vec![Target::new(Selection::Group(g))], None)
    } else if devices.is_empty() {
        (vec![Target::new(Selection::All)], None)
    } else {
        (vec![Target::new(Selection::Devices(devices))], None)
    }
}

/// The combinations of `devices`, `per_device` and `group` that make no
/// job, each a problem with its fix.
fn combination(
    cx: &mut Ctx<'_>,
    at: &At,
    raw: &RawJob,
    all: bool,
    devices: &[String],
    per_device: bool,
    has_group: bool,
) {
    if has_group && (all || !devices.is_empty()) {
        cx.problem(
            at.key("group"),
            span(&raw.group),
            "a job selects either devices or a group, not both",
            Some("split it into two jobs".to_string()),
        );
    }
    if all && !per_device {
        cx.problem(
            at.key("devices"),
            span(&raw.devices),
            "devices = \"all\" lists every device for one report each, which needs per_device = true",
            Some("add per_device = true; for the summed report of every device (DeviceId = \"-1\") leave devices out".to_string()),
        );
    }
    if per_device && devices.is_empty() && !all && !has_group {
        cx.problem(
            at.key("per_device"),
            span(&raw.per_device),
            "per_device = true needs a devices list",
            Some(
                "list the devices, write devices = \"all\" or give a group, or drop per_device"
                    .to_string(),
            ),
        );
    }
    if !per_device && devices.len() > MAX_DEVICE_LIST {
        cx.problem(
            at.key("devices"),
            span(&raw.devices),
            format!("{} devices in one summed request; the API takes at most {MAX_DEVICE_LIST}", devices.len()),
            Some("set per_device = true for one report per device, or split the list over several jobs".to_string()),
        );
    }
}

/// `device_type`, `exclude` and `discovery_interval` of a job that lists its
/// devices (`discovering`); a problem for the first two on any other job.
fn discovery(
    cx: &mut Ctx<'_>,
    at: &At,
    raw: &RawJob,
    discovering: bool,
    all: bool,
    group: Option<String>,
) -> Option<Discovery> {
    let exclude = strings(cx, &at.key("exclude"), &raw.exclude);
    let interval = cx
        .duration(
            &at.key("discovery_interval"),
            &raw.discovery_interval,
            MAX_DISCOVERY_INTERVAL,
        )
        .unwrap_or(DEFAULT_DISCOVERY_INTERVAL);
    if interval < MIN_DISCOVERY_INTERVAL {
        cx.problem(
            at.key("discovery_interval"),
            span(&raw.discovery_interval),
            "a discovery interval of zero",
            Some(
                "use e.g. \"1h\" (the default); each listing costs a call per 100 devices"
                    .to_string(),
            ),
        );
    }
    let device_type = match &raw.device_type {
        None => None,
        Some(t) if !(all && discovering) => {
            cx.problem(
                at.key("device_type"),
                Some(t.span()),
                "device_type filters the devices listed by devices = \"all\"",
                Some(
                    "use it with devices = \"all\" and per_device = true, or remove it".to_string(),
                ),
            );
            None
        }
        Some(t) => match *t.get_ref() {
            1 => Some(1),
            2 => Some(2),
            n => {
                cx.problem(
                    at.key("device_type"),
                    Some(t.span()),
                    format!("{n} is not a device type"),
                    Some("use 1 (own devices) or 2 (third-party devices), or leave the key out for both".to_string()),
                );
                None
            }
        },
    };
    if !discovering {
        if raw.exclude.is_some() {
            cx.problem(
                at.key("exclude"),
                span(&raw.exclude),
                "exclude leaves devices out of a listing; this job lists none",
                Some(
                    "use it with devices = \"all\" or a group, and per_device = true; or remove it"
                        .to_string(),
                ),
            );
        }
        return None;
    }
    let scope = match group {
        Some(g) => Scope::Group(g),
        None => Scope::All,
    };
    Some(Discovery {
        scope,
        device_type,
        exclude,
        interval,
        max_devices: super::DEFAULT_MAX_DEVICES,
    })
}

/// `regions`: each one of [`Region::NAMES`]; all regions together when left out.
fn regions(cx: &mut Ctx<'_>, at: &At, raw: &RawJob) -> Vec<Option<Region>> {
    let mut regions: Vec<Option<Region>> = Vec::new();
    for r in strings(cx, &at.key("regions"), &raw.regions) {
        match Region::parse(&r) {
            Some(region) => regions.push(Some(region)),
            None => {
                let span = raw.regions.as_ref().and_then(|v| {
                    v.get_ref()
                        .iter()
                        .find(|s| s.get_ref().trim() == r)
                        .map(Spanned::span)
                });
                cx.problem(at.key("regions"), span, format!("unknown region {r:?}"), Some(format!("use {} (MC = Chinese mainland, AP = Asia Pacific, EU = Europe, AM = Americas)", Region::NAMES.join(", "))));
            }
        }
    }
    if regions.is_empty() {
        regions.push(None);
    }
    regions
}

/// `gateway`: public (the default) or private.
fn gateway(cx: &mut Ctx<'_>, at: &At, raw: &RawJob) -> Gateway {
    let Some(g) = &raw.gateway else {
        return Gateway::Public;
    };
    Gateway::parse(g.get_ref()).unwrap_or_else(|| {
        cx.problem(
            at.key("gateway"),
            Some(g.span()),
            format!("unknown gateway {:?}", g.get_ref()),
            Some("use \"public\" or \"private\"".to_string()),
        );
        Gateway::Public
    })
}
