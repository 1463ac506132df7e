//! HTTP: the one listener every server of the program uses ([`listener`]:
//! timeouts, connection cap, body limit, Host allow-list), the metrics and
//! health endpoints ([`monitor`]), and the read-only web page and the JSON
//! API it uses: an overview per job, a
//! calendar of windows coloured by state, traffic charts from
//! `report_rows`, the failures inside the horizon, a report's attempts, and
//! downloads of a report's file (from disk or the bucket, [`download`]) and rows.
//!
//! Everything is read through the store's read-only handle, opened per
//! request ([`crate::archive::store::open_readonly`]), by its methods: no
//! SQL here. The page never migrates, claims or writes, so it runs beside
//! a daemon on the same state. Every answer is aggregated or paginated so
//! none grows with the history.
//! Assets are embedded ([`assets`]); answers carry a strict
//! Content-Security-Policy ([`headers`]); [`auth`] asks for the token when
//! `[web] token_file` is set, which a browser gives once in the [`login`] form.
//!
//! Served alone by the `serve` command, or by the daemon beside `/metrics`.

pub(crate) mod api;
pub(crate) mod assets;
pub(crate) mod auth;
pub(crate) mod calendar;
pub(crate) mod download;
pub(crate) mod failures;
pub(crate) mod headers;
pub(crate) mod listener;
pub(crate) mod login;
pub(crate) mod monitor;
pub(crate) mod months;
pub(crate) mod reports;
pub(crate) mod traffic;

use crate::archive::remote::reach::RemoteArchive;
use crate::config::Config;
use axum::Router;
use std::path::PathBuf;
use std::sync::Arc;

/// What the handlers read: the config (jobs, zones) and where the history
/// and the report files are.
pub(crate) struct Site {
    pub(crate) config: Config,
    pub(crate) db: PathBuf,
    pub(crate) reports_dir: PathBuf,
    /// In the daemon: its health (why a job's last fire stopped).
    pub(crate) health: Option<Arc<crate::serve::monitor::Health>>,
    /// `[storage.remote]`'s bucket, where a file whose local copy is gone
    /// is read from.
    pub(crate) remote: RemoteArchive,
}

impl Site {
    pub(crate) fn new(config: Config) -> Site {
        Site {
            db: config.storage.database_path(),
            reports_dir: config.storage.reports_dir.clone(),
            config,
            health: None,
            remote: RemoteArchive::Off,
        }
    }

    /// The page that reads files kept only in the bucket from `remote`.
    pub(crate) fn with_remote(mut self, remote: RemoteArchive) -> Site {
        self.remote = remote;
        self
    }

    /// The page served by the daemon, which shows why a fire stopped.
    pub(crate) fn with_health(mut self, health: Arc<crate::serve::monitor::Health>) -> Site {
        self.health = Some(health);
        self
    }

    /// Why the daemon's last fire of `job` stopped at an error no retry
    /// mends, with the fix (`None` outside the daemon, or when it did not).
    pub(crate) fn stopped(&self, job: &str) -> Option<String> {
        let health = self.health.as_ref()?;
        health
            .stopped()
            .into_iter()
            .find(|(j, _)| j == job)
            .map(|(_, t)| t)
    }
}

/// The page and its API, behind `auth` and the security headers.
pub(crate) fn router(site: Site, auth: Arc<auth::Auth>) -> Router {
    let site = Arc::new(site);
    Router::new()
        .merge(assets::routes())
        .merge(api::routes(site))
        .layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            auth::require,
        ))
        .merge(login::routes(auth))
        .layer(axum::middleware::map_response(headers::secure))
}
