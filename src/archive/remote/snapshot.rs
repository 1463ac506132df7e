//! History snapshots in the bucket: [`take`] copies `history.db` with
//! SQLite's online backup ([`crate::archive::store::backup`]) into a
//! scratch file of the state directory, compresses it (gzip), uploads it
//! streaming to `<prefix>/_history/history-<UTC YYYYMMDDTHHMMSSZ>.db.gz`
//! (names sort by time), checks the object's size, records it in the
//! `snapshots` table, and keeps the newest `snapshot_keep` in the bucket
//! ([`prune`]). Memory stays flat: the copy goes page by page to disk, the
//! compression and the upload a buffer at a time. [`newest`] and
//! [`download`] are `restore`'s way back.

pub(crate) mod timer;

use super::bucket::{Bucket, BucketError, Listed};
use super::spool::Spool;
use crate::archive::store::{Store, StoreError, backup, outbox, snapshots};
use futures_util::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use object_store::{Attribute, AttributeValue, Attributes};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Bytes read or written at a time while compressing.
const BUFFER: usize = 256 << 10;

/// Why a snapshot or its download failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Bucket(#[from] BucketError),
    #[error("{what} {}: {source}\n  fix: check that the state directory is writable and has room", path.display())]
    Local {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the snapshot {key} in the bucket is {found} bytes, {sent} were sent\n  fix: nothing if it is a passing fault: the next snapshot tries again; else check the bucket"
    )]
    Short { key: String, sent: u64, found: u64 },
    #[error(
        "the snapshot {name} is not a whole gzip file ({detail})\n  fix: give another with --from: an older one below _history/ of the bucket, or a file"
    )]
    Corrupt { name: String, detail: String },
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A snapshot written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Taken {
    pub(crate) key: String,
    /// Unix seconds.
    pub(crate) taken_at: i64,
    /// The database's size, and the object's.
    pub(crate) db_bytes: u64,
    pub(crate) bytes: u64,
    /// Older snapshots deleted from the bucket, and those left.
    pub(crate) pruned: Pruned,
}

/// What [`prune`] did: the snapshots kept and the keys deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub(crate) kept: usize,
    pub(crate) deleted: Vec<String>,
}

/// The object name of a snapshot taken at `t`.
pub(crate) fn name_at(t: Timestamp) -> String {
    format!("history-{}.db.gz", t.strftime("%Y%m%dT%H%M%SZ"))
}

/// When the snapshot named `name` (the last part of its key) was taken;
/// `None` for a name that is not a snapshot's.
pub(crate) fn taken_at(name: &str) -> Option<Timestamp> {
    let stamp = name.strip_prefix("history-")?.strip_suffix(".db.gz")?;
    if stamp.len() != 16 || !stamp.is_ascii() {
        return None;
    }
    jiff::fmt::strtime::parse("%Y%m%dT%H%M%SZ", stamp)
        .ok()?
        .to_datetime()
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

fn local(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Local { what, path, source }
}

/// Write a snapshot of the history at `db` (whose store is `store`) to the
/// bucket now, then keep the newest `keep` there.
pub(crate) async fn take(
    store: &Store,
    db: &Path,
    state_dir: &Path,
    bucket: &Bucket,
    keep: u32,
) -> Result<Taken, SnapshotError> {
    let spool = Spool::new(state_dir, "snapshot").map_err(local("cannot use", state_dir))?;
    let now = Timestamp::now();
    let (copy, gz) = (spool.file(".db"), spool.file(".db.gz"));
    let src = db.to_path_buf();
    let started = std::time::Instant::now();
    let (copied, bytes) = tokio::task::spawn_blocking(move || {
        let copied = backup::backup(&src, &copy)?;
        tracing::debug!(bytes = copied.bytes, took = ?started.elapsed(), "snapshot: history copied");
        let bytes = compress(&copy, &gz)?;
        tracing::debug!(bytes, took = ?started.elapsed(), "snapshot: copy compressed");
        std::fs::remove_file(&copy).map_err(local("cannot remove", &copy))?;
        Ok::<_, SnapshotError>((copied, bytes))
    })
    .await??;
    let gz = spool.file(".db.gz");
    let file = std::fs::File::open(&gz).map_err(local("cannot read", &gz))?;
    let key = bucket.history_key(&name_at(now));
    abort_stale_uploads(bucket, now).await;
    // Not noted in the history: the outbox aborts the uploads noted there
    // when a process starts, and a `fetch` may start while the daemon
    // writes a snapshot. One a crash leaves is aborted by a later snapshot.
    bucket
        .upload(&key, file, bytes, attributes(now), None)
        .await?;
    tracing::debug!(key, took = ?started.elapsed(), "snapshot: uploaded");
    match bucket.head(&key).await? {
        Some(h) if h.size == bytes => {}
        found => {
            return Err(SnapshotError::Short {
                key,
                sent: bytes,
                found: found.map_or(0, |h| h.size),
            });
        }
    }
    drop(spool);
    let (k, at) = (key.clone(), now.as_second());
    store
        .on_pool(move |c| outbox::record_snapshot(c, &k, at, bytes))
        .await?;
    let pruned = prune(store, bucket, keep).await?;
    Ok(Taken {
        key,
        taken_at: now.as_second(),
        db_bytes: copied.bytes,
        bytes,
        pruned,
    })
}

/// A snapshot upload begun this long before another one is taken is
/// left by a crash (or a link slower than any history needs).
pub(crate) const STALE_UPLOAD: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Abort the multipart uploads of snapshots begun over [`STALE_UPLOAD`]
/// before `now` (a crash left them; the bucket would keep their parts).
/// A failure is logged: the next snapshot tries again.
async fn abort_stale_uploads(bucket: &Bucket, now: Timestamp) {
    let prefix = bucket.history_key("history-");
    let open = match bucket.open_uploads(&prefix).await {
        Ok(o) => o,
        Err(e) => {
            return tracing::warn!(error = %e, "cannot list the snapshot uploads left open");
        }
    };
    let cutoff = now.as_second() - STALE_UPLOAD.as_secs() as i64;
    for (key, id) in open {
        let stale = taken_at(last_part(&key)).is_some_and(|t| t.as_second() < cutoff);
        if !stale {
            continue;
        }
        match bucket.abort(&key, &id).await {
            Ok(()) => tracing::info!(key, "aborted a snapshot upload a crash left"),
            Err(e) => {
                tracing::warn!(key, error = %e, "cannot abort a snapshot upload a crash left")
            }
        }
    }
}

/// The object's attributes: a gzip file, and when it was taken.
fn attributes(at: Timestamp) -> Attributes {
    let mut a = Attributes::new();
    a.insert(
        Attribute::ContentType,
        AttributeValue::from("application/gzip"),
    );
    a.insert(
        Attribute::Metadata("taken-at".into()),
        AttributeValue::from(at.to_string()),
    );
    a
}

/// gzip `from` into a new file `to`; the compressed size.
fn compress(from: &Path, to: &Path) -> Result<u64, SnapshotError> {
    let input = std::fs::File::open(from).map_err(local("cannot read", from))?;
    let output =
        crate::archive::files::create_private_new(to).map_err(local("cannot create", to))?;
    let mut gz = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(BUFFER, output),
        flate2::Compression::default(),
    );
    std::io::copy(&mut BufReader::with_capacity(BUFFER, input), &mut gz)
        .map_err(local("cannot compress into", to))?;
    let out = gz
        .finish()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .map_err(local("cannot write", to))?;
    Ok(out.metadata().map_err(local("cannot read", to))?.len())
}

/// The snapshots in the bucket, newest first.
pub(crate) async fn list(bucket: &Bucket) -> Result<Vec<Listed>, BucketError> {
    let mut found: Vec<Listed> = bucket
        .list(super::bucket::HISTORY_DIR)
        .try_filter(|l| std::future::ready(taken_at(last_part(&l.key)).is_some()))
        .try_collect()
        .await?;
    found.sort_by(|a, b| last_part(&b.key).cmp(last_part(&a.key)));
    Ok(found)
}

/// The newest snapshot in the bucket.
pub(crate) async fn newest(bucket: &Bucket) -> Result<Option<Listed>, BucketError> {
    Ok(list(bucket).await?.into_iter().next())
}

fn last_part(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Keep the newest `keep` snapshots in the bucket, delete the others (and
/// their rows of `snapshots`).
pub(crate) async fn prune(
    store: &Store,
    bucket: &Bucket,
    keep: u32,
) -> Result<Pruned, SnapshotError> {
    let all = list(bucket).await?;
    let keep = usize::try_from(keep).unwrap_or(usize::MAX).max(1);
    let mut deleted = Vec::new();
    for old in all.iter().skip(keep) {
        bucket.delete(&old.key).await?;
        deleted.push(old.key.clone());
    }
    let gone = deleted.clone();
    store.on_pool(move |c| snapshots::forget(c, &gone)).await?;
    Ok(Pruned {
        kept: all.len().min(keep),
        deleted,
    })
}

/// Download the snapshot at `key` into `to` (a new file), decompressed.
pub(crate) async fn download(
    bucket: &Bucket,
    key: &str,
    spool: &Spool,
    to: &Path,
) -> Result<u64, SnapshotError> {
    let gz = spool.file(".download.gz");
    let mut object = bucket.get(key).await?;
    let file =
        crate::archive::files::create_private_new(&gz).map_err(local("cannot create", &gz))?;
    let mut out = tokio::fs::File::from_std(file);
    while let Some(chunk) = object.stream.next().await {
        out.write_all(&chunk?)
            .await
            .map_err(local("cannot write", &gz))?;
    }
    out.flush().await.map_err(local("cannot write", &gz))?;
    drop(out);
    let to2 = to.to_path_buf();
    let name = key.to_string();
    let n = tokio::task::spawn_blocking(move || unpack(&name, &gz, &to2)).await??;
    Ok(n)
}

/// The most a snapshot may expand when it is decompressed, times its size.
const MAX_EXPANSION: u64 = 200;
/// And bytes over that (a small snapshot of an empty history).
const EXPANSION_ALLOWANCE: u64 = 64 << 20;

/// Copy the snapshot file `from` (which the operator knows as `name`)
/// into a new file `to`, decompressed if it is gzip (a plain database file
/// is copied as it is); the bytes written.
pub(crate) fn unpack(name: &str, from: &Path, to: &Path) -> Result<u64, SnapshotError> {
    let file = std::fs::File::open(from).map_err(local("cannot read", from))?;
    let packed = file.metadata().map_err(local("cannot read", from))?.len();
    // A history compresses a few times over; a file that expands past this
    // is a bomb, not a snapshot, and would fill the disk.
    let cap = packed
        .saturating_mul(MAX_EXPANSION)
        .saturating_add(EXPANSION_ALLOWANCE);
    let mut input = BufReader::with_capacity(BUFFER, file);
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut input, &mut magic).map_err(local("cannot read", from))?;
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let output =
        crate::archive::files::create_private_new(to).map_err(local("cannot create", to))?;
    let mut out = BufWriter::with_capacity(BUFFER, output);
    let whole = head.chain(input);
    let mut reader: Box<dyn Read> = match magic[..n] == [0x1f, 0x8b] {
        true => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        false => Box::new(whole),
    };
    let mut buf = vec![0u8; BUFFER];
    let mut written = 0u64;
    loop {
        let k = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(SnapshotError::Corrupt {
                    name: name.to_string(),
                    detail: e.to_string(),
                });
            }
        };
        written += k as u64;
        if written > cap {
            drop(out);
            let _ = std::fs::remove_file(to);
            return Err(SnapshotError::Corrupt {
                name: name.to_string(),
                detail: format!(
                    "it expands past {cap} bytes ({MAX_EXPANSION} times its size): not a snapshot"
                ),
            });
        }
        out.write_all(&buf[..k])
            .map_err(local("cannot write", to))?;
    }
    out.flush().map_err(local("cannot write", to))?;
    Ok(written)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gzip_bomb_is_refused_before_it_fills_the_disk() {
        use std::io::Write;
        let d = tempfile::tempdir().expect("tempdir");
        let bomb = d.path().join("bomb.db.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&bomb).expect("create"),
            flate2::Compression::best(),
        );
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(EXPANSION_ALLOWANCE >> 20) + 64 {
            gz.write_all(&zeros).expect("write");
        }
        gz.finish().expect("finish");
        let out = d.path().join("out.db");
        let e = unpack("bomb.db.gz", &bomb, &out).expect_err("a bomb");
        assert!(e.to_string().contains("not a snapshot"), "{e}");
        assert!(!out.exists(), "nothing left behind");
    }

    #[test]
    fn snapshot_names_sort_by_time_and_read_back() {
        let t: Timestamp = "2026-12-07T03:04:05Z".parse().expect("time");
        assert_eq!(name_at(t), "history-20261207T030405Z.db.gz");
        assert_eq!(taken_at(&name_at(t)), Some(t));
        let later: Timestamp = "2027-01-01T00:00:00Z".parse().expect("time");
        assert!(name_at(later) > name_at(t));
        for bad in [
            "history-20261207T030405Z.db",
            "history-2026120T030405Z.db.gz",
            "other.db.gz",
            "history-20261307T030405Z.db.gz",
        ] {
            assert_eq!(taken_at(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_compressed_copy_unpacks_to_the_same_bytes_and_a_plain_one_is_copied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("a.db");
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|n| (n % 251).to_le_bytes())
            .collect();
        std::fs::write(&plain, &data).expect("write");
        let gz = dir.path().join("a.db.gz");
        let bytes = compress(&plain, &gz).expect("compress");
        assert!(bytes > 0 && bytes < data.len() as u64);
        let back = dir.path().join("b.db");
        assert_eq!(unpack("a", &gz, &back).expect("unpack"), data.len() as u64);
        assert_eq!(std::fs::read(&back).expect("read"), data);
        let copied = dir.path().join("c.db");
        unpack("a", &plain, &copied).expect("copy");
        assert_eq!(std::fs::read(&copied).expect("read"), data);
        // An existing destination is never overwritten.
        assert!(unpack("a", &plain, &copied).is_err());
        // A cut gzip file is named as such.
        let bytes = std::fs::read(&gz).expect("read");
        std::fs::write(&gz, &bytes[..bytes.len() / 2]).expect("cut");
        let e = unpack("snap.db.gz", &gz, &dir.path().join("d.db")).expect_err("cut");
        assert!(matches!(e, SnapshotError::Corrupt { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("snap.db.gz is not a whole gzip file"),
            "{e}"
        );
    }
}
