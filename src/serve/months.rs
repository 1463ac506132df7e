//! The ranges the page picks: a month (`2026-11`) or a day (`2026-11-05`)
//! in a job's zone, as the instants `[from, to)`. Pure.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// A range the page asked for, in the job's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    Month { year: i16, month: i8 },
    Day(Date),
}

/// Why a range was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SpanError {
    #[error("{0:?} is not a month (YYYY-MM)")]
    Month(String),
    #[error("{0:?} is not a day (YYYY-MM-DD)")]
    Day(String),
    #[error("the range lies outside the calendar")]
    Outside,
}

impl Span {
    /// `month` (YYYY-MM) or `day` (YYYY-MM-DD); the month holding `today`
    /// when neither is given.
    pub(crate) fn parse(
        month: Option<&str>,
        day: Option<&str>,
        today: Date,
    ) -> Result<Span, SpanError> {
        if let Some(d) = day {
            return d
                .parse::<Date>()
                .map(Span::Day)
                .map_err(|_| SpanError::Day(d.to_string()));
        }
        let Some(m) = month else {
            return Ok(Span::Month {
                year: today.year(),
                month: today.month(),
            });
        };
        let bad = || SpanError::Month(m.to_string());
        let (y, mo) = m.split_once('-').ok_or_else(bad)?;
        let year: i16 = y.parse().map_err(|_| bad())?;
        let month: i8 = mo.parse().map_err(|_| bad())?;
        Date::new(year, month, 1).map_err(|_| bad())?;
        Ok(Span::Month { year, month })
    }

    /// The first day and the day after the last.
    fn days(self) -> Result<(Date, Date), SpanError> {
        match self {
            Span::Day(d) => Ok((d, d.tomorrow().map_err(|_| SpanError::Outside)?)),
            Span::Month { year, month } => {
                let first = Date::new(year, month, 1).map_err(|_| SpanError::Outside)?;
                let next = first
                    .last_of_month()
                    .tomorrow()
                    .map_err(|_| SpanError::Outside)?;
                Ok((first, next))
            }
        }
    }

    /// The instants `[from, to)` of the range's days in `zone`.
    pub(crate) fn instants(self, zone: &TimeZone) -> Result<(Timestamp, Timestamp), SpanError> {
        let (a, b) = self.days()?;
        let at = |d: Date| {
            d.to_zoned(zone.clone())
                .map(|z| z.timestamp())
                .map_err(|_| SpanError::Outside)
        };
        Ok((at(a)?, at(b)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_days_are_read_in_the_zone() {
        let today = Date::new(2026, 11, 5).expect("date");
        let shanghai = TimeZone::get("Asia/Shanghai").expect("zone");
        let (from, to) = Span::parse(Some("2026-02"), None, today)
            .expect("month")
            .instants(&shanghai)
            .expect("range");
        assert_eq!(from.to_string(), "2026-01-31T16:00:00Z");
        assert_eq!(to.to_string(), "2026-02-28T16:00:00Z");
        let (from, to) = Span::parse(None, Some("2026-11-05"), today)
            .expect("day")
            .instants(&TimeZone::UTC)
            .expect("range");
        assert_eq!(to.as_second() - from.as_second(), 86_400);
        assert_eq!(
            Span::parse(None, None, today),
            Ok(Span::Month {
                year: 2026,
                month: 11
            })
        );
        assert!(Span::parse(Some("2026-13"), None, today).is_err());
        assert!(Span::parse(Some("x"), None, today).is_err());
        assert!(Span::parse(None, Some("2026-02-30"), today).is_err());
    }
}
