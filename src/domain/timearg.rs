//! Times given on the command line: RFC 3339 instants
//! (`2026-11-01T00:00:00Z`, `2026-11-01T08:00:00+08:00`), or a local date or
//! date-time (`2026-11-01`, `2026-11-01T08:00`) read in a job's zone, or a
//! duration back from now (`2h`, `3d`, `90m ago`). The text as typed is kept
//! for messages.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use std::str::FromStr;

/// A time argument that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TimeArgError {
    /// Not a time in any accepted form.
    #[error(
        "{0:?} is not a time; use RFC 3339 (2026-11-01T00:00:00Z, 2026-11-01T08:00:00+08:00), \
         a local date or date-time in the job's zone (2026-11-01, 2026-11-01T08:00), \
         or a duration back from now (2h, 3d, 90m)"
    )]
    Form(String),
    /// A duration back from now that leaves the calendar.
    #[error("{0:?} reaches back before the year -9999; give a shorter duration or a date")]
    TooFar(String),
    /// A local time the zone cannot place.
    #[error("{civil} in that zone: {reason}")]
    Zone { civil: DateTime, reason: String },
}

/// What a time argument stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeKind {
    Instant(Timestamp),
    /// A local date-time, to be read in a zone.
    Civil(DateTime),
    /// This long before now (`2h`, `3d`, `90m ago`).
    Ago(std::time::Duration),
}

/// A time as given: what it stands for, and the text typed (echoed in
/// errors as the operator wrote it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeArg {
    pub(crate) kind: TimeKind,
    typed: String,
}

impl std::fmt::Display for TimeArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.typed)
    }
}

impl FromStr for TimeArg {
    type Err = TimeArgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let typed = s.trim();
        let kind = if let Ok(ts) = typed.parse::<Timestamp>() {
            TimeKind::Instant(ts)
        } else if let Ok(dt) = typed.parse::<DateTime>() {
            TimeKind::Civil(dt)
        } else if let Ok(d) = typed.parse::<Date>() {
            TimeKind::Civil(d.to_datetime(jiff::civil::Time::midnight()))
        } else {
            let span = typed.strip_suffix("ago").unwrap_or(typed).trim();
            match humantime::parse_duration(span) {
                Ok(d) => TimeKind::Ago(d),
                Err(_) => return Err(TimeArgError::Form(typed.to_string())),
            }
        };
        Ok(TimeArg {
            kind,
            typed: typed.to_string(),
        })
    }
}

impl TimeArg {
    /// The instant this time stands for in `zone` at `now` (a wall time
    /// skipped by a DST gap is read as the moment after it).
    pub(crate) fn resolve(
        &self,
        zone: &TimeZone,
        now: Timestamp,
    ) -> Result<Timestamp, TimeArgError> {
        match self.kind {
            TimeKind::Instant(ts) => Ok(ts),
            TimeKind::Civil(dt) => {
                zone.to_ambiguous_timestamp(dt)
                    .compatible()
                    .map_err(|e| TimeArgError::Zone {
                        civil: dt,
                        reason: e.to_string(),
                    })
            }
            TimeKind::Ago(d) => jiff::SignedDuration::try_from(d)
                .ok()
                .and_then(|d| now.checked_sub(d).ok())
                .ok_or_else(|| TimeArgError::TooFar(self.typed.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let z = TimeZone::get("Asia/Shanghai").expect("zone");
        let want: Timestamp = "2026-11-01T00:00:00Z".parse().expect("ts");
        let now: Timestamp = "2026-12-06T12:00:00Z".parse().expect("ts");
        for s in [
            "2026-11-01T00:00:00Z",
            "2026-11-01T08:00:00+08:00",
            "2026-11-01T08:00",
            "2026-11-01T08:00:00",
        ] {
            let t: TimeArg = s.parse().expect(s);
            assert_eq!(t.resolve(&z, now), Ok(want), "{s}");
        }
        let d: TimeArg = "2026-11-01".parse().expect("date");
        assert_eq!(
            d.resolve(&z, now),
            Ok("2026-10-31T16:00:00Z".parse().expect("ts"))
        );
        assert!("yesterday".parse::<TimeArg>().is_err());
        assert!("2026-13-01".parse::<TimeArg>().is_err());
        assert!("2026".parse::<TimeArg>().is_err());
    }

    #[test]
    fn a_duration_is_that_long_before_now_and_the_typed_text_is_kept() {
        let now: Timestamp = "2026-12-06T12:00:00Z".parse().expect("ts");
        for (typed, want) in [
            ("2h", "2026-12-06T10:00:00Z"),
            ("90m ago", "2026-12-06T10:30:00Z"),
            ("3d", "2026-12-03T12:00:00Z"),
            ("1h 30m", "2026-12-06T10:30:00Z"),
        ] {
            let t: TimeArg = typed.parse().expect(typed);
            assert_eq!(
                t.resolve(&TimeZone::UTC, now),
                Ok(want.parse().expect("ts")),
                "{typed}"
            );
            assert_eq!(t.to_string(), typed);
        }
        let t: TimeArg = " 2026-11-01T08:00:00+08:00 ".parse().expect("rfc 3339");
        assert_eq!(t.to_string(), "2026-11-01T08:00:00+08:00");
        let far: TimeArg = "500000years".parse().expect("duration");
        assert!(far.resolve(&TimeZone::UTC, now).is_err());
    }
}
