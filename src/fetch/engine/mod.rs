//! Fetching planned reports: `api.concurrency` in flight, each claimed in
//! the history, tried with backoff (API call, then download; an expired URL
//! asks the API again), committed durably, and recorded `ok` or `failed`
//! with every try in `attempts`.
//!
//! Stopping: when `stop` is cancelled no new report starts; when `abort` is
//! cancelled the reports in flight are abandoned, their claims given back
//! (`pending`) and their `.part` files removed. An error no retry mends
//! stops the run by itself ([`gate`]): the report that met it is recorded
//! failed, those in flight finish or are given back, the rest is untouched.

/// A per-report log line: at `$level`, or at debug when a bar shows the
/// progress and the end of the fetch sums the failures up.
macro_rules! per_report {
    ($level:ident, $($event:tt)*) => {
        if crate::fetch::progress::per_report_lines() {
            tracing::$level!($($event)*)
        } else {
            tracing::debug!($($event)*)
        }
    };
}

mod attempt;
mod ending;
mod gate;
mod permits;

use crate::archive::files;
use crate::archive::root::{ArchiveRoot, RelPath};
use crate::archive::store::claim::{self, ClaimOrder};
use crate::archive::store::{self, Store, StoreError};
use crate::config::RetrySettings;
use crate::domain::report::{RegionScope, ReportKey};
use crate::fetch::end::FailFast;
use crate::fetch::plan::Planned;
use crate::tencent::api::Client;
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Cancellation of a run: `stop` starts nothing new, `abort` gives up what runs.
#[derive(Clone, Default)]
pub(crate) struct Control {
    pub(crate) stop: CancellationToken,
    pub(crate) abort: CancellationToken,
    /// Reports ended so far, for progress.
    pub(crate) tally: std::sync::Arc<Tally>,
}

/// Reports ended so far in the runs of a [`Control`], counted as they end.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) ok: AtomicUsize,
    pub(crate) failed: AtomicUsize,
    /// Ended otherwise: already done, busy elsewhere, interrupted.
    pub(crate) other: AtomicUsize,
}

impl Tally {
    fn count(&self, o: &Outcome) {
        let n = match o {
            Outcome::Ok { .. } => &self.ok,
            Outcome::Failed(_) => &self.failed,
            _ => &self.other,
        };
        n.fetch_add(1, Ordering::Relaxed);
    }

    /// (ok, failed, ended in all).
    pub(crate) fn get(&self) -> (usize, usize, usize) {
        let (ok, failed) = (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        );
        (ok, failed, ok + failed + self.other.load(Ordering::Relaxed))
    }
}

/// A report that ended `failed`, for the operator.
#[derive(Debug, Clone)]
pub(crate) struct ReportFailure {
    pub(crate) key: ReportKey,
    pub(crate) window: String,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) request_id: Option<String>,
    pub(crate) hint: Option<&'static str>,
    pub(crate) attempts: u32,
}

impl ReportFailure {
    /// A failure of `p` without a request id or a hint. A failure can quote
    /// the server or the file (a workbook's text): `message` is made one
    /// line, without escapes.
    fn new(p: &Planned, key: ReportKey, code: &str, message: &str, attempts: u32) -> ReportFailure {
        ReportFailure {
            key,
            window: p.window_text(),
            code: code.to_string(),
            message: crate::domain::text::escape_controls(message).into_owned(),
            request_id: None,
            hint: None,
            attempts,
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) ok: usize,
    pub(crate) failed: Vec<ReportFailure>,
    /// Already `ok` or `pruned` when their turn came.
    pub(crate) already_done: usize,
    /// Being fetched by another process.
    pub(crate) busy: usize,
    /// Those reports, to wait for.
    pub(crate) busy_reports: Vec<Planned>,
    /// Not started, or abandoned, because of a stop (or a damaged history).
    pub(crate) interrupted: usize,
    /// The history database turned out damaged: the run stopped.
    pub(crate) damaged: Option<store::HistoryDamaged>,
    /// An error no retry mends stopped the run.
    pub(crate) fail_fast: Option<FailFast>,
    /// Not started, or given back, because of that stop.
    pub(crate) untouched: usize,
    pub(crate) bytes: u64,
}

impl Summary {
    pub(crate) fn total(&self) -> usize {
        self.ok
            + self.failed.len()
            + self.already_done
            + self.busy
            + self.interrupted
            + self.untouched
    }
}

/// What claiming a report gave; a report of ours stays in flight while its guard lives.
enum Claimed {
    /// Ours, with the tries the history had recorded before.
    Ours(i64, store::InFlight, u32),
    NotOurs(Outcome),
    /// Ours, but its directory cannot be made.
    NoDirectory(
        i64,
        store::InFlight,
        crate::archive::root::ReportDirError,
        u32,
    ),
}

enum Outcome {
    Ok {
        bytes: u64,
    },
    Failed(Box<ReportFailure>),
    Done,
    /// Being fetched by another process: this report, to wait for.
    Busy(Box<Planned>),
    Interrupted,
    /// Not tried, or given back, because the run was halted.
    Untouched,
}

/// Fetches reports.
#[derive(Clone)]
pub(crate) struct Engine {
    client: Client,
    store: Store,
    archive: ArchiveRoot,
    retry: RetrySettings,
    concurrency: usize,
    /// Bounds of each download (timeouts, progress, size).
    download: crate::fetch::download::Limits,
    /// Reports in flight across every run of this engine (all jobs' fires),
    /// and of the engines reloads make of it.
    permits: permits::Permits,
    /// Set when the history database is found damaged: no report starts after.
    damaged: std::sync::Arc<std::sync::OnceLock<store::HistoryDamaged>>,
    /// Set when a claim of ours could not be given back (or its failure
    /// recorded): the end of the run tries again.
    left_claims: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Claims are made one at a time, in the order the reports were taken
    /// (the lock is fair), so that the API calls that follow go oldest first.
    claim_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Engine {
    pub(crate) fn new(
        client: Client,
        store: Store,
        archive: ArchiveRoot,
        retry: RetrySettings,
        concurrency: usize,
    ) -> Engine {
        Engine {
            download: crate::fetch::download::Limits::new(
                client.timeout(),
                crate::config::DEFAULT_MAX_SIZE,
            ),
            client,
            store,
            archive,
            retry,
            concurrency: concurrency.max(1),
            permits: permits::Permits::new(concurrency),
            damaged: Default::default(),
            left_claims: Default::default(),
            claim_turn: Default::default(),
        }
    }

    /// `next` (built from a reloaded config) sharing this engine's permits,
    /// resized to its concurrency (the reports in flight from before the
    /// reload count against the new limit), and what it knows of the
    /// history (damaged, claims left to give back).
    pub(crate) fn reconfigured(&self, next: Engine) -> Engine {
        self.permits.resize(next.concurrency);
        Engine {
            permits: self.permits.clone(),
            damaged: self.damaged.clone(),
            left_claims: self.left_claims.clone(),
            ..next
        }
    }

    /// The largest report file taken (`[storage] max_report_size`).
    pub(crate) fn with_max_report_size(mut self, bytes: u64) -> Engine {
        self.download.max_size = bytes;
        self
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The API client, for the calls that are not reports (device listings).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The rate limiter of every call (it counts the calls sent).
    pub(crate) fn limiter(&self) -> std::sync::Arc<crate::tencent::ratelimit::Limiter> {
        self.client.limiter().clone()
    }

    /// The retry rules of every call.
    pub(crate) fn retry_settings(&self) -> &RetrySettings {
        &self.retry
    }

    /// Fetch `planned` (oldest first), `concurrency` at a time, taking
    /// each report from the iterator only when a place is free: a long range
    /// is never held whole. `force` fetches done reports again. Each report
    /// that ends is counted in `ctl.tally` as it ends.
    pub(crate) async fn run<I>(&self, planned: I, force: bool, ctl: &Control) -> Summary
    where
        I: IntoIterator<Item = Planned>,
        I::IntoIter: Send,
    {
        let mut planned = planned.into_iter();
        // Reports repeated in a plan are repeated within one window.
        let mut window_keys: HashSet<ReportKey> = HashSet::new();
        let mut window = None;
        let taken = AtomicUsize::new(0);
        let mut summary = Summary::default();
        let stop = ctl.stop.clone();
        let gate = gate::Gate::default();
        let halted = gate.halted_token();
        let unique = planned.by_ref().filter(|p| {
            let at = (p.job.name.clone(), p.window);
            if window.as_ref() != Some(&at) {
                window = Some(at);
                window_keys.clear();
            }
            window_keys.insert(p.key())
        });
        let mut outcomes = futures_util::stream::iter(unique)
            .inspect(|_| {
                taken.fetch_add(1, Ordering::Relaxed);
            })
            .take_while(move |_| std::future::ready(!stop.is_cancelled() && !halted.is_cancelled()))
            .map(|p| self.fetch_report(p, force, ctl, &gate))
            .buffer_unordered(self.concurrency);
        while let Some(outcome) = outcomes.next().await {
            ctl.tally.count(&outcome);
            match outcome {
                Outcome::Ok { bytes } => {
                    summary.ok += 1;
                    summary.bytes += bytes;
                }
                Outcome::Failed(f) => summary.failed.push(*f),
                Outcome::Done => summary.already_done += 1,
                Outcome::Busy(p) => {
                    summary.busy += 1;
                    summary.busy_reports.push(*p);
                }
                Outcome::Interrupted => summary.interrupted += 1,
                Outcome::Untouched => summary.untouched += 1,
            }
        }
        drop(outcomes);
        // Taken but not started (a stop), and never taken.
        let taken = taken.load(Ordering::Relaxed);
        let left = taken - summary.total() + planned.count();
        summary.fail_fast = gate.reason();
        if summary.fail_fast.is_some() {
            summary.untouched += left;
        } else {
            summary.interrupted += left;
        }
        summary.damaged = self.damaged.get().cloned();
        if self.left_claims.swap(false, Ordering::Relaxed) {
            self.release_left_claims().await;
        }
        summary
    }

    /// Claim, fetch and record one report (its tries included).
    async fn fetch_report(
        &self,
        p: Planned,
        force: bool,
        ctl: &Control,
        gate: &gate::Gate,
    ) -> Outcome {
        if ctl.stop.is_cancelled() {
            return Outcome::Interrupted;
        }
        if gate.is_halted() {
            return Outcome::Untouched;
        }
        let _permit = tokio::select! {
            p = self.permits.acquire() => match p {
                Some(p) => p,
                None => return Outcome::Interrupted,
            },
            _ = ctl.stop.cancelled() => return Outcome::Interrupted,
        };
        if self.damaged.get().is_some() {
            return Outcome::Interrupted;
        }
        if gate.is_halted() {
            return Outcome::Untouched;
        }
        let key = p.key();
        let final_path = files::report_path(
            &p.job.name,
            &p.target,
            p.region,
            p.window,
            p.job.cadence.zone(),
        );
        let (id, _in_flight, tries) = match self.claim(&p, &key, &final_path, force).await {
            Ok(Claimed::Ours(id, guard, before)) => (id, guard, AtomicU32::new(before)),
            Ok(Claimed::NotOurs(outcome)) => return outcome,
            Ok(Claimed::NoDirectory(id, _guard, e, before)) => {
                let msg = format!("cannot create the report directory: {e}");
                let failure = ReportFailure::new(&p, key, "LocalIoError", &msg, before);
                return self.failed(Some(id), failure, false).await;
            }
            Err(e) => {
                self.note_damage(&e);
                let code = attempt::store_code(&e);
                let failure = ReportFailure::new(&p, key, code, &e.to_string(), 0);
                return self.failed(None, failure, false).await;
            }
        };
        let result = tokio::select! {
            r = self.fetch_with_retries(&p, id, &final_path, &tries, gate) => Some(r),
            _ = ctl.abort.cancelled() => None,
        };
        match result {
            None => {
                self.give_back(id, &key, &final_path).await;
                per_report!(info, job = %key.job, target = %key.target, region = %key.region, window = %p.window_text(), "report interrupted by shutdown; left for the next run");
                Outcome::Interrupted
            }
            Some(Err(attempt::StepError::Halted)) => {
                self.give_back(id, &key, &final_path).await;
                debug!(job = %key.job, target = %key.target, region = %key.region, window = %p.window_text(), "report given back: the run stopped");
                Outcome::Untouched
            }
            Some(Ok(done)) => {
                metrics::counter!("mna_reportd_reports_total", "job" => key.job.clone(), "outcome" => "ok").increment(1);
                metrics::gauge!("mna_reportd_last_success_timestamp_seconds", "job" => key.job.clone()).set(store::now() as f64);
                per_report!(info,
                    job = %key.job, target = %key.target, region = %RegionScope::show_stored(&key.region), window = %p.window_text(),
                    attempts = done.attempts, bytes = done.bytes, rows = done.rows, request_id = %done.request_id, "report ok"
                );
                Outcome::Ok { bytes: done.bytes }
            }
            Some(Err(e)) => self.ended_with(&p, key, id, e, &tries, gate).await,
        }
    }

    /// Plan and claim the report; when it is ours, make its directory. One
    /// trip to the blocking pool.
    async fn claim(
        &self,
        p: &Planned,
        key: &ReportKey,
        final_path: &RelPath,
        force: bool,
    ) -> Result<Claimed, StoreError> {
        let (key, granularity, trigger) = (key.clone(), p.job.granularity.code(), p.trigger);
        let (store, final_path) = (self.store.clone(), final_path.clone());
        let archive = self.archive.clone();
        let file = archive.absolute(&final_path).to_string_lossy().into_owned();
        let planned = p.clone();
        let _turn = self.claim_turn.lock().await;
        let task = tokio::task::spawn_blocking(move || -> Result<Claimed, StoreError> {
            let order = ClaimOrder {
                key: &key,
                granularity,
                trigger,
                file_path: &file,
                force,
            };
            let (id, guard, before) = match store.claim(&order)? {
                claim::Claimed::Ours {
                    id,
                    guard,
                    attempts,
                } => (id, guard, attempts),
                claim::Claimed::Done => return Ok(Claimed::NotOurs(Outcome::Done)),
                claim::Claimed::Busy => {
                    return Ok(Claimed::NotOurs(Outcome::Busy(Box::new(planned))));
                }
            };
            // A part file a dead claimant left is truncated when the download starts.
            Ok(match archive.create_dirs(&final_path) {
                Ok(()) => Claimed::Ours(id, guard, before),
                Err(e) => Claimed::NoDirectory(id, guard, e, before),
            })
        });
        task.await.map_err(StoreError::Task)?
    }

    /// Give back the claims of ours that no report in flight holds (a
    /// release or a failure record failed), so that no report stays
    /// `running` after this run.
    async fn release_left_claims(&self) {
        match self.store.release_left_claims().await {
            Ok(n) => info!(
                released = n,
                "gave back the reports a failed release left running"
            ),
            Err(e) => {
                self.left_claims.store(true, Ordering::Relaxed);
                warn!(error = %e, "could not give back reports left running; the next start will");
            }
        }
    }

    /// Remember a damaged history: the reports not started yet are not.
    fn note_damage(&self, e: &StoreError) {
        if let Some(d) = e.damaged()
            && self.damaged.set(d.clone()).is_ok()
        {
            tracing::error!(error = %d, "the history database is damaged; no further report starts");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    fn engine_with(dir: &Path, store: Store, concurrency: usize) -> Engine {
        let path = dir.join(format!("config-{concurrency}.toml"));
        std::fs::write(
            &path,
            format!(
                "[api]\nendpoint = \"http://127.0.0.1:9\"\nconcurrency = {concurrency}\n\n[storage]\nstate_dir = \"{}\"\n\n[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\n",
                dir.join("state").display()
            ),
        )
        .expect("config");
        let config = crate::config::load(&path).expect("config");
        let found =
            crate::tencent::credentials::Found::Static(crate::tencent::credentials::Credentials {
                secret_id: "id".into(),
                secret_key: "key".to_string().into(),
                token: None,
            });
        let limiter = crate::fetch::setup::limiter(&config);
        crate::fetch::setup::engine(&config, found, store, limiter).expect("engine")
    }

    #[tokio::test]
    async fn a_reloaded_engine_shares_the_permits_of_the_reports_in_flight() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&d.path().join("state/history.db")).expect("store");
        let before = engine_with(d.path(), store.clone(), 2);
        let in_flight = [
            before.permits.acquire().await.expect("permit"),
            before.permits.acquire().await.expect("permit"),
        ];
        let after = before.reconfigured(engine_with(d.path(), store, 2));
        // the two reports in flight from before the reload still count
        let next = tokio::time::timeout(Duration::from_millis(50), after.permits.acquire()).await;
        assert!(next.is_err(), "a third report would start");
        drop(in_flight);
        let next = tokio::time::timeout(Duration::from_secs(10), after.permits.acquire()).await;
        assert!(next.is_ok_and(|p| p.is_some()));
    }
}
