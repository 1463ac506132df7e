//! Fetching at the rate limit whatever the API's latency: the default
//! config keeps as many reports in flight as the latency needs, and the
//! server never counts more calls in a second than the limit (counted at
//! the fake, strictly, as they arrive). How much network jitter the pacing
//! survives is a figure of the throughput benchmark (`latency`, arrivals up
//! to 20 ms late); here the whole margin of the pacing is left to a busy
//! machine's scheduling, so that the test checks the behaviour only.

use crate::common;

use common::*;
use fake_mna::{CallRecord, Delay, FakeConfig};
use std::time::{Duration, SystemTime};

const LIMIT: u32 = 20;

/// The most calls whose arrivals at the fake lie within any 1 s span.
fn max_in_any_second(calls: &[CallRecord]) -> usize {
    let mut at: Vec<SystemTime> = calls.iter().map(|c| c.at).collect();
    at.sort();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..at.len() {
        while at[hi].duration_since(at[lo]).unwrap_or_default() >= Duration::from_secs(1) {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// A world whose fake answers in `answer`, serves files after `download`,
/// refuses any call past `LIMIT` in a second of arrivals; the config is the
/// default but for `rate_limit = LIMIT`.
fn world(answer: Duration, download: Duration) -> World {
    let cfg = FakeConfig {
        rate_limit: Some(LIMIT),
        answer_delay: Delay::fixed(answer),
        download_delay: Delay::fixed(download),
        ..FakeConfig::default()
    };
    let w = World::with(cfg, "", HOURLY);
    let settings = Settings {
        concurrency: None,
        ..Settings::default()
    };
    w.write_config_with(&settings, "", HOURLY);
    let text = std::fs::read_to_string(&w.config).expect("config");
    let text = text.replace("rate_limit = 200", &format!("rate_limit = {LIMIT}"));
    std::fs::write(&w.config, text).expect("config");
    w
}

#[test]
fn the_default_config_keeps_more_than_4_in_flight_and_never_exceeds_the_limit() {
    // 60 reports of 400 ms answers and 200 ms downloads: at 20 calls/s
    // about 8 answers are under way at any moment.
    let w = world(Duration::from_millis(400), Duration::from_millis(200));
    let out = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-03T12:00:00Z",
        &["-q"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 60)]);
    let calls = w.fake.calls();
    assert_eq!(calls.len(), 60, "a call was refused or repeated");
    assert_eq!(w.fake.rate_limited_count(), 0);
    assert!(
        w.fake.max_calls_in_flight() > 4,
        "at most {} calls in flight",
        w.fake.max_calls_in_flight()
    );
    let most = max_in_any_second(&calls);
    assert!(
        most <= LIMIT as usize,
        "{most} calls arrived within a second"
    );
}
