//! Fetching planned reports: `api.concurrency` in flight, each claimed in
//! the history, tried with backoff (API call, then download; an expired URL
//! asks the API again), committed durably, and recorded `ok` or `failed`
//! with every try in `attempts`.
//!
//! Stopping: when `stop` is cancelled no new report starts; when `abort` is
//! cancelled the reports in flight are abandoned, their claims given back
//! (`pending`) and their `.part` files removed.

use crate::api::{CallError, Client, Success};
use crate::config::RetrySettings;
use crate::download::{self, DownloadError, Downloaded};
use crate::files::{self, Layout};
use crate::ingest;
use crate::plan::Planned;
use crate::retry::{self, Class};
use crate::store::reports::{self, AttemptKind, AttemptRecord, Claim, Fetched, ReportKey};
use crate::store::{self, Store, StoreError};
use backon::Retryable;
use futures_util::StreamExt;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Cancellation of a run: `stop` starts nothing new, `abort` gives up what runs.
#[derive(Clone, Default)]
pub struct Control {
    pub stop: CancellationToken,
    pub abort: CancellationToken,
}

/// A report that ended `failed`, for the operator.
#[derive(Debug, Clone)]
pub struct Failure {
    pub key: ReportKey,
    pub window: String,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub hint: Option<&'static str>,
    pub attempts: u32,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub ok: usize,
    pub failed: Vec<Failure>,
    /// Already `ok` or `pruned` when their turn came.
    pub already_done: usize,
    /// Being fetched by another process.
    pub busy: usize,
    /// Not started, or abandoned, because of a stop.
    pub interrupted: usize,
    pub bytes: u64,
}

impl Summary {
    pub fn total(&self) -> usize {
        self.ok + self.failed.len() + self.already_done + self.busy + self.interrupted
    }
}

/// A report fetched and committed.
struct Committed {
    request_id: String,
    bytes: u64,
    rows: usize,
}

enum Outcome {
    Ok { bytes: u64 },
    Failed(Box<Failure>),
    Done,
    Busy,
    Interrupted,
}

/// One failed try of a report.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Call(CallError),
    #[error(transparent)]
    Download(DownloadError),
    #[error(transparent)]
    Store(StoreError),
}

impl StepError {
    fn class(&self) -> Class {
        match self {
            StepError::Call(e) => retry::classify_call(e),
            StepError::Download(e) => retry::classify_download(e),
            StepError::Store(_) => Class::Fail,
        }
    }

    fn code(&self) -> String {
        match self {
            StepError::Call(e) => e.code(),
            StepError::Download(e) => e.code().to_string(),
            StepError::Store(_) => "HistoryDatabaseError".to_string(),
        }
    }

    fn request_id(&self) -> Option<String> {
        match self {
            StepError::Call(e) => e.request_id().map(str::to_string),
            _ => None,
        }
    }
}

/// Fetches reports.
#[derive(Clone)]
pub struct Engine {
    client: Client,
    store: Store,
    layout: Layout,
    retry: RetrySettings,
    concurrency: usize,
    /// Reports in flight across every run of this engine (all jobs' fires).
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Engine {
    pub fn new(
        client: Client,
        store: Store,
        layout: Layout,
        retry: RetrySettings,
        concurrency: usize,
    ) -> Engine {
        Engine {
            client,
            store,
            layout,
            retry,
            concurrency: concurrency.max(1),
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Fetch `planned` (oldest first), `concurrency` at a time. `force`
    /// fetches done reports again.
    pub async fn run(&self, planned: Vec<Planned>, force: bool, ctl: &Control) -> Summary {
        let mut seen = HashSet::new();
        let planned: Vec<Planned> = planned
            .into_iter()
            .filter(|p| seen.insert(p.key()))
            .collect();
        let total = planned.len();
        let mut summary = Summary::default();
        let stop = ctl.stop.clone();
        let mut outcomes = futures_util::stream::iter(planned)
            .take_while(move |_| std::future::ready(!stop.is_cancelled()))
            .map(|p| self.one(p, force, ctl))
            .buffer_unordered(self.concurrency);
        while let Some(outcome) = outcomes.next().await {
            match outcome {
                Outcome::Ok { bytes } => {
                    summary.ok += 1;
                    summary.bytes += bytes;
                }
                Outcome::Failed(f) => summary.failed.push(*f),
                Outcome::Done => summary.already_done += 1,
                Outcome::Busy => summary.busy += 1,
                Outcome::Interrupted => summary.interrupted += 1,
            }
        }
        summary.interrupted += total - summary.total();
        summary
    }

    async fn one(&self, p: Planned, force: bool, ctl: &Control) -> Outcome {
        if ctl.stop.is_cancelled() {
            return Outcome::Interrupted;
        }
        let _permit = tokio::select! {
            p = self.permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return Outcome::Interrupted,
            },
            _ = ctl.stop.cancelled() => return Outcome::Interrupted,
        };
        let key = p.key();
        let final_path = self.layout.final_path(
            &p.job.name,
            &p.target,
            p.region,
            p.window,
            p.job.cadence.zone(),
        );
        let part = files::part_path(&final_path);
        let claimed = self.claim(&p, &key, &final_path, force).await;
        let id = match claimed {
            Ok(Ok(id)) => id,
            Ok(Err(outcome)) => return outcome,
            Err(e) => {
                return self
                    .failed(
                        &p,
                        key,
                        None,
                        "HistoryDatabaseError",
                        &e.to_string(),
                        None,
                        0,
                    )
                    .await;
            }
        };
        let prepared = {
            let (dir, part) = (final_path.parent().map(Path::to_path_buf), part.clone());
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                if let Some(dir) = dir {
                    files::create_dirs(&dir)?;
                }
                files::remove_if_exists(&part)
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
        };
        if let Err(e) = prepared {
            let msg = format!("cannot create the report directory: {e}");
            return self
                .failed(&p, key, Some(id), "LocalIoError", &msg, None, 0)
                .await;
        }
        let work = self.fetch_with_retries(&p, id, &final_path);
        let result = tokio::select! {
            r = work => Some(r),
            _ = ctl.abort.cancelled() => None,
        };
        match result {
            None => {
                let _ = files::remove_if_exists(&part);
                let owner = self.store.owner().to_string();
                if let Err(e) = self
                    .store
                    .call(move |c| reports::release(c, id, &owner, store::now()))
                    .await
                {
                    warn!(job = %key.job, error = %e, "could not give back an interrupted report; the next start will");
                }
                info!(job = %key.job, target = %key.target, region = %key.region, window = %p.window_text(), "report interrupted by shutdown; left for the next run");
                Outcome::Interrupted
            }
            Some(Ok(done)) => {
                let attempts = self.attempts_of(id).await;
                metrics::counter!("mna_reportd_reports_total", "job" => key.job.clone(), "outcome" => "ok").increment(1);
                metrics::gauge!("mna_reportd_last_success_timestamp_seconds", "job" => key.job.clone()).set(store::now() as f64);
                info!(
                    job = %key.job, target = %key.target, region = %region_text(&key.region), window = %p.window_text(),
                    attempts, bytes = done.bytes, rows = done.rows, request_id = %done.request_id, "report ok"
                );
                Outcome::Ok { bytes: done.bytes }
            }
            Some(Err(e)) => {
                let attempts = self.attempts_of(id).await;
                let code = e.code();
                let message = e.to_string();
                self.failed(&p, key, Some(id), &code, &message, e.request_id(), attempts)
                    .await
            }
        }
    }

    /// Plan and claim: the report id, or the outcome when it is not ours to fetch.
    async fn claim(
        &self,
        p: &Planned,
        key: &ReportKey,
        final_path: &Path,
        force: bool,
    ) -> Result<Result<i64, Outcome>, StoreError> {
        let (k, granularity, trigger, owner) = (
            key.clone(),
            p.job.granularity.code(),
            p.trigger,
            self.store.owner().to_string(),
        );
        let file = final_path.to_string_lossy().into_owned();
        self.store
            .call(move |c| {
                let now = store::now();
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let (id, status) = reports::plan(&tx, &k, granularity, trigger, now)?;
                if status.is_done() && !force {
                    return Ok(Err(Outcome::Done));
                }
                let claim = reports::claim_in(&tx, id, &owner, force, trigger, &file, now)?;
                tx.commit()?;
                Ok(match claim {
                    Claim::Claimed { .. } => Ok(id),
                    Claim::Done => Err(Outcome::Done),
                    Claim::Busy { .. } => Err(Outcome::Busy),
                })
            })
            .await
    }

    async fn fetch_with_retries(
        &self,
        p: &Planned,
        id: i64,
        final_path: &Path,
    ) -> Result<Committed, StepError> {
        let url: tokio::sync::Mutex<Option<Success>> = tokio::sync::Mutex::new(None);
        let job = p.job.name.clone();
        (|| self.try_once(p, id, final_path, &url))
            .retry(retry::backoff(&self.retry))
            .sleep(tokio::time::sleep)
            .when(|e: &StepError| e.class() == Class::Retry)
            .notify(|e: &StepError, after: Duration| {
                metrics::counter!("mna_reportd_retries_total", "job" => job.clone()).increment(1);
                warn!(job = %job, target = %p.target.label(), window = %p.window_text(), code = %e.code(), error = %e, retry_in = ?after, "try failed; retrying");
            })
            .await
    }

    /// One try: the API call if no URL is in hand, then the download, then
    /// (when it is a readable workbook) the commit. The attempt rows of a try
    /// are written together: with the failure, or in the commit transaction.
    async fn try_once(
        &self,
        p: &Planned,
        id: i64,
        final_path: &Path,
        url: &tokio::sync::Mutex<Option<Success>>,
    ) -> Result<Committed, StepError> {
        let mut url = url.lock().await;
        let mut records = Vec::with_capacity(2);
        let success = match url.as_ref() {
            Some(s) => s.clone(),
            None => {
                let (started, t0) = (store::now(), Instant::now());
                let res = self.client.get_statistic_data(&p.request()).await;
                records.push(AttemptRecord {
                    kind: AttemptKind::Call,
                    started_at: started,
                    duration_ms: t0.elapsed().as_millis() as i64,
                    http_status: match &res {
                        Ok(_) => Some(200),
                        Err(e) => e.http_status(),
                    },
                    error_code: res.as_ref().err().map(CallError::code),
                    error_message: res.as_ref().err().map(ToString::to_string),
                    request_id: match &res {
                        Ok(s) => Some(s.request_id.clone()),
                        Err(e) => e.request_id().map(str::to_string),
                    },
                });
                match res {
                    Ok(s) => {
                        *url = Some(s.clone());
                        s
                    }
                    Err(e) => {
                        self.record(id, records).await?;
                        return Err(StepError::Call(e));
                    }
                }
            }
        };
        let part = files::part_path(final_path);
        let (started, t0) = (store::now(), Instant::now());
        let res = download::fetch(
            self.client.http(),
            &success.file_path,
            &part,
            self.client.timeout(),
        )
        .await;
        let mut download = AttemptRecord {
            kind: AttemptKind::Download,
            started_at: started,
            duration_ms: t0.elapsed().as_millis() as i64,
            http_status: match &res {
                Ok(d) => Some(d.http_status),
                Err(e) => e.http_status(),
            },
            error_code: None,
            error_message: None,
            request_id: Some(success.request_id.clone()),
        };
        let downloaded = match res {
            Ok(d) => d,
            Err(e) => {
                download.error_code = Some(e.code().to_string());
                download.error_message = Some(e.to_string());
                records.push(download);
                self.record(id, records).await?;
                if e.needs_new_url() {
                    *url = None;
                }
                return Err(StepError::Download(e));
            }
        };
        metrics::counter!("mna_reportd_download_bytes_total").increment(downloaded.bytes);
        let mut with_success = records.clone();
        with_success.push(download.clone());
        match self
            .commit(id, &success, &downloaded, final_path, with_success)
            .await
        {
            Ok(Ok(rows)) => Ok(Committed {
                request_id: success.request_id,
                bytes: downloaded.bytes,
                rows,
            }),
            Ok(Err(e)) => {
                let _ = files::remove_if_exists(&part);
                download.error_code = Some(e.code().to_string());
                download.error_message = Some(e.to_string());
                records.push(download);
                self.record(id, records).await?;
                Err(StepError::Download(e))
            }
            Err(e) => {
                let _ = files::remove_if_exists(&part);
                Err(StepError::Store(e))
            }
        }
    }

    /// Append `records` to report `id`'s attempts, in one transaction.
    async fn record(&self, id: i64, records: Vec<AttemptRecord>) -> Result<(), StepError> {
        self.store
            .call(move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let now = store::now();
                for r in &records {
                    reports::record_attempt(&tx, id, r, now)?;
                }
                tx.commit()
            })
            .await
            .map_err(StepError::Store)
    }

    async fn attempts_of(&self, id: i64) -> u32 {
        self.store
            .call(move |c| {
                c.query_row("SELECT attempts FROM reports WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
            })
            .await
            .unwrap_or(0)
    }

    /// In one transaction: read the workbook into `report_rows`, record the
    /// successful download, give the file its final name durably, mark the
    /// report `ok`. A workbook that cannot be read is a failed download
    /// (retried), and nothing of it is kept.
    async fn commit(
        &self,
        id: i64,
        success: &Success,
        d: &Downloaded,
        final_path: &Path,
        records: Vec<AttemptRecord>,
    ) -> Result<Result<usize, DownloadError>, StoreError> {
        let fetched = Fetched {
            request_id: success.request_id.clone(),
            file_path: final_path.to_string_lossy().into_owned(),
            bytes: d.bytes,
            sha256: d.sha256.clone(),
        };
        let (part, final_path) = (d.path.clone(), final_path.to_path_buf());
        self.store
            .call(move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let rows = match ingest::ingest(&tx, id, &part) {
                    Ok(i) => i.rows,
                    Err(e) => return Ok(Err(DownloadError::NotXlsx(e.to_string()))),
                };
                let now = store::now();
                for r in &records {
                    reports::record_attempt(&tx, id, r, now)?;
                }
                // The file is durable under its final name before `ok` is committed.
                if let Err(source) = files::commit(&part, &final_path) {
                    return Ok(Err(DownloadError::Io {
                        what: "rename",
                        source,
                    }));
                }
                reports::mark_ok(&tx, id, &fetched, now)?;
                tx.commit()?;
                Ok(Ok(rows))
            })
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn failed(
        &self,
        p: &Planned,
        key: ReportKey,
        id: Option<i64>,
        code: &str,
        message: &str,
        request_id: Option<String>,
        attempts: u32,
    ) -> Outcome {
        if let Some(id) = id {
            let (c2, m2, r2) = (code.to_string(), message.to_string(), request_id.clone());
            if let Err(e) = self
                .store
                .call(move |c| reports::mark_failed(c, id, &c2, &m2, r2.as_deref(), store::now()))
                .await
            {
                warn!(job = %key.job, error = %e, "could not record a failure in the history");
            }
        }
        metrics::counter!("mna_reportd_reports_total", "job" => key.job.clone(), "outcome" => "failed").increment(1);
        let hint = retry::hint(code);
        warn!(
            job = %key.job, target = %key.target, region = %region_text(&key.region), window = %p.window_text(),
            attempts, code, request_id = request_id.as_deref().unwrap_or("-"), error = %message,
            hint = hint.unwrap_or("-"), "report failed"
        );
        Outcome::Failed(Box::new(Failure {
            window: p.window_text(),
            key,
            code: code.to_string(),
            message: message.to_string(),
            request_id,
            hint,
            attempts,
        }))
    }
}

fn region_text(r: &str) -> &str {
    if r.is_empty() { "ALL" } else { r }
}
