//! The upload outbox: the task that takes every sealed report to the
//! bucket, and then, once `keep_local` has passed, removes its local copy.
//!
//! A report is in the outbox from its seal until its upload is recorded
//! ([`crate::archive::store::outbox`]). The task sleeps until a report is
//! sealed ([`Store::sealed`]), a local copy is due to go, or a retry after
//! a failure is due: it never polls. At its start it aborts the multipart
//! uploads a crash left (their ids were noted before their first part).
//!
//! A bucket that is down, slow or refusing never stops fetching: reports
//! stay `ok` locally and wait; the task tries again with exponential
//! backoff (1 s doubling to [`MAX_BACKOFF`]), and its [`UploadStatus`]
//! says why and how many wait (for `/healthz`, the page, `status`). A
//! refusal of the keys is logged once with its fix, not per report.
//!
//! Local copies go through the [`ArchiveRoot`] only, and only when the
//! history still records the uploaded file: the row's path is cleared
//! first (a crash then leaves a stray file, never a row without its file
//! and without its upload).

use super::bucket::{Bucket, BucketError};
use super::upload::{UploadError, Uploaded, upload};
use crate::archive::root::ArchiveRoot;
use crate::archive::store::outbox::{self, Kept};
use crate::archive::store::{Store, now};
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Reports read from the outbox at a time.
const BATCH: i64 = 256;
/// Uploads in flight at once.
const PARALLEL: usize = 4;
/// The longest wait between tries while the bucket fails.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The first wait after a failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// What the outbox says of itself, for `/healthz`, the page and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UploadState {
    /// Reports waiting for their upload (as of the last pass).
    pub(crate) backlog: u64,
    /// The bucket-wide failure of the last pass (its text has the fix),
    /// since when (Unix seconds), and its class; `None` once a pass went
    /// through.
    pub(crate) problem: Option<(String, i64, &'static str)>,
    /// Reports uploaded, found already there, and failed, since start.
    pub(crate) sent: u64,
    pub(crate) already: u64,
    pub(crate) failed: u64,
    /// Bytes sent since start.
    pub(crate) bytes: u64,
}

/// The outbox's state, shared with whoever shows it.
#[derive(Debug, Default)]
pub(crate) struct UploadStatus(Mutex<UploadState>);

impl UploadStatus {
    pub(crate) fn get(&self) -> UploadState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut UploadState)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Pass {
    pub(crate) sent: u64,
    pub(crate) bytes: u64,
    pub(crate) already: u64,
    /// Reports skipped for their own trouble, and one such trouble.
    pub(crate) skipped: u64,
    pub(crate) example: Option<String>,
    /// The bucket-wide failure that ended the pass early.
    pub(crate) problem: Option<BucketError>,
    /// Reports still waiting after the pass.
    pub(crate) backlog: u64,
}

/// The outbox of one process.
#[derive(Clone)]
pub(crate) struct Outbox {
    bucket: Bucket,
    store: Store,
    root: ArchiveRoot,
    keep_local: Option<Duration>,
    status: Arc<UploadStatus>,
    /// Whether a bucket-wide failure is logged (the daemon) or left to the
    /// caller to say once (a `fetch` prints it at its end).
    log_problems: bool,
}

impl Outbox {
    pub(crate) fn new(
        bucket: Bucket,
        store: Store,
        root: ArchiveRoot,
        keep_local: Option<Duration>,
    ) -> Outbox {
        Outbox {
            bucket,
            store,
            root,
            keep_local,
            status: Arc::default(),
            log_problems: true,
        }
    }

    /// An outbox whose bucket-wide failures are not logged: its caller
    /// says them once.
    pub(crate) fn quiet(mut self) -> Outbox {
        self.log_problems = false;
        self
    }

    pub(crate) fn status(&self) -> Arc<UploadStatus> {
        self.status.clone()
    }

    pub(crate) fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// Abort the multipart uploads the history notes that no live process
    /// is sending: those a crash left, and those a task of this process
    /// dropped (an upload of another live process, the daemon's while a
    /// `fetch` starts, is its own).
    pub(crate) async fn abort_leftovers(&self) {
        let open = match self.store.on_pool(|c| outbox::open_multiparts(c)).await {
            Ok(o) => o,
            Err(e) => return warn!(error = %e, "cannot read the multipart uploads left open"),
        };
        let ours = self.store.owner().to_string();
        let left = open
            .into_iter()
            .filter(|m| m.owner == ours || !crate::archive::holder::is_alive(&m.owner));
        for m in left {
            if m.upload_id.starts_with(super::bucket::INTENT) {
                self.abort_by_key(&m.remote_key, &m.upload_id).await;
                continue;
            }
            match self.bucket.abort(&m.remote_key, &m.upload_id).await {
                Ok(()) => {
                    info!(key = %m.remote_key, "aborted a multipart upload a crash left");
                    let id = m.upload_id.clone();
                    let _ = self
                        .store
                        .on_pool(move |c| outbox::end_multipart(c, &id))
                        .await;
                }
                Err(e) => {
                    warn!(key = %m.remote_key, error = %e, "cannot abort a multipart upload a crash left; the next start tries again")
                }
            }
        }
    }

    /// A crash came between the creation of a multipart upload of `key`
    /// and the note of its id: find it by its key and abort it.
    async fn abort_by_key(&self, key: &str, note: &str) {
        let found = match self.bucket.open_uploads(key).await {
            Ok(f) => f,
            Err(e) => {
                return warn!(key = %key, error = %e, "cannot list the multipart uploads a crash may have left; the next start tries again");
            }
        };
        for (k, id) in found.iter().filter(|(k, _)| k == key) {
            match self.bucket.abort(k, id).await {
                Ok(()) => info!(key = %k, "aborted a multipart upload a crash left"),
                Err(e) => {
                    return warn!(key = %k, error = %e, "cannot abort a multipart upload a crash left; the next start tries again");
                }
            }
        }
        let note = note.to_string();
        let _ = self
            .store
            .on_pool(move |c| outbox::end_multipart(c, &note))
            .await;
    }

    /// Upload every report waiting, [`PARALLEL`] at a time; stop early at a
    /// bucket-wide failure.
    pub(crate) async fn pass(&self) -> Pass {
        let mut pass = Pass::default();
        let mut after = 0;
        'batches: loop {
            let batch = match self
                .store
                .on_pool(move |c| outbox::pending(c, after, BATCH))
                .await
            {
                Ok(b) => b,
                Err(e) => {
                    error!(error = %e, "cannot read the upload outbox");
                    break;
                }
            };
            let Some(last) = batch.last() else { break };
            after = last.id;
            let mut results = futures_util::stream::iter(batch)
                .map(|p| async move {
                    (
                        p.id,
                        upload(&self.bucket, &self.store, &self.root, &p).await,
                    )
                })
                .buffer_unordered(PARALLEL);
            while let Some((id, r)) = results.next().await {
                match r {
                    Ok(Uploaded::Sent(n)) => {
                        pass.sent += 1;
                        pass.bytes += n;
                        metrics::counter!("mna_reportd_uploads_total", "outcome" => "sent")
                            .increment(1);
                        metrics::counter!("mna_reportd_upload_bytes_total").increment(n);
                    }
                    Ok(Uploaded::AlreadyThere) => {
                        pass.already += 1;
                        metrics::counter!("mna_reportd_uploads_total", "outcome" => "already-there").increment(1);
                    }
                    Ok(Uploaded::Changed) => {}
                    Err(UploadError::Bucket(e)) if e.is_bucket_wide() => {
                        metrics::counter!("mna_reportd_uploads_total", "outcome" => "failed")
                            .increment(1);
                        pass.problem.get_or_insert(e);
                    }
                    Err(e) => {
                        pass.skipped += 1;
                        pass.example.get_or_insert_with(|| e.to_string());
                        metrics::counter!("mna_reportd_uploads_total", "outcome" => "failed")
                            .increment(1);
                        warn!(report = id, error = %e, "report not uploaded; it stays in the outbox");
                    }
                }
            }
            if pass.problem.is_some() {
                break 'batches;
            }
        }
        pass.backlog = self.backlog().await;
        self.status.update(|s| {
            s.backlog = pass.backlog;
            s.sent += pass.sent;
            s.bytes += pass.bytes;
            s.already += pass.already;
            s.failed += pass.skipped + u64::from(pass.problem.is_some());
        });
        pass
    }

    /// Reports waiting, also set as `mna_reportd_upload_backlog`.
    pub(crate) async fn backlog(&self) -> u64 {
        let n = self
            .store
            .on_pool(|c| outbox::backlog(c))
            .await
            .map(|b| b.iter().map(|j| j.reports).sum())
            .unwrap_or(0);
        metrics::gauge!("mna_reportd_upload_backlog").set(n as f64);
        n
    }

    /// Remove the local copies whose `keep_local` has passed. When the next
    /// one is due (`None`: none is kept, or no `keep_local`).
    pub(crate) async fn expire_local(&self) -> Option<Duration> {
        let keep = self.keep_local?;
        let keep_secs = i64::try_from(keep.as_secs()).unwrap_or(i64::MAX);
        loop {
            let before = now().saturating_sub(keep_secs);
            let due = self
                .store
                .on_pool(move |c| outbox::kept_before(c, before, BATCH))
                .await
                .unwrap_or_default();
            if due.is_empty() {
                break;
            }
            let n = due.len();
            for k in due {
                self.forget_local(k).await;
            }
            if n < BATCH as usize {
                break;
            }
        }
        let oldest = self
            .store
            .on_pool(|c| outbox::oldest_kept(c))
            .await
            .ok()??;
        let wait = oldest
            .saturating_add(keep_secs)
            .saturating_sub(now())
            .max(1);
        Some(Duration::from_secs(wait as u64))
    }

    async fn forget_local(&self, k: Kept) {
        let rel = match self.root.locate(&k.file_path) {
            Ok(r) => r,
            Err(e) => return warn!(report = k.id, error = %e, "not removing a local copy"),
        };
        let path = k.file_path.clone();
        match self
            .store
            .on_pool(move |c| outbox::forget_local(c, k.id, &path))
            .await
        {
            Ok(true) => {
                if let Err(e) = self.root.remove(&rel) {
                    warn!(file = %k.file_path, error = %e, "cannot remove an uploaded report's local copy; remove it by hand");
                }
            }
            Ok(false) => {}
            Err(e) => warn!(report = k.id, error = %e, "cannot record the removal of a local copy"),
        }
    }

    /// Note a pass's end in the status and the log: a bucket-wide failure
    /// once when it begins (and when its class changes), its end once.
    fn note(&self, pass: &Pass) {
        let text = pass.problem.as_ref().map(ToString::to_string);
        let class = pass.problem.as_ref().map(BucketError::class);
        let before = self.status.get().problem.map(|p| p.2);
        match (&text, before) {
            (Some(t), b) if b != class && self.log_problems => {
                error!(waiting = pass.backlog, error = %t, "the bucket fails: reports wait locally and upload when it answers");
            }
            (None, Some(_)) if self.log_problems => {
                info!("the bucket answers again; uploads resumed")
            }
            _ => {}
        }
        if pass.sent + pass.already > 0 {
            info!(
                sent = pass.sent,
                bytes = pass.bytes,
                already_there = pass.already,
                waiting = pass.backlog,
                "uploaded"
            );
        }
        self.status.update(|s| {
            s.problem = match (text, class) {
                (Some(t), Some(c)) => Some((t, s.problem.as_ref().map_or(now(), |p| p.1), c)),
                _ => None,
            }
        });
    }

    /// The daemon's task: passes until `stop`, sleeping until a report is
    /// sealed, a local copy is due, or a retry is due.
    pub(crate) async fn run(self, stop: CancellationToken) {
        self.abort_leftovers().await;
        let sealed = self.store.sealed();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let pass = self.pass().await;
            self.note(&pass);
            let expire = self.expire_local().await;
            let retry = match pass.problem.is_some() || pass.skipped > 0 && pass.backlog > 0 {
                true => {
                    let wait = jitter(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    Some(wait)
                }
                false => {
                    backoff = FIRST_BACKOFF;
                    None
                }
            };
            let wait = [retry, expire].into_iter().flatten().min();
            tokio::select! {
                _ = sealed.notified() => {}
                _ = sleep_or_forever(wait) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// For `fetch`: pass over the outbox until it is empty, a bucket-wide
    /// failure repeats `tries` times, or only reports with their own
    /// trouble are left.
    pub(crate) async fn drain(&self, tries: u32) -> Pass {
        self.abort_leftovers().await;
        let mut backoff = FIRST_BACKOFF;
        let mut total = Pass::default();
        for i in 0..tries.max(1) {
            let pass = self.pass().await;
            self.note(&pass);
            total.sent += pass.sent;
            total.bytes += pass.bytes;
            total.already += pass.already;
            total.skipped = pass.skipped;
            total.example = pass.example.clone();
            total.backlog = pass.backlog;
            total.problem = pass.problem.clone();
            if pass.problem.is_none() || i + 1 == tries {
                break;
            }
            tokio::time::sleep(jitter(backoff)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.expire_local().await;
        total
    }
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        Some(w) => tokio::time::sleep(w).await,
        None => std::future::pending().await,
    }
}

/// `d` less up to a quarter, so instances sharing a bucket spread out.
fn jitter(d: Duration) -> Duration {
    let quarter = d.as_millis() as u64 / 4;
    if quarter == 0 {
        return d;
    }
    d.saturating_sub(Duration::from_millis(fastrand::u64(0..quarter)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_takes_off_at_most_a_quarter() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(8));
            assert!(j <= Duration::from_secs(8) && j > Duration::from_secs(6));
        }
        assert_eq!(jitter(Duration::from_millis(3)), Duration::from_millis(3));
    }
}
