//! The process's signals. SIGINT/SIGTERM turned into cancellation, for
//! `fetch` and the daemon alike: the first stops new work and gives the work
//! in flight a grace period; a second one, or the end of the grace period,
//! abandons it. SIGHUP, for the daemon: reload.

use crate::fetch::engine::Control;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tracing::warn;

/// How long reports in flight may finish after the first SIGINT/SIGTERM
/// in `fetch`, where someone waits at the terminal.
pub(crate) const FETCH_GRACE: Duration = Duration::from_secs(10);

/// How long reports in flight may finish after the first SIGTERM/SIGINT in
/// the daemon (the systemd units' `TimeoutStopSec` leaves room for it).
pub(crate) const DAEMON_GRACE: Duration = Duration::from_secs(20);

/// The SIGHUPs to come (the daemon reloads on each).
pub(crate) fn reload_requests() -> std::io::Result<Signal> {
    signal(SignalKind::hangup())
}

/// Which signal stopped the run, if any.
#[derive(Clone, Default)]
pub(crate) struct Stopped(Arc<AtomicI32>);

impl Stopped {
    pub(crate) fn stopped(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }
}

/// Watch SIGINT and SIGTERM for `ctl`: the first cancels `ctl.stop`, the
/// second or the end of `grace` cancels `ctl.abort`. An error if the
/// handlers cannot be installed (the signals then kill the process outright).
pub(crate) fn stop_on_signal(ctl: Control, grace: Duration) -> std::io::Result<Stopped> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let n = tokio::select! {
                Some(()) = int.recv() => libc::SIGINT,
                Some(()) = term.recv() => libc::SIGTERM,
                else => break,
            };
            if tx.send(n).is_err() {
                break;
            }
        }
    });
    let stopped = Stopped::default();
    tokio::spawn(two_stages(rx, ctl, grace, stopped.clone()));
    Ok(stopped)
}

/// The two stages over the stop signals (their numbers) as they come.
async fn two_stages(
    mut signals: mpsc::UnboundedReceiver<i32>,
    ctl: Control,
    grace: Duration,
    stopped: Stopped,
) {
    let Some(first) = signals.recv().await else {
        return;
    };
    stopped.0.store(first, Ordering::SeqCst);
    warn!(grace = ?grace, "stopping: no new reports; those in flight get the grace period (signal again to abandon them)");
    ctl.stop.cancel();
    tokio::select! {
        _ = tokio::time::sleep(grace) => {}
        Some(_) = signals.recv() => {}
    }
    ctl.abort.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(10);

    fn started() -> (mpsc::UnboundedSender<i32>, Control, Stopped) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ctl, stopped) = (Control::default(), Stopped::default());
        tokio::spawn(two_stages(rx, ctl.clone(), GRACE, stopped.clone()));
        (tx, ctl, stopped)
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_signal_stops_and_the_end_of_the_grace_period_aborts() {
        let (tx, ctl, stopped) = started();
        assert_eq!(stopped.stopped(), None);
        tx.send(libc::SIGTERM).expect("send");
        ctl.stop.cancelled().await;
        let at = tokio::time::Instant::now();
        assert_eq!(stopped.stopped(), Some(libc::SIGTERM));
        tokio::time::sleep(GRACE - Duration::from_secs(1)).await;
        assert!(
            !ctl.abort.is_cancelled(),
            "aborted before the grace period ended"
        );
        ctl.abort.cancelled().await;
        assert_eq!(at.elapsed(), GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_signal_aborts_at_once() {
        let (tx, ctl, stopped) = started();
        tx.send(libc::SIGINT).expect("send");
        ctl.stop.cancelled().await;
        let at = tokio::time::Instant::now();
        tx.send(libc::SIGTERM).expect("send");
        ctl.abort.cancelled().await;
        assert_eq!(at.elapsed(), Duration::ZERO);
        assert_eq!(
            stopped.stopped(),
            Some(libc::SIGINT),
            "the first signal is the one recorded"
        );
    }
}
