//! The process's signals. SIGINT/SIGTERM turned into cancellation, for
//! `fetch` and the daemon alike: the first stops new work and gives the work
//! in flight a grace period; a second one, or the end of the grace period,
//! abandons it. SIGHUP, for the daemon: reload.

use crate::engine::Control;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::warn;

/// How long reports in flight may finish after the first SIGINT/SIGTERM
/// in `fetch`, where someone waits at the terminal.
pub const FETCH_GRACE: Duration = Duration::from_secs(10);

/// How long reports in flight may finish after the first SIGTERM/SIGINT in
/// the daemon (the systemd units' `TimeoutStopSec` leaves room for it).
pub const DAEMON_GRACE: Duration = Duration::from_secs(20);

/// The SIGHUPs to come (the daemon reloads on each).
pub fn reload_requests() -> std::io::Result<Signal> {
    signal(SignalKind::hangup())
}

/// Which signal stopped the run, if any.
#[derive(Clone)]
pub struct Stopped(Arc<AtomicI32>);

impl Stopped {
    pub fn stopped(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }
}

/// Watch SIGINT and SIGTERM for `ctl`: the first cancels `ctl.stop`, the
/// second or the end of `grace` cancels `ctl.abort`. An error if the
/// handlers cannot be installed (the signals then kill the process outright).
pub fn stop_on_signal(ctl: Control, grace: Duration) -> std::io::Result<Stopped> {
    let stopped = Stopped(Arc::new(AtomicI32::new(0)));
    let flag = stopped.0.clone();
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let first = tokio::select! {
            _ = int.recv() => libc::SIGINT,
            _ = term.recv() => libc::SIGTERM,
        };
        flag.store(first, Ordering::SeqCst);
        warn!(grace = ?grace, "stopping: no new reports; those in flight get the grace period (signal again to abandon them)");
        ctl.stop.cancel();
        tokio::select! {
            _ = tokio::time::sleep(grace) => {}
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        ctl.abort.cancel();
    });
    Ok(stopped)
}
