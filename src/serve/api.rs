//! The JSON API (the page's own, and for scripts). Every route is a GET;
//! every answer is aggregated or a page, never the whole history:
//!
//! - `/api/jobs`: per job its status (as `status --format json`, the upload
//!   backlog and lag included), cadence and its first [`MAX_CHOICES`] targets with their total
//! - `/api/jobs/{job}/targets[?limit=&offset=]`: a page of its targets and regions, with the total
//! - `/api/jobs/{job}/calendar?month=YYYY-MM|day=YYYY-MM-DD[&target=&region=]`: cells with states
//! - `/api/jobs/{job}/reports?start=&end=[&limit=&offset=]`: the reports of one window
//! - `/api/jobs/{job}/traffic?month=|day=`: numeric columns summed per window, total and top targets
//! - `/api/failures[?limit=&offset=]`: failed and missing reports inside the horizon, newest first
//! - `/api/runs[?limit=&job=]`: the newest recorded fires and manual fetches (at most [`MAX_RUNS`])
//! - `/api/reports/{id}`: a report with its attempts and hint
//! - `/api/reports/{id}/file`: its xlsx (ok reports only; from disk, or from the bucket through
//!   this process, see [`super::download`]); `/api/reports/{id}/rows.csv`: its rows

use super::Site;
use super::calendar::{self, Filter};
use super::months::Span;
use super::{failures, reports, traffic};
use crate::archive::resolved::{self, ResolvedJob};
use crate::archive::status;
use crate::archive::store::{self, Reader, StoreError};
use crate::config::Job;
use crate::domain::report::RegionScope;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An answer other than 200: its status and what to do, as `{"error": ...}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(super) fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, what)
    }

    fn bad(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, what)
    }
}

impl ApiError {
    /// A read of the history that failed (`e` says how).
    fn database(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("history database error: {e}"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            // Its text already says "history database error".
            StoreError::Sql(_) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            e => ApiError::database(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

/// Run `f` with a read-only handle on the history, off the async threads.
pub(super) async fn with_db<R: Send + 'static>(
    site: &Arc<Site>,
    f: impl FnOnce(&Reader, &Site) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    let site = site.clone();
    tokio::task::spawn_blocking(move || {
        if !site.db.exists() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no history at {} yet; it appears with the first fetch",
                    site.db.display()
                ),
            ));
        }
        let conn = store::open_readonly(&site.db)
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        f(&conn, &site)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// The job named `name`, with the targets it has now (a discovering job's
/// devices from the inventory).
fn job_of(conn: &Reader, site: &Site, name: &str) -> Result<ResolvedJob, ApiError> {
    let job = site
        .config
        .job(name)
        .ok_or_else(|| ApiError::not_found(format!("no job named {name:?}")))?;
    Ok(conn.read(|c| resolved::resolve(c, &Arc::new(job.clone())))?)
}

/// Every job of the config, with the targets it has now.
fn jobs_now(conn: &Reader, site: &Site) -> Result<Vec<ResolvedJob>, ApiError> {
    site.config
        .jobs
        .iter()
        .map(|j| Ok(conn.read(|c| resolved::resolve(c, &Arc::new(j.clone())))?))
        .collect()
}

pub(crate) fn routes(site: Arc<Site>) -> Router {
    Router::new()
        .route("/api/jobs", get(jobs))
        .route("/api/jobs/{job}/targets", get(targets_of))
        .route("/api/jobs/{job}/calendar", get(calendar_of))
        .route("/api/jobs/{job}/reports", get(window_reports))
        .route("/api/jobs/{job}/traffic", get(traffic_of))
        .route("/api/failures", get(failures_of))
        .route("/api/runs", get(runs_of))
        .route("/api/reports/{id}", get(report))
        .route("/api/reports/{id}/file", get(super::download::file))
        .route("/api/reports/{id}/rows.csv", get(rows_csv))
        .with_state(site)
}

/// A target and region of a job, as the calendar's picker offers them.
#[derive(Debug, Serialize)]
pub(crate) struct Choice {
    pub(crate) target: String,
    /// As stored (`""` for all regions).
    pub(crate) region: String,
    pub(crate) label: String,
}

/// A job on the overview.
#[derive(Debug, Serialize)]
pub(crate) struct JobView {
    #[serde(flatten)]
    pub(crate) status: status::JobStatus,
    pub(crate) granularity: crate::domain::target::Granularity,
    pub(crate) timezone: String,
    pub(crate) schedule: Option<String>,
    pub(crate) window_seconds: u64,
    pub(crate) step_seconds: u64,
    pub(crate) lag_seconds: u64,
    pub(crate) catch_up_seconds: u64,
    /// The hint for the last error's code.
    pub(crate) last_error_hint: Option<&'static str>,
    /// In the daemon: why the job's last fire stopped at once (a wrong key
    /// or endpoint), with the fix; the next fire tries again.
    pub(crate) stopped: Option<String>,
    /// The first [`MAX_CHOICES`] targets and regions; the rest through
    /// `/api/jobs/{job}/targets`.
    pub(crate) choices: Vec<Choice>,
    /// How many targets and regions the job has in all.
    pub(crate) choices_total: usize,
    /// With `[storage.remote]`: reports waiting for their upload, and how
    /// long the oldest has waited.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub(crate) upload: Option<status::Upload>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Jobs {
    pub(crate) now: i64,
    pub(crate) jobs: Vec<JobView>,
}

/// How many targets and regions `/api/jobs` lists per job.
pub(crate) const MAX_CHOICES: usize = 100;

/// The targets and regions of `job`, `limit` of them from `offset` on, in
/// the job's order.
fn choices(resolved: &ResolvedJob, offset: usize, limit: usize) -> Vec<Choice> {
    let job = resolved.job();
    let regions = job.regions.len().max(1);
    resolved
        .targets()
        .iter()
        .skip(offset / regions)
        .flat_map(|t| {
            job.regions.iter().map(move |r| {
                let scope = RegionScope::from(*r);
                Choice {
                    target: t.label(),
                    region: scope.stored().to_string(),
                    label: format!("{} ({})", t.label(), scope),
                }
            })
        })
        .skip(offset % regions)
        .take(limit)
        .collect()
}

fn choices_total(job: &ResolvedJob) -> usize {
    job.targets().len().saturating_mul(job.job().regions.len())
}

async fn jobs(State(site): State<Arc<Site>>) -> Answer<Jobs> {
    with_db(&site, |conn, site| {
        let now = Timestamp::now();
        let backlog = match site.remote.is_set() {
            true => Some(conn.upload_backlog()?),
            false => None,
        };
        let mut jobs = Vec::new();
        for resolved in jobs_now(conn, site)? {
            let job = &**resolved.job();
            let st = conn.read(|c| status::job_status(c, job, now))?;
            jobs.push(JobView {
                last_error_hint: reports::hint(st.last_error.as_ref().map(|e| e.code.as_str())),
                stopped: site.stopped(&job.name),
                status: st,
                granularity: job.granularity,
                timezone: job.timezone.clone(),
                schedule: job.schedule.as_ref().map(|s| s.as_str().to_string()),
                window_seconds: job.cadence.window().nominal_secs(),
                step_seconds: job.cadence.step().nominal_secs(),
                lag_seconds: job.lag.as_secs(),
                catch_up_seconds: job.catch_up.as_secs(),
                choices: choices(&resolved, 0, MAX_CHOICES),
                choices_total: choices_total(&resolved),
                upload: backlog
                    .as_deref()
                    .map(|b| status::upload_of(b, &job.name, now.as_second())),
            });
        }
        Ok(Jobs {
            now: now.as_second(),
            jobs,
        })
    })
    .await
    .map(Json)
}

/// A page of a job's targets and regions, and how many there are in all.
#[derive(Debug, Serialize)]
pub(crate) struct Choices {
    pub(crate) total: usize,
    pub(crate) offset: usize,
    pub(crate) items: Vec<Choice>,
}

async fn targets_of(
    State(site): State<Arc<Site>>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Answer<Choices> {
    with_db(&site, move |conn, site| {
        let job = &job_of(conn, site, &name)?;
        let limit = q.limit.unwrap_or(100).min(MAX_PAGE) as usize;
        let offset = q.offset.unwrap_or(0) as usize;
        Ok(Choices {
            total: choices_total(job),
            offset,
            items: choices(job, offset, limit),
        })
    })
    .await
    .map(Json)
}

#[derive(Debug, Deserialize)]
pub(crate) struct RangeQuery {
    month: Option<String>,
    day: Option<String>,
    target: Option<String>,
    region: Option<String>,
}

fn range_of(job: &Job, q: &RangeQuery) -> Result<(Timestamp, Timestamp), ApiError> {
    let zone = job.cadence.zone();
    let today = Timestamp::now().to_zoned(zone.clone()).date();
    Span::parse(q.month.as_deref(), q.day.as_deref(), today)
        .and_then(|s| s.instants(zone))
        .map_err(|e| ApiError::bad(e.to_string()))
}

#[derive(Debug, Serialize)]
pub(crate) struct Calendar {
    pub(crate) job: String,
    pub(crate) timezone: String,
    pub(crate) from: i64,
    pub(crate) to: i64,
    pub(crate) now: i64,
    pub(crate) expected: u64,
    pub(crate) cells: Vec<calendar::Cell>,
}

async fn calendar_of(
    State(site): State<Arc<Site>>,
    Path(name): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Answer<Calendar> {
    with_db(&site, move |conn, site| {
        let resolved = job_of(conn, site, &name)?;
        let job = &**resolved.job();
        let (from, to) = range_of(job, &q)?;
        let filter = Filter {
            target: q.target.clone().filter(|t| !t.is_empty()),
            region: q.region.clone(),
        };
        let now = Timestamp::now();
        let cells = calendar::cells(conn, &resolved, from, to, &filter, now)?.ok_or_else(|| {
            ApiError::bad(format!(
                "more than {} windows; ask for a day (day=YYYY-MM-DD)",
                calendar::MAX_CELLS
            ))
        })?;
        Ok(Calendar {
            job: job.name.clone(),
            timezone: job.timezone.clone(),
            from: from.as_second(),
            to: to.as_second(),
            now: now.as_second(),
            expected: filter.expected(&resolved),
            cells,
        })
    })
    .await
    .map(Json)
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    start: Option<i64>,
    end: Option<i64>,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// The most items one page holds.
pub(crate) const MAX_PAGE: u32 = 500;

async fn window_reports(
    State(site): State<Arc<Site>>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Answer<Vec<reports::Report>> {
    with_db(&site, move |conn, site| {
        let resolved = job_of(conn, site, &name)?;
        let job = &**resolved.job();
        let (Some(start), Some(end)) = (q.start, q.end) else {
            return Err(ApiError::bad(
                "give the window as start=&end= (Unix seconds)",
            ));
        };
        let limit = q.limit.unwrap_or(100).min(MAX_PAGE);
        Ok(conn.window_reports(&job.name, start, end, limit, q.offset.unwrap_or(0))?)
    })
    .await
    .map(Json)
}

async fn traffic_of(
    State(site): State<Arc<Site>>,
    Path(name): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Answer<traffic::Traffic> {
    with_db(&site, move |conn, site| {
        let resolved = job_of(conn, site, &name)?;
        let job = &**resolved.job();
        let (from, to) = range_of(job, &q)?;
        if calendar::windows(job, from, to).is_none() {
            return Err(ApiError::bad(
                "too many windows; ask for a day (day=YYYY-MM-DD)",
            ));
        }
        Ok(traffic::traffic(conn, job, from, to)?)
    })
    .await
    .map(Json)
}

async fn failures_of(
    State(site): State<Arc<Site>>,
    Query(q): Query<PageQuery>,
) -> Answer<failures::Page> {
    with_db(&site, move |conn, site| {
        let limit = q.limit.unwrap_or(100).min(MAX_PAGE) as usize;
        let offset = q.offset.unwrap_or(0) as usize;
        Ok(failures::failures(
            conn,
            &jobs_now(conn, site)?,
            Timestamp::now(),
            offset,
            limit,
        )?)
    })
    .await
    .map(Json)
}

/// The most runs `/api/runs` answers.
pub(crate) const MAX_RUNS: u32 = 100;

#[derive(Debug, Deserialize)]
pub(crate) struct RunsQuery {
    limit: Option<u32>,
    job: Option<String>,
}

async fn runs_of(
    State(site): State<Arc<Site>>,
    Query(q): Query<RunsQuery>,
) -> Answer<Vec<store::runs::RunRow>> {
    with_db(&site, move |conn, _| {
        let limit = q.limit.unwrap_or(10).min(MAX_RUNS);
        Ok(conn.runs(q.job.as_deref(), limit)?)
    })
    .await
    .map(Json)
}

#[derive(Debug, Serialize)]
pub(crate) struct ReportView {
    #[serde(flatten)]
    pub(crate) report: reports::Report,
    pub(crate) attempts_list: Vec<reports::Attempt>,
}

async fn report(State(site): State<Arc<Site>>, Path(id): Path<i64>) -> Answer<ReportView> {
    with_db(&site, move |conn, _| {
        let (report, attempts_list) = conn
            .report_with_attempts(id)?
            .ok_or_else(|| ApiError::not_found(format!("no report {id}")))?;
        Ok(ReportView {
            report,
            attempts_list,
        })
    })
    .await
    .map(Json)
}

/// A writer whose every write goes to the answer's body as one chunk; a
/// write fails once the client has gone (the receiver is dropped).
struct BodyWriter(tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>);

impl std::io::Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Chunks of the rows download in flight between the reader and the client.
const ROWS_CHUNKS_IN_FLIGHT: usize = 4;

/// The rows of a report as CSV, streamed: read from the history a batch at
/// a time and written as the body goes, so memory stays flat whatever the
/// report's size.
async fn rows_csv(
    State(site): State<Arc<Site>>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    with_db(&site, move |conn, _| match conn.report(id)? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("no report {id}"))),
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel(ROWS_CHUNKS_IN_FLIGHT);
    let db = site.db.clone();
    tokio::task::spawn_blocking(move || {
        let result = store::open_readonly(&db)
            .map_err(|e| e.to_string())
            .and_then(|conn| {
                reports::write_rows_csv(&conn, id, std::io::BufWriter::new(BodyWriter(tx.clone())))
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = result
            && !tx.is_closed()
        {
            tracing::warn!(report = id, error = %e, "the rows download stopped");
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"report-{id}-rows.csv\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
