//! The bucket side of a prune: the objects of pruned reports are deleted
//! after their rows are marked `pruned` (and their local files deleted).
//! A row keeps its `remote_key` until its object is gone, so every object
//! a prune could not delete (the bucket down or refusing, the process
//! stopped) is found again by the next prune, which deletes it then: a
//! bucket that is down never stops the local prune, and never loses an
//! object's deletion.
//!
//! Only a report key of the row's own job below the bucket's prefix is
//! deleted ([`reach::is_report_key`]), whatever the history holds; any other
//! is counted and logged, never deleted. An object is deleted only while
//! its row is still pruned and unclaimed (a forced refetch claims the
//! report first and uploads its new file to the same key only after it is
//! sealed). The prune is synchronous: the bucket's requests run on the
//! runtime whose handle it is given, a few at a time, and the first failure
//! of the bucket as a whole ends them for this prune.

use super::Pruned;
use crate::archive::remote::reach::{self, RemoteArchive};
use crate::archive::store::remote::{self as rows, PrunedObject};
use crate::archive::store::{Store, StoreError};
use futures_util::StreamExt;
use tracing::warn;

/// Rows of pruned reports read per page.
const PAGE: i64 = 200;

/// Deletions in flight at once.
const IN_FLIGHT: usize = 8;

/// Foreign keys logged per prune (the rest only counted).
const LOGGED: usize = 20;

/// Where a prune deletes objects: the remote archive, and the runtime its
/// requests run on.
pub(crate) struct InBucket {
    pub(crate) remote: RemoteArchive,
    pub(crate) runtime: tokio::runtime::Handle,
}

/// Delete the objects of pruned reports (all of them, those of earlier
/// prunes left included), counting in `out`.
pub(crate) fn delete(
    store: &Store,
    bucket: Option<&InBucket>,
    out: &mut Pruned,
) -> Result<(), StoreError> {
    let (bucket, runtime) = match bucket.map(|b| (b.remote.bucket(), &b.runtime)) {
        Some((Ok(bucket), runtime)) => (bucket, runtime),
        Some((Err(why), _)) => return leave(store, out, why),
        None => {
            return leave(
                store,
                out,
                RemoteArchive::Off.bucket().err().unwrap_or_default(),
            );
        }
    };
    let mut after = 0;
    loop {
        let page = store.on_thread(|c| rows::pruned_objects(c, after, PAGE))?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let (ours, foreign): (Vec<PrunedObject>, Vec<PrunedObject>) = page
            .into_iter()
            .partition(|o| reach::is_report_key(bucket, &o.job, &o.remote_key));
        for o in &foreign {
            if out.objects_refused < LOGGED {
                warn!(report = o.id, key = %o.remote_key.escape_debug(), "not deleting an object that is not a report key of its job below the bucket's prefix");
            }
            out.objects_refused += 1;
        }
        let live: Vec<PrunedObject> = store.on_thread(|c| {
            let mut live = Vec::with_capacity(ours.len());
            for o in ours {
                if rows::still_pruned_at(c, o.id, &o.remote_key)? {
                    live.push(o);
                }
            }
            Ok(live)
        })?;
        let done: Vec<(PrunedObject, Result<(), _>)> = runtime.block_on(
            futures_util::stream::iter(live)
                .map(|o| async move {
                    let r = bucket.delete(&o.remote_key).await;
                    (o, r)
                })
                .buffer_unordered(IN_FLIGHT)
                .collect(),
        );
        let mut stop = None;
        let mut gone = Vec::new();
        for (o, r) in done {
            match r {
                Ok(()) => gone.push(o),
                Err(e) if e.is_bucket_wide() => stop = Some(e),
                Err(e) => {
                    warn!(report = o.id, error = %e, "cannot delete a pruned report's object; the next prune tries again")
                }
            }
        }
        out.objects_deleted += gone.len();
        store.on_thread(|c| {
            let tx = c.transaction()?;
            for o in &gone {
                rows::forget_object(&tx, o.id, &o.remote_key)?;
            }
            tx.commit()
        })?;
        if let Some(e) = stop {
            out.objects_why = Some(e.to_string());
            break;
        }
    }
    count_left(store, out)
}

/// No bucket to delete from (`why`): the objects of pruned reports stay,
/// counted, for the next prune.
fn leave(store: &Store, out: &mut Pruned, why: String) -> Result<(), StoreError> {
    out.objects_why = Some(why);
    count_left(store, out)
}

/// How many objects of pruned reports are still in the bucket, beside the
/// ones never deleted (not report keys); said when there are some.
fn count_left(store: &Store, out: &mut Pruned) -> Result<(), StoreError> {
    let n = store.on_thread(|c| rows::pruned_objects_left(c))?;
    out.objects_left = usize::try_from(n)
        .unwrap_or(usize::MAX)
        .saturating_sub(out.objects_refused);
    if out.objects_left == 0 {
        out.objects_why = None;
        return Ok(());
    }
    warn!(
        objects = out.objects_left,
        reason = out.objects_why.as_deref().unwrap_or("see above"),
        "objects of pruned reports are left in the bucket; the next prune deletes them"
    );
    Ok(())
}

/// Dry: the objects a prune would delete, those of earlier prunes left
/// and `candidates` (the keys of the reports it would mark), as URLs.
pub(crate) fn would_delete(
    store: &Store,
    bucket: Option<&InBucket>,
    candidates: Vec<(String, String)>,
    out: &mut Pruned,
) -> Result<(), StoreError> {
    let bucket = match bucket.map(|b| b.remote.bucket()) {
        Some(Ok(b)) => b,
        other => {
            let left = store.on_thread(|c| rows::pruned_objects_left(c))?;
            out.objects_left = usize::try_from(left).unwrap_or(usize::MAX) + candidates.len();
            if out.objects_left > 0 {
                out.objects_why = Some(match other {
                    Some(Err(why)) => why,
                    _ => RemoteArchive::Off.bucket().err().unwrap_or_default(),
                });
            }
            return Ok(());
        }
    };
    let mut after = 0;
    let mut all = candidates;
    loop {
        let page = store.on_thread(|c| rows::pruned_objects(c, after, PAGE))?;
        let Some(last) = page.last() else { break };
        after = last.id;
        all.extend(page.into_iter().map(|o| (o.job, o.remote_key)));
    }
    for (job, key) in all {
        if reach::is_report_key(bucket, &job, &key) {
            out.objects_deleted += 1;
            out.would_delete.push(bucket.object_url(&key));
        } else {
            out.objects_refused += 1;
        }
    }
    Ok(())
}
