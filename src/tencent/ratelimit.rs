//! The one API rate limiter of a process: every `GetStatisticData` call, of
//! every job and every retry, waits here first.
//!
//! The rule is the API's own, mirrored: no span of one second may hold more
//! than `limit` calls, counted when they *arrive*. The limiter keeps the
//! moments it let the last `limit` calls go, and lets the next one go once
//! the oldest of them is a [`window`](Pace::window) old: one second plus a
//! margin for the calls' arrival jitter. Whatever the pattern of sends (a
//! first run of `limit` calls at once, then each call a window after the one
//! `limit` before it), call `i + limit` arrives at least a window after call
//! `i` less the difference of their network delays: while that difference
//! stays within the margin, the server never counts more than `limit` calls
//! in a second, and the limit is used whole. An even spacing of one call
//! every `1/limit` seconds would waste the first second (its calls could all
//! have gone at once) and, to be as safe, needs the same margin on every
//! interval, not once per window: 200 calls take 199 intervals, about
//! 10.35 s at a 4 % margin, against 9 windows, 9.4 s at a 40 ms margin.
//!
//! The margin is learned from the answers: it starts at [`BASE_MARGIN`]
//! (arrival jitter, a waiter that wakes a little late, a busy server). When the server refuses a call anyway (`RequestLimitExceeded`:
//! another client on the account, a network jitterier than the margin), the
//! margin doubles (up to [`MAX_MARGIN`]) and the whole process slows down:
//! the pace is halved (multiplicative decrease, once per second however many
//! calls come back refused, since those were sent before the slowdown) and
//! then recovers by [`RECOVERY_PER_SECOND`] of the limit each second
//! (additive increase). The learned extra margin creeps back: it halves
//! after each [`MARGIN_HALF_LIFE`] without a refusal. The arithmetic is
//! [`Pace`], pure; time is tokio's, so tests run it on a paused clock.
//!
//! No crate does this: `governor` is GCRA (an even spacing with a burst
//! allowance that refills continuously, which lets more than `limit` calls
//! into some second), and has no slowdown on refusals.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The margin added to the one-second window until a refusal says more is
/// needed: arrivals jitter up to 20 ms, a waiter may wake a few ms late,
/// and a busy server (or client) may take a run of calls in late.
pub(crate) const BASE_MARGIN: Duration = Duration::from_millis(40);

/// The widest the learned margin grows.
pub(crate) const MAX_MARGIN: Duration = Duration::from_millis(500);

/// A clean stretch this long halves the margin learned above [`BASE_MARGIN`].
pub(crate) const MARGIN_HALF_LIFE: Duration = Duration::from_secs(60);

/// How late a waiter may wake and still take the slot it was due (timer
/// granularity, a busy scheduler); the margin covers it along with the
/// arrival jitter.
pub(crate) const LATE_WAKE: Duration = Duration::from_millis(5);

/// The share of the pace kept after a refusal.
pub(crate) const SLOWDOWN: f64 = 0.5;

/// The share of the limit won back each second without a refusal.
pub(crate) const RECOVERY_PER_SECOND: f64 = 0.05;

/// The slowest a run of refusals takes the pace to (a share of the limit).
pub(crate) const FLOOR: f64 = 0.1;

/// Refusals within this long of a slowdown were sent before it: they do
/// not slow down further.
pub(crate) const REFUSAL_SPAN: Duration = Duration::from_secs(1);

/// The pace of calls: the share of the limit (1 unless refusals slowed it)
/// and the margin of the window. Pure: every method takes the moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pace {
    /// The share right after the last slowdown.
    base: f64,
    /// The margin above [`BASE_MARGIN`] learned at the last slowdown.
    extra: Duration,
    /// When the last slowdown was (`None`: never).
    since: Option<Instant>,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            base: 1.0,
            extra: Duration::ZERO,
            since: None,
        }
    }
}

impl Pace {
    /// The share of the limit in force at `now`.
    pub(crate) fn share(&self, now: Instant) -> f64 {
        match self.since {
            None => 1.0,
            Some(at) => {
                let recovered =
                    now.saturating_duration_since(at).as_secs_f64() * RECOVERY_PER_SECOND;
                (self.base + recovered).min(1.0)
            }
        }
    }

    /// The margin added to one second at `now`: [`BASE_MARGIN`], plus what
    /// refusals taught, halving every [`MARGIN_HALF_LIFE`] since.
    pub(crate) fn margin(&self, now: Instant) -> Duration {
        let Some(at) = self.since else {
            return BASE_MARGIN;
        };
        let clean = now.saturating_duration_since(at).as_secs_f64();
        let kept = 0.5f64.powf(clean / MARGIN_HALF_LIFE.as_secs_f64());
        BASE_MARGIN + self.extra.mul_f64(kept)
    }

    /// A refusal at `now`: slow down and widen the margin, unless that was
    /// done within [`REFUSAL_SPAN`]. Says whether it slowed down.
    pub(crate) fn refused(&mut self, now: Instant) -> bool {
        if self
            .since
            .is_some_and(|at| now.saturating_duration_since(at) < REFUSAL_SPAN)
        {
            return false;
        }
        let margin = (self.margin(now) * 2).min(MAX_MARGIN);
        self.extra = margin.saturating_sub(BASE_MARGIN);
        self.base = (self.share(now) * SLOWDOWN).max(FLOOR);
        self.since = Some(now);
        true
    }

    /// The span at `now` that may hold `limit` sends: a second and the
    /// margin, stretched by any slowdown.
    pub(crate) fn window(&self, now: Instant) -> Duration {
        (Duration::from_secs(1) + self.margin(now)).div_f64(self.share(now))
    }
}

/// The calls per second sent at most over a long run, for a limit of
/// `per_second`: the limit per window.
pub(crate) fn sustained(per_second: NonZeroU32) -> f64 {
    f64::from(per_second.get()) / (1.0 + BASE_MARGIN.as_secs_f64())
}

struct State {
    /// When the last calls went (at most `limit` of them), oldest first.
    sent: VecDeque<Instant>,
    pace: Pace,
}

/// At most `limit` calls in any window, slowed by refusals.
/// One per process; a reload changes its limit in place
/// ([`Limiter::set_limit`]), so fires before and after share it.
pub(crate) struct Limiter {
    limit: AtomicU32,
    /// Calls let go so far.
    sent: AtomicU64,
    state: Mutex<State>,
    /// Waiters, first come first served.
    queue: tokio::sync::Mutex<()>,
}

impl Limiter {
    pub(crate) fn new(per_second: NonZeroU32) -> Limiter {
        Limiter {
            limit: AtomicU32::new(per_second.get()),
            sent: AtomicU64::new(0),
            state: Mutex::new(State {
                sent: VecDeque::with_capacity(per_second.get().min(1024) as usize),
                pace: Pace::default(),
            }),
            queue: tokio::sync::Mutex::new(()),
        }
    }

    /// Calls allowed per second (the configured limit).
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed) as usize
    }

    /// Change the limit; the calls already sent still count.
    pub(crate) fn set_limit(&self, per_second: NonZeroU32) {
        self.limit.store(per_second.get(), Ordering::Relaxed);
    }

    /// The calls per second this limiter sends at now over a long run (the
    /// limit per window, less any slowdown).
    #[cfg(test)]
    pub(crate) fn rate(&self) -> f64 {
        let now = Instant::now();
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.limit() as f64 / state.pace.window(now).as_secs_f64()
    }

    /// The margin of the window now.
    #[cfg(test)]
    pub(crate) fn margin(&self) -> Duration {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.pace.margin(Instant::now())
    }

    /// Calls let go so far, for progress.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The server refused a call for its rate: widen the margin and slow
    /// the process down.
    pub(crate) fn refused(&self) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.pace.refused(now) {
            let share = state.pace.share(now);
            let margin = state.pace.margin(now);
            tracing::warn!(
                share_of_limit = format!("{share:.2}"),
                margin = ?margin,
                "the API refused a call for its rate limit; slowing down, then recovering gradually"
            );
        }
    }

    /// Take a slot now if the window allows; else say when it will.
    fn try_take(&self, now: Instant) -> Result<(), Instant> {
        let limit = self.limit().max(1);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while state.sent.len() > limit {
            state.sent.pop_front();
        }
        let mut at = now;
        if state.sent.len() == limit {
            let window = state.pace.window(now);
            match state.sent.front() {
                Some(oldest) if *oldest + window > now => return Err(*oldest + window),
                Some(oldest) => {
                    // A waiter woken a little late keeps the windows' grid:
                    // its slot counts from when it was due, not from the
                    // wake-up, else each window would start that much later.
                    let due = *oldest + window;
                    if now - due <= LATE_WAKE {
                        at = due;
                    }
                    state.sent.pop_front();
                }
                None => {}
            }
        }
        state.sent.push_back(at);
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Wait until the next call may go, and count it. Callers go in the
    /// order they came (the queue is a fair lock): reports taken oldest
    /// first are sent oldest first.
    pub(crate) async fn acquire(&self) {
        let _turn = self.queue.lock().await;
        loop {
            match self.try_take(Instant::now()) {
                Ok(()) => return,
                Err(at) => tokio::time::sleep_until(at).await,
            }
        }
    }
}

#[cfg(test)]
mod tests;
