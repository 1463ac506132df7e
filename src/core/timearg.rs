//! Times given on the command line: RFC 3339 instants
//! (`2026-11-01T00:00:00Z`, `2026-11-01T08:00:00+08:00`), or a local date or
//! date-time (`2026-11-01`, `2026-11-01T08:00`) read in a job's zone.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use std::str::FromStr;

/// A time argument that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeArgError {
    /// Not a time in any accepted form.
    #[error(
        "{0:?} is not a time; use RFC 3339 (2026-11-01T00:00:00Z, 2026-11-01T08:00:00+08:00) \
         or a local date or date-time in the job's zone (2026-11-01, 2026-11-01T08:00)"
    )]
    Form(String),
    /// A local time the zone cannot place.
    #[error("{civil} in that zone: {reason}")]
    Zone { civil: DateTime, reason: String },
}

/// A time as given: absolute, or civil (to be read in a zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    Instant(Timestamp),
    Civil(DateTime),
}

impl FromStr for TimeArg {
    type Err = TimeArgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(ts) = s.parse::<Timestamp>() {
            return Ok(TimeArg::Instant(ts));
        }
        if let Ok(dt) = s.parse::<DateTime>() {
            return Ok(TimeArg::Civil(dt));
        }
        if let Ok(d) = s.parse::<Date>() {
            return Ok(TimeArg::Civil(d.to_datetime(jiff::civil::Time::midnight())));
        }
        Err(TimeArgError::Form(s.to_string()))
    }
}

impl TimeArg {
    /// The instant this time stands for in `zone` (a wall time skipped by a
    /// DST gap is read as the moment after it).
    pub fn resolve(&self, zone: &TimeZone) -> Result<Timestamp, TimeArgError> {
        match self {
            TimeArg::Instant(ts) => Ok(*ts),
            TimeArg::Civil(dt) => {
                zone.to_ambiguous_timestamp(*dt)
                    .compatible()
                    .map_err(|e| TimeArgError::Zone {
                        civil: *dt,
                        reason: e.to_string(),
                    })
            }
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
        for s in [
            "2026-11-01T00:00:00Z",
            "2026-11-01T08:00:00+08:00",
            "2026-11-01T08:00",
            "2026-11-01T08:00:00",
        ] {
            let t: TimeArg = s.parse().expect(s);
            assert_eq!(t.resolve(&z), Ok(want), "{s}");
        }
        let d: TimeArg = "2026-11-01".parse().expect("date");
        assert_eq!(
            d.resolve(&z),
            Ok("2026-10-31T16:00:00Z".parse().expect("ts"))
        );
        assert!("yesterday".parse::<TimeArg>().is_err());
        assert!("2026-13-01".parse::<TimeArg>().is_err());
    }
}
