//! An export destination in a bucket, `s3://bucket/prefix`: each file is
//! uploaded whole through the bucket client ([`crate::archive::remote::client`]),
//! in one PUT up to [`SINGLE_PUT_BYTES`], else as a multipart upload that
//! the bucket assembles only when it completes (and that is aborted when it
//! fails). Either way no reader sees a partial object under a final key.
//!
//! The exporter is synchronous (it runs on a blocking thread); uploads run
//! on the runtime whose handle was taken when the destination was made.

use super::ExportError;
use crate::archive::remote::client::{self, BucketSettings, S3Keys};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// Files up to this size go in one PUT.
pub(crate) const SINGLE_PUT_BYTES: u64 = 16 << 20;
/// Part size of a multipart upload.
const PART_BYTES: usize = 8 << 20;

/// A bucket and key prefix an export uploads to.
#[derive(Clone)]
pub(crate) struct RemoteDest {
    bucket: String,
    prefix: String,
    store: Option<Arc<dyn ObjectStore>>,
    runtime: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for RemoteDest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteDest({})", self.key())
    }
}

impl RemoteDest {
    /// `s3://bucket[/prefix]`, not connected yet.
    pub(crate) fn parse(url: &str) -> Result<RemoteDest, ExportError> {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(ExportError::Destination(format!(
                "{url:?} names no bucket\n  fix: give s3://bucket/prefix"
            )));
        }
        Ok(RemoteDest {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            store: None,
            runtime: None,
        })
    }

    pub(crate) fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Connect through the client of `settings` (its bucket replaced by
    /// this one's) with `keys`; uploads will run on the current runtime.
    pub(crate) fn connect(
        mut self,
        settings: &BucketSettings,
        keys: &S3Keys,
    ) -> Result<RemoteDest, ExportError> {
        let settings = BucketSettings {
            bucket: self.bucket.clone(),
            ..settings.clone()
        };
        let store =
            client::build(&settings, keys).map_err(|e| ExportError::Remote(e.to_string()))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| ExportError::Remote(e.to_string()))?;
        self.store = Some(store);
        self.runtime = Some(runtime);
        Ok(self)
    }

    /// The URL, without a trailing slash.
    pub(crate) fn key(&self) -> String {
        match self.prefix.as_str() {
            "" => format!("s3://{}", self.bucket),
            p => format!("s3://{}/{p}", self.bucket),
        }
    }

    /// Upload the file at `path` as `<prefix>/<rel>`.
    pub(crate) fn upload(&self, path: &Path, rel: &str) -> Result<(), ExportError> {
        let (Some(store), Some(runtime)) = (&self.store, &self.runtime) else {
            return Err(ExportError::Remote(format!(
                "{} is not connected",
                self.key()
            )));
        };
        let key = match self.prefix.as_str() {
            "" => rel.to_string(),
            p => format!("{p}/{rel}"),
        };
        let location = ObjectPath::parse(&key)
            .map_err(|e| ExportError::Remote(format!("the object key {key:?}: {e}")))?;
        let failed = |e: object_store::Error| {
            ExportError::Remote(format!(
                "cannot upload {} to {}/{key}: {e}\n  fix: check the bucket, its endpoint and the keys, then export again (nothing partial is left under the key)",
                path.display(),
                self.key()
            ))
        };
        let mut file = std::fs::File::open(path).map_err(|e| ExportError::io(path, e))?;
        let len = file.metadata().map_err(|e| ExportError::io(path, e))?.len();
        if len <= SINGLE_PUT_BYTES {
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            file.read_to_end(&mut bytes)
                .map_err(|e| ExportError::io(path, e))?;
            runtime
                .block_on(store.put(&location, PutPayload::from(bytes)))
                .map_err(failed)?;
            return Ok(());
        }
        runtime.block_on(async {
            let upload = store.put_multipart(&location).await.map_err(failed)?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = w.abort().await;
                        return Err(ExportError::io(path, e));
                    }
                };
                if let Err(e) = w.wait_for_capacity(2).await {
                    let _ = w.abort().await;
                    return Err(failed(e));
                }
                w.write(&buf[..n]);
            }
            w.finish().await.map(drop).map_err(failed)
        })
    }
}
