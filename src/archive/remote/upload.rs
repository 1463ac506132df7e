//! One report's upload: from its sealed local file to a verified object,
//! recorded in the history.
//!
//! 1. The object's key is the file's path below the reports directory under
//!    the prefix; its file is opened through the [`ArchiveRoot`] (a row's
//!    path outside the archive is never read).
//! 2. A HEAD first: an object already there with this report's size and
//!    SHA-256 (a crash came after its upload and before its record) is
//!    recorded without being sent again.
//! 3. Else the file streams up ([`Bucket::upload`]); the SHA-256 of the
//!    bytes read must be the one the history recorded at the seal (the
//!    local file is the one that was fetched), and a HEAD after it must
//!    show the size and checksum: only then is the upload recorded.
//!
//! A crash at any point leaves no object, or a complete one that step 2
//! records at the next pass; a multipart upload in flight is noted in the
//! history and aborted at the next start ([`crate::archive::remote::outbox`]).

use super::bucket::{Bucket, BucketError};
use super::meta::Identity;
use crate::archive::root::ArchiveRoot;
use crate::archive::store::outbox::{self, Pending};
use crate::archive::store::{Store, now};

/// How one report's upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Uploaded {
    /// Sent and verified: bytes sent.
    Sent(u64),
    /// Already in the bucket, complete: recorded without sending.
    AlreadyThere,
    /// The report changed meanwhile (refetched, pruned): nothing recorded,
    /// the next pass sees its new state.
    Changed,
}

/// Why one report did not upload.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum UploadError {
    #[error(transparent)]
    Bucket(#[from] BucketError),
    /// The report's own trouble (its file is gone or not the one fetched);
    /// skipped until it changes.
    #[error("report {id}: {why}")]
    Report { id: i64, why: String },
    #[error("the history: {0}")]
    Store(String),
}

fn identity(p: &Pending, sha256: &str) -> Identity {
    Identity {
        job: p.job.clone(),
        target: p.target.clone(),
        region: p.region.clone(),
        granularity: p.granularity,
        window_start: p.window_start,
        window_end: p.window_end,
        sha256: sha256.to_string(),
        request_id: p.request_id.clone(),
        trigger: p.trigger.clone(),
    }
}

/// Whether the object `head` describes is report `p`'s file, complete.
fn is_complete(head: &super::bucket::Head, size: u64, sha256: &str) -> bool {
    head.size == size && head.identity.as_ref().is_some_and(|i| i.sha256 == sha256)
}

/// Upload report `p` (see the module docs).
pub(crate) async fn upload(
    bucket: &Bucket,
    store: &Store,
    root: &ArchiveRoot,
    p: &Pending,
) -> Result<Uploaded, UploadError> {
    let report = |why: String| UploadError::Report { id: p.id, why };
    let (Some(path), Some(sha256)) = (&p.file_path, &p.sha256) else {
        return Err(report("its row records no file or checksum".into()));
    };
    let rel = root.locate(path).map_err(|e| report(e.to_string()))?;
    let key = bucket
        .report_key(&rel)
        .ok_or_else(|| report("its file name is not UTF-8".into()))?;
    let file = root
        .open_file(&rel)
        .map_err(|e| report(format!("cannot open {path}: {e}")))?;
    let size = file
        .metadata()
        .map_err(|e| report(format!("cannot stat {path}: {e}")))?
        .len();
    if p.bytes.is_some_and(|b| b as u64 != size) {
        return Err(report(format!(
            "{path} has {size} bytes, the history recorded {}",
            p.bytes.unwrap_or_default()
        )));
    }
    if let Some(head) = bucket.head(&key).await?
        && is_complete(&head, size, sha256)
    {
        return finish(bucket, store, p.id, sha256, &key, Uploaded::AlreadyThere).await;
    }
    let attributes = identity(p, sha256).attributes();
    let sent = bucket
        .upload(&key, file, size, attributes, Some(store))
        .await?;
    if sent != *sha256 {
        // The file on disk is not the one fetched: the object holds what
        // is on disk, but its metadata names the recorded checksum. Take
        // it back; the report's damage is for `check` to show.
        let _ = bucket.delete(&key).await;
        return Err(report(format!(
            "{path} no longer has the checksum recorded at its fetch"
        )));
    }
    match bucket.head(&key).await? {
        Some(head) if is_complete(&head, size, sha256) => {}
        Some(head) => {
            return Err(BucketError::Down {
                bucket: bucket.url(),
                detail: format!(
                    "{key} has {} bytes after its upload, {size} were sent",
                    head.size
                ),
            }
            .into());
        }
        None => {
            return Err(BucketError::Down {
                bucket: bucket.url(),
                detail: format!("{key} is not there after its upload"),
            }
            .into());
        }
    }
    finish(bucket, store, p.id, sha256, &key, Uploaded::Sent(size)).await
}

/// Record the upload of report `id` to `key` (`done`); when the report
/// changed meanwhile and left the outbox without an upload of record (a
/// prune came while it was sent), the object, which no row would ever
/// name, is deleted.
async fn finish(
    bucket: &Bucket,
    store: &Store,
    id: i64,
    sha256: &str,
    key: &str,
    done: Uploaded,
) -> Result<Uploaded, UploadError> {
    if record(store, id, sha256, key).await? {
        return Ok(done);
    }
    let gone = store
        .on_pool(move |c| outbox::gone_unrecorded(c, id))
        .await
        .map_err(|e| UploadError::Store(e.to_string()))?;
    if gone {
        bucket.delete(key).await?;
    }
    Ok(Uploaded::Changed)
}

async fn record(store: &Store, id: i64, sha256: &str, key: &str) -> Result<bool, UploadError> {
    let (sha256, key) = (sha256.to_string(), key.to_string());
    store
        .on_pool(move |c| outbox::record_uploaded(c, id, &sha256, &key, now()))
        .await
        .map_err(|e| UploadError::Store(e.to_string()))
}
