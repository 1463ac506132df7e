//! The one API rate limiter of a process: every `GetStatisticData` call, of
//! every job and every retry, waits here first.
//!
//! The rule is the API's: no one-second span may hold more than `limit`
//! calls. A sliding window enforces exactly that: a call may go when fewer
//! than `limit` calls went in the last [`window`], else it waits until the
//! oldest of them leaves it. Unlike a token bucket (which with a burst of 20
//! lets 20 calls go at once and 20 more as the second turns: 40 in one
//! second), it never exceeds the rule; unlike even spacing, it lets a short
//! run of calls go at once, so a process with a high limit is not slowed by
//! the limiter at all. The window is a second plus [`SAFETY_MARGIN`], so
//! that calls delayed a little on their way (a new connection, a busy
//! scheduler) still cannot land `limit + 1` calls in one server-side second.
//!
//! No crate does this: `governor` is GCRA (a token bucket), whose bursts
//! break the rule. Time is tokio's, so tests run it on a paused clock.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Extra share of a second added to the window (2.5 %: at most 20 calls in
/// any 1.025 s, 19.5 calls/s sustained for a limit of 20).
pub const SAFETY_MARGIN: f64 = 0.025;

/// The span in which at most `limit` calls go.
pub fn window() -> Duration {
    Duration::from_secs_f64(1.0 + SAFETY_MARGIN)
}

/// A sliding-window limiter: at most `limit` calls in any [`window`].
/// One per process; a reload changes its limit in place
/// ([`Limiter::set_limit`]), so fires before and after share it.
pub struct Limiter {
    limit: std::sync::atomic::AtomicUsize,
    window: Duration,
    /// Send times of the last `limit` calls, oldest first.
    sent: Mutex<VecDeque<Instant>>,
}

impl Limiter {
    pub fn new(per_second: NonZeroU32) -> Limiter {
        Limiter::with_window(per_second, window())
    }

    /// A limiter of `limit` calls per `window`.
    fn with_window(limit: NonZeroU32, window: Duration) -> Limiter {
        let limit = limit.get() as usize;
        Limiter {
            limit: std::sync::atomic::AtomicUsize::new(limit),
            window,
            sent: Mutex::new(VecDeque::with_capacity(limit)),
        }
    }

    /// Calls allowed per window.
    pub fn limit(&self) -> usize {
        self.limit.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Change the limit; calls already sent still count.
    pub fn set_limit(&self, per_second: NonZeroU32) {
        self.limit.store(
            per_second.get() as usize,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Take a slot now if one is free; else say when one frees up.
    fn try_take(&self, now: Instant) -> Result<(), Instant> {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            sent.pop_front();
        }
        if sent.len() < self.limit() {
            sent.push_back(now);
            return Ok(());
        }
        // Full: a slot frees when the call `len - limit` places from the
        // oldest leaves the window (the oldest, unless the limit was lowered).
        let over = sent.len() - self.limit();
        Err(sent.get(over).map_or(now, |t| *t + self.window))
    }

    /// Wait until the next call may go, and count it.
    pub async fn acquire(&self) {
        loop {
            match self.try_take(Instant::now()) {
                Ok(()) => return,
                Err(at) => tokio::time::sleep_until(at).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Let `tasks` callers race for `calls` slots of `limit` per second on a
    /// paused clock; return the send instants, in ms since the start.
    async fn run(limit: u32, tasks: usize, calls: usize) -> Vec<u128> {
        let l = Arc::new(Limiter::new(NonZeroU32::new(limit).expect("nonzero")));
        let start = Instant::now();
        let out = Arc::new(Mutex::new(Vec::new()));
        let left = Arc::new(std::sync::atomic::AtomicUsize::new(calls));
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let (l, out, left) = (l.clone(), out.clone(), left.clone());
            handles.push(tokio::spawn(async move {
                while left
                    .fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |n| n.checked_sub(1),
                    )
                    .is_ok()
                {
                    l.acquire().await;
                    out.lock().expect("lock").push(start.elapsed().as_micros());
                    // a call takes a little while
                    tokio::time::sleep(Duration::from_millis(7)).await;
                }
            }));
        }
        for h in handles {
            h.await.expect("task");
        }
        let mut v = out.lock().expect("lock").clone();
        v.sort();
        v
    }

    fn max_in_any_second(at: &[u128]) -> usize {
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

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_in_any_second() {
        for (limit, tasks) in [(1, 1), (5, 3), (20, 8), (20, 32), (100, 16)] {
            let at = run(limit, tasks, 10 * limit as usize).await;
            assert!(
                max_in_any_second(&at) <= limit as usize,
                "limit {limit}, {tasks} tasks"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn uses_the_limit_fully() {
        // 200 calls at 20 per 1.025 s window: the 200th starts the 10th window
        let at = run(20, 8, 200).await;
        let tenth_window = 9 * 1_025_000;
        assert!(at[199] >= tenth_window, "200th call at {} µs", at[199]);
        assert!(
            at[199] < tenth_window + 100_000,
            "200th call at {} µs: the limit is not used",
            at[199]
        );
        // 20 in each window: 19.5 calls/s sustained
        let in_first_ten_windows = at.iter().filter(|t| **t < 10 * 1_025_000).count();
        assert_eq!(in_first_ten_windows, 200);
    }

    #[tokio::test(start_paused = true)]
    async fn a_high_limit_does_not_slow_a_short_run() {
        let at = run(1000, 16, 300).await;
        // 300 calls in well under a second: only the 7 ms per call of each of 16 tasks
        assert!(at[299] < 200_000, "last call at {} µs", at[299]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lowered_limit_counts_the_calls_already_sent() {
        let l = Limiter::new(NonZeroU32::new(4).expect("nonzero"));
        let t0 = Instant::now();
        for _ in 0..4 {
            l.acquire().await;
        }
        l.set_limit(NonZeroU32::new(2).expect("nonzero"));
        l.acquire().await;
        // the 5th call waits until only one of the first four is left in the window
        assert_eq!(t0.elapsed(), Duration::from_millis(1025));
        assert_eq!(l.limit(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_has_the_margin() {
        let l = Limiter::new(NonZeroU32::new(2).expect("nonzero"));
        let t0 = Instant::now();
        l.acquire().await;
        l.acquire().await;
        l.acquire().await;
        assert_eq!(t0.elapsed(), Duration::from_millis(1025));
    }
}
