//! The one API rate limiter of a process: every `GetStatisticData` call, of
//! every job and every retry, waits here first.
//!
//! The rule is the API's: no one-second span may hold more than `limit`
//! calls, counted when they *arrive*. Calls are spaced evenly, one every
//! `(1 + SAFETY_MARGIN) / limit` seconds, never in bursts: a burst of 20
//! calls sent at once crosses the network (new connections, a busy
//! scheduler) as a bunch whose arrivals spread over tens of milliseconds and
//! can land 21 in one server-side second. Evenly spaced calls with a 4 %
//! margin survive up to 40 ms of jitter at a limit of 20 (less the
//! [`LATE_WAKE`] a waiter may lag) and still use 96 % of it. A process that has been idle sends its next call at once,
//! but never banks unused slots for a burst.
//!
//! When the server refuses a call anyway (`RequestLimitExceeded`: another
//! client on the account, a network far jitterier than the margin), the
//! whole process slows down: the pace is halved (multiplicative decrease,
//! once per second however many calls come back refused, since those were
//! sent before the slowdown) and then recovers by [`RECOVERY_PER_SECOND`]
//! of the limit each second (additive increase). The arithmetic is [`Pace`],
//! pure; time is tokio's, so tests run it on a paused clock.
//!
//! No crate does this: `governor` is GCRA with a burst allowance, and has no
//! slowdown on refusals.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Extra share of a second added to each interval (4 %: at most 19.2
/// calls/s for a limit of 20, 96 % of it).
pub(crate) const SAFETY_MARGIN: f64 = 0.04;

/// The share of the pace kept after a refusal.
pub(crate) const SLOWDOWN: f64 = 0.5;

/// The share of the limit won back each second without a refusal.
pub(crate) const RECOVERY_PER_SECOND: f64 = 0.05;

/// The slowest a run of refusals takes the pace to (a share of the limit).
pub(crate) const FLOOR: f64 = 0.1;

/// Refusals within this long of a slowdown were sent before it: they do
/// not slow down further.
pub(crate) const REFUSAL_SPAN: Duration = Duration::from_secs(1);

/// How late a waiter may wake and still keep the slots' pace (timer
/// granularity, a busy scheduler): sends then lag the even grid by up to
/// this, which the margin covers along with arrival jitter (10 ms of it
/// leaves 30 ms for the network at 20 calls/s).
pub(crate) const LATE_WAKE: Duration = Duration::from_millis(10);

/// The pace of calls, as a share of the limit: 1 unless refusals slowed it.
/// Pure: every method takes the moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pace {
    /// The share right after the last slowdown.
    base: f64,
    /// When the last slowdown was (`None`: never).
    since: Option<Instant>,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            base: 1.0,
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

    /// A refusal at `now`: slow down, unless one did within [`REFUSAL_SPAN`].
    /// Says whether it slowed down.
    pub(crate) fn refused(&mut self, now: Instant) -> bool {
        if self
            .since
            .is_some_and(|at| now.saturating_duration_since(at) < REFUSAL_SPAN)
        {
            return false;
        }
        self.base = (self.share(now) * SLOWDOWN).max(FLOOR);
        self.since = Some(now);
        true
    }

    /// The time between two calls at `now`, for `limit` calls a second.
    pub(crate) fn interval(&self, limit: u32, now: Instant) -> Duration {
        let per_second = f64::from(limit.max(1)) * self.share(now);
        Duration::from_secs_f64((1.0 + SAFETY_MARGIN) / per_second)
    }
}

/// The calls per second sent at most, for a limit of `per_second`: the
/// limit less the margin.
pub(crate) fn sustained(per_second: NonZeroU32) -> f64 {
    f64::from(per_second.get()) / (1.0 + SAFETY_MARGIN)
}

struct State {
    /// The earliest moment the next call may go.
    next: Option<Instant>,
    pace: Pace,
}

/// Even spacing of calls at a limit per second, slowed by refusals.
/// One per process; a reload changes its limit in place
/// ([`Limiter::set_limit`]), so fires before and after share it.
pub(crate) struct Limiter {
    limit: std::sync::atomic::AtomicU32,
    /// Calls let go so far.
    sent: std::sync::atomic::AtomicU64,
    state: Mutex<State>,
    /// Waiters, first come first served.
    queue: tokio::sync::Mutex<()>,
}

impl Limiter {
    pub(crate) fn new(per_second: NonZeroU32) -> Limiter {
        Limiter {
            limit: std::sync::atomic::AtomicU32::new(per_second.get()),
            sent: std::sync::atomic::AtomicU64::new(0),
            state: Mutex::new(State {
                next: None,
                pace: Pace::default(),
            }),
            queue: tokio::sync::Mutex::new(()),
        }
    }

    /// Calls allowed per second (the configured limit).
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(std::sync::atomic::Ordering::Relaxed) as usize
    }

    /// Change the limit; the next call keeps the spacing of the previous one.
    pub(crate) fn set_limit(&self, per_second: NonZeroU32) {
        self.limit
            .store(per_second.get(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The calls per second this limiter sends at now (the limit less the
    /// margin, and less any slowdown).
    #[cfg(test)]
    pub(crate) fn rate(&self) -> f64 {
        let now = Instant::now();
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        1.0 / state.pace.interval(self.limit() as u32, now).as_secs_f64()
    }

    /// Calls let go so far, for progress.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The server refused a call for its rate: slow the process down.
    pub(crate) fn refused(&self) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.pace.refused(now) {
            let share = state.pace.share(now);
            tracing::warn!(
                share_of_limit = format!("{share:.2}"),
                "the API refused a call for its rate limit; slowing down, then recovering gradually"
            );
        }
    }

    /// Take the next slot now if it has come; else say when it comes.
    fn try_take(&self, now: Instant) -> Result<(), Instant> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.next {
            Some(at) if at > now => Err(at),
            next => {
                // A waiter woken a little late keeps the pace: the next slot
                // follows the one due, not the wake-up; after a longer pause
                // nothing is banked.
                let base = next.filter(|at| now - *at <= LATE_WAKE).unwrap_or(now);
                state.next = Some(base + state.pace.interval(self.limit() as u32, now));
                self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
        }
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
