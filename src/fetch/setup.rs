//! Putting a process together from the config: which config file, the
//! credentials, the HTTP client, the rate limiter, the history and the
//! engine. Shared by every command that needs them.

use crate::archive::remote::reach::RemoteArchive;
use crate::archive::root::{ArchiveRoot, RelPath};
use crate::archive::store::{self, Store};
use crate::config::{self, Config, Job};
use crate::fetch::engine::Engine;
use crate::tencent::api::{self, Client};
use crate::tencent::credentials::{self, Found, Provider, Source};
use crate::tencent::ratelimit::Limiter;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::{info, warn};

/// The config path: `--config`, else `$MNA_REPORTD_CONFIG`, else the default.
pub(crate) fn config_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| {
            std::env::var_os("MNA_REPORTD_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH))
}

/// Read and validate the config.
pub(crate) fn load_config(flag: Option<&Path>) -> Result<Config, config::ConfigError> {
    config::load(&config_path(flag))
}

/// Find the credentials (no network).
pub(crate) fn find_credentials(
    config: &Config,
) -> Result<(Source, Found), credentials::CredentialError> {
    credentials::resolve(&config.credentials, &credentials::ProcessEnv)
}

/// The remote archive of `[storage.remote]` as its readers hold it (the
/// page, `prune`): the bucket, or why it cannot be used.
pub(crate) fn remote_archive(config: &Config) -> RemoteArchive {
    match remote_bucket(config) {
        Ok(None) => RemoteArchive::Off,
        Ok(Some(bucket)) => RemoteArchive::Open(bucket),
        Err(e) => RemoteArchive::Unusable(e.to_string()),
    }
}

/// A job name the config does not have (a typo, most often).
#[derive(Debug, Clone, thiserror::Error)]
#[error("no job named {name:?} in {}; its jobs are: {}", config.display(), known.join(", "))]
pub(crate) struct NoSuchJob {
    pub(crate) name: String,
    pub(crate) config: PathBuf,
    /// The config's jobs.
    pub(crate) known: Vec<String>,
}

/// The jobs named (all must exist), or every enabled job with `all`.
pub(crate) fn select_jobs(
    config: &Config,
    names: &[String],
    all: bool,
) -> Result<Vec<Arc<Job>>, NoSuchJob> {
    if all {
        return Ok(config
            .jobs
            .iter()
            .filter(|j| j.enabled)
            .cloned()
            .map(Arc::new)
            .collect());
    }
    let mut out = Vec::new();
    for n in names {
        match config.job(n) {
            Some(j) => out.push(Arc::new(j.clone())),
            None => {
                return Err(NoSuchJob {
                    name: n.clone(),
                    config: config.path.clone(),
                    known: config.jobs.iter().map(|j| j.name.clone()).collect(),
                });
            }
        }
    }
    Ok(out)
}

/// Remove the `.part` files that no live claim is writing and that have not
/// been written to for [`PART_IDLE`]. At every start, and daily in the daemon.
pub(crate) fn sweep_parts(store: &Store, reports_dir: &Path) {
    let archive = ArchiveRoot::new(reports_dir);
    let keep: HashSet<RelPath> = match store.claimed_file_paths() {
        // A claim's path outside the archive has no part file in it.
        Ok(k) => k
            .iter()
            .filter_map(|p| archive.locate(p).ok())
            .map(|p| p.part())
            .collect(),
        Err(e) => {
            warn!(error = %e, "could not read the claims; not sweeping .part files");
            return;
        }
    };
    match archive.sweep_parts(&keep, PART_IDLE) {
        Ok(swept) => {
            if swept.removed > 0 {
                info!(
                    removed = swept.removed,
                    "removed unfinished .part files left by an earlier run"
                );
            }
            store::recover::resolve_previous_copies(store, &archive, &swept.previous);
        }
        Err(e) => {
            warn!(error = %e, dir = %archive.path().display(), "could not sweep unfinished .part files")
        }
    }
}

/// A `.part` file not written to for this long, and of no live claim, is
/// left from a process that is gone.
pub(crate) const PART_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// Open the history, releasing the claims of dead processes and sweeping
/// the `.part` files nobody is writing.
pub(crate) fn open_store(config: &Config) -> Result<Store, store::StoreError> {
    warn_if_foreign_state_dir(&config.storage.state_dir);
    let store = Store::open(&config.storage.database_path())?;
    let released = store.release_dead_claims()?;
    if released > 0 {
        warn!(
            released,
            "took back reports claimed by a process that is gone; they will be fetched again"
        );
    }
    sweep_parts(&store, &config.storage.reports_dir);
    Ok(store)
}

/// The process's rate limiter, for `config`.
pub(crate) fn limiter(config: &Config) -> Arc<Limiter> {
    Arc::new(Limiter::new(config.api.rate_limit))
}

/// The engine for `config`, with its own HTTP client, sending through `limiter`.
pub(crate) fn engine(
    config: &Config,
    found: Found,
    store: Store,
    limiter: Arc<Limiter>,
) -> anyhow::Result<Engine> {
    let http = api::client::http_client(&config.api).map_err(anyhow::Error::msg)?;
    let provider = Provider::from_found(found, &config.credentials, http.clone());
    let downloads = api::client::download_client(&config.api).map_err(anyhow::Error::msg)?;
    let client = Client::new(http, downloads, config.api.clone(), provider, limiter);
    Ok(Engine::new(
        client,
        store,
        ArchiveRoot::new(&config.storage.reports_dir),
        config.retry,
        config.api.concurrency.get(),
    )
    .with_max_report_size(config.storage.max_report_size))
}

/// Open the history read-only if it exists (for `check` and dry runs, which write nothing).
pub(crate) fn open_readonly(config: &Config) -> Result<Option<store::Reader>, store::StoreError> {
    let path = config.storage.database_path();
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(store::open_readonly(&path)?))
}

/// Processes sharing a state directory must run as one user (claims are
/// checked through /proc, and files are private to their owner): say so
/// when this one is not the directory's owner.
fn warn_if_foreign_state_dir(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else {
        return;
    };
    // SAFETY: geteuid cannot fail and touches no memory.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        warn!(
            dir = %dir.display(),
            owner_uid = meta.uid(),
            uid = me,
            "this state directory belongs to another user; run mna-reportd as that user (e.g. sudo -u mna-reportd mna-reportd ...)"
        );
    }
}

/// For a bucket on Tencent COS (`endpoint` `*.myqcloud.com`), the
/// account's own key pair (COS takes it as an S3 key): the last source of
/// the bucket key chain. `None` for any other endpoint, or an account key
/// that is not static (a CVM role).
pub(crate) fn cos_keys(
    config: &Config,
    endpoint: Option<&str>,
) -> Option<crate::archive::remote::client::S3Keys> {
    if !crate::archive::remote::client::is_cos(endpoint) {
        return None;
    }
    match find_credentials(config).ok()?.1 {
        Found::Static(c) => Some(crate::archive::remote::client::S3Keys {
            access_key_id: c.secret_id.into(),
            secret_access_key: c.secret_key,
            session_token: c.token,
        }),
        Found::CvmRole => None,
    }
}

/// The bucket of `[storage.remote]` (`None` without the table), its keys
/// from the chain (the account's key last, for COS).
pub(crate) fn remote_bucket(
    config: &Config,
) -> Result<
    Option<crate::archive::remote::bucket::Bucket>,
    crate::archive::remote::client::ClientError,
> {
    let Some(remote) = &config.storage.remote else {
        return Ok(None);
    };
    let fallback = cos_keys(config, remote.endpoint.as_deref());
    crate::archive::remote::bucket::Bucket::open(remote, fallback).map(Some)
}

/// The upload outbox of `[storage.remote]` over `store` (`None` without
/// the table).
pub(crate) fn outbox(
    config: &Config,
    store: &Store,
) -> Result<
    Option<crate::archive::remote::outbox::Outbox>,
    crate::archive::remote::client::ClientError,
> {
    Ok(remote_bucket(config)?.map(|bucket| {
        crate::archive::remote::outbox::Outbox::new(
            bucket,
            store.clone(),
            ArchiveRoot::new(&config.storage.reports_dir),
            config.storage.remote.as_ref().and_then(|r| r.keep_local),
        )
    }))
}
