//! `snapshot`: a consistent, compressed copy of `history.db` to
//! `<prefix>/_history/` of `[storage.remote]` now, then the newest
//! `snapshot_keep` kept ([`crate::archive::remote::snapshot`]). Exit 2
//! without a bucket, a history or keys; 1 when the bucket fails.

use crate::archive::remote::snapshot::{self, SnapshotError};
use crate::archive::store::Store;
use crate::commands::exit::{self, Exit, Usage};
use crate::domain::human;
use crate::fetch::setup;
use std::path::Path;

pub(crate) async fn run(config_flag: Option<&Path>) -> exit::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let Some(remote) = config.storage.remote.clone() else {
        return Err(Usage::NoRemote {
            command: "snapshot",
            config: config.path.clone(),
            alternative: "",
        }
        .into());
    };
    let db = config.storage.database_path();
    if !db.exists() {
        return Err(Usage::NoHistory {
            db,
            config: config.path.clone(),
        }
        .into());
    }
    let bucket = setup::remote_bucket(&config)
        .map_err(Usage::Bucket)?
        .ok_or_else(|| anyhow::anyhow!("no [storage.remote]"))?;
    let store = Store::open(&db)?;
    let taken = snapshot::take(
        &store,
        &db,
        &config.storage.state_dir,
        &bucket,
        remote.snapshot_keep,
    )
    .await
    .map_err(failed)?;
    let deleted = match taken.pruned.deleted.len() {
        0 => String::new(),
        n => format!(", {n} older deleted"),
    };
    super::print(&format!(
        "snapshot written: {} ({} compressed, history.db {}); {} kept{deleted}\n",
        super::shown(&object_url(&remote.url, &taken.key)),
        human::size(taken.bytes),
        human::size(taken.db_bytes),
        taken.pruned.kept,
    ))?;
    Ok(Exit::Ok)
}

/// A failed snapshot: the history's damage as such, anything else as a
/// failure of the work.
pub(crate) fn failed(e: SnapshotError) -> exit::Error {
    match e {
        SnapshotError::Store(s) => exit::Error::Store(s),
        e => exit::Error::Failed(e.into()),
    }
}

/// `s3://bucket/key` of the object `key` in the bucket of `url`.
pub(crate) fn object_url(url: &str, key: &str) -> String {
    let bucket = crate::archive::remote::bucket::split_url(url).0;
    format!("s3://{bucket}/{key}")
}
