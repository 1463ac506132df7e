//! Stage two for `[[jobs]]` (with `[defaults]` applied): names, granularity,
//! window and step, zone, lag and horizon, schedule, targets and regions.

use super::model::Job;
use super::raw::{OptSpanned, RawJob};
use super::validate::{Ctx, MAX_CATCH_UP, MAX_LAG, MAX_WINDOW, span};
use crate::core::schedule::Schedule;
use crate::core::target::{Gateway, Granularity, Region, Selection, Target};
use crate::core::window::{Cadence, Length};
use std::collections::HashSet;
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

/// Most devices one summed request may name (`DeviceList`).
pub const MAX_DEVICE_LIST: usize = 10;

fn valid_job_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn strings(cx: &mut Ctx<'_>, key: &str, v: &OptSpanned<Vec<Spanned<String>>>) -> Vec<String> {
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

pub(super) fn job(
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

    let window = cx.duration(&k("window"), &raw.window, MAX_WINDOW);
    let step = cx.duration(&k("step"), &raw.step, MAX_WINDOW);
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
        .duration(&k("lag"), &raw.lag, MAX_LAG)
        .unwrap_or(Duration::from_secs(300));
    let step_secs = cadence
        .as_ref()
        .map(|c| c.step().nominal_secs())
        .unwrap_or(3600);
    // Every value is bounded above; the arithmetic is checked all the same.
    let lag_step = lag.saturating_add(Duration::from_secs(step_secs));
    let default_catch_up =
        Duration::from_secs(86_400).max(lag_step.saturating_add(Duration::from_secs(step_secs)));
    let catch_up = cx
        .duration(&k("catch_up"), &raw.catch_up, MAX_CATCH_UP)
        .unwrap_or(default_catch_up);
    if catch_up <= lag_step && raw.catch_up.is_some() {
        cx.problem(
            k("catch_up"),
            span(&raw.catch_up),
            format!(
                "the horizon {} must be longer than lag + step ({}), or windows could fall out of it before they are due",
                humantime::format_duration(catch_up),
                humantime::format_duration(lag_step)
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
