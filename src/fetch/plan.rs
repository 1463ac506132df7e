//! What to fetch: the reports (target × region × window) of a job that are
//! due at a moment or lie inside a range, minus those already done.
//!
//! Pure: the moment and the done set are arguments.

use crate::config::Job;
use crate::domain::report::{Keyed, RegionScope, ReportKey, Trigger};
use crate::domain::target::Target;
use crate::domain::window::Window;
use crate::tencent::api::StatisticRequest;
use jiff::Timestamp;
use std::sync::Arc;

/// One report to fetch.
#[derive(Debug, Clone)]
pub struct Planned {
    pub job: Arc<Job>,
    pub target: Target,
    pub region: RegionScope,
    pub window: Window,
    pub trigger: Trigger,
}

impl Planned {
    pub fn key(&self) -> ReportKey {
        ReportKey {
            job: self.job.name.clone(),
            target: self.target.label(),
            region: self.region.stored().to_string(),
            window_start: self.window.start,
            window_end: self.window.end,
        }
    }

    pub fn request(&self) -> StatisticRequest {
        StatisticRequest::new(
            &self.target,
            self.region.region(),
            self.window,
            self.job.granularity,
            self.job.gateway,
        )
    }

    /// The window in the job's zone, for people: `2026-11-01T00:00+08:00..2026-11-01T01:00+08:00`.
    pub fn window_text(&self) -> String {
        window_text(self.window, self.job.cadence.zone())
    }
}

impl Keyed for Planned {
    fn key(&self) -> ReportKey {
        Planned::key(self)
    }
}

/// A window in `zone`, for people.
pub fn window_text(w: Window, zone: &jiff::tz::TimeZone) -> String {
    let f = |t| crate::domain::window::local_text(t, zone, "%Y-%m-%dT%H:%M%:z");
    format!("{}..{}", f(w.start), f(w.end))
}

/// The targets and regions of `job` for `window`, in order: one report
/// each. A device found by discovery has no report of a window that ended
/// before it existed ([`Target::covers`]). Where a job's targets come from
/// is this function's business alone.
pub fn targets(job: &Job, window: Window) -> impl Iterator<Item = (Target, RegionScope)> + '_ {
    job.targets
        .iter()
        .filter(move |t| t.covers(&window))
        .flat_map(|t| {
            job.regions
                .iter()
                .map(|r| (t.clone(), RegionScope::from(*r)))
        })
}

/// Reports of `job` in `window`.
pub fn per_window(job: &Job, window: &Window) -> u64 {
    let targets = job.targets.iter().filter(|t| t.covers(window)).count();
    (targets as u64).saturating_mul(job.regions.len() as u64)
}

/// The most reports of `job` in any window: every target.
pub fn most_per_window(job: &Job) -> u64 {
    (job.targets.len() as u64).saturating_mul(job.regions.len() as u64)
}

/// The reports of `job` in `window`.
pub fn in_window(
    job: &Arc<Job>,
    window: Window,
    trigger: Trigger,
) -> impl Iterator<Item = Planned> + '_ {
    targets(job, window).map(move |(target, region)| Planned {
        job: job.clone(),
        target,
        region,
        window,
        trigger,
    })
}

fn expand(
    job: &Arc<Job>,
    windows: &[Window],
    trigger_of: impl Fn(&Window) -> Trigger,
) -> Vec<Planned> {
    windows
        .iter()
        .flat_map(|w| in_window(job, *w, trigger_of(w)))
        .collect()
}

/// Every report of `job` due at `now` (window end `<= now - lag` and
/// `> now - catch_up`), oldest first. With `at_start`, all are catch-up;
/// otherwise the newest due window is the scheduled one and older ones are
/// catch-up.
pub fn due(job: &Arc<Job>, now: Timestamp, at_start: bool) -> Vec<Planned> {
    due_since(job, now, None, at_start)
}

/// [`due`], and also every window that ended after `covered`: the cutoff
/// (`now - lag`) of the job's previous fire. A schedule that fires less
/// often than the horizon is long (a daily cron for hourly windows), or a
/// day longer than usual, then loses no window while the daemon runs.
pub fn due_since(
    job: &Arc<Job>,
    now: Timestamp,
    covered: Option<Timestamp>,
    at_start: bool,
) -> Vec<Planned> {
    let windows = job.cadence.due(now, job.lag, job.catch_up, covered);
    let newest = windows.last().map(|w| w.end);
    expand(job, &windows, |w| {
        if at_start || Some(w.end) != newest {
            Trigger::CatchUp
        } else {
            Trigger::Schedule
        }
    })
}

/// The cutoff of a fire of `job` at `now` (`now - lag`), for [`due_since`].
pub fn cutoff(job: &Job, now: Timestamp) -> Option<Timestamp> {
    crate::domain::window::sub(now, job.lag)
}

/// Every report of `job` whose window lies wholly inside `[from, to)`, oldest first.
#[cfg(test)]
pub fn range(job: &Arc<Job>, from: Timestamp, to: Timestamp, trigger: Trigger) -> Vec<Planned> {
    let windows = job.cadence.windows_within(from, to);
    expand(job, &windows, |_| trigger)
}

/// About how many reports [`range`] gives for `[from, to)` (nominal steps,
/// rounded up), without making them: to refuse a range too large to plan.
pub fn range_size(job: &Job, from: Timestamp, to: Timestamp) -> u64 {
    let span = u64::try_from(to.as_second().saturating_sub(from.as_second())).unwrap_or(0);
    let step = job.cadence.step().nominal_secs().max(1);
    (span / step + 1).saturating_mul(most_per_window(job))
}

/// The windows of `job` lying wholly inside `[from, to)`, oldest first,
/// split into those complete at `now` (end plus the job's `lag` has passed)
/// and those not yet: the reports are made from them as they are taken
/// ([`in_window`]), so a long range is never held whole.
pub fn range_windows(
    job: &Job,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> (Vec<Window>, Vec<Window>) {
    let cut = cutoff(job, now).map(|c| c.as_second());
    job.cadence
        .windows_within(from, to)
        .into_iter()
        .partition(|w| cut.is_some_and(|c| w.end <= c))
}

/// The windows of `job` due at `now` (see [`due`]).
pub fn due_windows(job: &Job, now: Timestamp) -> Vec<Window> {
    job.cadence.due(now, job.lag, job.catch_up, None)
}

/// `planned` split into the reports whose window end plus the job's `lag`
/// has passed at `now`, and those whose report is not complete yet (never
/// fetched by hand: the API would answer with part of the window).
#[cfg(test)]
pub fn split_complete(planned: Vec<Planned>, now: Timestamp) -> (Vec<Planned>, Vec<Planned>) {
    planned
        .into_iter()
        .partition(|p| cutoff(&p.job, now).is_some_and(|cut| p.window.end <= cut.as_second()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::without_done;
    use std::collections::HashSet;
    use std::path::Path;

    fn job(extra: &str) -> Arc<Job> {
        let text = format!("[storage]\nstate_dir = \"/tmp/x\"\n[[jobs]]\nname = \"j\"\n{extra}\n");
        let c = crate::config::parse(&text, Path::new("/tmp/c.toml")).expect("config");
        Arc::new(c.jobs[0].clone())
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("ts")
    }

    #[test]
    fn due_expands_targets_and_regions_and_marks_the_newest_as_scheduled() {
        let j = job(
            "granularity = \"hourly\"\ndevices = [\"a\", \"b\"]\nper_device = true\nregions = [\"MC\", \"EU\"]\ncatch_up = \"3h\"\nlag = \"5m\"",
        );
        let p = due(&j, ts("2026-11-01T12:10:00Z"), false);
        // windows ending 10:00, 11:00, 12:00 (09:10 < end <= 12:05) x 2 devices x 2 regions
        assert_eq!(p.len(), 12);
        assert_eq!(
            p.iter().filter(|p| p.trigger == Trigger::Schedule).count(),
            4
        );
        assert!(
            p.iter()
                .filter(|p| p.trigger == Trigger::Schedule)
                .all(|p| p.window.end == ts("2026-11-01T12:00:00Z").as_second())
        );
        let keys: HashSet<ReportKey> = p.iter().map(Planned::key).collect();
        assert_eq!(keys.len(), 12);
        assert!(
            due(&j, ts("2026-11-01T12:10:00Z"), true)
                .iter()
                .all(|p| p.trigger == Trigger::CatchUp)
        );
    }

    #[test]
    fn range_and_without_done() {
        let j = job("granularity = \"hourly\"");
        let p = range(
            &j,
            ts("2026-11-01T00:00:00Z"),
            ts("2026-11-02T00:00:00Z"),
            Trigger::Manual,
        );
        assert_eq!(p.len(), 24);
        let done: HashSet<ReportKey> = p.iter().take(10).map(Planned::key).collect();
        let rest = without_done(p.clone(), &done);
        assert_eq!(rest.len(), 14);
    }

    #[test]
    fn windows_whose_end_plus_lag_has_not_passed_are_not_complete() {
        let j = job("granularity = \"hourly\"\nlag = \"10m\"");
        let p = range(
            &j,
            ts("2026-11-01T10:00:00Z"),
            ts("2026-11-01T14:00:00Z"),
            Trigger::Manual,
        );
        // At 12:09 the window ending 12:00 still waits for its lag.
        let (complete, later) = split_complete(p, ts("2026-11-01T12:09:59Z"));
        let ends = |v: &[Planned]| v.iter().map(|p| p.window.end).collect::<Vec<_>>();
        assert_eq!(
            ends(&complete),
            vec![ts("2026-11-01T11:00:00Z").as_second()]
        );
        assert_eq!(later.len(), 3);
        let (complete, later) = split_complete(later, ts("2026-11-01T12:10:00Z"));
        assert_eq!(
            ends(&complete),
            vec![ts("2026-11-01T12:00:00Z").as_second()]
        );
        assert_eq!(later.len(), 2);
    }

    #[test]
    fn range_size_estimates_without_planning() {
        let j = job(
            "granularity = \"hourly\"\ndevices = [\"a\", \"b\"]\nper_device = true\nregions = [\"MC\", \"EU\"]",
        );
        let (from, to) = (ts("2026-11-01T00:00:00Z"), ts("2026-11-02T00:00:00Z"));
        let exact = range(&j, from, to, Trigger::Manual).len() as u64;
        assert_eq!(exact, 96);
        assert!((exact..=exact + 4).contains(&range_size(&j, from, to)));
        assert_eq!(range_size(&j, to, from), 4);
        let far = range_size(&j, Timestamp::MIN, Timestamp::MAX);
        assert!(far > 100_000_000, "{far}");
    }

    #[test]
    fn range_windows_make_the_reports_of_range_in_the_same_order() {
        let j = job(
            "granularity = \"hourly\"\ndevices = [\"a\", \"b\"]\nper_device = true\nregions = [\"MC\", \"EU\"]\nlag = \"10m\"",
        );
        let (from, to) = (ts("2026-11-01T10:00:00Z"), ts("2026-11-01T14:00:00Z"));
        let now = ts("2026-11-01T12:09:59Z");
        let (complete, later) = range_windows(&j, from, to, now);
        let streamed: Vec<ReportKey> = complete
            .iter()
            .flat_map(|w| in_window(&j, *w, Trigger::Manual))
            .map(|p| p.key())
            .collect();
        let (planned, not_complete) = split_complete(range(&j, from, to, Trigger::Manual), now);
        let planned: Vec<ReportKey> = planned.iter().map(Planned::key).collect();
        assert_eq!(streamed, planned);
        assert_eq!(
            later.iter().map(|w| per_window(&j, w)).sum::<u64>(),
            not_complete.len() as u64
        );
        assert_eq!(most_per_window(&j), 4);
    }

    #[test]
    fn requests_carry_the_job_parameters() {
        let j = job(
            "granularity = \"daily\"\ngroup = \"grp-1\"\ngateway = \"private\"\ntimezone = \"Asia/Shanghai\"",
        );
        let p = range(
            &j,
            ts("2026-11-01T00:00:00+08:00"),
            ts("2026-11-02T00:00:00+08:00"),
            Trigger::Manual,
        );
        assert_eq!(p.len(), 1);
        let r = p[0].request();
        assert_eq!(r.group_id.as_deref(), Some("grp-1"));
        assert_eq!(r.gateway_type, 1);
        assert_eq!(r.time_granularity, 2);
        assert_eq!(r.begin_time, ts("2026-10-31T16:00:00Z").as_second());
        assert_eq!(
            p[0].window_text(),
            "2026-11-01T00:00+08:00..2026-11-02T00:00+08:00"
        );
    }
}
