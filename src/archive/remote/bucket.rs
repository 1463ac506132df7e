//! The remote archive's bucket: `s3://bucket/prefix` of `[storage.remote]`,
//! and every operation the program makes on it, by key below the prefix.
//! Object keys are made here only: a report's key is its path below the
//! reports directory ([`RelPath`]) under the prefix, a snapshot's is below
//! `<prefix>/_history/`.
//!
//! An upload of a file streams it in parts of [`PART_BYTES`]: one PUT for
//! a file up to that size, else a multipart upload whose id is noted in
//! the history before the first part is sent (and forgotten once it is
//! completed or aborted), so one a crash leaves is aborted at the next
//! start. Either way no reader ever sees a partial object under a key.
//! Memory stays about two parts, whatever the size of the file.
//!
//! Failures are classed ([`BucketError`]) so the outbox can tell a bucket
//! that is down (try again later) from one that refuses the keys (say so
//! once, with the fix).

use super::client::{self, BucketSettings, ClientError, KeysSource, S3Keys};
use super::meta::Identity;
use crate::archive::root::RelPath;
use crate::archive::store::Store;
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::AmazonS3;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions,
    PutPayload,
};
use std::sync::Arc;
use tokio::io::AsyncReadExt;

mod multipart;
pub(crate) use multipart::INTENT;
use multipart::{forget, note};

/// Size of one part of an upload (and the largest file sent in one PUT).
pub(crate) const PART_BYTES: usize = 8 << 20;

/// The folder of history snapshots below the prefix.
pub(crate) const HISTORY_DIR: &str = "_history";

/// Most objects one listing returns before the caller must stop.
pub(crate) const MAX_LISTING: usize = 10_000_000;

/// Why a bucket operation failed, by what the operator can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BucketError {
    #[error(
        "the bucket {bucket} refuses the key ({detail})\n  fix: check the bucket's access key id and secret ({source_}), and that the key may read and write the bucket"
    )]
    Refused {
        bucket: String,
        source_: String,
        detail: String,
    },
    #[error(
        "the bucket {bucket} does not exist ({detail})\n  fix: create it, or correct url, endpoint and region in [storage.remote]"
    )]
    NoBucket { bucket: String, detail: String },
    #[error("the object {key} is not in the bucket")]
    NotFound { key: String },
    #[error(
        "the bucket {bucket} is unreachable or failing ({detail})\n  fix: nothing, if it is a passing fault: reports wait locally and upload when it answers; else check endpoint and network"
    )]
    Down { bucket: String, detail: String },
    #[error("cannot read the local file {file}: {detail}\n  fix: check the reports directory")]
    Local { file: String, detail: String },
}

impl BucketError {
    /// A short name of the class, for metrics and the page.
    pub(crate) fn class(&self) -> &'static str {
        match self {
            BucketError::Refused { .. } => "refused",
            BucketError::NoBucket { .. } => "no-bucket",
            BucketError::NotFound { .. } => "not-found",
            BucketError::Down { .. } => "down",
            BucketError::Local { .. } => "local",
        }
    }

    /// Whether the bucket as a whole is unusable now (every other upload
    /// would fail the same way), as opposed to one object's trouble.
    pub(crate) fn is_bucket_wide(&self) -> bool {
        matches!(
            self,
            BucketError::Refused { .. } | BucketError::NoBucket { .. } | BucketError::Down { .. }
        )
    }
}

/// The bucket of the remote archive.
#[derive(Clone)]
pub(crate) struct Bucket {
    s3: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
    source: KeysSource,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({})", self.url())
    }
}

/// `s3://bucket[/prefix]` as bucket and prefix (no slashes at its ends).
pub(crate) fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("s3://").unwrap_or(url);
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (bucket.to_string(), prefix.trim_matches('/').to_string())
}

/// The bucket settings of `[storage.remote]`.
pub(crate) fn settings(remote: &crate::config::Remote) -> BucketSettings {
    BucketSettings {
        bucket: split_url(&remote.url).0,
        endpoint: remote.endpoint.clone(),
        region: remote.region.clone(),
        path_style: remote.path_style,
        access_key_id_file: remote.access_key_id_file.clone(),
        secret_access_key_file: remote.secret_access_key_file.clone(),
    }
}

/// Where `[storage.remote]`'s keys come from (for `check`): the source, or
/// why none is complete.
pub(crate) fn keys_source(
    remote: &crate::config::Remote,
    fallback: Option<S3Keys>,
) -> Result<KeysSource, ClientError> {
    let env = |k: &str| std::env::var(k).ok();
    client::find_keys(&settings(remote), &env, fallback).map(|(_, s)| s)
}

impl Bucket {
    /// The bucket of `[storage.remote]`, its keys from the chain of
    /// [`client`] (`fallback` last: the account's key for COS).
    pub(crate) fn open(
        remote: &crate::config::Remote,
        fallback: Option<S3Keys>,
    ) -> Result<Bucket, ClientError> {
        let settings = settings(remote);
        let env = |k: &str| std::env::var(k).ok();
        let (keys, source) = client::find_keys(&settings, &env, fallback)?;
        let s3 = client::build_s3(&settings, &keys)?;
        let (bucket, prefix) = split_url(&remote.url);
        Ok(Bucket {
            s3: Arc::new(s3),
            bucket,
            prefix,
            source,
        })
    }

    /// `s3://bucket/prefix`.
    pub(crate) fn url(&self) -> String {
        match self.prefix.is_empty() {
            true => format!("s3://{}", self.bucket),
            false => format!("s3://{}/{}", self.bucket, self.prefix),
        }
    }

    /// `s3://bucket/key`: an object as people read it.
    pub(crate) fn object_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Where the keys came from.
    pub(crate) fn keys_source(&self) -> &KeysSource {
        &self.source
    }

    /// `name` below the prefix.
    pub(crate) fn key(&self, name: &str) -> String {
        match self.prefix.is_empty() {
            true => name.to_string(),
            false => format!("{}/{name}", self.prefix),
        }
    }

    /// The key of a report file: its path below the reports directory,
    /// under the prefix. `None` for a name that is not UTF-8 (the program
    /// never makes one).
    pub(crate) fn report_key(&self, rel: &RelPath) -> Option<String> {
        let parts = rel
            .to_path()
            .iter()
            .map(|c| c.to_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()?;
        Some(self.key(&parts.join("/")))
    }

    /// The key of the snapshot file `name`.
    pub(crate) fn history_key(&self, name: &str) -> String {
        self.key(&format!("{HISTORY_DIR}/{name}"))
    }

    fn path(key: &str) -> Result<ObjectPath, BucketError> {
        ObjectPath::parse(key).map_err(|e| BucketError::Local {
            file: key.to_string(),
            detail: e.to_string(),
        })
    }

    fn classify(&self, key: &str, e: object_store::Error) -> BucketError {
        let detail = one_line(&e.to_string());
        let bucket = self.bucket.clone();
        match e {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => BucketError::Refused {
                bucket,
                source_: self.source.to_string(),
                detail,
            },
            object_store::Error::NotFound { .. } if detail.contains("NoSuchBucket") => {
                BucketError::NoBucket { bucket, detail }
            }
            object_store::Error::NotFound { .. } => BucketError::NotFound {
                key: key.to_string(),
            },
            _ if detail.contains("InvalidAccessKeyId")
                || detail.contains("SignatureDoesNotMatch")
                || detail.contains("AccessDenied") =>
            {
                BucketError::Refused {
                    bucket,
                    source_: self.source.to_string(),
                    detail,
                }
            }
            _ if detail.contains("NoSuchBucket") => BucketError::NoBucket { bucket, detail },
            _ => BucketError::Down { bucket, detail },
        }
    }

    /// A write's failure: a 404 to a write means the bucket (or, for a
    /// part, the upload) is not there, never the object.
    fn classify_write(&self, key: &str, e: object_store::Error) -> BucketError {
        match self.classify(key, e) {
            BucketError::NotFound { key } => BucketError::NoBucket {
                bucket: self.bucket.clone(),
                detail: format!("404 Not Found to a write of {key}"),
            },
            e => e,
        }
    }

    /// The size and identity of the object at `key`; `None` when there is
    /// none. An object whose metadata is not a report's has identity `None`.
    pub(crate) async fn head(&self, key: &str) -> Result<Option<Head>, BucketError> {
        let opts = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.s3.get_opts(&Self::path(key)?, opts).await {
            Ok(r) => Ok(Some(Head {
                size: r.meta.size,
                identity: Identity::from_attributes(&r.attributes).ok(),
                last_modified: r.meta.last_modified.timestamp(),
            })),
            Err(e) => match self.classify(key, e) {
                BucketError::NotFound { .. } => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Upload `file` (`size` bytes, at most [`PART_BYTES`] read at a time)
    /// to `key` with `attributes`; `journal` notes a multipart upload's id
    /// for as long as it is open. The SHA-256 of the bytes sent.
    pub(crate) async fn upload(
        &self,
        key: &str,
        file: std::fs::File,
        size: u64,
        attributes: Attributes,
        journal: Option<&Store>,
    ) -> Result<String, BucketError> {
        let mut reader = Reader::new(key, file);
        if size <= PART_BYTES as u64 {
            let body = reader.next_part().await?;
            let opts = PutOptions {
                attributes,
                ..PutOptions::default()
            };
            self.s3
                .put_opts(&Self::path(key)?, PutPayload::from(body), opts)
                .await
                .map_err(|e| self.classify_write(key, e))?;
            return reader.finish();
        }
        let path = Self::path(key)?;
        let opts = PutMultipartOptions {
            attributes,
            ..PutMultipartOptions::default()
        };
        // The intent is noted before the upload is created, and replaced by
        // its id once known: a crash in between leaves the intent, and the
        // next start finds the upload by its key ([`Bucket::open_uploads`]).
        let intent = format!("{INTENT}{key}");
        note(journal, None, &intent, key).await?;
        let id = match self.s3.create_multipart_opts(&path, opts).await {
            Ok(id) => id,
            Err(e) => {
                let _ = forget(journal, &intent).await;
                return Err(self.classify_write(key, e));
            }
        };
        if let Err(e) = note(journal, Some(&intent), &id, key).await {
            let _ = self.s3.abort_multipart(&path, &id).await;
            return Err(e);
        }
        let sent = self.send_parts(&path, &id, &mut reader).await;
        let ended = match sent {
            Ok(parts) => self
                .s3
                .complete_multipart(&path, &id, parts)
                .await
                .map(drop)
                .map_err(|e| self.classify_write(key, e)),
            Err(e) => Err(e),
        };
        if ended.is_err() {
            let _ = self.s3.abort_multipart(&path, &id).await;
        }
        let _ = forget(journal, &id).await;
        ended?;
        reader.finish()
    }

    async fn send_parts(
        &self,
        path: &ObjectPath,
        id: &str,
        reader: &mut Reader,
    ) -> Result<Vec<PartId>, BucketError> {
        let mut parts = Vec::new();
        loop {
            let body = reader.next_part().await?;
            if body.is_empty() && !parts.is_empty() {
                return Ok(parts);
            }
            let last = body.len() < PART_BYTES;
            let part = self
                .s3
                .put_part(path, &id.to_string(), parts.len(), PutPayload::from(body))
                .await
                .map_err(|e| self.classify_write(path.as_ref(), e))?;
            parts.push(part);
            if last {
                return Ok(parts);
            }
        }
    }

    /// Abort the multipart upload `upload_id` of `key` (one a crash left).
    pub(crate) async fn abort(&self, key: &str, upload_id: &str) -> Result<(), BucketError> {
        match self
            .s3
            .abort_multipart(&Self::path(key)?, &upload_id.to_string())
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => match self.classify(key, e) {
                BucketError::NotFound { .. } => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Put a small object (`bytes` in memory).
    pub(crate) async fn put_small(&self, key: &str, bytes: Bytes) -> Result<(), BucketError> {
        self.s3
            .put(&Self::path(key)?, PutPayload::from(bytes))
            .await
            .map(drop)
            .map_err(|e| self.classify(key, e))
    }

    /// The object at `key`: its size and a stream of its bytes.
    pub(crate) async fn get(&self, key: &str) -> Result<Download, BucketError> {
        let r = self
            .s3
            .get(&Self::path(key)?)
            .await
            .map_err(|e| self.classify(key, e))?;
        let size = r.meta.size;
        let this = self.clone();
        let key = key.to_string();
        let stream = r
            .into_stream()
            .map(move |c| c.map_err(|e| this.classify(&key, e)))
            .boxed();
        Ok(Download { size, stream })
    }

    /// Delete the object at `key` (nothing there is not an error).
    pub(crate) async fn delete(&self, key: &str) -> Result<(), BucketError> {
        match self.s3.delete(&Self::path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) => match self.classify(key, e) {
                BucketError::NotFound { .. } => Ok(()),
                e => Err(e),
            },
        }
    }

    /// The objects below `name` (a folder below the prefix), in key order,
    /// at most [`MAX_LISTING`].
    pub(crate) fn list(
        &self,
        name: &str,
    ) -> impl futures_util::Stream<Item = Result<Listed, BucketError>> + Send + 'static {
        let under = ObjectPath::from(self.key(name));
        let this = self.clone();
        let at = under.to_string();
        self.s3
            .list(Some(&under))
            .take(MAX_LISTING)
            .map(move |m| match m {
                Ok(m) => Ok(Listed {
                    key: m.location.to_string(),
                    size: m.size,
                    last_modified: m.last_modified.timestamp(),
                }),
                Err(e) => Err(this.classify(&at, e)),
            })
    }
}

/// An object's size and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) size: u64,
    pub(crate) identity: Option<Identity>,
    /// Unix seconds.
    pub(crate) last_modified: i64,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) key: String,
    pub(crate) size: u64,
    /// Unix seconds.
    pub(crate) last_modified: i64,
}

/// An object being read.
pub(crate) struct Download {
    pub(crate) size: u64,
    pub(crate) stream: futures_util::stream::BoxStream<'static, Result<Bytes, BucketError>>,
}

/// A local file read a part at a time, hashed on the way.
struct Reader {
    key: String,
    file: tokio::fs::File,
    hash: sha2::Sha256,
}

impl Reader {
    fn new(key: &str, file: std::fs::File) -> Reader {
        use sha2::Digest;
        Reader {
            key: key.to_string(),
            file: tokio::fs::File::from_std(file),
            hash: sha2::Sha256::new(),
        }
    }

    /// The next [`PART_BYTES`] of the file (fewer at its end).
    async fn next_part(&mut self) -> Result<Bytes, BucketError> {
        use sha2::Digest;
        let mut buf = Vec::with_capacity(PART_BYTES);
        let mut take = (&mut self.file).take(PART_BYTES as u64);
        take.read_to_end(&mut buf)
            .await
            .map_err(|e| BucketError::Local {
                file: self.key.clone(),
                detail: e.to_string(),
            })?;
        self.hash.update(&buf);
        Ok(Bytes::from(buf))
    }

    /// The SHA-256 of everything read.
    fn finish(self) -> Result<String, BucketError> {
        use sha2::Digest;
        Ok(hex::encode(self.hash.finalize()))
    }
}

/// The first line of an error text, bounded (object_store's errors carry
/// the server's body).
fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if s.chars().count() > 300 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_report_path_under_the_prefix() {
        // The client needs a crypto provider (build_s3 installs it; this
        // test builds its store by hand, maybe before any other test did).
        let _ = rustls::crypto::ring::default_provider().install_default();
        assert_eq!(
            split_url("s3://b/a/b/"),
            ("b".to_string(), "a/b".to_string())
        );
        assert_eq!(split_url("s3://b"), ("b".to_string(), String::new()));
        let rel = RelPath::new(std::path::Path::new("job/2026/12/x.xlsx")).expect("rel");
        let parts = |prefix: &str| Bucket {
            s3: Arc::new(
                object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name("b")
                    .with_region("us-east-1")
                    .build()
                    .expect("build"),
            ),
            bucket: "b".into(),
            prefix: prefix.into(),
            source: KeysSource::Environment,
        };
        assert_eq!(
            parts("acct").report_key(&rel).as_deref(),
            Some("acct/job/2026/12/x.xlsx")
        );
        assert_eq!(
            parts("").report_key(&rel).as_deref(),
            Some("job/2026/12/x.xlsx")
        );
        assert_eq!(
            parts("acct").history_key("h.db.gz"),
            "acct/_history/h.db.gz"
        );
        assert_eq!(parts("acct").url(), "s3://b/acct");
    }
}
