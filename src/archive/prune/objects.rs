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
use crate::archive::remote::bucket::{Bucket, BucketError};
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
            return leave(store, out, reach::NOT_SET.to_string());
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
        if let Some(e) = delete_page(store, bucket, runtime, ours, out)? {
            out.objects_why = Some(e.to_string());
            break;
        }
    }
    count_left(store, out)
}

/// Delete the objects of `page` whose rows are still pruned at their key,
/// [`IN_FLIGHT`] at a time, and forget the keys of those gone; the failure
/// of the bucket as a whole, if one came.
fn delete_page(
    store: &Store,
    bucket: &Bucket,
    runtime: &tokio::runtime::Handle,
    page: Vec<PrunedObject>,
    out: &mut Pruned,
) -> Result<Option<BucketError>, StoreError> {
    let live: Vec<PrunedObject> = store.on_thread(|c| {
        let mut live = Vec::with_capacity(page.len());
        for o in page {
            if rows::still_pruned_at(c, o.id, &o.remote_key)? {
                live.push(o);
            }
        }
        Ok(live)
    })?;
    let done: Vec<(PrunedObject, Result<(), BucketError>)> = runtime.block_on(
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
    Ok(stop)
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
                    _ => reach::NOT_SET.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_pruned_object(dir: &std::path::Path) -> Store {
        let s = Store::open(&dir.join("h.db")).expect("open");
        s.on_thread(|c| {
            c.execute_batch(
                "INSERT INTO reports (id, job, target, granularity, window_start, window_end, status,
                     \"trigger\", bytes, sha256, remote_key, uploaded_at, created_at, updated_at)
                 VALUES (1, 'j', 't', 1, 0, 3600, 'pruned', 'manual', 1, 'aa',
                         'p/j/2026/11/a.xlsx', 5, 5, 5);",
            )
        })
        .expect("row");
        s
    }

    fn keys_left(s: &Store) -> i64 {
        s.on_thread(|c| {
            c.query_row(
                "SELECT count(*) FROM reports WHERE remote_key IS NOT NULL",
                [],
                |r| r.get(0),
            )
        })
        .expect("count")
    }

    #[tokio::test]
    async fn without_a_usable_bucket_the_objects_stay_counted_for_the_next_prune() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = store_with_pruned_object(d.path());
        let mut out = Pruned::default();
        delete(&s, None, &mut out).expect("prune");
        assert_eq!(out.objects_left, 1);
        assert!(
            out.objects_why
                .as_deref()
                .is_some_and(|w| w.contains("no [storage.remote]")),
            "{out:?}"
        );
        let unusable = InBucket {
            remote: RemoteArchive::Unusable("no credentials for the bucket b".into()),
            runtime: tokio::runtime::Handle::current(),
        };
        let mut out = Pruned::default();
        delete(&s, Some(&unusable), &mut out).expect("prune");
        assert_eq!(out.objects_left, 1);
        assert_eq!(
            out.objects_why.as_deref(),
            Some("no credentials for the bucket b")
        );
        assert_eq!(keys_left(&s), 1, "the row keeps its key for the next prune");
        let mut dry = Pruned::default();
        would_delete(
            &s,
            Some(&unusable),
            vec![("j".into(), "p/j/2026/11/b.xlsx".into())],
            &mut dry,
        )
        .expect("dry");
        assert_eq!((dry.objects_left, dry.objects_deleted), (2, 0));
    }
}
