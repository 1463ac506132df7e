use super::*;
use crate::archive::resolved::ResolvedJob;
use crate::domain::report::ReportKey;
use crate::fetch::plan;
use std::collections::{HashMap, HashSet};
use std::path::Path;

fn jobs(text: &str) -> Vec<Arc<Job>> {
    let full = format!("[storage]\nstate_dir = \"/tmp/x\"\n{text}");
    crate::config::parse(&full, Path::new("/tmp/c.toml"))
        .expect("config")
        .jobs
        .into_iter()
        .map(Arc::new)
        .collect()
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("ts")
}

/// The [`Scheduler`] driven on a simulated wall clock, as the daemon drives
/// it: sleep as it says, tick, run each fire to its end at once (fetching
/// what it planned and is not done) and say so.
struct Clock {
    scheduler: Scheduler,
    wall: Timestamp,
    done: HashSet<ReportKey>,
    fetched: HashMap<ReportKey, usize>,
    fires: usize,
    jumps: Vec<Jump>,
}

impl Clock {
    /// A scheduler started at `start`, its catch-up fires run.
    fn new(jobs: Vec<Arc<Job>>, start: Timestamp) -> Clock {
        Clock::with_done(jobs, start, HashSet::new())
    }

    /// A scheduler started at `start` over a history where `done` is done.
    fn with_done(jobs: Vec<Arc<Job>>, start: Timestamp, done: HashSet<ReportKey>) -> Clock {
        let mut c = Clock {
            scheduler: Scheduler::new(jobs, start),
            wall: start,
            done,
            fetched: HashMap::new(),
            fires: 0,
            jumps: Vec::new(),
        };
        let catch_up = c.scheduler.start(start);
        c.run(catch_up);
        c
    }

    fn run(&mut self, tick: Tick) {
        assert!(
            tick.skipped.is_empty(),
            "every fire ends before the next tick"
        );
        self.jumps.extend(tick.jump);
        for f in tick.fires {
            self.fires += 1;
            for p in crate::domain::report::without_done(
                f.plan(&ResolvedJob::from_config(f.job.clone())),
                &self.done,
            ) {
                *self.fetched.entry(p.key()).or_default() += 1;
                self.done.insert(p.key());
            }
            self.scheduler.finished(&f.job.name);
        }
    }

    /// One loop iteration, with the wall clock moved by `jump` during the sleep.
    fn step(&mut self, jump: SignedDuration) {
        let slept = self.scheduler.sleep_for(self.wall);
        self.wall = self
            .wall
            .checked_add(SignedDuration::try_from(slept).expect("fits"))
            .and_then(|w| w.checked_add(jump))
            .expect("in range");
        let tick = self.scheduler.tick(self.wall, slept);
        self.run(tick);
    }

    /// Every window of `want` was fetched, and no window twice.
    fn assert_each_fetched_once(&self, want: &HashSet<ReportKey>) {
        for k in want {
            assert!(self.done.contains(k), "window ending {} lost", k.window_end);
        }
        assert!(self.fetched.values().all(|n| *n == 1));
    }

    fn run_until(&mut self, until: Timestamp) {
        while self.wall < until {
            self.step(SignedDuration::ZERO);
        }
    }
}

fn hourly_job() -> Vec<Arc<Job>> {
    jobs("[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\nlag = \"5m\"\ncatch_up = \"6h\"\n")
}

fn expected_windows(job: &Arc<Job>, from: Timestamp, to: Timestamp) -> HashSet<ReportKey> {
    let job = ResolvedJob::from_config(job.clone());
    plan::range(&job, from, to, crate::domain::report::Trigger::Manual)
        .iter()
        .map(plan::Planned::key)
        .collect()
}

#[test]
fn steady_running_fetches_every_window_once() {
    let js = hourly_job();
    let mut clock = Clock::new(js.clone(), ts("2026-11-01T00:00:00Z"));
    clock.run_until(ts("2026-11-02T00:30:00Z"));
    let want = expected_windows(
        &js[0],
        ts("2026-10-31T18:00:00Z"),
        ts("2026-11-02T00:00:00Z"),
    );
    assert_eq!(clock.done, want);
    assert!(clock.fetched.values().all(|n| *n == 1));
    assert!(clock.jumps.is_empty());
}

#[test]
fn sleeps_are_bounded() {
    let js = hourly_job();
    let t = Timetable::new(&js, ts("2026-11-01T00:06:00Z"));
    assert_eq!(t.sleep_for(ts("2026-11-01T00:06:00Z")), MAX_SLEEP);
    assert_eq!(t.next_of("h"), Some(ts("2026-11-01T01:05:00Z")));
    assert_eq!(
        t.sleep_for(ts("2026-11-01T01:04:50Z")),
        Duration::from_secs(10)
    );
    assert_eq!(t.sleep_for(ts("2026-11-01T01:06:00Z")), Duration::ZERO);
}

#[test]
fn clock_jumping_forward_and_back_neither_skips_nor_repeats() {
    let js = hourly_job();
    let mut clock = Clock::new(js.clone(), ts("2026-11-01T00:00:00Z"));
    clock.run_until(ts("2026-11-01T03:00:00Z"));
    // suspend / step forward by 4 hours during one sleep
    clock.step(SignedDuration::from_hours(4));
    clock.run_until(ts("2026-11-01T09:00:00Z"));
    // step back by 2 hours (NTP correction), then run on
    clock.step(SignedDuration::from_hours(-2));
    clock.run_until(ts("2026-11-01T12:30:00Z"));
    assert_eq!(clock.jumps.len(), 2);
    assert!(clock.jumps[0].0 > SignedDuration::ZERO);
    assert!(clock.jumps[1].0 < SignedDuration::ZERO);
    let want = expected_windows(
        &js[0],
        ts("2026-10-31T18:00:00Z"),
        ts("2026-11-01T12:00:00Z"),
    );
    assert_eq!(
        clock.done, want,
        "a window was skipped or an extra one fetched"
    );
    assert!(
        clock.fetched.values().all(|n| *n == 1),
        "a window was fetched twice"
    );
}

#[test]
fn a_suspend_longer_than_the_horizon_loses_nothing() {
    // The process sleeps through 10 hours with a 6-hour horizon: its next
    // fire takes every window since its last one, at once, in one fire.
    let js = hourly_job();
    let mut clock = Clock::new(js.clone(), ts("2026-11-01T00:00:00Z"));
    clock.run_until(ts("2026-11-01T01:00:00Z"));
    let before = clock.fires;
    clock.step(SignedDuration::from_hours(10));
    assert_eq!(
        clock.fires,
        before + 1,
        "one fire catches up, not one per missed slot"
    );
    // woken at 11:00:30: windows ending 02:00 .. 10:00 (the 01:00 one was fetched before)
    let caught: Vec<&ReportKey> = clock
        .done
        .iter()
        .filter(|k| k.window_end > ts("2026-11-01T01:00:00Z").as_second())
        .collect();
    assert_eq!(caught.len(), 9);
    clock.run_until(ts("2026-11-01T12:00:00Z"));
    let all = expected_windows(
        &js[0],
        ts("2026-10-31T18:00:00Z"),
        ts("2026-11-01T11:00:00Z"),
    );
    assert!(all.iter().all(|k| clock.done.contains(k)));
    assert!(clock.fetched.values().all(|n| *n == 1));
}

#[test]
fn a_restart_after_downtime_longer_than_the_horizon_catches_up_the_horizon() {
    // A new process knows no previous fire: the horizon bounds its catch-up.
    let js = hourly_job();
    let mut first = Clock::new(js.clone(), ts("2026-11-01T00:00:00Z"));
    first.run_until(ts("2026-11-01T01:00:00Z"));
    let before = first.done.len();
    let second = Clock::with_done(js.clone(), ts("2026-11-01T11:00:30Z"), first.done.clone());
    let lost = expected_windows(
        &js[0],
        ts("2026-11-01T01:00:00Z"),
        ts("2026-11-01T05:00:00Z"),
    );
    assert!(
        lost.iter().all(|k| !second.done.contains(k)),
        "windows beyond the horizon are left to a manual backfill"
    );
    assert!(second.done.len() > before);
}

#[test]
fn daily_cron_in_berlin_fires_once_a_day_across_both_dst_changes() {
    let js = jobs(
        "[[jobs]]\nname = \"d\"\ngranularity = \"daily\"\ntimezone = \"Europe/Berlin\"\nschedule = \"30 2 * * *\"\nlag = \"1h\"\ncatch_up = \"3d\"\n",
    );
    for (from, to) in [
        ("2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z"),
        ("2026-10-23T00:00:00Z", "2026-10-28T00:00:00Z"),
    ] {
        let mut clock = Clock::new(js.clone(), ts(from));
        let start_fires = clock.fires;
        clock.run_until(ts(to));
        let days = (ts(to).as_second() - ts(from).as_second()) / 86_400;
        assert_eq!(
            (clock.fires - start_fires) as i64,
            days,
            "one fire a day from {from}"
        );
        // every local day's window in the span was fetched, the DST one 23 or 25 hours long
        let want = expected_windows(
            &js[0],
            ts(from)
                .checked_sub(SignedDuration::from_hours(72))
                .expect("ts"),
            ts(to)
                .checked_sub(SignedDuration::from_hours(24))
                .expect("ts"),
        );
        clock.assert_each_fetched_once(&want);
    }
}

#[test]
fn hourly_wildcard_cron_in_new_york_runs_both_passes_of_the_fold() {
    let js = jobs(
        "[[jobs]]\nname = \"n\"\ngranularity = \"hourly\"\ntimezone = \"America/New_York\"\nschedule = \"10 * * * *\"\ncatch_up = \"6h\"\n",
    );
    let mut clock = Clock::new(js.clone(), ts("2026-11-01T03:00:00Z"));
    let start = clock.fires;
    clock.run_until(ts("2026-11-01T09:00:00Z"));
    // six real hours, six fires, although the local 01:10 came twice
    assert_eq!(clock.fires - start, 6);
    assert!(clock.fetched.values().all(|n| *n == 1));
}

#[test]
fn disabled_jobs_never_fire() {
    let js = jobs("[[jobs]]\nname = \"off\"\ngranularity = \"hourly\"\nenabled = false\n");
    let mut t = Timetable::new(&js, ts("2026-11-01T00:00:00Z"));
    assert_eq!(t.earliest(), None);
    assert!(t.take_due(&js, ts("2026-11-02T00:00:00Z")).is_empty());
}

#[test]
fn a_schedule_sparser_than_the_horizon_loses_no_window() {
    // hourly windows fetched once a day at 03:00, with a one-day horizon
    let js = jobs(
        "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\nschedule = \"0 3 * * *\"\nlag = \"5m\"\ncatch_up = \"1d\"\n",
    );
    let mut clock = Clock::new(js.clone(), ts("2026-11-01T00:00:00Z"));
    clock.run_until(ts("2026-11-05T04:00:00Z"));
    // the last fire, 11-05 03:00, takes every window ending up to 02:55
    let want = expected_windows(
        &js[0],
        ts("2026-11-01T00:00:00Z"),
        ts("2026-11-05T02:00:00Z"),
    );
    clock.assert_each_fetched_once(&want);
}

#[test]
fn a_25_hour_day_with_a_tight_horizon_loses_no_window() {
    let js = jobs(
        "[[jobs]]\nname = \"d\"\ngranularity = \"daily\"\ntimezone = \"Europe/Berlin\"\nschedule = \"30 0 * * *\"\nlag = \"30m\"\ncatch_up = \"25h\"\n",
    );
    let mut clock = Clock::new(js.clone(), ts("2026-10-22T00:00:00Z"));
    clock.run_until(ts("2026-10-29T00:00:00Z"));
    let want = expected_windows(
        &js[0],
        ts("2026-10-22T00:00:00+02:00"),
        ts("2026-10-28T00:00:00+01:00"),
    );
    clock.assert_each_fetched_once(&want);
}

#[test]
fn a_job_still_running_is_skipped_and_its_next_fire_takes_its_windows() {
    let js = hourly_job();
    let mut s = Scheduler::new(js.clone(), ts("2026-11-01T00:00:00Z"));
    let first = s.start(ts("2026-11-01T00:00:00Z"));
    assert_eq!(first.fires.len(), 1);
    // the catch-up fire runs past the next fire time
    let tick = s.tick(ts("2026-11-01T01:05:00Z"), Duration::from_secs(3900));
    assert!(tick.fires.is_empty());
    assert_eq!(tick.skipped, vec!["h".to_string()]);
    s.finished("h");
    let tick = s.tick(ts("2026-11-01T02:05:00Z"), Duration::from_secs(3600));
    let fire = &tick.fires[0];
    let keys: HashSet<ReportKey> = fire
        .plan(&ResolvedJob::from_config(fire.job.clone()))
        .iter()
        .map(plan::Planned::key)
        .collect();
    let want = expected_windows(
        &js[0],
        ts("2026-11-01T00:00:00Z"),
        ts("2026-11-01T02:00:00Z"),
    );
    assert!(
        want.iter().all(|k| keys.contains(k)),
        "the skipped fire's window is left to this one"
    );
}

#[test]
fn a_reload_fires_the_added_jobs_only() {
    let js = hourly_job();
    let mut s = Scheduler::new(js.clone(), ts("2026-11-01T00:00:00Z"));
    let _ = s.start(ts("2026-11-01T00:00:00Z"));
    let mut more = jobs("[[jobs]]\nname = \"g\"\ngranularity = \"hourly\"\n");
    more.push(js[0].clone());
    let replaced = s.replace_jobs(more, ts("2026-11-01T00:10:00Z"));
    assert_eq!(replaced.added, vec!["g".to_string()]);
    assert!(replaced.removed.is_empty());
    let fired: Vec<&str> = replaced
        .tick
        .fires
        .iter()
        .map(|f| f.job.name.as_str())
        .collect();
    assert_eq!(fired, vec!["g"]);
    let replaced = s.replace_jobs(Vec::new(), ts("2026-11-01T00:20:00Z"));
    assert_eq!(replaced.removed, vec!["g".to_string(), "h".to_string()]);
    assert!(s.jobs().is_empty());
}
