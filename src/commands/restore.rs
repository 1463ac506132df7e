//! `restore [--from s3://bucket/key|FILE] [--force]`: rebuild an empty
//! state directory from a history snapshot (the newest in the bucket of
//! `[storage.remote]`, or the one given) and the bucket's listing
//! ([`crate::archive::remote::restore`]), so that the next `run` or
//! `fetch` asks the API for nothing the bucket holds. A state directory
//! holding a history or reports is refused (exit 2) unless `--force`.

use crate::archive::remote::bucket::{Bucket, split_url};
use crate::archive::remote::restore::{self, Request, Restored, Source};
use crate::commands::cli::RestoreArgs;
use crate::commands::exit::{self, Exit, Usage};
use crate::config::Config;
use crate::fetch::setup;
use std::path::{Path, PathBuf};

pub(crate) async fn run(config_flag: Option<&Path>, args: RestoreArgs) -> exit::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let remote = setup::remote_bucket(&config).map_err(Usage::Bucket)?;
    let given = args
        .from
        .as_deref()
        .map(|f| from(&config, remote.as_ref(), f))
        .transpose()?;
    let source = match given {
        Some(s) => s,
        None if remote.is_some() => Given::Newest,
        None => {
            return Err(Usage::NoRemote {
                command: "restore",
                config: config.path.clone(),
                alternative: ", or give --from FILE",
            }
            .into());
        }
    };
    let storage = &config.storage;
    let db = storage.database_path();
    if !args.force
        && let Some(what) = restore::occupant(&db, &storage.reports_dir)?
    {
        return Err(Usage::RestoreOccupied {
            state_dir: storage.state_dir.clone(),
            what,
        }
        .into());
    }
    let pruned_before = storage
        .retention
        .map(|r| crate::archive::store::now() - i64::try_from(r.as_secs()).unwrap_or(i64::MAX / 2));
    let source = match &source {
        Given::Newest => Source::Newest,
        Given::Object(b, key) => Source::Object(b, key.clone()),
        Given::File(p) => Source::File(p.clone()),
    };
    let restored = restore::restore(Request {
        source,
        bucket: remote.as_ref(),
        state_dir: &storage.state_dir,
        db: &db,
        reports_dir: &storage.reports_dir,
        pruned_before,
    })
    .await
    .map_err(|e| exit::Error::Failed(e.into()))?;
    super::print(&summary(&restored, remote.as_ref()))?;
    Ok(Exit::Ok)
}

/// The snapshot `--from` names.
enum Given {
    Newest,
    Object(Bucket, String),
    File(PathBuf),
}

/// `--from`: `s3://bucket/key` (in the bucket of `[storage.remote]`, or
/// another one reached with its settings), or a file.
fn from(config: &Config, remote: Option<&Bucket>, given: &str) -> exit::Result<Given> {
    let bad = |why: &str| Usage::RestoreFrom {
        given: super::shown(given),
        why: why.to_string(),
    };
    if !given.starts_with("s3://") {
        let path = PathBuf::from(given);
        if !path.is_file() {
            return Err(bad("no such file").into());
        }
        return Ok(Given::File(path));
    }
    let (name, key) = split_url(given);
    if key.is_empty() || given.ends_with('/') {
        return Err(bad("the URL names no object").into());
    }
    let Some(settings) = config.storage.remote.as_ref() else {
        return Err(Usage::NoRemote {
            command: "restore --from s3://",
            config: config.path.clone(),
            alternative: " for its endpoint, region and keys; or give --from FILE",
        }
        .into());
    };
    let same = remote.filter(|b| split_url(&b.url()).0 == name).cloned();
    let b = match same {
        Some(b) => b,
        None => {
            let mut other = settings.clone();
            other.url = format!("s3://{name}");
            Bucket::open(&other, setup::cos_keys(config, other.endpoint.as_deref()))
                .map_err(Usage::Bucket)?
        }
    };
    Ok(Given::Object(b, key))
}

/// What the restore did, for the operator.
fn summary(r: &Restored, remote: Option<&Bucket>) -> String {
    let c = &r.reconciled;
    let mut out = format!(
        "restored history.db from {} ({} reports in the snapshot)\n",
        super::shown(&r.from),
        r.reports
    );
    if let Some(b) = remote {
        out.push_str(&format!(
            "bucket {}: {} report objects, {} not recorded as uploaded in the snapshot: {} recorded from their metadata as new reports, {} reports completed from them, {} uploads recorded, {} without a report's metadata left alone\n",
            super::shown(&b.url()),
            c.listed,
            c.looked_at,
            c.inserted,
            c.adopted,
            c.marked,
            c.foreign,
        ));
        if c.reupload + c.gone > 0 {
            out.push_str(&format!(
                "{} local files differ from their object and {} objects are gone: they upload again\n",
                c.reupload, c.gone
            ));
        }
    }
    out.push_str(&format!(
        "{} recorded local files are not on this disk (read from the bucket where uploaded)\n",
        c.missing_files
    ));
    if c.lost.pending + c.lost.pruned > 0 {
        out.push_str(&format!(
            "{} reports neither on disk nor in the bucket are pending again (the next run fetches them); {} past the retention marked pruned\n",
            c.lost.pending, c.lost.pruned
        ));
    }
    if c.dropped.claims + c.dropped.runs > 0 {
        out.push_str(&format!(
            "dropped {} claims and closed {} runs of the old machine\n",
            c.dropped.claims, c.dropped.runs
        ));
    }
    if let Some(p) = &r.replaced {
        out.push_str(&format!(
            "the history that was there is now {}\n",
            p.display()
        ));
    }
    out.push_str("next: mna-reportd check, then start mna-reportd; it fetches only what the bucket does not hold\n");
    out
}
