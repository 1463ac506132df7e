//! When a job fires: its cron `schedule` evaluated in the job's zone (croner,
//! with croner's documented DST rules: a fixed time in a spring-forward gap
//! runs right after the gap, once on a fall-back fold), or, without one, at
//! every window end plus `lag`.
//!
//! Pure: the caller passes the moment; nothing here reads a clock.

use crate::domain::window::Cadence;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::fmt;
use std::time::Duration;

/// A cron expression that cannot be parsed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScheduleError {
    #[error(
        "a schedule has 5 fields (minute hour day-of-month month day-of-week) \
         or 6 (seconds first); this one has {0}"
    )]
    Fields(usize),
    #[error(transparent)]
    Cron(#[from] croner::errors::CronError),
}

/// A parsed cron expression of 5 fields (minute precision) or 6 (with seconds first).
#[derive(Clone)]
pub(crate) struct Schedule {
    cron: Cron,
    source: String,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?})", self.source)
    }
}

impl Schedule {
    /// Parse a 5- or 6-field cron expression; the error says what is wrong.
    pub(crate) fn parse(source: &str) -> Result<Schedule, ScheduleError> {
        let fields = source.split_whitespace().count();
        if !source.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
            return Err(ScheduleError::Fields(fields));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(source)?;
        Ok(Schedule {
            cron,
            source: source.to_string(),
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    /// The first fire strictly after `t`, in `zone`.
    pub(crate) fn next_after(&self, t: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        let z = t.to_zoned(zone.clone());
        self.cron
            .find_next_occurrence(&z, false)
            .ok()
            .map(|n| n.timestamp())
    }
}

/// What decides when a job fires: its cron `schedule`, or without one every
/// window end of its `cadence` plus `lag`.
#[derive(Debug, Clone, Copy)]
pub struct Fires<'a> {
    pub(crate) schedule: Option<&'a Schedule>,
    pub(crate) cadence: &'a Cadence,
    pub(crate) lag: Duration,
}

/// The first fire strictly after `t`.
pub(crate) fn next_fire(f: Fires<'_>, t: Timestamp) -> Option<Timestamp> {
    match f.schedule {
        Some(s) => s.next_after(t, f.cadence.zone()),
        None => {
            // Fire at `end + lag` for every window end.
            let lag = jiff::SignedDuration::try_from(f.lag).ok()?;
            let shifted = t.checked_sub(lag).ok()?;
            let end = f.cadence.next_end_after(shifted)?;
            end.checked_add(lag).ok()
        }
    }
}

/// The next `n` fires after `t`.
pub fn next_fires(f: Fires<'_>, t: Timestamp, n: usize) -> Vec<Timestamp> {
    let mut out = Vec::with_capacity(n);
    let mut at = t;
    while out.len() < n {
        match next_fire(f, at) {
            Some(next) => {
                out.push(next);
                at = next;
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp literal")
    }

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("zone")
    }

    #[test]
    fn parses_five_and_six_fields_only() {
        assert!(Schedule::parse("5 * * * *").is_ok());
        assert!(Schedule::parse("0 5 * * * *").is_ok());
        assert!(Schedule::parse("5 * * *").is_err());
        assert!(Schedule::parse("0 5 * * * * 2027").is_err());
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("five past").is_err());
    }

    #[test]
    fn hourly_cron_in_shanghai() {
        let s = Schedule::parse("5 * * * *").expect("cron");
        let n = s.next_after(ts("2026-11-01T00:05:00Z"), &tz("Asia/Shanghai"));
        assert_eq!(n, Some(ts("2026-11-01T01:05:00Z")));
    }

    #[test]
    fn daily_cron_follows_berlin_dst() {
        // 00:10 local every day: 23:10 UTC in winter, 22:10 UTC in summer.
        let s = Schedule::parse("10 0 * * *").expect("cron");
        let z = tz("Europe/Berlin");
        let a = s.next_after(ts("2026-03-28T12:00:00Z"), &z);
        assert_eq!(a, Some(ts("2026-03-28T23:10:00Z")));
        let b = s.next_after(ts("2026-03-29T12:00:00Z"), &z);
        assert_eq!(b, Some(ts("2026-03-29T22:10:00Z")));
    }

    #[test]
    fn spring_forward_gap_fires_once_after_the_gap() {
        // 02:30 does not exist in Berlin on 2026-03-29; a fixed-time job runs right after the gap.
        let s = Schedule::parse("30 2 * * *").expect("cron");
        let z = tz("Europe/Berlin");
        let n = s.next_after(ts("2026-03-28T12:00:00Z"), &z).expect("next");
        assert_eq!(n, ts("2026-03-29T01:00:00Z")); // 03:00 CEST
        let after = s.next_after(n, &z).expect("next");
        assert_eq!(after, ts("2026-03-30T00:30:00Z")); // 02:30 CEST next day
    }

    #[test]
    fn fall_back_fold_fires_a_fixed_time_once() {
        // 02:30 happens twice in Berlin on 2026-10-25; fixed-time jobs run once.
        let s = Schedule::parse("30 2 * * *").expect("cron");
        let z = tz("Europe/Berlin");
        let n = s.next_after(ts("2026-10-24T12:00:00Z"), &z).expect("next");
        assert_eq!(n, ts("2026-10-25T00:30:00Z")); // first pass, CEST
        let after = s.next_after(n, &z).expect("next");
        assert_eq!(after, ts("2026-10-26T01:30:00Z"));
    }

    #[test]
    fn new_york_gap_and_fold() {
        let z = tz("America/New_York");
        let s = Schedule::parse("30 2 * * *").expect("cron");
        // 2026-03-08 02:30 does not exist: runs at 03:00 EDT = 07:00Z
        let n = s.next_after(ts("2026-03-07T12:00:00Z"), &z).expect("next");
        assert_eq!(n, ts("2026-03-08T07:00:00Z"));
        // 2026-11-01 01:30 happens twice: an hourly wildcard job runs in both passes
        let hourly = Schedule::parse("30 * * * *").expect("cron");
        let first = hourly
            .next_after(ts("2026-11-01T05:00:00Z"), &z)
            .expect("next");
        assert_eq!(first, ts("2026-11-01T05:30:00Z")); // 01:30 EDT
        let second = hourly.next_after(first, &z).expect("next");
        assert_eq!(second, ts("2026-11-01T06:30:00Z")); // 01:30 EST
    }
}
