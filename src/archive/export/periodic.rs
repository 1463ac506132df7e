//! The daemon's own export: with `[export] to`, every `[export] interval`
//! (and once at start) the sealed reports the destination has not received
//! are exported in the background, one run at a time; the gauge
//! `mna_reportd_export_lag_seconds` (how long the oldest sealed report not
//! yet exported has waited) is refreshed after each run and every
//! [`LAG_EVERY`] in between. A failed run is logged and tried again at the
//! next interval; it never stops fetching.

use super::{Destination, ExportError, export, lag, spool};
use crate::archive::store::Store;
use crate::archive::store::exports::ExportFilter;
use crate::config::Config;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How often the lag gauge is refreshed between runs.
pub(crate) const LAG_EVERY: Duration = Duration::from_secs(60);

/// The state of the daemon's export: when it last ran, and the run or lag
/// reading in flight.
#[derive(Default)]
pub(crate) struct Periodic {
    last_run: Option<Instant>,
    last_lag: Option<Instant>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Periodic {
    /// How long the daemon may sleep before [`Periodic::tick`] has work
    /// (a day without `[export] to`).
    pub(crate) fn sleep_for(&self, config: &Config) -> Duration {
        let Some(interval) = config
            .export
            .as_ref()
            .filter(|e| e.to.is_some())
            .map(|e| e.interval)
        else {
            return Duration::from_secs(86_400);
        };
        let until = |last: Option<Instant>, every: Duration| {
            last.map_or(Duration::ZERO, |t| every.saturating_sub(t.elapsed()))
        };
        until(self.last_run, interval).min(until(self.last_lag, LAG_EVERY))
    }

    /// From the daemon's loop: start an export when one is due, else
    /// refresh the lag gauge when that is due; nothing while one runs.
    pub(crate) fn tick(&mut self, store: &Store, config: &Config) {
        let Some((to, interval)) = config
            .export
            .as_ref()
            .and_then(|e| Some((e.to.clone()?, e.interval)))
        else {
            return;
        };
        if self.task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let due =
            |last: Option<Instant>, every: Duration| last.is_none_or(|t| t.elapsed() >= every);
        let (store, spool) = (store.clone(), spool(config));
        if due(self.last_run, interval) {
            self.last_run = Some(Instant::now());
            self.last_lag = self.last_run;
            let dest = super::destination(config, &to, None);
            self.task = Some(tokio::task::spawn_blocking(move || {
                run(&store, dest, &spool)
            }));
        } else if due(self.last_lag, LAG_EVERY) {
            self.last_lag = Some(Instant::now());
            self.task = Some(tokio::task::spawn_blocking(move || {
                if let Ok(dest) = Destination::parse(&to) {
                    set_lag(&store, &dest);
                }
            }));
        }
    }
}

/// One export run to `dest`, logged, then the lag gauge.
fn run(store: &Store, dest: Result<Destination, ExportError>, spool: &std::path::Path) {
    let dest = match dest {
        Ok(d) => d,
        Err(e) => {
            warn!(error = %e, "export: the destination cannot be used; trying again at the next interval");
            return;
        }
    };
    match export(store, &dest, &ExportFilter::default(), spool) {
        Ok(done) if done.reports > 0 => {
            info!(to = %dest, reports = done.reports, rows = done.rows, files = done.files, "exported")
        }
        Ok(_) => {}
        Err(e) => warn!(to = %dest, error = %e, "export failed; trying again at the next interval"),
    }
    set_lag(store, &dest);
}

fn set_lag(store: &Store, dest: &Destination) {
    match lag(store, dest, crate::archive::store::now()) {
        Ok(secs) => metrics::gauge!("mna_reportd_export_lag_seconds").set(secs as f64),
        Err(e) => warn!(error = %e, "export lag: cannot read the history"),
    }
}
