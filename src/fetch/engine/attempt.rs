//! The tries of one report: the API call (when no file URL is in hand),
//! the download, and the commit; with backoff between tries (`backon`).
//!
//! The commit is one trip to the blocking pool: fsync and check the part
//! file, then the store's seal ([`crate::archive::store::Store::seal`]: the rename and the
//! commit that records the rows, the try and `ok`, with its
//! crash-safety argument). A try's attempt rows are written together, with
//! its outcome, and count as one try in `reports.attempts`.

use super::Engine;
use super::gate::Gate;
use crate::archive::root::RelPath;
use crate::archive::store::reports::{AttemptKind, AttemptRecord, Fetched};
use crate::archive::store::seal::{SealError, SealOrder, Sealed};
use crate::archive::store::{self, StoreError};
use crate::fetch::download::{self, DownloadError, Received};
use crate::fetch::plan::Planned;
use crate::fetch::retry::{self, Class};
use crate::tencent::api::{CallError, Success};
use backon::Retryable;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// One failed try of a report.
#[derive(Debug, thiserror::Error)]
pub(super) enum StepError {
    #[error(transparent)]
    Call(CallError),
    /// A download failure, with the request id of the answer that gave the URL.
    #[error("{0}")]
    Download(DownloadError, String),
    #[error(transparent)]
    Store(StoreError),
    /// The run was halted before this try's call: nothing was sent.
    #[error("the run stopped")]
    Halted,
}

impl StepError {
    pub(super) fn class(&self) -> Class {
        match self {
            StepError::Call(e) => retry::classify_call(e),
            StepError::Download(e, _) => retry::classify_download(e),
            StepError::Store(_) | StepError::Halted => Class::Fail,
        }
    }

    pub(super) fn code(&self) -> String {
        match self {
            StepError::Call(e) => e.code(),
            StepError::Download(e, _) => e.code().to_string(),
            StepError::Store(e) => store_code(e).to_string(),
            StepError::Halted => "RunStopped".to_string(),
        }
    }

    /// What the operator should do about it, for an API error code we know.
    pub(super) fn hint(&self) -> Option<&'static str> {
        match self {
            StepError::Call(CallError::Api(e)) => e.code.kind().hint(),
            StepError::Call(CallError::Unreachable { why, .. }) => Some(why.endpoint_fix()),
            StepError::Download(DownloadError::InternalHost { .. }, _) => {
                Some(crate::tencent::reach::INTERNAL_FIX)
            }
            _ => None,
        }
    }

    pub(super) fn request_id(&self) -> Option<String> {
        match self {
            StepError::Call(e) => e.request_id().map(str::to_string),
            StepError::Download(_, request_id) => Some(request_id.clone()),
            StepError::Store(_) | StepError::Halted => None,
        }
    }
}

/// The code recorded for a history failure.
pub(super) fn store_code(e: &StoreError) -> &'static str {
    match e.damaged() {
        Some(_) => "HistoryDatabaseDamaged",
        None => "HistoryDatabaseError",
    }
}

/// A report fetched and committed.
pub(super) struct Committed {
    pub(crate) request_id: String,
    pub(crate) bytes: u64,
    pub(crate) rows: usize,
    pub(crate) attempts: u32,
}

/// How a try's download ended.
enum Downloaded {
    Committed(Committed),
    /// The download or the file failed: the error, and the download's row
    /// (its error not filled in yet).
    Failed(DownloadError, AttemptRecord),
    Store(StoreError),
}

/// How the blocking part of a commit ended.
enum CommitEnd {
    Committed {
        rows: usize,
        attempts: u32,
    },
    /// The file is not good (fsync, check, rename or workbook failed): nothing kept.
    Rejected(DownloadError),
    Store(StoreError),
}

impl Engine {
    pub(super) async fn fetch_with_retries(
        &self,
        p: &Planned,
        id: i64,
        final_path: &RelPath,
        tries: &AtomicU32,
        gate: &Gate,
    ) -> Result<Committed, StepError> {
        let url: tokio::sync::Mutex<Option<Success>> = tokio::sync::Mutex::new(None);
        let job = p.job.name.clone();
        let halted = gate.halted_token();
        // A halt ends a backoff at once: the next try gives the report back.
        let sleep = move |d: Duration| {
            let halted = halted.clone();
            async move {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = halted.cancelled() => {}
                }
            }
        };
        (|| self.try_once(p, id, final_path, &url, tries, gate))
            .retry(retry::backoff(&self.retry))
            .sleep(sleep)
            .when(|e: &StepError| e.class() == Class::Retry)
            .notify(|e: &StepError, after: Duration| {
                metrics::counter!("mna_reportd_retries_total", "job" => job.clone()).increment(1);
                per_report!(warn, job = %job, target = %p.target.label(), window = %p.window_text(), code = %e.code(), error = %e, retry_in = ?after, "try failed; retrying");
            })
            .await
    }

    /// One try: the API call if no URL is in hand, then the download and the commit.
    async fn try_once(
        &self,
        p: &Planned,
        id: i64,
        final_path: &RelPath,
        url: &tokio::sync::Mutex<Option<Success>>,
        tries: &AtomicU32,
        gate: &Gate,
    ) -> Result<Committed, StepError> {
        let mut url = url.lock().await;
        let mut records = Vec::with_capacity(2);
        let success = match url.as_ref() {
            Some(s) => s.clone(),
            None => {
                let (res, record) = self.call(p, gate).await?;
                records.push(record);
                match res {
                    Ok(s) => {
                        *url = Some(s.clone());
                        s
                    }
                    Err(e) => {
                        tries.store(self.record(id, records).await?, Ordering::Relaxed);
                        return Err(StepError::Call(e));
                    }
                }
            }
        };
        let (failure, mut download) = match self
            .download_and_seal(id, &success, final_path, &records)
            .await
        {
            Downloaded::Committed(done) => {
                tries.store(done.attempts, Ordering::Relaxed);
                return Ok(done);
            }
            Downloaded::Store(e) => return Err(StepError::Store(e)),
            Downloaded::Failed(failure, download) => (failure, download),
        };
        download.error_code = Some(failure.code().to_string());
        download.error_message = Some(failure.to_string());
        records.push(download);
        tries.store(self.record(id, records).await?, Ordering::Relaxed);
        if failure.needs_new_url() {
            *url = None;
        }
        Err(StepError::Download(failure, success.request_id))
    }

    /// The download of a try from the URL `success` gave, and, when it
    /// came whole, the seal; `before` is the try's call row, if any.
    async fn download_and_seal(
        &self,
        id: i64,
        success: &Success,
        final_path: &RelPath,
        before: &[AttemptRecord],
    ) -> Downloaded {
        let part = final_path.part();
        let (started, t0) = (store::now(), Instant::now());
        let res = download::fetch(
            self.client.downloads(),
            &success.file_path,
            &self.archive,
            &part,
            &self.download,
        )
        .await;
        let download = AttemptRecord {
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
        let received = match res {
            Ok(received) => received,
            Err(e) => return Downloaded::Failed(e, download),
        };
        let bytes = received.bytes;
        metrics::counter!("mna_reportd_download_bytes_total").increment(bytes);
        let mut all = before.to_vec();
        all.push(download.clone());
        match self
            .seal_received(id, success, received, final_path, all)
            .await
        {
            CommitEnd::Committed { rows, attempts } => Downloaded::Committed(Committed {
                request_id: success.request_id.clone(),
                bytes,
                rows,
                attempts,
            }),
            CommitEnd::Store(e) => Downloaded::Store(e),
            CommitEnd::Rejected(e) => Downloaded::Failed(e, download),
        }
    }

    /// The API call of a try, once the run's gate lets it go (the first
    /// call of a run goes alone), and its attempt row.
    async fn call(
        &self,
        p: &Planned,
        gate: &Gate,
    ) -> Result<(Result<Success, CallError>, AttemptRecord), StepError> {
        let pass = gate.before_call().await.map_err(|_| StepError::Halted)?;
        let (asked, t_asked) = (store::now(), Instant::now());
        let (res, sent) = self.client.get_statistic_data_timed(&p.request()).await;
        // From the sending moment: the rate limiter's wait is not the call's.
        let (started, t0) = sent.map_or((asked, t_asked), |s| (s.at, s.instant));
        match &res {
            Err(e) if retry::classify_call(e) == Class::StopRun => pass.stopped(),
            _ => pass.answered(),
        }
        let record = AttemptRecord {
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
        };
        Ok((res, record))
    }

    /// The blocking part of a commit (see the module docs).
    async fn seal_received(
        &self,
        id: i64,
        success: &Success,
        received: Received,
        final_path: &RelPath,
        records: Vec<AttemptRecord>,
    ) -> CommitEnd {
        let fetched = Fetched {
            request_id: success.request_id.clone(),
            file_path: self
                .archive
                .absolute(final_path)
                .to_string_lossy()
                .into_owned(),
            bytes: received.bytes,
            sha256: received.sha256.clone(),
        };
        let (store, final_path) = (self.store.clone(), final_path.clone());
        let archive = self.archive.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = download::seal(&archive, &received) {
                let _ = archive.remove(&received.path);
                return CommitEnd::Rejected(e);
            }
            let order = SealOrder {
                id,
                part: &received.path,
                final_path: &final_path,
                body: received.body.as_deref(),
                fetched: &fetched,
                records: &records,
            };
            match store.seal(&archive, &order) {
                Sealed::Committed { rows, attempts } => CommitEnd::Committed { rows, attempts },
                Sealed::Rejected(e) => CommitEnd::Rejected(rejected(e)),
                Sealed::Store(e) => CommitEnd::Store(e),
            }
        })
        .await
        .unwrap_or_else(|e| CommitEnd::Store(StoreError::Task(e)))
    }

    /// Append `records`, one try, to report `id`'s attempts; returns the
    /// report's tries so far.
    async fn record(&self, id: i64, records: Vec<AttemptRecord>) -> Result<u32, StepError> {
        self.store
            .record_attempt(id, records)
            .await
            .map_err(StepError::Store)
    }
}

/// The download failure a file the seal refused is.
fn rejected(e: SealError) -> DownloadError {
    match e {
        SealError::Workbook(e) => DownloadError::from(e),
        SealError::Io { what, source } => DownloadError::Io { what, source },
    }
}
