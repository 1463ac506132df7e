//! `restore`: a state directory rebuilt from a history snapshot and the
//! bucket. The snapshot (the newest in `<prefix>/_history/`, or the one
//! given) is downloaded and decompressed into a scratch file, checked
//! (whole, migrated), reconciled ([`reconcile`]) and only then put in place
//! of `history.db` with one rename: a restore that fails leaves the state
//! directory as it was.
//!
//! Reconciling: the old machine's claims and open runs are dropped; every
//! report object of the bucket (below the prefix, not `_history/`) that
//! the history does not hold as uploaded is looked at (HEAD) and recorded
//! from its metadata ([`crate::archive::store::restore::decide`]); a row
//! whose object is gone loses its upload; a row whose local file is gone
//! keeps its remote copy, or with none goes back to `pending` (`pruned`
//! past the retention) to be fetched again. So the next `run` or `fetch`
//! asks the API for nothing the bucket holds.

use super::bucket::{Bucket, BucketError, HISTORY_DIR};
use super::meta::Identity;
use super::snapshot::{self, SnapshotError};
use super::spool::Spool;
use crate::archive::root::ArchiveRoot;
use crate::archive::store::restore::{self as sql, Action, Dropped, Lost, Object};
use crate::archive::store::{self, Store, StoreError, backup};
use futures_util::{StreamExt, TryStreamExt};
use std::path::{Path, PathBuf};

/// Objects looked at (HEAD) at once.
const HEADS_IN_FLIGHT: usize = 16;
/// Rows or objects handled per transaction.
const BATCH: usize = 500;

/// Why a restore failed (the state directory is as it was).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestoreError {
    #[error(
        "no snapshot in {url}/{HISTORY_DIR}/\n  fix: write one with `mna-reportd snapshot` where the history is, or give --from FILE"
    )]
    NoSnapshot { url: String },
    #[error(
        "the snapshot {from} cannot be used: {detail}\n  fix: give another with --from: an older one below {HISTORY_DIR}/ of the bucket (it keeps the newest snapshot_keep), or a file"
    )]
    Unusable { from: String, detail: String },
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("{0}")]
    Bucket(#[from] BucketError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot install the restored history as {}: {source}\n  fix: check that the state directory is writable", path.display())]
    Install {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where the snapshot comes from.
pub(crate) enum Source<'a> {
    /// The newest one in the bucket.
    Newest,
    /// The object `key` of `bucket`.
    Object(&'a Bucket, String),
    /// A file (gzip or a plain database).
    File(PathBuf),
}

/// What a restore is asked to do.
pub(crate) struct Request<'a> {
    pub(crate) source: Source<'a>,
    /// The bucket of `[storage.remote]`, to reconcile with (none: the disk only).
    pub(crate) bucket: Option<&'a Bucket>,
    pub(crate) state_dir: &'a Path,
    pub(crate) db: &'a Path,
    pub(crate) reports_dir: &'a Path,
    /// Windows ending before this (now − retention) that are lost count as pruned.
    pub(crate) pruned_before: Option<i64>,
}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Restored {
    /// The snapshot, as the operator would name it.
    pub(crate) from: String,
    /// Rows of `reports` in the snapshot.
    pub(crate) reports: u64,
    pub(crate) reconciled: Reconciled,
    /// Where the history that was replaced went (`--force`).
    pub(crate) replaced: Option<PathBuf>,
}

/// What [`reconcile`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reconciled {
    pub(crate) dropped: Dropped,
    /// Report objects listed (below the prefix, not `_history/`).
    pub(crate) listed: u64,
    /// Objects looked at, as the history did not hold them as uploaded.
    pub(crate) looked_at: u64,
    /// New rows from an object's metadata.
    pub(crate) inserted: u64,
    /// Rows that were not done (or pruned), now the object's.
    pub(crate) adopted: u64,
    /// Rows whose upload is now recorded.
    pub(crate) marked: u64,
    /// Rows whose own local file differs from the object (back in the outbox).
    pub(crate) reupload: u64,
    /// Objects without a report's identity, left alone.
    pub(crate) foreign: u64,
    /// Rows whose object is gone from the bucket.
    pub(crate) gone: u64,
    /// Rows whose recorded local file is not there.
    pub(crate) missing_files: u64,
    pub(crate) lost: Lost,
}

/// Restore as `req` says; the state directory is checked by the caller.
pub(crate) async fn restore(req: Request<'_>) -> Result<Restored, RestoreError> {
    let spool = Spool::new(req.state_dir, "restore").map_err(|source| SnapshotError::Local {
        what: "cannot use",
        path: req.state_dir.to_path_buf(),
        source,
    })?;
    let copy = spool.file(".db");
    let from = fetch_copy(&req, &spool, &copy).await?;
    let unusable = |e: StoreError| RestoreError::Unusable {
        from: from.clone(),
        detail: unusable_detail(&e),
    };
    let c2 = copy.clone();
    let checked = tokio::task::spawn_blocking(move || backup::check_copy(&c2))
        .await
        .map_err(SnapshotError::from)?
        .map_err(unusable)?;
    let restored = Store::open(&copy).map_err(unusable)?;
    let archive = ArchiveRoot::new(req.reports_dir);
    let reconciled = reconcile(&restored, req.bucket, &archive, req.pruned_before).await?;
    restored.on_pool(backup::settle).await?;
    drop(restored);
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let aside = req.state_dir.join(format!("history.db.replaced-{stamp}"));
    let replaced =
        backup::install(&copy, req.db, &aside).map_err(|source| RestoreError::Install {
            path: req.db.to_path_buf(),
            source,
        })?;
    Ok(Restored {
        from,
        reports: checked.reports,
        reconciled,
        replaced,
    })
}

/// Why a downloaded snapshot cannot be used, in one line that names no
/// scratch file.
fn unusable_detail(e: &StoreError) -> String {
    match e {
        StoreError::Damaged(d) => format!("it is not a whole SQLite database ({})", d.detail),
        StoreError::Migrate { source, .. } => first_line(&source.to_string()),
        StoreError::Open { source, .. } => first_line(&source.to_string()),
        e => first_line(&e.to_string()),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Bring the snapshot into `copy`, decompressed; its name for the operator.
async fn fetch_copy(req: &Request<'_>, spool: &Spool, copy: &Path) -> Result<String, RestoreError> {
    match &req.source {
        Source::Newest => {
            let Some(bucket) = req.bucket else {
                return Err(RestoreError::NoSnapshot {
                    url: "(no [storage.remote])".into(),
                });
            };
            let newest = snapshot::newest(bucket)
                .await?
                .ok_or_else(|| RestoreError::NoSnapshot { url: bucket.url() })?;
            snapshot::download(bucket, &newest.key, spool, copy).await?;
            Ok(object_url(bucket, &newest.key))
        }
        Source::Object(bucket, key) => {
            snapshot::download(bucket, key, spool, copy).await?;
            Ok(object_url(bucket, key))
        }
        Source::File(path) => {
            let (p, c) = (path.clone(), copy.to_path_buf());
            let name = path.display().to_string();
            tokio::task::spawn_blocking(move || snapshot::unpack(&name, &p, &c))
                .await
                .map_err(SnapshotError::from)??;
            Ok(path.display().to_string())
        }
    }
}

/// `s3://bucket/key` of an object.
fn object_url(bucket: &Bucket, key: &str) -> String {
    let url = bucket.url();
    let bucket_only = url.split('/').take(3).collect::<Vec<_>>().join("/");
    format!("{bucket_only}/{key}")
}

/// Bring the restored history `store` in line with the bucket (if any) and
/// the disk under `archive`.
pub(crate) async fn reconcile(
    store: &Store,
    bucket: Option<&Bucket>,
    archive: &ArchiveRoot,
    pruned_before: Option<i64>,
) -> Result<Reconciled, RestoreError> {
    let now = store::now();
    let mut done = Reconciled {
        dropped: store.on_pool(move |c| sql::drop_claims(c, now)).await?,
        ..Reconciled::default()
    };
    if let Some(bucket) = bucket {
        store.on_pool(|c| sql::start_listing(c)).await?;
        let complete = list_into(store, bucket, &mut done).await?;
        record_objects(store, bucket, archive, &mut done).await?;
        // A listing cut short cannot tell a deleted object from an unlisted one.
        if complete {
            done.gone = store.on_pool(|c| sql::forget_missing_objects(c)).await?;
        }
        store.on_pool(|c| sql::finish_listing(c)).await?;
    }
    done.missing_files = forget_missing_files(store, archive).await?;
    done.lost = store
        .on_pool(move |c| sql::refetch_lost(c, pruned_before, now))
        .await?;
    Ok(done)
}

/// The bucket's report objects into the `listing` table; whether the
/// listing was complete.
async fn list_into(
    store: &Store,
    bucket: &Bucket,
    done: &mut Reconciled,
) -> Result<bool, RestoreError> {
    let history = format!("{}/", bucket.key(HISTORY_DIR));
    let mut listing = bucket.list("").boxed();
    let mut seen: usize = 0;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let next = listing.try_next().await?;
        let end = next.is_none();
        if let Some(l) = next {
            seen += 1;
            if !l.key.starts_with(&history) {
                batch.push((l.key, l.size));
            }
        }
        if batch.len() >= BATCH || (end && !batch.is_empty()) {
            done.listed += batch.len() as u64;
            let b = std::mem::take(&mut batch);
            store.on_pool(move |c| sql::add_listed(c, &b)).await?;
        }
        if end {
            return Ok(seen < super::bucket::MAX_LISTING);
        }
    }
}

/// Look at every listed object the history does not hold as uploaded, and
/// record those that are reports.
async fn record_objects(
    store: &Store,
    bucket: &Bucket,
    archive: &ArchiveRoot,
    done: &mut Reconciled,
) -> Result<(), RestoreError> {
    let mut after = String::new();
    loop {
        let a = after.clone();
        let page = store
            .on_pool(move |c| sql::unmatched(c, &a, BATCH as i64))
            .await?;
        let Some((last, _)) = page.last() else {
            return Ok(());
        };
        after = last.clone();
        let looked_at = page.len() as u64;
        done.looked_at += looked_at;
        let heads: Vec<Option<Object>> = futures_util::stream::iter(page)
            .map(|(key, size)| async move {
                let head = bucket.head(&key).await?;
                Ok::<_, BucketError>(head.map(|h| (key, size, h)))
            })
            .buffered(HEADS_IN_FLIGHT)
            .map_ok(|found| {
                found.and_then(|(key, size, h)| {
                    Some(object(key, size, h.last_modified, h.identity?))
                })
            })
            .try_collect()
            .await?;
        let objects: Vec<Object> = heads.into_iter().flatten().collect();
        // Gone meanwhile, or not a report's (an export's file, say).
        done.foreign += looked_at - objects.len() as u64;
        let archive = archive.clone();
        let now = store::now();
        let counted = store
            .on_pool(move |c| {
                let mut actions = Vec::with_capacity(objects.len());
                for obj in objects {
                    let row = sql::row_of(c, &obj)?;
                    let action = sql::decide(row.as_ref(), &obj, |p| is_local(&archive, p));
                    actions.push((action, obj));
                }
                sql::apply(c, &actions, now)?;
                Ok(actions.iter().map(|(a, _)| *a).collect::<Vec<_>>())
            })
            .await?;
        for a in counted {
            match a {
                Action::Insert => done.inserted += 1,
                Action::Adopt(_) => done.adopted += 1,
                Action::MarkUploaded(_) => done.marked += 1,
                Action::Reupload(_) => done.reupload += 1,
            }
        }
    }
}

/// An object's row data from its listing and identity.
fn object(key: String, size: u64, last_modified: i64, id: Identity) -> Object {
    Object {
        key,
        size,
        last_modified,
        job: id.job,
        target: id.target,
        region: id.region,
        granularity: id.granularity,
        window_start: id.window_start,
        window_end: id.window_end,
        sha256: id.sha256,
        request_id: id.request_id,
        trigger: id.trigger,
    }
}

/// Whether the recorded path `p` is a regular file inside the archive (a
/// path outside it, or one that cannot be read, is not local).
fn is_local(archive: &ArchiveRoot, p: &str) -> bool {
    archive
        .locate(p)
        .is_ok_and(|rel| archive.is_file(&rel).unwrap_or(false))
}

/// Clear the recorded file of every `ok` row whose file is not on disk;
/// how many.
async fn forget_missing_files(store: &Store, archive: &ArchiveRoot) -> Result<u64, RestoreError> {
    let mut after = 0;
    let mut missing = 0;
    loop {
        let archive = archive.clone();
        let (last, n) = store
            .on_pool(move |c| {
                let page = sql::local_claims(c, after, BATCH as i64)?;
                let gone: Vec<i64> = page
                    .iter()
                    .filter(|r| !is_local(&archive, &r.file_path))
                    .map(|r| r.id)
                    .collect();
                sql::forget_local_files(c, &gone)?;
                Ok((page.last().map(|r| r.id), gone.len() as u64))
            })
            .await?;
        missing += n;
        match last {
            Some(id) => after = id,
            None => return Ok(missing),
        }
    }
}

/// What makes the state directory not empty for a restore: a history
/// (`history.db` or its WAL) or a report file in the reports directory;
/// `None` when there is neither.
pub(crate) fn occupant(db: &Path, reports_dir: &Path) -> std::io::Result<Option<String>> {
    let mut found = Vec::new();
    for side in ["", backup::SIDE_FILES[0]] {
        let mut p = db.as_os_str().to_owned();
        p.push(side);
        let p = PathBuf::from(p);
        match std::fs::symlink_metadata(&p) {
            Ok(m) => {
                found.push(format!(
                    "{} ({})",
                    p.display(),
                    crate::domain::human::size(m.len())
                ));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(rel) = ArchiveRoot::new(reports_dir).any_file()? {
        found.push(format!(
            "report files in {} (such as {})",
            reports_dir.display(),
            rel.to_path().display()
        ));
    }
    Ok((!found.is_empty()).then(|| found.join(" and ")))
}
