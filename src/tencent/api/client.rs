//! Sending `GetStatisticData` and the device listings: waits for the
//! process's rate limiter (and tells it of a `RequestLimitExceeded`, which
//! slows it down), signs
//! the request afresh (TC3, with the credentials current at that moment),
//! posts it and interprets the answer (its body read with a cap of
//! [`MAX_ANSWER`] bytes). One call, no retry: retrying is the caller's
//! decision ([`crate::fetch::retry`]).

use super::{
    ACTION, CONTENT_TYPE, CallError, MAX_ANSWER, SERVICE, StatisticRequest, Success, VERSION,
    listing,
};
use crate::config::Api;
use crate::tencent::credentials::Provider;
use crate::tencent::ratelimit::Limiter;
use crate::tencent::sign::{self, SignInput};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

/// The product's `X-TC-RequestClient`.
pub(crate) const REQUEST_CLIENT: &str = concat!("mna-reportd/", env!("CARGO_PKG_VERSION"));

/// The HTTP client cannot be set up (with the causes, see [`describe`]).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub(crate) struct ClientSetupError(String);

/// Build the process's HTTP client (rustls with the ring provider, system roots).
pub(crate) fn http_client(api: &Api) -> Result<reqwest::Client, ClientSetupError> {
    builder(api)
        .build()
        .map_err(|e| ClientSetupError(describe(&e)))
}

/// Idle download connections kept for reuse.
pub(crate) const DOWNLOAD_IDLE: usize = 4;

/// The HTTP client of downloads: apart from the API's, so that the read
/// buffers a connection grows while bringing a large file are not kept by
/// the many API connections waiting for slow answers, and with few idle
/// connections kept.
pub(crate) fn download_client(api: &Api) -> Result<reqwest::Client, ClientSetupError> {
    builder(api)
        .pool_max_idle_per_host(DOWNLOAD_IDLE)
        .build()
        .map_err(|e| ClientSetupError(describe(&e)))
}

/// How long an idle connection is kept for the next call or download.
const POOL_IDLE: Duration = Duration::from_secs(10);

fn builder(api: &Api) -> reqwest::ClientBuilder {
    // Installing the provider twice is harmless; the first one stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(REQUEST_CLIENT)
        .connect_timeout(api.timeout.min(Duration::from_secs(10)))
        .read_timeout(api.timeout)
        // A connection idle this long is closed: calls and downloads come
        // in runs (a catch-up, a fire) far apart, and while the pool holds a
        // connection its timer wakes the process.
        .pool_idle_timeout(POOL_IDLE)
        // No redirects: an API call carries X-TC-Token, which a redirect to
        // another host would pass on; pre-signed download URLs answer directly.
        .redirect(reqwest::redirect::Policy::none())
}

/// A reqwest error with its causes, for people (reqwest's top line alone says
/// "error sending request").
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    // URLs of pre-signed downloads carry signatures; keep them out of messages.
    if let Some(url) = e.url() {
        out = out.replace(url.as_str(), &redact_url(url));
    }
    out
}

/// A URL without its query string (pre-signed URLs carry credentials there).
pub(crate) fn redact_url(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    if u.query().is_some() {
        u.set_query(Some("…"));
    }
    u.to_string()
}

/// The API client of a process.
#[derive(Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    downloads: reqwest::Client,
    api: Arc<Api>,
    credentials: Provider,
    limiter: Arc<Limiter>,
}

impl Client {
    pub(crate) fn new(
        http: reqwest::Client,
        downloads: reqwest::Client,
        api: Api,
        credentials: Provider,
        limiter: Arc<Limiter>,
    ) -> Client {
        Client {
            http,
            downloads,
            api: Arc::new(api),
            credentials,
            limiter,
        }
    }

    /// The HTTP client of downloads.
    pub(crate) fn downloads(&self) -> &reqwest::Client {
        &self.downloads
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.api.timeout
    }

    /// The rate limiter every call goes through (it counts the calls sent).
    pub(crate) fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    /// One `GetStatisticData` call. Waits for the rate limiter first.
    pub(crate) async fn get_statistic_data(
        &self,
        req: &StatisticRequest,
    ) -> Result<Success, CallError> {
        self.get_statistic_data_timed(req).await.0
    }

    /// [`Self::get_statistic_data`], and when the request left, after the
    /// rate limiter's wait (`None` when it never left: no credentials).
    /// An attempt's start and duration are measured from there, so they
    /// tell the API's time, not the queue's.
    pub(crate) async fn get_statistic_data_timed(
        &self,
        req: &StatisticRequest,
    ) -> (Result<Success, CallError>, Option<Sent>) {
        let mut sent = None;
        let answer = match self.post(ACTION, req.to_body(), &mut sent).await {
            Ok(answer) => answer,
            Err(e) => return (Err(e), sent),
        };
        let result = match answer {
            Answer::Body(status, bytes) => super::parse_response(status, &bytes),
            Answer::TooLarge(status) => Err(CallError::ResponseTooLarge { status }),
        };
        self.count(&result);
        (result, sent)
    }

    /// One page of a device listing (`GetDevices`, `GetGroupDetail`), through
    /// the same rate limiter and signing as every call.
    pub(crate) async fn list_devices(
        &self,
        req: &listing::PageRequest,
    ) -> Result<listing::Page<listing::DeviceInfo>, CallError> {
        let result = match self.post(req.action, req.body.clone(), &mut None).await? {
            Answer::Body(status, bytes) => listing::parse_devices(status, &bytes),
            Answer::TooLarge(status) => Err(CallError::ResponseTooLarge { status }),
        };
        self.count(&result);
        result
    }

    /// Post `body` as `action`: wait for the rate limiter, sign, send, read
    /// the answer with its cap.
    async fn post(
        &self,
        action: &str,
        body: Vec<u8>,
        sent: &mut Option<Sent>,
    ) -> Result<Answer, CallError> {
        let creds = self.credentials.current().await?;
        self.limiter.acquire().await;
        // Signed after the wait, so the timestamp is the sending moment.
        let timestamp = jiff::Timestamp::now().as_second();
        *sent = Some(Sent {
            at: timestamp,
            instant: std::time::Instant::now(),
        });
        let authorization = sign::authorization(
            &creds.secret_id,
            &creds.secret_key,
            &SignInput {
                service: SERVICE,
                host: &self.api.host,
                content_type: CONTENT_TYPE,
                body: &body,
                timestamp,
            },
        );
        let mut rb = self
            .http
            .post(self.api.endpoint.clone())
            .timeout(self.api.timeout)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header("X-TC-Action", action)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-RequestClient", REQUEST_CLIENT);
        if let Some(token) = &creds.token {
            rb = rb.header("X-TC-Token", token.expose_secret());
        }
        if let Some(lang) = &self.api.language {
            rb = rb.header("X-TC-Language", lang);
        }
        if let Some(region) = &self.api.region {
            rb = rb.header("X-TC-Region", region);
        }
        let resp = rb.body(body).send().await.map_err(call_error)?;
        let status = resp.status().as_u16();
        match read_capped(resp, MAX_ANSWER).await {
            Ok(bytes) => Ok(Answer::Body(status, bytes)),
            Err(Capped::TooLarge) => Ok(Answer::TooLarge(status)),
            Err(Capped::Http(e)) => Err(call_error(e)),
        }
    }
}

/// When a call left, after the rate limiter's wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    /// Unix seconds (the request's `X-TC-Timestamp`).
    pub(crate) at: i64,
    pub(crate) instant: std::time::Instant,
}

/// What came back for a call: a status and body, or a body above the cap.
enum Answer {
    Body(u16, Vec<u8>),
    TooLarge(u16),
}

/// Count an interpreted answer in `mna_reportd_api_requests_total`.
impl Client {
    /// Count a call's outcome, and tell the limiter of a refusal for going
    /// over the limit.
    fn count<T>(&self, result: &Result<T, CallError>) {
        if let Err(CallError::Api(e)) = result
            && e.code.kind() == super::code::CodeKind::RequestLimitExceeded
        {
            self.limiter.refused();
        }
        count(result);
    }
}

fn count<T>(result: &Result<T, CallError>) {
    // The label from a fixed set: a server inventing codes adds no series.
    let code = match result {
        Ok(_) => "Success",
        Err(e) => super::code::metric_label(&e.code()),
    };
    metrics::counter!("mna_reportd_api_requests_total", "code" => code).increment(1);
}

/// Why [`read_capped`] gave no body.
pub(crate) enum Capped {
    TooLarge,
    Http(reqwest::Error),
}

/// The answer's body, read as a stream: refused on a `Content-Length` above
/// `cap`, and reading stops as soon as more than `cap` bytes came (a chunked
/// answer that never ends costs at most `cap` of memory).
pub(crate) async fn read_capped(resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, Capped> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(Capped::TooLarge);
    }
    let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(Capped::Http)?;
        if body.len() + chunk.len() > cap {
            return Err(Capped::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn call_error(e: reqwest::Error) -> CallError {
    metrics::counter!("mna_reportd_api_requests_total", "code" => if e.is_timeout() { "Timeout" } else { "ConnectionError" }).increment(1);
    if let Some(why) = crate::tencent::reach::unreachable(&e) {
        CallError::Unreachable {
            why,
            detail: describe(&e),
        }
    } else if e.is_timeout() {
        CallError::Timeout
    } else if e.is_connect() {
        CallError::Connect(describe(&e))
    } else {
        CallError::Transport(describe(&e))
    }
}
