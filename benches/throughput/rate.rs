//! The `rate` scenario: throughput under the API's rate limit. The fake
//! refuses more than 20 calls in any 1 s span; mna-reportd, with
//! `rate_limit = 20`, fetches 200 hourly reports at concurrency 8 and 4.
//! Owns the figures computed from the fake's call records.

use fake_mna::{CallRecord, FakeConfig};

use crate::Results;
use crate::harness::secs_between;
use crate::world::World;

const RATE_REPORTS: i64 = 200;
const RATE_LIMIT: u32 = 20;
/// (calls - 1) / (last arrival - first arrival).
pub fn sustained_rate(calls: &[CallRecord]) -> f64 {
    match (calls.first(), calls.last()) {
        (Some(first), Some(last)) if calls.len() > 1 => {
            (calls.len() - 1) as f64 / secs_between(first.at, last.at)
        }
        _ => 0.0,
    }
}

/// The most calls whose arrivals lie within any 1 s span.
pub fn max_in_any_second(calls: &[CallRecord]) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..calls.len() {
        while secs_between(calls[lo].at, calls[hi].at) >= 1.0 {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// Runs of calls separated by pauses over 100 ms: (runs, longest pause s).
fn bursts(calls: &[CallRecord]) -> (usize, f64) {
    let gaps: Vec<f64> = calls
        .windows(2)
        .map(|w| secs_between(w[0].at, w[1].at))
        .collect();
    let pauses = gaps.iter().filter(|g| **g > 0.1).count();
    (pauses + 1, gaps.iter().copied().fold(0.0, f64::max))
}

fn rate_run(r: &mut Results, concurrency: usize) {
    let cfg = FakeConfig {
        rate_limit: Some(RATE_LIMIT),
        ..FakeConfig::default()
    };
    let w = World::new(cfg, RATE_LIMIT, concurrency);
    let run = w.fetch(RATE_REPORTS, &format!("rate-c{concurrency}"));
    w.history().assert_all_ok(RATE_REPORTS as usize);
    let mut calls = w.fake.calls();
    calls.sort_by_key(|c| c.at);
    assert!(
        w.fake.ok_calls() >= RATE_REPORTS as usize,
        "the fake answered fewer calls than reports"
    );
    let rate = sustained_rate(&calls);
    let refused = w.fake.rate_limited_count();
    let tag = format!("concurrency {concurrency}");
    r.check(
        "rate",
        &format!("sustained calls/s, {tag}"),
        format!("{rate:.2} ({} calls)", calls.len()),
        ">= 19",
        rate >= 19.0,
    );
    r.check(
        "rate",
        &format!("RequestLimitExceeded answered, {tag}"),
        refused.to_string(),
        "0",
        refused == 0,
    );
    r.info(
        "rate",
        &format!("most calls in any 1 s, {tag}"),
        max_in_any_second(&calls).to_string(),
    );
    let (runs, pause) = bursts(&calls);
    r.info(
        "rate",
        &format!("arrivals: runs of calls / longest pause, {tag}"),
        format!("{runs} / {pause:.3} s"),
    );
    r.info(
        "rate",
        &format!("wall time of the fetch, {tag}"),
        format!("{:.2} s", run.wall.as_secs_f64()),
    );
    r.keep.push(w.dir);
}

pub fn scenario(r: &mut Results) {
    r.note(format!(
        "rate: {RATE_REPORTS} hourly reports; fake refuses more than {RATE_LIMIT} calls in any 1 s; \
         mna-reportd rate_limit = {RATE_LIMIT}; sustained calls/s = (calls - 1) / (last arrival - first arrival). \
         When calls arrive in runs (a limiter that lets {RATE_LIMIT} go at once, then waits for its window \
         to roll), that counts the last run whole and reads above the long-run rate"
    ));
    for concurrency in [8, 4] {
        rate_run(r, concurrency);
    }
}
