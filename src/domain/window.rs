//! Report windows: where window ends lie, how long a window is, which windows
//! a moment makes due and which lie inside a `[from, to)` range.
//!
//! Pure arithmetic in the job's time zone (jiff), no clock and no I/O.
//!
//! Rules:
//! - A length that is a whole number of days is counted in *calendar days* of
//!   the zone: a one-day window on a DST day is 23 or 25 hours long and ends
//!   on a local midnight. Any other length is exact seconds.
//! - Window ends lie on `step` boundaries in the zone: for a step of N days,
//!   the local midnights of the days whose number since 1970-01-01 is a
//!   multiple of N (every midnight when N = 1); for a shorter step (which
//!   divides a day), every instant whose local wall time is a whole multiple
//!   of the step after local midnight. A wall time skipped by a DST gap is no
//!   end; one repeated by a fold is two ends.
//! - `start = end - window`, in calendar days or in seconds as above.

pub(crate) mod grid;

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan, Zoned};

/// Seconds in a day.
pub(crate) const DAY: u64 = 86_400;

/// A length of time: calendar days of the zone, or exact seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Length {
    /// Whole calendar days (local midnight to local midnight).
    Days(u32),
    /// Exact seconds, never a whole number of days.
    Seconds(u32),
}

impl Length {
    /// Classify a duration: whole days become [`Length::Days`].
    /// Returns `None` for zero or lengths beyond `u32` days/seconds.
    pub(crate) fn from_secs(secs: u64) -> Option<Length> {
        if secs == 0 {
            return None;
        }
        if secs.is_multiple_of(DAY) {
            u32::try_from(secs / DAY).ok().map(Length::Days)
        } else {
            u32::try_from(secs).ok().map(Length::Seconds)
        }
    }

    /// The nominal length in seconds (a day counts 86,400).
    pub(crate) fn nominal_secs(self) -> u64 {
        match self {
            Length::Days(d) => u64::from(d) * DAY,
            Length::Seconds(s) => u64::from(s),
        }
    }
}

/// One report window `[start, end)`, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub(crate) struct Window {
    pub(crate) start: i64,
    pub(crate) end: i64,
}

impl Window {
    /// Length in seconds.
    #[cfg(test)]
    pub(crate) fn secs(&self) -> i64 {
        self.end - self.start
    }
}

/// How a window's start is found from its end (see [`Cadence::start_rule`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartRule {
    StartOfDay(u32),
    SameWallTime(u32),
    EndsBefore(u32),
    Seconds(u32),
}

/// Why a window rule cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CadenceError {
    #[error("a step shorter than a day must divide a day evenly (e.g. 5m, 15m, 1h, 6h)")]
    StepDoesNotDivideDay,
}

/// Where the windows of one job lie: its step, window length and zone.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cadence {
    step: Length,
    window: Length,
    zone: TimeZone,
}

/// Days since 1970-01-01 of a civil date.
fn unix_day(date: Date) -> i64 {
    let epoch = Date::constant(1970, 1, 1);
    // `since` in days between civil dates cannot fail for jiff's supported range.
    date.since((jiff::Unit::Day, epoch))
        .map(|span| i64::from(span.get_days()))
        .unwrap_or(0)
}

impl Cadence {
    /// A cadence; a sub-day step must divide a day.
    pub(crate) fn new(
        step: Length,
        window: Length,
        zone: TimeZone,
    ) -> Result<Cadence, CadenceError> {
        if let Length::Seconds(s) = step
            && !DAY.is_multiple_of(u64::from(s))
        {
            return Err(CadenceError::StepDoesNotDivideDay);
        }
        Ok(Cadence { step, window, zone })
    }

    pub(crate) fn zone(&self) -> &TimeZone {
        &self.zone
    }

    pub(crate) fn step(&self) -> Length {
        self.step
    }

    pub(crate) fn window(&self) -> Length {
        self.window
    }

    fn date_of(&self, ts: Timestamp) -> Date {
        ts.to_zoned(self.zone.clone()).date()
    }

    /// The instants a civil date-time is in this zone: none in a gap, two in a fold.
    fn instants_of(&self, dt: DateTime) -> Vec<Timestamp> {
        let amb = self.zone.to_ambiguous_timestamp(dt);
        let offsets: Vec<jiff::tz::Offset> = match amb.offset() {
            AmbiguousOffset::Unambiguous { offset } => vec![offset],
            AmbiguousOffset::Gap { .. } => vec![],
            AmbiguousOffset::Fold { before, after } => vec![before, after],
        };
        offsets
            .into_iter()
            .filter_map(|o| o.to_timestamp(dt).ok())
            .collect()
    }

    /// Every window end `e` with `after < e <= until`, ascending.
    pub(crate) fn ends_between(&self, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        if until <= after {
            return Vec::new();
        }
        let first = self
            .date_of(after)
            .yesterday()
            .unwrap_or(self.date_of(after));
        let last = self
            .date_of(until)
            .tomorrow()
            .unwrap_or(self.date_of(until));
        let mut ends = Vec::new();
        let mut day = first;
        while day <= last {
            match self.step {
                Length::Days(n) => {
                    if unix_day(day).rem_euclid(i64::from(n)) == 0
                        && let Ok(z) = day.to_zoned(self.zone.clone())
                    {
                        ends.push(z.timestamp());
                    }
                }
                Length::Seconds(s) => {
                    let midnight = day.to_datetime(jiff::civil::Time::midnight());
                    let per_day = DAY / u64::from(s);
                    for k in 0..per_day {
                        let offset = i64::try_from(k * u64::from(s)).unwrap_or(0);
                        if let Ok(dt) = midnight.checked_add(offset.seconds()) {
                            ends.extend(self.instants_of(dt));
                        }
                    }
                }
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        ends.retain(|e| *e > after && *e <= until);
        ends.sort();
        ends.dedup();
        ends
    }

    /// How the start of a window follows from its end, so that tumbling
    /// windows tile and rolling ones overlap evenly across DST changes:
    /// - a window of whole days ending on a day boundary starts at the
    ///   beginning of the local day that many days before (a skipped
    ///   midnight included);
    /// - a window that is a whole number of sub-day steps starts that many
    ///   window ends earlier (so a 2-hour window over a spring-forward gap
    ///   is 3 hours long, and one over a fall-back fold 1 hour);
    /// - a window of days with a sub-day step starts at the same wall time
    ///   that many days before;
    /// - any other window is exact seconds.
    fn start_rule(&self) -> StartRule {
        match (self.window, self.step) {
            (Length::Days(w), Length::Days(_)) => StartRule::StartOfDay(w),
            (Length::Days(w), Length::Seconds(_)) => StartRule::SameWallTime(w),
            (Length::Seconds(w), Length::Seconds(s)) if w % s == 0 => StartRule::EndsBefore(w / s),
            (Length::Seconds(w), _) => StartRule::Seconds(w),
        }
    }

    /// Windows whose end lies in `(after, until]`, ascending by end.
    pub(crate) fn windows_ending_between(&self, after: Timestamp, until: Timestamp) -> Vec<Window> {
        let window = |start: i64, e: Timestamp| Window {
            start,
            end: e.as_second(),
        };
        match self.start_rule() {
            StartRule::EndsBefore(k) => {
                // Every end from far enough back that the k-th end before the first is in.
                let reach = (u64::from(k) * self.step.nominal_secs() + 2 * DAY) as i64;
                let from = after
                    .checked_sub(jiff::SignedDuration::from_secs(reach))
                    .unwrap_or(after);
                let all = self.ends_between(from, until);
                let k = k as usize;
                all.iter()
                    .enumerate()
                    .filter(|(_, e)| **e > after)
                    .map(|(i, e)| {
                        let start = match i.checked_sub(k) {
                            Some(j) => all[j].as_second(),
                            None => e.as_second() - (k as u64 * self.step.nominal_secs()) as i64,
                        };
                        window(start, *e)
                    })
                    .collect()
            }
            rule => self
                .ends_between(after, until)
                .into_iter()
                .map(|e| window(self.start_by(rule, e), e))
                .collect(),
        }
    }

    /// The start of the window ending at `end` by a calendar or seconds rule.
    fn start_by(&self, rule: StartRule, end: Timestamp) -> i64 {
        let z: Zoned = end.to_zoned(self.zone.clone());
        let fallback = end.as_second() - self.window.nominal_secs() as i64;
        match rule {
            StartRule::StartOfDay(d) => z
                .date()
                .checked_sub(i64::from(d).days())
                .ok()
                .and_then(|date| date.to_zoned(self.zone.clone()).ok())
                .map_or(fallback, |s| s.timestamp().as_second()),
            StartRule::SameWallTime(d) => z
                .checked_sub(i64::from(d).days())
                .map_or(fallback, |s| s.timestamp().as_second()),
            StartRule::Seconds(_) | StartRule::EndsBefore(_) => fallback,
        }
    }

    /// Every window lying wholly inside `[from, to)`: `start >= from` and `end <= to`.
    pub(crate) fn windows_within(&self, from: Timestamp, to: Timestamp) -> Vec<Window> {
        let before_from = from.checked_sub(1.second()).unwrap_or(from);
        self.windows_ending_between(before_from, to)
            .into_iter()
            .filter(|w| w.start >= from.as_second())
            .collect()
    }

    /// The windows due at `now`: end `<= now - lag` and `> now - horizon`,
    /// or `> since` when that is earlier (the previous fire's cutoff).
    pub(crate) fn due(
        &self,
        now: Timestamp,
        lag: std::time::Duration,
        horizon: std::time::Duration,
        since: Option<Timestamp>,
    ) -> Vec<Window> {
        let (Some(until), Some(horizon)) = (sub(now, lag), sub(now, horizon)) else {
            return Vec::new();
        };
        let after = since.map_or(horizon, |c| c.min(horizon));
        self.windows_ending_between(after, until)
    }

    /// The first window end strictly after `t`.
    pub(crate) fn next_end_after(&self, t: Timestamp) -> Option<Timestamp> {
        // A step is at most u32 days; look ahead one step plus two days.
        let reach = self.step.nominal_secs() + 2 * DAY;
        let until = t
            .checked_add(jiff::SignedDuration::from_secs(reach as i64))
            .ok()?;
        self.ends_between(t, until).into_iter().next()
    }
}

/// Unix seconds `t` as wall time in `zone`, formatted with `pattern`
/// (strftime); the bare number when out of range.
pub(crate) fn local_text(t: i64, zone: &TimeZone, pattern: &str) -> String {
    match Timestamp::from_second(t) {
        Ok(ts) => ts.to_zoned(zone.clone()).strftime(pattern).to_string(),
        Err(_) => t.to_string(),
    }
}

/// `t - d`, `None` when out of range.
pub(crate) fn sub(t: Timestamp, d: std::time::Duration) -> Option<Timestamp> {
    let d = jiff::SignedDuration::try_from(d).ok()?;
    t.checked_sub(d).ok()
}

#[cfg(test)]
mod tests;
