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

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan, Zoned};

/// Seconds in a day.
pub const DAY: u64 = 86_400;

/// A length of time: calendar days of the zone, or exact seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Length {
    /// Whole calendar days (local midnight to local midnight).
    Days(u32),
    /// Exact seconds, never a whole number of days.
    Seconds(u32),
}

impl Length {
    /// Classify a duration: whole days become [`Length::Days`].
    /// Returns `None` for zero or lengths beyond `u32` days/seconds.
    pub fn from_secs(secs: u64) -> Option<Length> {
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
    pub fn nominal_secs(self) -> u64 {
        match self {
            Length::Days(d) => u64::from(d) * DAY,
            Length::Seconds(s) => u64::from(s),
        }
    }
}

/// One report window `[start, end)`, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    /// Length in seconds.
    #[cfg(test)]
    pub fn secs(&self) -> i64 {
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
pub enum CadenceError {
    #[error("a step shorter than a day must divide a day evenly (e.g. 5m, 15m, 1h, 6h)")]
    StepDoesNotDivideDay,
}

/// Where the windows of one job lie: its step, window length and zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Cadence {
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
    pub fn new(step: Length, window: Length, zone: TimeZone) -> Result<Cadence, CadenceError> {
        if let Length::Seconds(s) = step
            && !DAY.is_multiple_of(u64::from(s))
        {
            return Err(CadenceError::StepDoesNotDivideDay);
        }
        Ok(Cadence { step, window, zone })
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    pub fn step(&self) -> Length {
        self.step
    }

    pub fn window(&self) -> Length {
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
    pub fn ends_between(&self, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
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
    pub fn windows_ending_between(&self, after: Timestamp, until: Timestamp) -> Vec<Window> {
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
    pub fn windows_within(&self, from: Timestamp, to: Timestamp) -> Vec<Window> {
        let before_from = from.checked_sub(1.second()).unwrap_or(from);
        self.windows_ending_between(before_from, to)
            .into_iter()
            .filter(|w| w.start >= from.as_second())
            .collect()
    }

    /// The windows due at `now`: end `<= now - lag` and `> now - horizon`,
    /// or `> since` when that is earlier (the previous fire's cutoff).
    pub fn due(
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
    pub fn next_end_after(&self, t: Timestamp) -> Option<Timestamp> {
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
pub fn local_text(t: i64, zone: &TimeZone, pattern: &str) -> String {
    match Timestamp::from_second(t) {
        Ok(ts) => ts.to_zoned(zone.clone()).strftime(pattern).to_string(),
        Err(_) => t.to_string(),
    }
}

/// `t - d`, `None` when out of range.
pub fn sub(t: Timestamp, d: std::time::Duration) -> Option<Timestamp> {
    let d = jiff::SignedDuration::try_from(d).ok()?;
    t.checked_sub(d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("zone in tzdb")
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp literal")
    }

    fn cad(step: u64, window: u64, zone: &str) -> Cadence {
        Cadence::new(
            Length::from_secs(step).expect("step"),
            Length::from_secs(window).expect("window"),
            tz(zone),
        )
        .expect("cadence")
    }

    #[test]
    fn length_classifies_days() {
        assert_eq!(Length::from_secs(86_400), Some(Length::Days(1)));
        assert_eq!(Length::from_secs(7 * 86_400), Some(Length::Days(7)));
        assert_eq!(Length::from_secs(3_600), Some(Length::Seconds(3_600)));
        assert_eq!(Length::from_secs(0), None);
    }

    #[test]
    fn sub_day_step_must_divide_a_day() {
        let err = Cadence::new(
            Length::Seconds(7 * 3600),
            Length::Seconds(3600),
            TimeZone::UTC,
        );
        assert_eq!(err, Err(CadenceError::StepDoesNotDivideDay));
        assert!(
            Cadence::new(
                Length::Seconds(6 * 3600),
                Length::Seconds(3600),
                TimeZone::UTC
            )
            .is_ok()
        );
    }

    #[test]
    fn hourly_windows_in_utc() {
        let c = cad(3600, 3600, "UTC");
        let w = c.windows_within(ts("2026-11-01T00:00:00Z"), ts("2026-11-02T00:00:00Z"));
        assert_eq!(w.len(), 24);
        assert_eq!(w[0].start, ts("2026-11-01T00:00:00Z").as_second());
        assert_eq!(w[23].end, ts("2026-11-02T00:00:00Z").as_second());
        assert!(w.iter().all(|w| w.secs() == 3600));
        assert!(w.windows(2).all(|p| p[0].end == p[1].start));
    }

    #[test]
    fn daily_windows_in_shanghai_end_on_local_midnight() {
        let c = cad(86_400, 86_400, "Asia/Shanghai");
        let w = c.windows_within(
            ts("2026-11-01T00:00:00+08:00"),
            ts("2026-11-04T00:00:00+08:00"),
        );
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].start, ts("2026-10-31T16:00:00Z").as_second());
        assert_eq!(w[0].end, ts("2026-11-01T16:00:00Z").as_second());
        assert!(w.iter().all(|w| w.secs() == 86_400));
    }

    #[test]
    fn berlin_spring_forward_day_is_23_hours() {
        // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST.
        let c = cad(86_400, 86_400, "Europe/Berlin");
        let w = c.windows_within(
            ts("2026-03-28T00:00:00+01:00"),
            ts("2026-03-31T00:00:00+02:00"),
        );
        let lens: Vec<i64> = w.iter().map(Window::secs).collect();
        assert_eq!(lens, vec![86_400, 82_800, 86_400]);
        assert_eq!(w[1].start, ts("2026-03-28T23:00:00Z").as_second());
        assert_eq!(w[1].end, ts("2026-03-29T22:00:00Z").as_second());
    }

    #[test]
    fn berlin_fall_back_day_is_25_hours() {
        // 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET.
        let c = cad(86_400, 86_400, "Europe/Berlin");
        let w = c.windows_within(
            ts("2026-10-25T00:00:00+02:00"),
            ts("2026-10-26T00:00:00+01:00"),
        );
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].secs(), 90_000);
    }

    #[test]
    fn hourly_step_across_berlin_fold_has_no_gap_or_repeat() {
        let c = cad(3600, 3600, "Europe/Berlin");
        let w = c.windows_within(
            ts("2026-10-25T00:00:00+02:00"),
            ts("2026-10-26T00:00:00+01:00"),
        );
        assert_eq!(w.len(), 25);
        assert!(w.windows(2).all(|p| p[0].end == p[1].start));
        let w = c.windows_within(
            ts("2026-03-29T00:00:00+01:00"),
            ts("2026-03-30T00:00:00+02:00"),
        );
        assert_eq!(w.len(), 23);
        assert!(w.windows(2).all(|p| p[0].end == p[1].start));
    }

    #[test]
    fn half_hour_zone_aligns_hours_on_local_wall_time() {
        let c = cad(3600, 3600, "Asia/Kolkata");
        let ends = c.ends_between(ts("2026-11-01T00:00:00Z"), ts("2026-11-01T03:00:00Z"));
        // Local hours of +05:30 fall on :30 UTC.
        assert_eq!(
            ends,
            vec![
                ts("2026-11-01T00:30:00Z"),
                ts("2026-11-01T01:30:00Z"),
                ts("2026-11-01T02:30:00Z")
            ]
        );
    }

    #[test]
    fn rolling_windows_overlap() {
        // last 24 h, every hour
        let c = cad(3600, 86_400, "UTC");
        let w = c.windows_ending_between(ts("2026-11-01T00:00:00Z"), ts("2026-11-01T03:00:00Z"));
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].end - w[0].start, 86_400);
        assert_eq!(w[1].start - w[0].start, 3600);
    }

    #[test]
    fn multi_day_step_aligns_on_unix_days() {
        let c = cad(7 * 86_400, 7 * 86_400, "UTC");
        let ends = c.ends_between(ts("2026-01-01T00:00:00Z"), ts("2026-02-01T00:00:00Z"));
        assert_eq!(ends.len(), 4);
        assert!(ends.iter().all(|e| (e.as_second() / 86_400) % 7 == 0));
        assert!(
            ends.windows(2)
                .all(|p| p[1].as_second() - p[0].as_second() == 7 * 86_400)
        );
    }

    #[test]
    fn due_respects_lag_and_horizon() {
        let c = cad(3600, 3600, "UTC");
        let now = ts("2026-11-01T12:03:00Z");
        let due = c.due(
            now,
            Duration::from_secs(300),
            Duration::from_secs(6 * 3600),
            None,
        );
        // horizon: ends after 06:03; lag: ends at or before 11:58
        let ends: Vec<i64> = due.iter().map(|w| w.end).collect();
        assert_eq!(ends.first(), Some(&ts("2026-11-01T07:00:00Z").as_second()));
        // 12:00 ends less than 5 minutes ago: not due yet
        assert_eq!(ends.last(), Some(&ts("2026-11-01T11:00:00Z").as_second()));
        assert_eq!(ends.len(), 5);
        let later = c.due(
            ts("2026-11-01T12:05:00Z"),
            Duration::from_secs(300),
            Duration::from_secs(6 * 3600),
            None,
        );
        assert_eq!(
            later.last().map(|w| w.end),
            Some(ts("2026-11-01T12:00:00Z").as_second())
        );
    }

    #[test]
    fn windows_within_is_half_open_and_whole() {
        let c = cad(3600, 3600, "UTC");
        let w = c.windows_within(ts("2026-11-01T00:30:00Z"), ts("2026-11-01T03:00:00Z"));
        // 00:00-01:00 starts before from: excluded
        assert_eq!(w.len(), 2);
        let w = c.windows_within(ts("2026-11-01T03:00:00Z"), ts("2026-11-01T03:00:00Z"));
        assert!(w.is_empty());
    }

    #[test]
    fn next_end_and_ends() {
        let c = cad(86_400, 86_400, "Europe/Berlin");
        let n = c.next_end_after(ts("2026-03-29T12:00:00Z"));
        assert_eq!(n, Some(ts("2026-03-29T22:00:00Z")));
        let around = c.ends_between(ts("2026-03-29T20:59:59Z"), ts("2026-03-29T22:00:00Z"));
        assert_eq!(
            around,
            vec![ts("2026-03-29T22:00:00Z")],
            "22:00Z is an end, 21:00Z is not"
        );
    }

    /// Zones with ordinary, half-hour, 45-minute and midnight DST changes.
    const ZONES: &[&str] = &[
        "UTC",
        "Asia/Shanghai",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "America/St_Johns",
        "America/Santiago",
        "America/Havana",
        "Asia/Beirut",
        "Africa/Cairo",
    ];

    fn assert_tiles(c: &Cadence, from: &str, to: &str, what: &str) {
        let w = c.windows_within(ts(from), ts(to));
        assert!(!w.is_empty(), "{what}: no windows");
        for pair in w.windows(2) {
            assert_eq!(
                pair[0].end, pair[1].start,
                "{what}: {:?} then {:?}",
                pair[0], pair[1]
            );
        }
        assert!(w.iter().all(|w| w.secs() > 0), "{what}: an empty window");
    }

    #[test]
    fn tumbling_windows_tile_a_whole_year_in_every_zone() {
        for zone in ZONES {
            for step in [
                3_600,
                2 * 3_600,
                3 * 3_600,
                6 * 3_600,
                12 * 3_600,
                86_400,
                7 * 86_400,
            ] {
                let c = cad(step, step, zone);
                assert_tiles(
                    &c,
                    "2026-01-01T00:00:00Z",
                    "2027-01-01T00:00:00Z",
                    &format!("{zone} step {step}"),
                );
            }
            // minute steps: the months with DST changes
            for step in [300, 900] {
                let c = cad(step, step, zone);
                for (from, to) in [
                    ("2026-03-01T00:00:00Z", "2026-04-15T00:00:00Z"),
                    ("2026-09-01T00:00:00Z", "2026-11-15T00:00:00Z"),
                ] {
                    assert_tiles(&c, from, to, &format!("{zone} step {step} from {from}"));
                }
            }
        }
    }

    #[test]
    fn rolling_windows_start_a_fixed_number_of_ends_back() {
        for zone in ZONES {
            let c = cad(3_600, 3 * 3_600, zone);
            let w = c.windows_within(ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"));
            for i in 3..w.len() {
                assert_eq!(w[i].start, w[i - 3].end, "{zone}: {:?}", w[i]);
            }
        }
    }

    #[test]
    fn a_skipped_midnight_still_tiles_daily_windows() {
        // Santiago skips 2026-09-06 00:00 (clocks go to 01:00): the day starts at 01:00.
        let c = cad(86_400, 86_400, "America/Santiago");
        let w = c.windows_within(
            ts("2026-09-04T00:00:00-04:00"),
            ts("2026-09-08T00:00:00-03:00"),
        );
        assert!(w.windows(2).all(|p| p[0].end == p[1].start));
        let short = w
            .iter()
            .find(|w| w.secs() == 82_800)
            .expect("a 23-hour day");
        assert_eq!(short.start, ts("2026-09-06T01:00:00-03:00").as_second());
    }

    #[test]
    fn two_hour_windows_over_berlin_dst_are_3_and_1_hours() {
        let c = cad(7_200, 7_200, "Europe/Berlin");
        let spring = c.windows_within(
            ts("2026-03-29T00:00:00+01:00"),
            ts("2026-03-29T06:00:00+02:00"),
        );
        let lens: Vec<i64> = spring.iter().map(Window::secs).collect();
        assert_eq!(
            lens,
            vec![10_800, 7_200],
            "00:00-04:00 holds the skipped hour"
        );
        let fall = c.windows_within(
            ts("2026-10-25T00:00:00+02:00"),
            ts("2026-10-25T04:00:00+01:00"),
        );
        let lens: Vec<i64> = fall.iter().map(Window::secs).collect();
        assert_eq!(lens, vec![7_200, 3_600, 7_200]);
    }
}
