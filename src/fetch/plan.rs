//! What to fetch: the windows a run asks for ([`Plan`], made once from each
//! job's [`Ask`]: what is due now, a range, a daemon's fire), and the
//! reports (target × region × window) made from them as they are taken, for
//! a job with the targets it has ([`ResolvedJob`]).
//!
//! Pure: the moment and the job's targets are arguments.

use crate::archive::resolved::ResolvedJob;
pub(crate) use crate::archive::resolved::cutoff;
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
    pub(crate) job: Arc<Job>,
    pub(crate) target: Target,
    pub(crate) region: RegionScope,
    pub(crate) window: Window,
    pub(crate) trigger: Trigger,
}

impl Planned {
    pub(crate) fn key(&self) -> ReportKey {
        ReportKey {
            job: self.job.name.clone(),
            target: self.target.label(),
            region: self.region.stored().to_string(),
            window_start: self.window.start,
            window_end: self.window.end,
        }
    }

    pub(crate) fn request(&self) -> StatisticRequest {
        StatisticRequest::new(
            &self.target,
            self.region.region(),
            self.window,
            self.job.granularity,
            self.job.gateway,
        )
    }

    /// The window in the job's zone, for people: `2026-11-01T00:00+08:00..2026-11-01T01:00+08:00`.
    pub(crate) fn window_text(&self) -> String {
        window_text(self.window, self.job.cadence.zone())
    }
}

impl Keyed for Planned {
    fn key(&self) -> ReportKey {
        Planned::key(self)
    }
}

/// A window in `zone`, for people.
pub(crate) fn window_text(w: Window, zone: &jiff::tz::TimeZone) -> String {
    let f = |t| crate::domain::window::local_text(t, zone, "%Y-%m-%dT%H:%M%:z");
    format!("{}..{}", f(w.start), f(w.end))
}

/// The reports of `job` in `window`.
pub(crate) fn in_window(
    job: &ResolvedJob,
    window: Window,
    trigger: Trigger,
) -> impl Iterator<Item = Planned> + '_ {
    job.targets_in(window).map(move |(target, region)| Planned {
        job: job.job().clone(),
        target,
        region,
        window,
        trigger,
    })
}

fn expand(
    job: &ResolvedJob,
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
pub(crate) fn due(job: &ResolvedJob, now: Timestamp, at_start: bool) -> Vec<Planned> {
    due_since(job, now, None, at_start)
}

/// [`due`], and also every window that ended after `covered`: the cutoff
/// (`now - lag`) of the job's previous fire. A schedule that fires less
/// often than the horizon is long (a daily cron for hourly windows), or a
/// day longer than usual, then loses no window while the daemon runs.
pub(crate) fn due_since(
    job: &ResolvedJob,
    now: Timestamp,
    covered: Option<Timestamp>,
    at_start: bool,
) -> Vec<Planned> {
    let windows = due_windows_since(job.job(), now, covered);
    let newest = windows.last().map(|w| w.end);
    expand(job, &windows, |w| {
        if at_start || Some(w.end) != newest {
            Trigger::CatchUp
        } else {
            Trigger::Schedule
        }
    })
}

/// The windows [`due_since`] makes the reports of.
pub(crate) fn due_windows_since(
    job: &Job,
    now: Timestamp,
    covered: Option<Timestamp>,
) -> Vec<Window> {
    job.cadence.due(now, job.lag, job.catch_up, covered)
}

/// Every report of `job` whose window lies wholly inside `[from, to)`, oldest first.
#[cfg(test)]
pub(crate) fn range(
    job: &ResolvedJob,
    from: Timestamp,
    to: Timestamp,
    trigger: Trigger,
) -> Vec<Planned> {
    let windows = job.job().cadence.windows_within(from, to);
    expand(job, &windows, |_| trigger)
}

/// About how many reports [`range`] gives for `[from, to)` (nominal steps,
/// rounded up), without making them: to refuse a range too large to plan.
pub(crate) fn range_size(job: &ResolvedJob, from: Timestamp, to: Timestamp) -> u64 {
    let span = u64::try_from(to.as_second().saturating_sub(from.as_second())).unwrap_or(0);
    let step = job.job().cadence.step().nominal_secs().max(1);
    (span / step + 1).saturating_mul(job.most_per_window())
}

/// The windows of `job` lying wholly inside `[from, to)`, oldest first,
/// split into those complete at `now` (end plus the job's `lag` has passed)
/// and those not yet: the reports are made from them as they are taken
/// ([`in_window`]), so a long range is never held whole.
pub(crate) fn range_windows(
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
pub(crate) fn due_windows(job: &Job, now: Timestamp) -> Vec<Window> {
    due_windows_since(job, now, None)
}

/// `planned` split into the reports whose window end plus the job's `lag`
/// has passed at `now`, and those whose report is not complete yet (never
/// fetched by hand: the API would answer with part of the window).
#[cfg(test)]
pub(crate) fn split_complete(
    planned: Vec<Planned>,
    now: Timestamp,
) -> (Vec<Planned>, Vec<Planned>) {
    planned
        .into_iter()
        .partition(|p| cutoff(&p.job, now).is_some_and(|cut| p.window.end <= cut.as_second()))
}

/// Most reports one run plans: more is a mistake in the range (and would
/// take hours at the API's 20 calls a second).
pub(crate) const MAX_RUN_REPORTS: u64 = 1_000_000;

/// Reports taken from the history at once to subtract those done: whole
/// windows, about this many reports.
const BATCH: u64 = 1024;

/// Which windows of a job a run asks for.
#[derive(Debug, Clone)]
pub(crate) enum Ask {
    /// What is due at `now` (a manual fetch without a range).
    DueNow(Timestamp),
    /// The complete windows inside `[from, to)` at `now` (a manual fetch).
    Range {
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    },
    /// A daemon fire at `at`: what is due, from `covered` on; with
    /// `at_start` all of it is catch-up ([`due_since`]).
    Fire {
        at: Timestamp,
        covered: Option<Timestamp>,
        at_start: bool,
    },
}

/// The windows one job's reports are made of, and the trigger of each.
#[derive(Debug, Clone)]
pub(crate) struct JobPlan {
    pub(crate) job: ResolvedJob,
    /// Complete windows, oldest first.
    pub(crate) windows: Vec<Window>,
    /// A fire's, not at start: its newest window is the scheduled one.
    scheduled_newest: bool,
    /// A manual fetch's reports are all manual.
    manual: bool,
}

impl JobPlan {
    fn trigger(&self, w: &Window) -> Trigger {
        if self.manual {
            Trigger::Manual
        } else if self.scheduled_newest && self.windows.last().map(|n| n.end) == Some(w.end) {
            Trigger::Schedule
        } else {
            Trigger::CatchUp
        }
    }

    /// The same windows, for `job` with the targets it has now.
    fn with(self, job: ResolvedJob) -> JobPlan {
        JobPlan { job, ..self }
    }
}

/// What a run fetches, as windows: the reports are made from them as they
/// are taken ([`Plan::batches`]), so a long range is never held whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// Each job's complete windows, in job order.
    pub(crate) work: Vec<JobPlan>,
    /// Each job's windows of the range not complete yet (never fetched by hand).
    pub(crate) later: Vec<(ResolvedJob, Vec<Window>)>,
    /// The lags of the jobs whose range reaches past now (those windows are
    /// not even planned).
    pub(crate) future: std::collections::BTreeSet<std::time::Duration>,
}

/// A range asking for more than [`MAX_RUN_REPORTS`] reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--from/--to asks for about {size} reports, more than {MAX_RUN_REPORTS} at once\n  \
     fix: split the range into several fetches (e.g. a month at a time)"
)]
pub(crate) struct TooLarge {
    pub(crate) size: u64,
}

impl Plan {
    /// Plan `asks` once: the windows of each job (with the targets it has
    /// when asked), refused when a range holds more than
    /// [`MAX_RUN_REPORTS`] reports (estimated before any window is listed).
    pub(crate) fn new(asks: Vec<(ResolvedJob, Ask)>) -> Result<Plan, TooLarge> {
        let size = asks
            .iter()
            .map(|(job, ask)| match ask {
                Ask::Range { from, to, now } => range_size(job, *from, (*to).min(*now)),
                _ => 0,
            })
            .fold(0u64, u64::saturating_add);
        if size > MAX_RUN_REPORTS {
            return Err(TooLarge { size });
        }
        let mut plan = Plan::default();
        for (job, ask) in asks {
            plan.add(job, ask);
        }
        Ok(plan)
    }

    fn add(&mut self, job: ResolvedJob, ask: Ask) {
        let (windows, scheduled_newest, manual) = match ask {
            Ask::DueNow(now) => (due_windows(job.job(), now), false, true),
            Ask::Range { from, to, now } => {
                // No window ending after now is complete: none is planned.
                if to > now {
                    self.future.insert(job.job().lag);
                }
                let to = to.min(now);
                if from >= to {
                    return;
                }
                let (complete, not_yet) = range_windows(job.job(), from, to, now);
                self.later.push((job.clone(), not_yet));
                (complete, false, true)
            }
            Ask::Fire {
                at,
                covered,
                at_start,
            } => (due_windows_since(job.job(), at, covered), !at_start, false),
        };
        self.work.push(JobPlan {
            job,
            windows,
            scheduled_newest,
            manual,
        });
    }

    /// The same plan, each job with the targets `now_of` gives it (the
    /// devices a discovering job has once it has listed).
    pub(crate) fn with_targets(self, mut now_of: impl FnMut(&ResolvedJob) -> ResolvedJob) -> Plan {
        let work = self
            .work
            .into_iter()
            .map(|w| {
                let job = now_of(&w.job);
                w.with(job)
            })
            .collect();
        let later = self
            .later
            .into_iter()
            .map(|(job, w)| (now_of(&job), w))
            .collect();
        Plan {
            work,
            later,
            future: self.future,
        }
    }

    /// The reports asked for.
    pub(crate) fn asked(&self) -> u64 {
        self.work
            .iter()
            .flat_map(|w| w.windows.iter().map(|win| w.job.per_window(win)))
            .sum()
    }

    /// The reports not complete yet (of a range).
    pub(crate) fn later_count(&self) -> u64 {
        self.later
            .iter()
            .flat_map(|(job, w)| w.iter().map(|w| job.per_window(w)))
            .sum()
    }

    /// The reports in batches of whole windows, oldest first within a job.
    pub(crate) fn batches(&self) -> impl Iterator<Item = Vec<Planned>> + '_ {
        self.work.iter().flat_map(|plan| {
            let most = plan.job.most_per_window().max(1);
            let per = usize::try_from((BATCH / most).max(1)).unwrap_or(1);
            plan.windows.chunks(per).map(move |chunk| {
                chunk
                    .iter()
                    .flat_map(|w| in_window(&plan.job, *w, plan.trigger(w)))
                    .collect()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::without_done;
    use std::collections::HashSet;
    use std::path::Path;

    fn job(extra: &str) -> ResolvedJob {
        let text = format!("[storage]\nstate_dir = \"/tmp/x\"\n[[jobs]]\nname = \"j\"\n{extra}\n");
        let c = crate::config::parse(&text, Path::new("/tmp/c.toml")).expect("config");
        ResolvedJob::from_config(Arc::new(c.jobs[0].clone()))
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
        let (complete, later) = range_windows(j.job(), from, to, now);
        let streamed: Vec<ReportKey> = complete
            .iter()
            .flat_map(|w| in_window(&j, *w, Trigger::Manual))
            .map(|p| p.key())
            .collect();
        let (planned, not_complete) = split_complete(range(&j, from, to, Trigger::Manual), now);
        let planned: Vec<ReportKey> = planned.iter().map(Planned::key).collect();
        assert_eq!(streamed, planned);
        assert_eq!(
            later.iter().map(|w| j.per_window(w)).sum::<u64>(),
            not_complete.len() as u64
        );
        assert_eq!(j.most_per_window(), 4);
    }

    #[test]
    fn a_plan_makes_the_reports_of_its_asks_once_and_refuses_a_range_too_large() {
        let j = job(
            "granularity = \"hourly\"\ndevices = [\"a\", \"b\"]\nper_device = true\ncatch_up = \"3h\"\nlag = \"5m\"",
        );
        let at = ts("2026-11-01T12:10:00Z");
        let keyed = |v: Vec<Planned>| -> Vec<(ReportKey, Trigger)> {
            v.into_iter().map(|p| (p.key(), p.trigger)).collect()
        };
        // a fire: what due_since makes, in its order, with its triggers
        for at_start in [false, true] {
            let fire = Ask::Fire {
                at,
                covered: None,
                at_start,
            };
            let plan = Plan::new(vec![(j.clone(), fire)]).expect("plan");
            let batched = keyed(plan.batches().flatten().collect());
            assert_eq!(batched, keyed(due_since(&j, at, None, at_start)));
            assert_eq!(plan.asked(), batched.len() as u64);
        }
        // due now, by hand: the same reports, all manual
        let plan = Plan::new(vec![(j.clone(), Ask::DueNow(at))]).expect("plan");
        let manual: Vec<Planned> = plan.batches().flatten().collect();
        assert_eq!(manual.len(), 6);
        assert!(manual.iter().all(|p| p.trigger == Trigger::Manual));
        // 126 years of hourly windows for two devices: over a million reports
        let far = Ask::Range {
            from: ts("1900-01-01T00:00:00Z"),
            to: ts("2026-01-01T00:00:00Z"),
            now: at,
        };
        let refused = Plan::new(vec![(j, far)]).expect_err("too large");
        assert!(refused.size > MAX_RUN_REPORTS, "{refused:?}");
        assert!(refused.to_string().contains("split the range"), "{refused}");
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
