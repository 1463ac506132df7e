//! `check --probe`: one real, signed `GetStatisticData` call for the
//! newest complete window of the first job (its first report), to test the
//! endpoint and the key before a run. Nothing is downloaded or written.
//! Prints the endpoint, where the credentials come from, the latency, the
//! request id and the verdict, with the fix when it failed (exit 1). With
//! `[storage.remote]`, the bucket is probed too ([`super::probe_bucket`]).

use crate::commands::exit::{Exit, Usage};
use crate::config::{Config, Job};
use crate::domain::report::Trigger;
use crate::fetch::plan;
use crate::fetch::retry::{self, Class};
use crate::fetch::setup;
use crate::tencent::api::{CallError, Client, StatisticRequest, client};
use crate::tencent::credentials::Provider;
use jiff::Timestamp;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

/// The call a probe makes: the first report of the newest complete window
/// of the first enabled job that has one, and that job's name.
fn probe_request(config: &Config, now: Timestamp) -> Option<(String, StatisticRequest)> {
    let back = now
        .checked_sub(std::time::Duration::from_secs(40 * 86_400))
        .ok()?;
    let newest = |job: &Arc<Job>| {
        plan::due_windows(job, now)
            .last()
            .copied()
            .or_else(|| plan::range_windows(job, back, now, now).0.last().copied())
    };
    config
        .jobs
        .iter()
        .filter(|j| j.enabled)
        .map(|j| Arc::new(j.clone()))
        .find_map(|job| {
            let window = newest(&job)?;
            let job = crate::archive::resolved::ResolvedJob::from_config(job);
            let first = plan::in_window(&job, window, Trigger::Manual).next()?;
            Some((job.name().to_string(), first.request()))
        })
}

pub(crate) async fn run(config_flag: Option<&std::path::Path>) -> super::exit::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let (source, found) = setup::find_credentials(&config)?;
    let Some((job, request)) = probe_request(&config, Timestamp::now()) else {
        return Err(Usage::NothingToProbe.into());
    };
    let http = client::http_client(&config.api).map_err(anyhow::Error::msg)?;
    let downloads = client::download_client(&config.api).map_err(anyhow::Error::msg)?;
    let provider = Provider::from_found(found, &config.credentials, http.clone());
    let limiter = setup::limiter(&config);
    let api = Client::new(http, downloads, config.api.clone(), provider, limiter);
    let t0 = Instant::now();
    let res = api.get_statistic_data(&request).await;
    let latency = t0.elapsed();
    let mut out = String::new();
    let _ = writeln!(out, "probe: endpoint {}", config.api.endpoint);
    let _ = writeln!(out, "probe: credentials: {source}");
    let _ = writeln!(
        out,
        "probe: GetStatisticData for job {job}, device {}, {}..{}: took {} ms",
        request.device_id,
        Timestamp::from_second(request.begin_time).map_or_else(|_| "?".into(), |t| t.to_string()),
        Timestamp::from_second(request.end_time).map_or_else(|_| "?".into(), |t| t.to_string()),
        latency.as_millis()
    );
    let exit = match &res {
        Ok(s) => {
            let _ = writeln!(out, "probe: request id {}", super::shown(&s.request_id));
            let _ = writeln!(
                out,
                "probe: ok: the endpoint answers and accepts the key (no file was downloaded, nothing written)"
            );
            Exit::Ok
        }
        Err(e) => {
            if let Some(r) = e.request_id() {
                let _ = writeln!(out, "probe: request id {}", super::shown(r));
            }
            let _ = writeln!(out, "probe: failed: {}", super::shown(&e.to_string()));
            let _ = writeln!(out, "  fix: {}", fix(e));
            Exit::Failed
        }
    };
    let exit = match super::probe_bucket::run(&config).await {
        Some((text, ok)) => {
            out.push_str(&text);
            if ok { exit } else { Exit::Failed }
        }
        None => exit,
    };
    match exit {
        Exit::Ok => super::print(&out)?,
        _ => {
            use std::io::Write;
            let _ = std::io::stderr().lock().write_all(out.as_bytes());
        }
    }
    Ok(exit)
}

/// What to do about a failed probe.
fn fix(e: &CallError) -> String {
    let known = match e {
        CallError::Api(api) => api.code.kind().hint(),
        CallError::Unreachable { why, .. } => Some(why.endpoint_fix()),
        _ => None,
    };
    match (known, retry::classify_call(e)) {
        (Some(h), _) => h.to_string(),
        (None, Class::Retry) => {
            "the API or the network failed for now; try again, and check api.endpoint and any proxy if it persists".to_string()
        }
        (None, _) => "check api.endpoint, the key and the job's devices".to_string(),
    }
}
