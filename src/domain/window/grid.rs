//! The windows ending in a range, described without listing them: a
//! horizon of minute windows over 400 days is 576,000 windows, so it is
//! split into [`Piece`]s. Away from a change of the zone's offset the ends
//! lie every `period` seconds and every window has its nominal length
//! ([`Piece::Regular`], counted by arithmetic); around a change (a DST
//! day, a zone changing its standard offset) the windows are listed as
//! [`Cadence::windows_ending_between`] makes them ([`Piece::Listed`], a few
//! per change). Listing every piece gives exactly that function's windows.
//!
//! Pure arithmetic, like the rest of [`super`].

use super::{Cadence, DAY, Length, StartRule, Window};
use jiff::Timestamp;

/// Window ends in `(after, until]`, Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Every `e` in `(after, until]` with `(e + offset) % period == 0`; its
    /// window is `[e - length, e)`. `offset` is the zone's UTC offset there.
    Regular {
        after: i64,
        until: i64,
        offset: i64,
        period: i64,
        length: i64,
    },
    /// These windows, ascending by end, every end in `(after, until]`.
    Listed {
        after: i64,
        until: i64,
        windows: Vec<Window>,
    },
}

/// How many `e` in `(after, until]` satisfy `(e + offset) % period == 0`.
fn multiples(after: i64, until: i64, offset: i64, period: i64) -> u64 {
    if until <= after || period <= 0 {
        return 0;
    }
    let n = (until.saturating_add(offset)).div_euclid(period)
        - (after.saturating_add(offset)).div_euclid(period);
    u64::try_from(n).unwrap_or(0)
}

impl Piece {
    pub(crate) fn after(&self) -> i64 {
        match self {
            Piece::Regular { after, .. } | Piece::Listed { after, .. } => *after,
        }
    }

    pub(crate) fn until(&self) -> i64 {
        match self {
            Piece::Regular { until, .. } | Piece::Listed { until, .. } => *until,
        }
    }

    /// How many windows of the piece end after `since` (all when `None`).
    pub(crate) fn count_after(&self, since: Option<i64>) -> u64 {
        let from = since.map_or(self.after(), |s| s.max(self.after()));
        match self {
            Piece::Regular {
                until,
                offset,
                period,
                ..
            } => multiples(from, *until, *offset, *period),
            Piece::Listed { windows, .. } => windows.iter().filter(|w| w.end > from).count() as u64,
        }
    }

    /// How many windows the piece holds.
    pub(crate) fn count(&self) -> u64 {
        self.count_after(None)
    }

    /// The part of the piece whose ends lie in `(after, until]`, if any.
    pub(crate) fn clip(&self, after: i64, until: i64) -> Option<Piece> {
        let (a, b) = (after.max(self.after()), until.min(self.until()));
        if b <= a {
            return None;
        }
        Some(match self {
            Piece::Regular {
                offset,
                period,
                length,
                ..
            } => Piece::Regular {
                after: a,
                until: b,
                offset: *offset,
                period: *period,
                length: *length,
            },
            Piece::Listed { windows, .. } => Piece::Listed {
                after: a,
                until: b,
                windows: windows
                    .iter()
                    .filter(|w| w.end > a && w.end <= b)
                    .copied()
                    .collect(),
            },
        })
    }

    /// The piece's first and last windows, without listing the rest.
    pub(crate) fn bounds(&self) -> Option<(Window, Window)> {
        match self {
            Piece::Regular {
                after,
                until,
                offset,
                period,
                length,
            } => {
                let first = first_end(*after, *offset, *period);
                let last = last_end(*until, *offset, *period);
                let w = |e: i64| Window {
                    start: e - length,
                    end: e,
                };
                (first <= last).then(|| (w(first), w(last)))
            }
            Piece::Listed { windows, .. } => Some((*windows.first()?, *windows.last()?)),
        }
    }

    /// Every window of the piece, ascending. The caller bounds the piece
    /// first ([`Piece::clip`]): a regular piece may hold a great many.
    pub(crate) fn windows(&self) -> Vec<Window> {
        match self {
            Piece::Regular {
                after,
                until,
                offset,
                period,
                length,
            } => {
                let first = first_end(*after, *offset, *period);
                let mut out = Vec::new();
                let mut e = first;
                while e <= *until {
                    out.push(Window {
                        start: e - length,
                        end: e,
                    });
                    e += period;
                }
                out
            }
            Piece::Listed { windows, .. } => windows.clone(),
        }
    }
}

/// The smallest end `e > after` with `(e + offset) % period == 0`.
fn first_end(after: i64, offset: i64, period: i64) -> i64 {
    after.saturating_add(offset).div_euclid(period) * period + period - offset
}

/// The largest end `e <= until` with `(e + offset) % period == 0`.
fn last_end(until: i64, offset: i64, period: i64) -> i64 {
    until.saturating_add(offset).div_euclid(period) * period - offset
}

impl Cadence {
    /// How far before and after a change of offset at `t` window ends may
    /// not follow the regular pattern: ends `e` in `[t - before, t + after]`.
    /// - a step of days: a midnight near the change may be skipped or
    ///   repeated (a day either side);
    /// - a start found by wall time (days of window, sub-day step): the
    ///   window's start may fall near the change (its length and a day after);
    /// - a start found from earlier ends: only windows spanning the change.
    fn irregular_reach(&self) -> (i64, i64) {
        let length = self.window.nominal_secs() as i64;
        let day = DAY as i64;
        let before = match self.step {
            Length::Days(_) => day,
            Length::Seconds(_) => 0,
        };
        let after = match (self.step, self.start_rule()) {
            (Length::Days(_), _) | (_, StartRule::SameWallTime(_)) => length + day,
            (_, StartRule::EndsBefore(_)) => length,
            (_, StartRule::StartOfDay(_) | StartRule::Seconds(_)) => 0,
        };
        (before + 1, after + 1)
    }

    /// The windows ending in `(after, until]` as pieces, ascending and
    /// adjoining: listing them all gives [`Cadence::windows_ending_between`].
    pub(crate) fn pieces(&self, after: Timestamp, until: Timestamp) -> Vec<Piece> {
        let (a, b) = (after.as_second(), until.as_second());
        if b <= a {
            return Vec::new();
        }
        let (before, reach) = self.irregular_reach();
        // The stretches of ends around each change, merged where they touch.
        let mut listed: Vec<(i64, i64)> = Vec::new();
        let from = Timestamp::from_second(a.saturating_sub(reach + 1)).unwrap_or(after);
        for t in self.zone.following(from) {
            let t = t.timestamp().as_second();
            if t - before > b {
                break;
            }
            let (lo, hi) = ((t - before - 1).max(a), (t + reach).min(b));
            if hi <= lo {
                continue;
            }
            match listed.last_mut() {
                Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
                _ => listed.push((lo, hi)),
            }
        }
        let period = self.step.nominal_secs() as i64;
        let length = self.window.nominal_secs() as i64;
        let regular = |after: i64, until: i64| Piece::Regular {
            after,
            until,
            offset: Timestamp::from_second(until)
                .map(|t| i64::from(self.zone.to_offset(t).seconds()))
                .unwrap_or(0),
            period,
            length,
        };
        let mut out = Vec::new();
        let mut cursor = a;
        for (lo, hi) in listed {
            if lo > cursor {
                out.push(regular(cursor, lo));
            }
            let ts = |s: i64| Timestamp::from_second(s).unwrap_or(until);
            out.push(Piece::Listed {
                after: lo,
                until: hi,
                windows: self.windows_ending_between(ts(lo), ts(hi)),
            });
            cursor = hi;
        }
        if cursor < b {
            out.push(regular(cursor, b));
        }
        out
    }

    /// How many windows end in `(after, until]`, without listing them.
    pub(crate) fn count_ending_between(&self, after: Timestamp, until: Timestamp) -> u64 {
        self.pieces(after, until).iter().map(Piece::count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    const ZONES: &[&str] = &[
        "UTC",
        "Asia/Shanghai",
        "America/New_York",
        "Europe/London",
        "Australia/Lord_Howe",
        "America/Sao_Paulo",
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "America/St_Johns",
        "Africa/Casablanca",
    ];

    /// (step, window) in seconds: sub-day and day steps, tumbling and rolling.
    const CADENCES: &[(u64, u64)] = &[
        (60, 60),
        (300, 300),
        (300, 900),
        (900, 3600),
        (3600, 3600),
        (3600, 7200),
        (3600, 5400),
        (3600, 86_400),
        (21_600, 21_600),
        (86_400, 86_400),
        (86_400, 7 * 86_400),
        (7 * 86_400, 7 * 86_400),
        (86_400, 3600),
    ];

    fn cadence(step: u64, window: u64, zone: &str) -> Cadence {
        Cadence::new(
            Length::from_secs(step).expect("step"),
            Length::from_secs(window).expect("window"),
            TimeZone::get(zone).expect("zone"),
        )
        .expect("cadence")
    }

    fn check(c: &Cadence, a: i64, b: i64, since: Option<i64>) {
        let (after, until) = (
            Timestamp::from_second(a).expect("after"),
            Timestamp::from_second(b).expect("until"),
        );
        let listed = c.windows_ending_between(after, until);
        let pieces = c.pieces(after, until);
        let made: Vec<Window> = pieces.iter().flat_map(Piece::windows).collect();
        assert_eq!(made, listed, "{c:?} ({a}, {b}]");
        for p in &pieces {
            let w = p.windows();
            assert_eq!(p.bounds(), w.first().copied().zip(w.last().copied()));
        }
        assert_eq!(c.count_ending_between(after, until), listed.len() as u64);
        let after_since = listed
            .iter()
            .filter(|w| since.is_none_or(|s| w.end > s))
            .count() as u64;
        let counted: u64 = pieces.iter().map(|p| p.count_after(since)).sum();
        assert_eq!(counted, after_since, "{c:?} ({a}, {b}] since {since:?}");
        // Clipping at any point keeps every window once.
        let mid = a + (b - a) / 3;
        let clipped: u64 = pieces
            .iter()
            .filter_map(|p| p.clip(a, mid))
            .chain(pieces.iter().filter_map(|p| p.clip(mid, b)))
            .map(|p| p.count())
            .sum();
        assert_eq!(clipped, listed.len() as u64);
    }

    fn ts(s: &str) -> i64 {
        s.parse::<Timestamp>().expect("ts").as_second()
    }

    #[test]
    fn counts_equal_the_listed_windows_across_dst_days() {
        // Spring forward and fall back in New York, London and Lord Howe
        // (a 30-minute change), and a year with both.
        let ranges = [
            ("2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z"),
            ("2026-10-30T00:00:00Z", "2026-11-03T00:00:00Z"),
            ("2026-03-27T00:00:00Z", "2026-04-07T00:00:00Z"),
            ("2025-12-01T00:00:00Z", "2027-01-10T00:00:00Z"),
        ];
        for zone in ["America/New_York", "Europe/London", "Australia/Lord_Howe"] {
            for &(step, window) in CADENCES {
                let c = cadence(step, window, zone);
                for (a, b) in ranges {
                    if step < 3600 && b.starts_with("2027") {
                        continue; // a year of minutes is the proptest's job in slices
                    }
                    check(&c, ts(a), ts(b), Some(ts(a) + 86_400));
                }
            }
        }
    }

    #[test]
    fn a_daily_window_on_a_dst_day_keeps_its_23_or_25_hours() {
        let c = cadence(86_400, 86_400, "America/New_York");
        let pieces = c.pieces(
            Timestamp::from_second(ts("2026-03-07T12:00:00Z")).expect("a"),
            Timestamp::from_second(ts("2026-03-10T12:00:00Z")).expect("b"),
        );
        let lengths: Vec<i64> = pieces
            .iter()
            .flat_map(Piece::windows)
            .map(|w| w.end - w.start)
            .collect();
        assert_eq!(lengths, vec![86_400, 82_800, 86_400]);
    }

    #[test]
    fn a_fixed_zone_is_one_regular_piece_however_long() {
        let c = cadence(60, 60, "UTC");
        let b = ts("2026-11-01T00:00:00Z");
        let pieces = c.pieces(
            Timestamp::from_second(b - 400 * 86_400).expect("a"),
            Timestamp::from_second(b).expect("b"),
        );
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].count(), 400 * 1440);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn counting_equals_listing_in_any_zone(
            zone in 0..ZONES.len(),
            cad in 0..CADENCES.len(),
            // 2019..2031, where the zones above change their offsets
            start in 1_546_300_800i64..1_924_992_000,
            days in 0i64..40,
            extra in 0i64..86_400,
            since in proptest::option::of(0i64..40 * 86_400),
        ) {
            let (step, window) = CADENCES[cad];
            let c = cadence(step, window, ZONES[zone]);
            let end = start + days * 86_400 + extra;
            check(&c, start, end, since.map(|s| start + s));
        }
    }
}
