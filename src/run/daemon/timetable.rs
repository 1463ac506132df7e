//! The daemon's timetable: when each job fires next, how long to sleep, and
//! whether the wall clock jumped while we slept.
//!
//! Pure: the caller passes wall-clock readings and monotonic elapsed times.
//! Sleeping is always bounded by [`MAX_SLEEP`] and followed by a fresh wall
//! clock reading, because tokio's timers run on the monotonic clock, which
//! stands still during suspend and ignores clock steps. A fire fetches every
//! due report not yet done (from the history), so a late, missed or repeated
//! fire neither skips nor repeats a window.

use crate::config::Job;
use crate::core::schedule;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Longest single sleep before the wall clock is read again.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A wall-clock difference from what the monotonic clock predicts beyond
/// this is reported as a jump (suspend, NTP step, manual change).
pub const JUMP_TOLERANCE: Duration = Duration::from_secs(5);

/// A detected clock jump: positive forward (or a suspend), negative back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jump(pub SignedDuration);

/// When each job fires next.
#[derive(Debug, Default)]
pub struct Timetable {
    next: BTreeMap<String, Timestamp>,
    last_wall: Option<Timestamp>,
}

impl Timetable {
    /// A timetable for `jobs` as of `now` (disabled jobs never fire).
    pub fn new(jobs: &[Arc<Job>], now: Timestamp) -> Timetable {
        let mut t = Timetable {
            next: BTreeMap::new(),
            last_wall: Some(now),
        };
        t.replan(jobs, now);
        t
    }

    /// Recompute every job's next fire from `now` (after a reload or a jump).
    pub fn replan(&mut self, jobs: &[Arc<Job>], now: Timestamp) {
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
    pub fn realign(&mut self, jobs: &[Arc<Job>], now: Timestamp) {
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
    pub fn next_of(&self, job: &str) -> Option<Timestamp> {
        self.next.get(job).copied()
    }

    /// The earliest next fire of any job.
    pub fn earliest(&self) -> Option<Timestamp> {
        self.next.values().min().copied()
    }

    /// How long to sleep from `now`: until the earliest fire, at most [`MAX_SLEEP`].
    pub fn sleep_for(&self, now: Timestamp) -> Duration {
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
    pub fn observe(&mut self, now: Timestamp, slept: Duration) -> Option<Jump> {
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
    pub fn take_due(&mut self, jobs: &[Arc<Job>], now: Timestamp) -> Vec<String> {
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

#[cfg(test)]
mod tests;
