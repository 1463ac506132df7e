//! `check --probe` with `[storage.remote]`: one small object written below
//! `<prefix>/_probe/`, read back and compared, deleted, and seen gone, so
//! the bucket, its endpoint, the request style and the keys are proven
//! before a run uploads anything. Each step says how long it took; a
//! failure says which step failed, why, and the fix for its kind. Nothing
//! is recorded in the history, and nothing stays in the bucket (a probe
//! cut off between the write and the delete leaves one object of a few
//! bytes below `_probe/`).

use crate::archive::remote::bucket::{Bucket, BucketError};
use crate::archive::remote::reach::RemoteArchive;
use crate::config::Config;
use crate::fetch::setup;
use bytes::Bytes;
use futures_util::StreamExt;
use std::fmt::Write as _;
use std::time::Instant;

/// The most bytes read back (the probe writes a few dozen).
const MAX_READ_BACK: u64 = 4096;

/// The probe's lines, and whether it passed; `None` without
/// `[storage.remote]`.
pub(crate) async fn run(config: &Config) -> Option<(String, bool)> {
    let remote = setup::remote_archive(config);
    let mut out = String::new();
    let bucket = match &remote {
        RemoteArchive::Off => return None,
        RemoteArchive::Unusable(why) => {
            let _ = writeln!(out, "probe: bucket: cannot be used: {}", super::shown(why));
            return Some((out, false));
        }
        RemoteArchive::Open(b) => b,
    };
    let _ = writeln!(
        out,
        "probe: bucket {} (keys from {})",
        super::shown(&bucket.url()),
        bucket.keys_source()
    );
    let ok = match round_trip(bucket, &mut out).await {
        Ok(()) => {
            let _ = writeln!(
                out,
                "probe: bucket ok: it takes, gives back and deletes an object with these keys (nothing left, nothing recorded)"
            );
            true
        }
        Err((step, e)) => {
            let first = e.to_string();
            let first = first.split("\n  fix:").next().unwrap_or_default();
            let _ = writeln!(
                out,
                "probe: bucket failed to {step}: {}",
                super::shown(first)
            );
            let _ = writeln!(out, "  fix: {}", fix(&e, bucket));
            false
        }
    };
    Some((out, ok))
}

/// Write, read back, delete and look again for one object below `_probe/`.
async fn round_trip(bucket: &Bucket, out: &mut String) -> Result<(), (&'static str, BucketError)> {
    let now = jiff::Timestamp::now();
    let name = format!(
        "_probe/{}-{}-{}",
        now.as_second(),
        std::process::id(),
        now.subsec_nanosecond()
    );
    let key = bucket.key(&name);
    let body = Bytes::from(format!("mna-reportd probe {now}\n"));
    let mut step = |what: &str, t0: Instant| {
        let _ = writeln!(
            out,
            "probe: bucket: {what} {key}: took {} ms",
            t0.elapsed().as_millis()
        );
    };
    let t0 = Instant::now();
    bucket
        .put_small(&key, body.clone())
        .await
        .map_err(|e| ("write", e))?;
    step("wrote", t0);
    let t0 = Instant::now();
    let got = read_back(bucket, &key).await;
    // Deleted whatever the read gave.
    let deleted = bucket.delete(&key).await;
    let got = got.map_err(|e| ("read back", e))?;
    step("read back", t0);
    if got != body {
        return Err((
            "read back",
            BucketError::NotFound {
                key: format!("{key} with the bytes written (other bytes came back)"),
            },
        ));
    }
    let t0 = Instant::now();
    deleted.map_err(|e| ("delete", e))?;
    match bucket.head(&key).await.map_err(|e| ("look again", e))? {
        None => step("deleted", t0),
        Some(_) => {
            return Err((
                "delete",
                BucketError::Down {
                    bucket: bucket.url(),
                    detail: format!("{key} is still there after its delete"),
                },
            ));
        }
    }
    Ok(())
}

/// The object at `key`, at most [`MAX_READ_BACK`] bytes of it.
async fn read_back(bucket: &Bucket, key: &str) -> Result<Bytes, BucketError> {
    let got = bucket.get(key).await?;
    if got.size > MAX_READ_BACK {
        return Err(BucketError::NotFound {
            key: format!("{key} as written ({} bytes came back)", got.size),
        });
    }
    let mut stream = got.stream;
    let mut all = Vec::new();
    while let Some(chunk) = stream.next().await {
        all.extend_from_slice(&chunk?);
        if all.len() as u64 > MAX_READ_BACK {
            break;
        }
    }
    Ok(Bytes::from(all))
}

/// What to do about a probe that failed with `e`.
fn fix(e: &BucketError, bucket: &Bucket) -> String {
    match e {
        BucketError::Refused { .. } => format!(
            "the bucket refuses the key from {}: check the access key id and secret, and that the key may write, read and delete below {} (the probe uses its _probe/ folder)",
            bucket.keys_source(),
            super::shown(&bucket.url())
        ),
        BucketError::NoBucket { .. } => {
            "create the bucket, or correct url, endpoint and region in [storage.remote]".to_string()
        }
        BucketError::Down { .. } => {
            "check [storage.remote] endpoint and that this host reaches it (network, proxy, firewall); a MinIO or local server needs path_style = true, COS and AWS need it false; then probe again".to_string()
        }
        BucketError::NotFound { .. } => {
            "the bucket does not give back what it was given: check that endpoint and region are the bucket's own (not a cache or another region's) and path_style".to_string()
        }
        BucketError::Local { .. } => {
            "the object key cannot be made from [storage.remote] url: use s3://bucket/prefix with a plain prefix".to_string()
        }
    }
}
