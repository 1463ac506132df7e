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
        let found = [
            (c.inserted, "recorded as new reports from their metadata"),
            (c.adopted, "completed reports the snapshot had not done"),
            (c.marked, "recorded as the uploads of their reports"),
            (
                c.reupload,
                "differ from the report's file on this disk, which uploads again",
            ),
            (c.foreign, "are not reports (left alone)"),
        ];
        let found: Vec<String> = found
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        out.push_str(&format!(
            "bucket {}: {} objects, {} of them not recorded as uploaded in the snapshot{}{}\n",
            super::shown(&b.url()),
            c.listed,
            c.looked_at,
            if found.is_empty() { "" } else { ": " },
            found.join(", ")
        ));
    }
    let lines = [
        (
            c.gone,
            "reports recorded as uploaded are no longer in the bucket",
        ),
        (
            c.missing_files,
            "recorded local files are not on this disk (uploaded reports are read from the bucket)",
        ),
        (
            c.lost.pending,
            "reports neither on disk nor in the bucket are pending again: the next run fetches them",
        ),
        (
            c.lost.pruned,
            "such reports past the retention are marked pruned",
        ),
        (c.dropped.claims, "claims of the old machine dropped"),
        (
            c.dropped.runs,
            "runs left running by the old machine closed as crashed",
        ),
    ];
    for (n, what) in lines {
        if n > 0 {
            out.push_str(&format!("{n} {what}\n"));
        }
    }
    if let Some(p) = &r.replaced {
        out.push_str(&format!(
            "the history that was there is now {}\n",
            p.display()
        ));
    }
    out.push_str(
        "next: mna-reportd check, then start mna-reportd; it fetches only what the bucket does not hold\n",
    );
    out
}
