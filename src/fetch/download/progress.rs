//! The progress rule of a download, pure: it is stalled when fewer than
//! `min_bytes` arrived during the last `window` (checked from `window`
//! after the start). Silence alone is bounded elsewhere (the read timeout);
//! this bounds a drip that is never silent for long but never gets far.
//!
//! Arrivals are kept in at most about 64 buckets per window (a bucket's
//! bytes count until `window` after its last arrival), so memory is flat and
//! the rule errs by at most a bucket's span in the download's favour.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Buckets per window.
const SLOTS: u32 = 64;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    first: Instant,
    last: Instant,
    bytes: u64,
}

/// The arrivals of one download, against the rule.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    start: Instant,
    window: Duration,
    min_bytes: u64,
    slot: Duration,
    buckets: VecDeque<Bucket>,
}

impl Progress {
    /// A download that started at `start` and must bring at least
    /// `min_bytes` (at least 1) in every `window`.
    pub(crate) fn new(start: Instant, window: Duration, min_bytes: u64) -> Progress {
        Progress {
            start,
            window,
            min_bytes: min_bytes.max(1),
            slot: window / SLOTS,
            buckets: VecDeque::new(),
        }
    }

    /// `n` bytes arrived at `now` (not before the previous arrival).
    pub(crate) fn record(&mut self, now: Instant, n: u64) {
        while let Some(b) = self.buckets.front() {
            if b.last + self.window <= now {
                self.buckets.pop_front();
            } else {
                break;
            }
        }
        match self.buckets.back_mut() {
            Some(b) if now < b.first + self.slot => {
                b.last = b.last.max(now);
                b.bytes += n;
            }
            _ => self.buckets.push_back(Bucket {
                first: now,
                last: now,
                bytes: n,
            }),
        }
    }

    /// The instant from which the download is stalled if nothing more arrives.
    pub(crate) fn deadline(&self) -> Instant {
        let mut sum: u64 = self.buckets.iter().map(|b| b.bytes).sum();
        let mut t = self.start + self.window;
        // At `t`, the bytes counted are those of the buckets that drop out after `t`.
        for b in &self.buckets {
            let drop = b.last + self.window;
            if drop > t {
                if sum < self.min_bytes {
                    return t;
                }
                t = drop;
            }
            sum -= b.bytes;
        }
        t
    }

    /// Whether the rule is broken at `now`.
    #[cfg(test)]
    pub(crate) fn stalled(&self, now: Instant) -> bool {
        now >= self.deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_drip_is_stalled_one_window_after_the_start() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0, MIN, 60 * 1024);
        // One byte every 4 s: never silent for long, never anywhere.
        for i in 1..=14 {
            p.record(t0 + s(4 * i), 1);
            assert!(!p.stalled(t0 + s(4 * i)), "at {}s", 4 * i);
        }
        assert_eq!(p.deadline(), t0 + MIN);
        assert!(p.stalled(t0 + MIN));
    }

    #[test]
    fn a_slow_but_moving_download_is_never_stalled() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0, MIN, 60 * 1024);
        // 2 KiB/s for an hour, in 16 KiB chunks every 8 s.
        for i in 1..=450 {
            let now = t0 + s(8 * i);
            assert!(!p.stalled(now), "at {}s", 8 * i);
            p.record(now, 16 * 1024);
            assert!(p.deadline() > now);
        }
        // Memory stays flat: buckets of the last window only.
        assert!(p.buckets.len() <= SLOTS as usize + 1, "{}", p.buckets.len());
    }

    #[test]
    fn a_small_file_done_before_the_window_is_fine_and_a_stop_is_caught() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0, MIN, 60 * 1024);
        p.record(t0 + s(1), 100 * 1024);
        // Enough for the first window; the bytes count until 60 s after they came.
        assert_eq!(p.deadline(), t0 + s(61));
        assert!(!p.stalled(t0 + s(60)));
        assert!(p.stalled(t0 + s(61)));
    }

    #[test]
    fn a_fast_start_then_a_drip_is_caught_one_window_after_the_burst() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0, MIN, 60 * 1024);
        p.record(t0 + s(10), 1024 * 1024);
        for i in 0..15 {
            p.record(t0 + s(20 + 3 * i), 1);
            assert!(!p.stalled(t0 + s(20 + 3 * i)));
        }
        assert_eq!(p.deadline(), t0 + s(70));
    }

    #[test]
    fn the_rule_is_over_any_window_not_the_average_since_the_start() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0, MIN, 60 * 1024);
        // 10 minutes at full speed, then the link nearly stops.
        for i in 1..=600 {
            p.record(t0 + s(i), 1024 * 1024);
        }
        p.record(t0 + s(630), 10);
        // The average since the start is huge; the last minute is not.
        assert!(p.stalled(t0 + s(661)));
        assert!(!p.stalled(t0 + s(659)));
    }
}
