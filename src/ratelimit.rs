//! The one API rate limiter of a process: every `GetStatisticData` call, of
//! every job and every retry, waits here first.
//!
//! Calls are spaced evenly (GCRA with a burst of one, `governor`), never
//! bunched: a token bucket of 20 would let 20 calls go at once and 20 more as
//! the second turns, 40 inside one second. The spacing is the limit's period
//! plus [`SAFETY_MARGIN`], so that a call delayed a little on the way (a new
//! connection, a scheduler hiccup) cannot put one call too many into a
//! server-side second.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;

/// Extra share of the period between two calls (2.5 %: 20/s becomes 19.5/s).
pub const SAFETY_MARGIN: f64 = 0.025;

/// The spacing between two calls for `per_second` calls per second.
pub fn spacing(per_second: NonZeroU32) -> Duration {
    let period = 1.0 / f64::from(per_second.get());
    Duration::from_secs_f64(period * (1.0 + SAFETY_MARGIN))
}

/// The quota for `per_second`: one call per [`spacing`], no burst.
pub fn quota(per_second: NonZeroU32) -> Quota {
    // `spacing` is never zero for a limit of at most u32::MAX calls per second.
    Quota::with_period(spacing(per_second))
        .unwrap_or_else(|| Quota::per_second(per_second))
        .allow_burst(NonZeroU32::MIN)
}

/// The limiter shared by all API calls of a process.
pub struct Limiter<C: Clock = DefaultClock> {
    inner: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
}

impl Limiter {
    pub fn new(per_second: NonZeroU32) -> Self {
        Limiter {
            inner: RateLimiter::direct(quota(per_second)),
        }
    }

    /// Wait until the next call may go.
    pub async fn acquire(&self) {
        self.inner.until_ready().await;
    }
}

impl<C: Clock> Limiter<C> {
    pub fn with_clock(per_second: NonZeroU32, clock: C) -> Self {
        Limiter {
            inner: RateLimiter::direct_with_clock(quota(per_second), clock),
        }
    }

    /// Take a slot now if one is free.
    pub fn try_acquire(&self) -> bool {
        self.inner.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    /// Drive the limiter on a fake clock in 100 µs steps for `total_ms` and
    /// return the instants (µs) at which calls were let through.
    fn admitted(limit: u32, total_ms: u64) -> Vec<u64> {
        let clock = FakeRelativeClock::default();
        let l = Limiter::with_clock(NonZeroU32::new(limit).expect("nonzero"), clock.clone());
        let mut out = Vec::new();
        for step in 0..total_ms * 10 {
            // a greedy caller: tries many times per step
            for _ in 0..20 {
                if l.try_acquire() {
                    out.push(step * 100);
                }
            }
            clock.advance(Duration::from_micros(100));
        }
        out
    }

    fn max_in_any_second(at: &[u64]) -> usize {
        let mut best = 0;
        let mut lo = 0;
        for hi in 0..at.len() {
            while at[hi] - at[lo] >= 1_000_000 {
                lo += 1;
            }
            best = best.max(hi - lo + 1);
        }
        best
    }

    #[test]
    fn never_more_than_the_limit_in_any_second() {
        for limit in [1, 5, 20, 100] {
            let at = admitted(limit, 10_000);
            assert!(max_in_any_second(&at) <= limit as usize, "limit {limit}");
        }
    }

    #[test]
    fn uses_the_limit_nearly_fully() {
        let at = admitted(20, 10_000);
        // 10 s at 20/s with a 2.5 % margin: 195 calls (+1 for the first)
        assert!(at.len() >= 195, "{}", at.len());
        assert!(at.len() <= 201, "{}", at.len());
    }

    #[test]
    fn no_burst_at_start() {
        let at = admitted(20, 1_000);
        assert_eq!(at.iter().filter(|t| **t < 100_000).count(), 2);
    }

    #[test]
    fn spacing_has_the_margin() {
        let s = spacing(NonZeroU32::new(20).expect("nonzero"));
        assert_eq!(s.as_micros(), 51_250);
    }
}
