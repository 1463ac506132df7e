//! The tries of one report: the API call (when no file URL is in hand),
//! the download, and the commit; with backoff between tries (`backon`).
//!
//! The commit is one trip to the blocking pool: fsync and check the part
//! file, give it its final name durably (rename, fsync the directory), then,
//! under the history lock, read the workbook into `report_rows`, write the
//! try's attempt rows and mark the report `ok`, in one transaction. The
//! fsyncs happen outside the lock, so the reports in flight overlap them.
//! A try's attempt rows are written together, with its outcome, and count
//! as one try in `reports.attempts`.
//!
//! The rename and the transaction are two resources: a forced refetch over
//! a good file first keeps it as `<final>.prev` ([`crate::archive::store::recover`]),
//! drops that copy once the transaction committed, and puts it back when
//! the transaction fails; a crash in between is settled at the next start.
//! A forced refetch of a report recorded under an older name (an archive
//! from before the injective names) writes the new name; the old file is
//! untouched until the transaction that records the new one has committed,
//! and is then removed, unless another row still records it. Every file is
//! reached through the engine's [`ArchiveRoot`].

use super::Engine;
use super::gate::Gate;
use crate::archive::ingest;
use crate::archive::root::{ArchiveRoot, RelPath};
use crate::archive::store::reports::{self, AttemptKind, AttemptRecord, Fetched};
use crate::archive::store::{self, Store, StoreError};
use crate::fetch::download::{self, DownloadError, Received};
use crate::fetch::plan::Planned;
use crate::fetch::retry::{self, Class};
use crate::tencent::api::{CallError, Success};
use backon::Retryable;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tracing::warn;

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
    pub request_id: String,
    pub bytes: u64,
    pub rows: usize,
    pub attempts: u32,
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
        let failure = match res {
            Ok(received) => {
                let bytes = received.bytes;
                metrics::counter!("mna_reportd_download_bytes_total").increment(bytes);
                let mut all = records.clone();
                all.push(download.clone());
                match self
                    .seal_and_commit(id, &success, received, final_path, all)
                    .await
                {
                    CommitEnd::Committed { rows, attempts } => {
                        tries.store(attempts, Ordering::Relaxed);
                        return Ok(Committed {
                            request_id: success.request_id,
                            bytes,
                            rows,
                            attempts,
                        });
                    }
                    CommitEnd::Store(e) => return Err(StepError::Store(e)),
                    CommitEnd::Rejected(e) => e,
                }
            }
            Err(e) => e,
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
    async fn seal_and_commit(
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
            let at = Commit {
                store: &store,
                archive: &archive,
                id,
                final_path: &final_path,
            };
            at.seal_and_commit(&received, &fetched, &records)
        })
        .await
        .unwrap_or_else(|e| CommitEnd::Store(StoreError::Task(e)))
    }

    /// Append `records`, one try, to report `id`'s attempts, in one
    /// transaction; returns the report's tries so far.
    async fn record(&self, id: i64, records: Vec<AttemptRecord>) -> Result<u32, StepError> {
        self.store
            .on_pool(move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let tries = reports::record_try(&tx, id, &records, store::now())?;
                tx.commit()?;
                Ok(tries)
            })
            .await
            .map_err(StepError::Store)
    }
}

/// Where a commit happens: the history, the archive, the report and its file.
struct Commit<'a> {
    store: &'a Store,
    archive: &'a ArchiveRoot,
    id: i64,
    final_path: &'a RelPath,
}

/// What the transaction of a commit ends with: the rows read, the tries,
/// and the file the report recorded under an older name, to remove.
type Recorded = Result<Result<(usize, u32, Option<String>), DownloadError>, StoreError>;

impl Commit<'_> {
    fn seal_and_commit(
        &self,
        received: &Received,
        fetched: &Fetched,
        records: &[AttemptRecord],
    ) -> CommitEnd {
        let (archive, final_path) = (self.archive, self.final_path);
        let part = &received.path;
        let reject = |e: DownloadError| {
            let _ = archive.remove(part);
            CommitEnd::Rejected(e)
        };
        if let Err(e) = download::seal(archive, received) {
            return reject(e);
        }
        // Read the rows before the file takes its final name: a file that is no
        // workbook never replaces anything (a report fetched again with --force
        // keeps its good file). A small workbook (in memory, rows within their
        // budget) is read here, before the history lock, so reports in flight
        // read theirs side by side; a large one is read as it is stored, inside
        // the transaction, with flat memory.
        let parsed = match received.body.as_deref().map(ingest::parse_rows) {
            Some(Ok(parsed)) => parsed,
            Some(Err(e)) => return reject(DownloadError::from(e)),
            None => None,
        };
        let renamed = std::cell::Cell::new(false);
        let rename = || {
            archive
                .commit(part, final_path)
                .map(|()| renamed.set(true))
                .map_err(|source| DownloadError::Io {
                    what: "rename",
                    source,
                })
        };
        let kept = match self.keep_previous(part) {
            Ok(kept) => kept,
            Err(end) => return end,
        };
        let give_back = |what: &str| self.give_back(kept, renamed.get(), what);
        if parsed.is_some() {
            // Outside the lock: the fsync of the directory overlaps other commits.
            if let Err(e) = rename() {
                give_back("a failed rename");
                return reject(e);
            }
        }
        let committed = self.record(&parsed, part, &rename, fetched, records);
        match committed {
            Ok(Ok((rows, attempts, replaced))) => {
                if let Some(old) = replaced {
                    self.remove_replaced(&old);
                }
                if kept && let Err(e) = archive.drop_previous(final_path) {
                    warn!(file = %archive.absolute(final_path).display(), error = %e, "cannot remove the previous copy of a fetched report; the next start will");
                }
                CommitEnd::Committed { rows, attempts }
            }
            Ok(Err(e)) => {
                give_back("a failed commit");
                reject(e)
            }
            // The history refused the commit. A renamed file over no good one
            // stays: it is whole and checked, and the report, not `ok`, is
            // fetched again later. A good one it replaced is put back.
            Err(e) => {
                give_back("a failed commit");
                let _ = archive.remove(part);
                warn!(file = %archive.absolute(final_path).display(), error = %e, "the history refused the commit of a fetched report");
                CommitEnd::Store(e)
            }
        }
    }

    /// The transaction: the rows (read now from the part file when they
    /// were not read before), the rename if not done yet, the try, `ok`.
    fn record(
        &self,
        parsed: &Option<(usize, Vec<ingest::SheetRow>)>,
        part: &RelPath,
        rename: &dyn Fn() -> Result<(), DownloadError>,
        fetched: &Fetched,
        records: &[AttemptRecord],
    ) -> Recorded {
        let id = self.id;
        self.store.on_thread(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let read = match parsed {
                Some((sheets, rows)) => ingest::store_rows(&tx, id, *sheets, rows),
                None => match self.archive.open_file(part) {
                    Ok(file) => ingest::ingest_file(&tx, id, file),
                    Err(e) => Err(ingest::IngestError::Workbook(e.to_string())),
                },
            };
            let rows = match read {
                Ok(i) => i.rows,
                Err(ingest::IngestError::Store(e)) => return Err(e),
                Err(e) => return Ok(Err(DownloadError::from(e))),
            };
            if parsed.is_none()
                && let Err(e) = rename()
            {
                return Ok(Err(e));
            }
            let now = store::now();
            let attempts = reports::record_try(&tx, id, records, now)?;
            let replaced = store::recover::replaced_file(&tx, id, &fetched.file_path)?;
            reports::mark_ok(&tx, id, fetched, now)?;
            tx.commit()?;
            Ok(Ok((rows, attempts, replaced)))
        })
    }

    /// A forced refetch over a good file keeps it until the history records
    /// the new one: every `ok` report's file is the one its row records.
    /// Whether a copy is kept; on an error, the end of the commit (the part
    /// file removed).
    fn keep_previous(&self, part: &RelPath) -> Result<bool, CommitEnd> {
        let (archive, final_path) = (self.archive, self.final_path);
        store::recover::keep_previous(self.store, archive, self.id, final_path).map_err(|e| {
            let _ = archive.remove(part);
            match e {
                store::recover::KeepError::Store(e) => CommitEnd::Store(e),
                store::recover::KeepError::Io(source) => CommitEnd::Rejected(DownloadError::Io {
                    what: "keep a copy of the previous",
                    source,
                }),
            }
        })
    }

    /// After a failure: the good file a forced refetch kept goes back under
    /// its name (or, never replaced, just loses its copy).
    fn give_back(&self, kept: bool, renamed: bool, what: &str) {
        if !kept {
            return;
        }
        let (archive, final_path) = (self.archive, self.final_path);
        let back = if renamed {
            archive.restore_previous(final_path)
        } else {
            archive.drop_previous(final_path)
        };
        if let Err(e) = back {
            warn!(file = %archive.absolute(final_path).display(), error = %e, "cannot put back the previous report file after {what}; the next start will");
        }
    }

    /// After the commit of a forced refetch that gave the report a new name:
    /// the file under its old name, which no row records any more, goes
    /// (through the archive; an old path outside it is never touched).
    fn remove_replaced(&self, old: &str) {
        match self.archive.locate(old) {
            Ok(rel) if rel != *self.final_path => {
                if let Err(e) = self.archive.remove(&rel) {
                    warn!(file = %old, error = %e, "cannot remove the file a refetched report had under its old name; remove it by hand");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "not removing the old file of a refetched report"),
        }
    }
}
