//! The daemon's scheduler: what to fire when. The [`Timetable`] says when
//! each job fires next, how long to sleep and whether the wall clock jumped
//! while we slept; the [`Scheduler`] adds what each fire covers (from the end
//! of the previous fire of the job) and which jobs are still running.
//!
//! Pure: the caller passes wall-clock readings and monotonic elapsed times.
//! Sleeping is always bounded by [`MAX_SLEEP`] and followed by a fresh wall
//! clock reading, because tokio's timers run on the monotonic clock, which
//! stands still during suspend and ignores clock steps. A fire fetches every
//! due report not yet done (from the history), so a late, missed or repeated
//! fire neither skips nor repeats a window.

use crate::config::Job;
use crate::domain::schedule;
use crate::fetch::plan;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Longest single sleep before the wall clock is read again.
pub(crate) const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A wall-clock difference from what the monotonic clock predicts beyond
/// this is reported as a jump (suspend, NTP step, manual change).
pub(crate) const JUMP_TOLERANCE: Duration = Duration::from_secs(5);

/// A detected clock jump: positive forward (or a suspend), negative back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Jump(pub SignedDuration);

/// When each job fires next.
#[derive(Debug, Default)]
pub(crate) struct Timetable {
    next: BTreeMap<String, Timestamp>,
    last_wall: Option<Timestamp>,
}

impl Timetable {
    /// A timetable for `jobs` as of `now` (disabled jobs never fire).
    pub(crate) fn new(jobs: &[Arc<Job>], now: Timestamp) -> Timetable {
        let mut t = Timetable {
            next: BTreeMap::new(),
            last_wall: Some(now),
        };
        t.replan(jobs, now);
        t
    }

    /// Recompute every job's next fire from `now` (after a reload or a jump).
    pub(crate) fn replan(&mut self, jobs: &[Arc<Job>], now: Timestamp) {
        self.next.clear();
        for j in jobs.iter().filter(|j| j.enabled) {
            if let Some(n) = schedule::next_fire(j.fires(), now) {
                self.next.insert(j.name.clone(), n);
            }
        }
    }

    /// After a clock jump: a fire that came due (forward jump, suspend) stays
    /// due, to happen once now; a fire pushed far ahead (backward jump) is
    /// brought back to the next one after `now`.
    pub(crate) fn realign(&mut self, jobs: &[Arc<Job>], now: Timestamp) {
        for j in jobs.iter().filter(|j| j.enabled) {
            if let Some(fresh) = schedule::next_fire(j.fires(), now) {
                let kept = self
                    .next
                    .get(&j.name)
                    .copied()
                    .map_or(fresh, |old| old.min(fresh));
                self.next.insert(j.name.clone(), kept);
            }
        }
    }

    /// The next fire of `job`, if it has one.
    #[cfg(test)]
    pub(crate) fn next_of(&self, job: &str) -> Option<Timestamp> {
        self.next.get(job).copied()
    }

    /// The earliest next fire of any job.
    pub(crate) fn earliest(&self) -> Option<Timestamp> {
        self.next.values().min().copied()
    }

    /// How long to sleep from `now`: until the earliest fire, at most [`MAX_SLEEP`].
    pub(crate) fn sleep_for(&self, now: Timestamp) -> Duration {
        match self.earliest() {
            Some(t) if t <= now => Duration::ZERO,
            Some(t) => {
                let d = t.duration_since(now);
                Duration::try_from(d).unwrap_or(MAX_SLEEP).min(MAX_SLEEP)
            }
            None => MAX_SLEEP,
        }
    }

    /// Record a wake-up: the wall clock reads `now` after `slept` of monotonic
    /// time since the last reading. Returns the jump, if the two disagree.
    pub(crate) fn observe(&mut self, now: Timestamp, slept: Duration) -> Option<Jump> {
        let prev = self.last_wall.replace(now)?;
        let expected = prev
            .checked_add(SignedDuration::try_from(slept).ok()?)
            .ok()?;
        let diff = now.duration_since(expected);
        let tol = SignedDuration::try_from(JUMP_TOLERANCE).ok()?;
        if diff.abs() > tol {
            Some(Jump(diff))
        } else {
            None
        }
    }

    /// The jobs whose fire time has come at `now`, each once however many
    /// fire times passed, with their next fire moved past `now`.
    pub(crate) fn take_due(&mut self, jobs: &[Arc<Job>], now: Timestamp) -> Vec<String> {
        let mut due = Vec::new();
        for j in jobs.iter().filter(|j| j.enabled) {
            let Some(at) = self.next.get(&j.name).copied() else {
                continue;
            };
            if at <= now {
                due.push(j.name.clone());
                match schedule::next_fire(j.fires(), now) {
                    Some(n) => {
                        self.next.insert(j.name.clone(), n);
                    }
                    None => {
                        self.next.remove(&j.name);
                    }
                }
            }
        }
        due
    }
}

/// A fire to start: `job`'s reports due at `at` (and from `covered` on),
/// planned by [`Fire::plan`] once the job's targets are known (those
/// already done are the caller's to drop, from the history).
#[derive(Debug)]
pub(crate) struct Fire {
    pub(crate) job: Arc<Job>,
    /// [`plan::due_since`]'s arguments.
    pub(crate) at: Timestamp,
    pub(crate) covered: Option<Timestamp>,
    pub(crate) at_start: bool,
}

impl Fire {
    /// The reports of this fire, `job` being the fire's job with the
    /// targets it has now (the fetch service plans a fire as [`plan::Ask::Fire`]).
    #[cfg(test)]
    pub(crate) fn plan(&self, job: &crate::archive::resolved::ResolvedJob) -> Vec<plan::Planned> {
        plan::due_since(job, self.at, self.covered, self.at_start)
    }
}

/// What one wake-up of the loop decided.
#[derive(Debug, Default)]
pub(crate) struct Tick {
    /// The wall clock jumped since the last wake-up (the timetable was realigned).
    pub(crate) jump: Option<Jump>,
    /// The fires to start now.
    pub(crate) fires: Vec<Fire>,
    /// Jobs whose fire time came while their previous fire still runs: they
    /// do not fire now, and their windows stay due for their next fire.
    pub(crate) skipped: Vec<String>,
}

/// What to fire when: the timetable of the enabled jobs, the cutoff of each
/// job's last fire (the next one plans from there at least, see
/// [`plan::due_since`]) and the jobs with a fire running.
#[derive(Debug)]
pub(crate) struct Scheduler {
    jobs: Vec<Arc<Job>>,
    timetable: Timetable,
    covered: HashMap<String, Timestamp>,
    running: BTreeSet<String>,
}

impl Scheduler {
    /// A scheduler for the enabled ones of `jobs` as of `now`; nothing fired yet.
    pub(crate) fn new(jobs: Vec<Arc<Job>>, now: Timestamp) -> Scheduler {
        let jobs: Vec<Arc<Job>> = jobs.into_iter().filter(|j| j.enabled).collect();
        Scheduler {
            timetable: Timetable::new(&jobs, now),
            jobs,
            covered: HashMap::new(),
            running: BTreeSet::new(),
        }
    }

    /// The jobs scheduled.
    pub(crate) fn jobs(&self) -> &[Arc<Job>] {
        &self.jobs
    }

    /// The job named `name`, if scheduled.
    pub(crate) fn job(&self, name: &str) -> Option<&Arc<Job>> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// At start: a catch-up fire of every job (everything due within its horizon).
    pub(crate) fn start(&mut self, now: Timestamp) -> Tick {
        let names: Vec<String> = self.jobs.iter().map(|j| j.name.clone()).collect();
        let mut tick = Tick::default();
        for name in names {
            self.fire(name, now, true, &mut tick);
        }
        tick
    }

    /// How long to sleep from `now` before the next [`Scheduler::tick`].
    pub(crate) fn sleep_for(&self, now: Timestamp) -> Duration {
        self.timetable.sleep_for(now)
    }

    /// A wake-up: the wall clock reads `now` after `slept` of monotonic time
    /// since the last one. Realigns the timetable after a clock jump, then
    /// fires each job whose time has come (once, however many fire times
    /// passed), unless its previous fire still runs.
    pub(crate) fn tick(&mut self, now: Timestamp, slept: Duration) -> Tick {
        let jump = self.timetable.observe(now, slept);
        if jump.is_some() {
            self.timetable.realign(&self.jobs, now);
        }
        let mut tick = Tick {
            jump,
            ..Tick::default()
        };
        for name in self.timetable.take_due(&self.jobs, now) {
            self.fire(name, now, false, &mut tick);
        }
        tick
    }

    /// The fire of job `name` ended: it may fire again.
    pub(crate) fn finished(&mut self, name: &str) {
        self.running.remove(name);
    }

    /// Replace the jobs (a reload) as of `now`: every job's next fire is
    /// planned afresh, and each job not scheduled before gets a catch-up fire.
    pub(crate) fn replace_jobs(&mut self, jobs: Vec<Arc<Job>>, now: Timestamp) -> Replaced {
        let old: BTreeSet<String> = self.jobs.iter().map(|j| j.name.clone()).collect();
        self.jobs = jobs.into_iter().filter(|j| j.enabled).collect();
        let new: BTreeSet<String> = self.jobs.iter().map(|j| j.name.clone()).collect();
        self.timetable.replan(&self.jobs, now);
        let mut replaced = Replaced {
            removed: old.difference(&new).cloned().collect(),
            added: new.difference(&old).cloned().collect(),
            tick: Tick::default(),
        };
        for name in replaced.added.clone() {
            self.fire(name, now, true, &mut replaced.tick);
        }
        replaced
    }

    /// Fire job `name` at `now` unless its previous fire still runs: plan
    /// from the end of that fire (or the job's horizon), record this fire's
    /// cutoff and mark the job running.
    fn fire(&mut self, name: String, now: Timestamp, at_start: bool, tick: &mut Tick) {
        let Some(job) = self.job(&name).cloned() else {
            return;
        };
        if self.running.contains(&name) {
            tick.skipped.push(name);
            return;
        }
        let covered = self.covered.get(&name).copied();
        if let Some(cut) = plan::cutoff(&job, now) {
            self.covered.insert(name.clone(), cut);
        }
        self.running.insert(name);
        tick.fires.push(Fire {
            job,
            at: now,
            covered,
            at_start,
        });
    }
}

/// What a reload changed: the job names added and removed, and the
/// catch-up fires of those added.
#[derive(Debug, Default)]
pub(crate) struct Replaced {
    pub(crate) added: Vec<String>,
    pub(crate) removed: Vec<String>,
    pub(crate) tick: Tick,
}

#[cfg(test)]
mod tests;
