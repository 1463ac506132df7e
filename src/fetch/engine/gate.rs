//! Fail fast, once, for a whole run. The first API call of a run goes alone:
//! the other reports wait for its answer, so a wrong key or endpoint costs
//! one call, not one per report in flight. They wait [`PATIENCE`] at most:
//! the API refuses a key before it does any work, so a refusal comes back
//! within a round trip, while a good call's answer takes as long as the
//! service needs to build the report (hundreds of milliseconds to seconds),
//! which the other calls need not wait out. An error no retry mends (see
//! [`crate::fetch::retry::Class::StopRun`]) halts the run: no report starts
//! after it, the reports waiting or backing off give up at once.

use crate::fetch::end::FailFast;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long the other calls wait for the first one's answer.
pub(super) const PATIENCE: Duration = Duration::from_millis(100);
use tokio_util::sync::CancellationToken;

/// Where the run's first call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No call has answered yet, none is under way.
    Closed,
    /// The first call is under way: the others wait.
    Piloting,
    /// A call answered with something other than a stop: calls go freely.
    Open,
}

/// The run was halted: no call is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Halted;

/// One run's gate.
pub(super) struct Gate {
    state: watch::Sender<State>,
    halted: CancellationToken,
    why: OnceLock<FailFast>,
    /// Serialises the halting (the first reason is kept).
    halting: Mutex<()>,
    /// When the first call went (while it is under way).
    piloting_since: Mutex<Option<Instant>>,
    /// Callers pass in the order they came (tokio's mutex is fair): once
    /// the gate opens, the waiting calls reach the rate limiter oldest first.
    queue: tokio::sync::Mutex<()>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            state: watch::Sender::new(State::Closed),
            halted: CancellationToken::new(),
            why: OnceLock::new(),
            halting: Mutex::new(()),
            piloting_since: Mutex::new(None),
            queue: tokio::sync::Mutex::new(()),
        }
    }
}

/// The right to make a call; the first call's holder opens the gate when
/// its call answers ([`Pass::answered`]), or lets another go first when it
/// gives up without an answer (dropped).
pub(super) struct Pass<'a> {
    pilot: Option<&'a Gate>,
}

impl Pass<'_> {
    /// The call answered with something that does not stop the run.
    pub(super) fn answered(mut self) {
        if let Some(gate) = self.pilot.take() {
            gate.state.send_replace(State::Open);
        }
    }
}

impl Pass<'_> {
    /// The call answered with an error that stops the run: the others keep
    /// waiting, for the halt that follows.
    pub(super) fn stopped(mut self) {
        self.pilot = None;
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if let Some(gate) = self.pilot.take() {
            gate.state.send_if_modified(|s| {
                let back = *s == State::Piloting;
                if back {
                    *s = State::Closed;
                }
                back
            });
        }
    }
}

impl Gate {
    /// Wait until a call may be made: at once when the gate is open; the
    /// first caller goes alone.
    pub(super) async fn before_call(&self) -> Result<Pass<'_>, Halted> {
        // Only the caller at the head of the queue waits for the gate; the
        // others wait for their turn behind it.
        let _turn = tokio::select! {
            turn = self.queue.lock() => turn,
            _ = self.halted.cancelled() => return Err(Halted),
        };
        loop {
            if self.halted.is_cancelled() {
                return Err(Halted);
            }
            let mut seen = self.state.subscribe();
            let mut pilot = false;
            self.state.send_if_modified(|s| {
                pilot = *s == State::Closed;
                if pilot {
                    *s = State::Piloting;
                }
                pilot
            });
            if pilot {
                *self.since() = Some(Instant::now());
                return Ok(Pass { pilot: Some(self) });
            }
            let state = *seen.borrow_and_update();
            let waited_enough = (*self.since()).map(|t| t + PATIENCE);
            match (state, waited_enough) {
                (State::Open, _) => return Ok(Pass { pilot: None }),
                (State::Piloting, Some(at)) if at <= Instant::now() => {
                    return Ok(Pass { pilot: None });
                }
                _ => {}
            }
            let patience = async {
                match waited_enough {
                    Some(at) if state == State::Piloting => tokio::time::sleep_until(at).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = seen.changed() => {}
                _ = self.halted.cancelled() => {}
                _ = patience => {}
            }
        }
    }

    fn since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.piloting_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Stop the run for `why` (the first reason stays).
    pub(super) fn halt(&self, why: FailFast) {
        let _one = self.halting.lock().unwrap_or_else(|p| p.into_inner());
        if self.why.set(why).is_ok() {
            self.halted.cancel();
        }
    }

    pub(super) fn is_halted(&self) -> bool {
        self.halted.is_cancelled()
    }

    /// Why the run was halted.
    pub(super) fn reason(&self) -> Option<FailFast> {
        self.why.get().cloned()
    }

    /// Cancelled when the run is halted (a backoff in progress ends).
    pub(super) fn halted_token(&self) -> CancellationToken {
        self.halted.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn why() -> FailFast {
        FailFast {
            code: "AuthFailure.SignatureFailure".into(),
            message: "m".into(),
            fix: "f".into(),
            request_id: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_call_slower_than_a_refusal_holds_the_others_only_that_long() {
        // a 1.5 s answer held every other call 1.5 s at the start of each run
        let gate = Gate::default();
        let t0 = Instant::now();
        let _first = gate.before_call().await.expect("pass");
        let second = gate.before_call().await.expect("pass");
        assert!(second.pilot.is_none());
        assert_eq!(t0.elapsed(), PATIENCE);
        let third = tokio::time::timeout(Duration::from_millis(1), gate.before_call()).await;
        assert!(matches!(third, Ok(Ok(_))), "the gate stays open");
    }

    #[tokio::test]
    async fn the_first_call_goes_alone_until_it_answers() {
        let gate = Gate::default();
        let first = gate.before_call().await.expect("pass");
        let second = tokio::time::timeout(PATIENCE / 2, gate.before_call()).await;
        assert!(
            second.is_err(),
            "a second call went before the first answered"
        );
        first.answered();
        let second = tokio::time::timeout(Duration::from_secs(10), gate.before_call()).await;
        assert!(matches!(second, Ok(Ok(_))));
    }

    #[tokio::test]
    async fn a_halt_releases_the_waiting_calls_without_a_call() {
        let gate = Gate::default();
        let first = gate.before_call().await.expect("pass");
        let (waiting, ()) = tokio::join!(gate.before_call(), async {
            tokio::task::yield_now().await;
            gate.halt(why());
        });
        assert!(matches!(waiting, Err(Halted)));
        drop(first);
        assert!(matches!(gate.before_call().await, Err(Halted)));
        assert_eq!(gate.reason(), Some(why()));
    }

    #[tokio::test]
    async fn a_first_call_given_up_lets_another_go_first() {
        let gate = Gate::default();
        drop(gate.before_call().await.expect("pass"));
        let next = tokio::time::timeout(Duration::from_secs(10), gate.before_call()).await;
        let next = next.expect("not stuck").expect("pass");
        assert!(next.pilot.is_some(), "the next caller is the first again");
    }
}
