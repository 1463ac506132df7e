//! Signals turned into cancellation: the first SIGINT/SIGTERM stops new work
//! and gives the work in flight a grace period; a second one, or the end of
//! the grace period, abandons it.

use crate::run::engine::Control;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tracing::warn;

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

/// Watch SIGINT and SIGTERM for `ctl`.
pub fn stop_on_signal(ctl: Control, grace: Duration) -> Stopped {
    let stopped = Stopped(Arc::new(AtomicI32::new(0)));
    let flag = stopped.0.clone();
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        warn!("cannot install signal handlers; SIGINT/SIGTERM will kill the process outright");
        return stopped;
    };
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
    stopped
}
