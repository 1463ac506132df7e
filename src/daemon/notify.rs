//! systemd notifications (`Type=notify`): READY, STATUS, WATCHDOG,
//! RELOADING, STOPPING. Without `$NOTIFY_SOCKET` every call does nothing.

use crate::fetch::progress::{ProgressSink, Snapshot, line_every};
use sd_notify::NotifyState;
use std::time::Duration;
use tracing::debug;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        debug!(error = %e, "sd_notify failed");
    }
}

pub(crate) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub(crate) fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

pub(crate) fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

pub(crate) fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// How often to ping the watchdog: half its timeout, if systemd set one.
pub(crate) fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

/// The progress of a daemon's fire: a log line and `STATUS=` every
/// [`line_every`].
pub(crate) struct FireProgress {
    job: String,
}

impl FireProgress {
    pub(crate) fn new(job: &str) -> FireProgress {
        FireProgress {
            job: job.to_string(),
        }
    }
}

impl ProgressSink for FireProgress {
    fn every(&self) -> Option<Duration> {
        Some(line_every())
    }

    fn show(&self, s: &Snapshot) {
        let (job, text) = (&self.job, s.line());
        tracing::info!(job = %job, progress = %text, "catching up");
        status(&format!("{job}: {text}"));
    }
}
