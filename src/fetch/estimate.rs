//! How long work takes at the rate limit, and progress figures, for people:
//! `438,000 reports, about 6 h 20 min at 20 calls/s`. Pure.

use std::num::NonZeroU32;
use std::time::Duration;

/// `n` with a comma every three digits: `438,000`.
pub(crate) use crate::domain::human::grouped as thousands;

/// A duration, coarse: `45 s`, `12 min`, `6 h 5 min`, `3 d 4 h`.
pub(crate) fn coarse(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() >= 500_000_000);
    let (days, hours, mins) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", (secs + 30) / 60),
        3600..86_400 => format!("{} h {mins} min", secs / 3600),
        _ => format!("{days} d {hours} h"),
    }
}

/// How long `reports` take at `limit` calls a second (one call each, sent at
/// the limiter's sustained pace).
pub(crate) fn duration(reports: u64, limit: NonZeroU32) -> Duration {
    let rate = crate::tencent::ratelimit::sustained(limit);
    Duration::from_secs_f64(reports as f64 / rate)
}

/// `438,000 reports, about 6 h 20 min at 20 calls/s`.
pub(crate) fn describe(reports: u64, limit: NonZeroU32) -> String {
    let noun = if reports == 1 { "report" } else { "reports" };
    if reports == 0 {
        return "0 reports".to_string();
    }
    format!(
        "{} {noun}, about {} at {} calls/s",
        thousands(reports),
        coarse(duration(reports, limit)),
        limit
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("nonzero")
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(438_000), "438,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn durations_are_coarse() {
        let s = Duration::from_secs;
        assert_eq!(coarse(s(0)), "0 s");
        assert_eq!(coarse(s(59)), "59 s");
        assert_eq!(coarse(s(60)), "1 min");
        assert_eq!(coarse(s(12 * 60 + 40)), "13 min");
        assert_eq!(coarse(s(6 * 3600 + 5 * 60 + 10)), "6 h 5 min");
        assert_eq!(coarse(s(3 * 86_400 + 4 * 3600 + 59)), "3 d 4 h");
    }

    #[test]
    fn an_estimate_is_at_the_sustained_pace_of_the_limit() {
        // a year of hourly reports for 50 devices, 20 calls in each 1.04 s window
        assert_eq!(
            describe(438_000, limit(20)),
            "438,000 reports, about 6 h 19 min at 20 calls/s"
        );
        assert_eq!(describe(1, limit(20)), "1 report, about 0 s at 20 calls/s");
        assert_eq!(describe(0, limit(20)), "0 reports");
        assert_eq!(
            describe(200, limit(20)),
            "200 reports, about 10 s at 20 calls/s"
        );
    }
}
