//! Watching the daemon from outside: the Prometheus recorder behind the
//! `metrics` macros used across the program, and the HTTP listener of
//! `[metrics] listen` serving `GET /metrics` (Prometheus text) and
//! `GET /healthz` (200 only when the scheduler loop ticked recently and the
//! history database takes a write; else 503 with the reason), plus the
//! routes the layer above hands in (the page, when `[web] listen` is the
//! same address), and the spawning of a listener for routes of their own.
//!
//! Series (names are part of the interface):
//! `mna_reportd_reports_total{job,outcome}`, `mna_reportd_api_requests_total{code}`,
//! `mna_reportd_retries_total{job}`, `mna_reportd_last_success_timestamp_seconds{job}`,
//! `mna_reportd_missing_windows{job}`, `mna_reportd_download_bytes_total`,
//! `mna_reportd_discovery_failures_total{job,code}`.

use crate::archive::remote::outbox::{UploadState, UploadStatus};
use crate::serve::listener::{self, Shutdown, hosts::HostPolicy};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
// tokio's clock (the system's outside a paused test): the tests age the
// loop on a paused clock instead of waiting.
use tokio::time::Instant;
use tracing::{info, warn};

/// The loop is stuck when it has not ticked for this long (it ticks at
/// least every [`crate::daemon::timetable::MAX_SLEEP`]).
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(180);

/// How long the health probe waits for the database's write lock.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Install the process's Prometheus recorder and describe the series.
pub(crate) fn install() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    metrics::describe_counter!(
        "mna_reportd_reports_total",
        "Reports ended, by job and outcome (ok, failed)"
    );
    metrics::describe_counter!(
        "mna_reportd_api_requests_total",
        "GetStatisticData calls, by answer code (Success or the error code)"
    );
    metrics::describe_counter!(
        "mna_reportd_retries_total",
        "Tries of a report that failed and were retried, by job"
    );
    metrics::describe_gauge!(
        "mna_reportd_last_success_timestamp_seconds",
        "When the job's last report became ok (Unix seconds)"
    );
    metrics::describe_gauge!(
        "mna_reportd_missing_windows",
        "Reports due inside the job's horizon that are not done"
    );
    metrics::describe_counter!(
        "mna_reportd_download_bytes_total",
        "Bytes of report files downloaded"
    );
    metrics::describe_counter!(
        "mna_reportd_discovery_failures_total",
        "Device listings of a discovering job that failed, by error code (the job went on with the devices it knew)"
    );
    metrics::describe_gauge!(
        "mna_reportd_upload_backlog",
        "Reports sealed locally whose upload to [storage.remote] is not recorded yet"
    );
    metrics::describe_counter!(
        "mna_reportd_uploads_total",
        "Report uploads by outcome: sent (and verified), already-there (found complete after a crash), failed"
    );
    metrics::describe_counter!(
        "mna_reportd_upload_bytes_total",
        "Bytes of report files uploaded to [storage.remote]"
    );
    metrics::describe_gauge!(
        "mna_reportd_export_lag_seconds",
        "How long the oldest sealed report not yet exported to [export] to has waited (0: all exported)"
    );
    metrics::describe_gauge!(
        "mna_reportd_last_snapshot_timestamp_seconds",
        "When the newest history snapshot in the bucket of [storage.remote] was taken (Unix seconds)"
    );
    Ok(handle)
}

/// Why the history database does not take a write.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("{0}")]
    Path(#[from] std::ffi::NulError),
    #[error("{}: {source}", path.display())]
    NotWritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Database(#[from] crate::archive::store::StoreError),
}

/// One reason `/healthz` answers 503.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Reason {
    #[error("the scheduler loop last ticked {}s ago", .0.as_secs())]
    Stale(Duration),
    #[error("the history database is not writable: {0}")]
    Database(ProbeError),
    #[error("health check failed: {0}")]
    Check(tokio::task::JoinError),
    /// A fire found the history damaged: no report starts until it is replaced.
    #[error("{0}")]
    Damaged(String),
    /// The last fire of a job stopped at an error no retry mends (a wrong
    /// key or endpoint); the next fire tries again.
    #[error("job {job}: {text}")]
    Stopped { job: String, text: String },
    /// The bucket of `[storage.remote]` fails; reports wait locally.
    #[error("uploads: {backlog} reports wait, the bucket failing since {}: {text}", jiff::Timestamp::from_second(*since).map(|t| t.to_string()).unwrap_or_default())]
    Uploads {
        text: String,
        since: i64,
        backlog: u64,
    },
}

/// Every reason `/healthz` answers 503, joined by `; `.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(Reason::to_string).collect::<Vec<_>>().join("; "))]
pub(crate) struct Unhealthy(pub Vec<Reason>);

/// What the end of one fire says of the daemon's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FireHealth {
    /// The history turned out damaged: what happened and what to do.
    pub(crate) damaged: Option<String>,
    /// The fire stopped at an error no retry mends.
    pub(crate) stop: Option<Stop>,
    /// Some report of the fire got an answer (ok or failed).
    pub(crate) reached_api: bool,
}

/// An error no retry mends (a wrong key or endpoint) that stopped a fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stop {
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) fix: String,
}

/// What `/healthz` looks at.
pub(crate) struct Health {
    started: Instant,
    last_tick_ms: AtomicU64,
    db: PathBuf,
    stale_after: Duration,
    /// Set once a fire finds the history damaged (the probe's own small
    /// write may still succeed on a damaged file).
    damaged: std::sync::OnceLock<String>,
    /// Per job, why its last fire stopped at once (cleared by a fire that
    /// did not).
    stopped: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    /// The upload outbox of `[storage.remote]`, when there is one.
    uploads: std::sync::OnceLock<Arc<UploadStatus>>,
}

impl Health {
    pub(crate) fn new(db: &Path, stale_after: Duration) -> Health {
        Health {
            started: Instant::now(),
            last_tick_ms: AtomicU64::new(0),
            db: db.to_path_buf(),
            stale_after,
            damaged: std::sync::OnceLock::new(),
            stopped: Default::default(),
            uploads: std::sync::OnceLock::new(),
        }
    }

    /// Watch the upload outbox: unhealthy while the bucket fails.
    pub(crate) fn watch_uploads(&self, status: Arc<UploadStatus>) {
        let _ = self.uploads.set(status);
    }

    /// The upload outbox's state, when there is an outbox.
    pub(crate) fn uploads(&self) -> Option<UploadState> {
        self.uploads.get().map(|s| s.get())
    }

    /// The last fire of `job` stopped at an error no retry mends (`why`,
    /// with its fix), or (`None`) it did not: unhealthy until a fire of the
    /// job ends without such a stop.
    pub(crate) fn mark_stopped(&self, job: &str, why: Option<String>) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        match why {
            Some(text) => stopped.insert(job.to_string(), text),
            None => stopped.remove(job),
        };
    }

    /// What a fire of `job` that ended as `s` says of the daemon's health:
    /// a damaged history, a stop at an error no retry mends (logged once,
    /// with its fix), or a fire that reached the API unstopped (the stop's
    /// cause is gone).
    pub(crate) fn note_fire(&self, job: &str, s: &FireHealth) {
        if let Some(damaged) = &s.damaged {
            self.mark_damaged(damaged.clone());
        }
        if let Some(stop) = &s.stop {
            tracing::error!(job = %job, code = %stop.code, error = %stop.message, fix = %stop.fix, "fire stopped at an error no retry mends; its other reports were not tried; the next fire tries again");
            let text = format!("{}: {}; fix: {}", stop.code, stop.message, stop.fix);
            self.mark_stopped(job, Some(text));
        } else if s.reached_api {
            self.mark_stopped(job, None);
        }
    }

    /// Why the last fires of the jobs stopped, job by job.
    pub(crate) fn stopped(&self) -> Vec<(String, String)> {
        let stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        stopped
            .iter()
            .map(|(j, t)| (j.clone(), t.clone()))
            .collect()
    }

    /// The history was found damaged (`what` says so and what to do):
    /// unhealthy from now on.
    pub(crate) fn mark_damaged(&self, what: String) {
        let _ = self.damaged.set(what);
    }

    /// The scheduler loop is alive now.
    pub(crate) fn tick(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_tick_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the loop last ticked.
    pub(crate) fn loop_age(&self) -> Duration {
        let last = Duration::from_millis(self.last_tick_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    /// `Ok` when healthy, else the reasons.
    pub(crate) fn check(&self) -> Result<(), Unhealthy> {
        let mut reasons = Vec::new();
        let age = self.loop_age();
        if age > self.stale_after {
            reasons.push(Reason::Stale(age));
        }
        if let Err(e) = probe_db(&self.db) {
            reasons.push(Reason::Database(e));
        }
        if let Some(what) = self.damaged.get() {
            reasons.push(Reason::Damaged(what.clone()));
        }
        for (job, text) in self.stopped() {
            reasons.push(Reason::Stopped { job, text });
        }
        if let Some(UploadState {
            problem: Some((text, since, _)),
            backlog,
            ..
        }) = self.uploads()
        {
            reasons.push(Reason::Uploads {
                text,
                since,
                backlog,
            });
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Unhealthy(reasons))
        }
    }
}

/// Whether this process may write `path` (effective ids; a read-only file
/// system answers no even to root).
fn writable(path: &Path) -> Result<(), ProbeError> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) };
    if rc == 0 {
        Ok(())
    } else {
        Err(ProbeError::NotWritable {
            path: path.to_path_buf(),
            source: std::io::Error::last_os_error(),
        })
    }
}

/// Prove the database at `path` takes a write: the file and its directory
/// (where SQLite keeps its WAL) are writable, and the store commits a
/// tiny change within [`PROBE_TIMEOUT`] ([`crate::archive::store::probe`]:
/// a stuck writer holding the lock fails it).
pub(crate) fn probe_db(path: &Path) -> Result<(), ProbeError> {
    writable(path)?;
    if let Some(dir) = path.parent() {
        writable(dir)?;
    }
    crate::archive::store::probe::probe_write(path, PROBE_TIMEOUT)?;
    Ok(())
}

#[derive(Clone)]
struct AppState {
    metrics: PrometheusHandle,
    health: Arc<Health>,
}

async fn metrics_page(State(s): State<AppState>) -> impl IntoResponse {
    s.metrics.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    let health = s.health.clone();
    let verdict = tokio::task::spawn_blocking(move || health.check())
        .await
        .unwrap_or_else(|e| Err(Unhealthy(vec![Reason::Check(e)])));
    match verdict {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {reason}\n"),
        ),
    }
}

/// The routes of the listener.
fn router(metrics: PrometheusHandle, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .with_state(AppState { metrics, health })
}

/// Bind `listen` and serve `/metrics`, `/healthz` and `extra` (the page,
/// when it shares the address) to the `Host` names `hosts` allows, until
/// `shutdown`. Returns the bound address.
pub(crate) async fn serve_with(
    listen: SocketAddr,
    metrics: PrometheusHandle,
    health: Arc<Health>,
    extra: Router,
    hosts: HostPolicy,
    shutdown: Shutdown,
) -> std::io::Result<SocketAddr> {
    let listener = listener::bind(listen)?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        warn!(%addr, "the metrics listener is reachable from other hosts; it has no authentication");
    }
    info!(%addr, "serving /metrics and /healthz");
    spawn(
        listener,
        router(metrics, health).merge(extra),
        hosts,
        shutdown,
    );
    Ok(addr)
}

/// Serve `app` on `listener` ([`crate::serve::listener::serve`]) until `shutdown`.
pub(crate) fn spawn(
    listener: tokio::net::TcpListener,
    app: Router,
    hosts: HostPolicy,
    shutdown: Shutdown,
) {
    tokio::spawn(listener::serve(listener, app, hosts, shutdown));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_fire_is_unhealthy_until_a_clean_fire_of_its_job() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = d.path().join("history.db");
        crate::archive::store::Store::open(&db).expect("open");
        let h = Health::new(&db, Duration::from_secs(60));
        h.tick();
        assert_eq!(h.check().map_err(|e| e.to_string()), Ok(()));
        let stopped = FireHealth {
            stop: Some(Stop {
                code: "AuthFailure.SecretIdNotFound".into(),
                message: "unknown key".into(),
                fix: "check the key in use".into(),
            }),
            ..FireHealth::default()
        };
        h.note_fire("h", &stopped);
        let why = h.check().expect_err("unhealthy").to_string();
        assert!(why.contains("job h: AuthFailure.SecretIdNotFound"), "{why}");
        assert!(why.contains("fix: check the key in use"), "{why}");
        // a fire with nothing to do proves nothing; one that reached the API does
        h.note_fire("h", &FireHealth::default());
        assert!(h.check().is_err());
        h.note_fire(
            "h",
            &FireHealth {
                reached_api: true,
                ..FireHealth::default()
            },
        );
        assert!(h.check().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn health_is_bad_when_the_loop_is_stale_or_the_database_missing() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = d.path().join("h.db");
        crate::archive::store::Store::open(&db).expect("open");
        let h = Health::new(&db, Duration::from_millis(50));
        h.tick();
        assert_eq!(h.check().map_err(|e| e.to_string()), Ok(()));
        tokio::time::advance(Duration::from_millis(120)).await;
        let err = h.check().expect_err("stale loop").to_string();
        assert!(err.contains("scheduler loop"), "{err}");
        h.tick();
        h.mark_damaged("the history database h.db is damaged".to_string());
        let err = h.check().expect_err("damaged history").to_string();
        assert!(err.contains("is damaged"), "{err}");
        let gone = Health::new(&d.path().join("absent/h.db"), Duration::from_secs(60));
        gone.tick();
        assert!(
            gone.check()
                .expect_err("no db")
                .to_string()
                .contains("not writable")
        );
    }

    /// The answer of the route `path` (`/healthz` or `/metrics`) of [`router`].
    async fn answer(state: &AppState, path: &str) -> (u16, String) {
        let response = match path {
            "/healthz" => healthz(State(state.clone())).await.into_response(),
            _ => metrics_page(State(state.clone())).await.into_response(),
        };
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// On a paused clock: the loop is stuck once the clock has moved past
    /// the limit without a tick, not after a wait that might be too short.
    #[tokio::test(start_paused = true)]
    async fn healthz_answers_503_with_the_reason_when_the_loop_is_stuck() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = d.path().join("h.db");
        crate::archive::store::Store::open(&db).expect("open");
        let health = Arc::new(Health::new(&db, Duration::from_millis(200)));
        health.tick();
        let state = AppState {
            metrics: PrometheusBuilder::new().build_recorder().handle(),
            health: health.clone(),
        };
        assert_eq!(answer(&state, "/healthz").await.0, 200);
        // the loop stops ticking
        tokio::time::advance(Duration::from_millis(400)).await;
        let (status, body) = answer(&state, "/healthz").await;
        assert_eq!(status, 503);
        assert!(body.contains("scheduler loop last ticked"), "{body}");
        health.tick();
        assert_eq!(answer(&state, "/healthz").await.0, 200);
        let (status, body) = answer(&state, "/metrics").await;
        assert_eq!(status, 200, "{body}");
    }
}
