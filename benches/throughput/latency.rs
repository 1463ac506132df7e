//! The `latency` scenario: the API's real latency under the default config.
//! The fake answers each call in 0.1, 0.4 or 1.5 s (downloads wait 0.2 s),
//! counts at most 20 calls in any 1 s span and counts each call up to 20 ms
//! late (arrivals jitter as over a network); mna-reportd, with
//! `rate_limit = 20` and no `concurrency` set, fetches 200 hourly reports.
//! Then the peak RSS of `fetch --dry-run` over a year of hourly reports for
//! 50 devices (438,000), and of fetching 5 MiB reports at 2 s latency.

use std::time::Duration;

use fake_mna::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Delay, FakeConfig};

use crate::Results;
use crate::harness::Measured;
use crate::rate::{max_in_any_second, sustained_rate};
use crate::world::{BIN, World};

const REPORTS: i64 = 200;
const LIMIT: u32 = 20;
const RSS_TARGET_MIB: f64 = 64.0;

fn fake(answer: Duration, download: Duration) -> FakeConfig {
    FakeConfig {
        rate_limit: Some(LIMIT),
        answer_delay: Delay::fixed(answer),
        download_delay: Delay::fixed(download),
        arrival_jitter: Duration::from_millis(20),
        ..FakeConfig::default()
    }
}

fn latency_run(r: &mut Results, answer: Duration) {
    let w = World::new(fake(answer, Duration::from_millis(200)), LIMIT, 0);
    let tag = format!("answers in {:.1} s", answer.as_secs_f64());
    let run = w.fetch(REPORTS, &format!("latency-{}ms", answer.as_millis()));
    w.history().assert_all_ok(REPORTS as usize);
    let mut calls = w.fake.calls();
    calls.sort_by_key(|c| c.at);
    let share = sustained_rate(&calls) / f64::from(LIMIT);
    let refused = w.fake.rate_limited_count();
    r.check(
        "latency",
        &format!("calls/s as a share of the limit, {tag}"),
        format!("{:.1} % ({} calls)", share * 100.0, calls.len()),
        ">= 95 %",
        share >= 0.95,
    );
    r.check(
        "latency",
        &format!("RequestLimitExceeded answered, {tag}"),
        refused.to_string(),
        "0",
        refused == 0,
    );
    r.info(
        "latency",
        &format!("most calls arriving in any 1 s / most answered at once, {tag}"),
        format!(
            "{} / {}",
            max_in_any_second(&calls),
            w.fake.max_calls_in_flight()
        ),
    );
    r.info(
        "latency",
        &format!("wall time of the fetch, {tag}"),
        format!("{:.2} s", run.wall.as_secs_f64()),
    );
    r.keep.push(w.dir);
}

/// Peak RSS of `fetch --dry-run` of a year of hourly reports for 50 devices.
fn dry_run_rss(r: &mut Results) {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let devices: Vec<String> = (0..50).map(|i| format!("\"mna-{i:02}\"")).collect();
    let config = dir.path().join("config.toml");
    let text = format!(
        "[api]\nendpoint = \"http://127.0.0.1:9\"\n\n[storage]\nstate_dir = \"state\"\n\n\
         [[jobs]]\nname = \"year\"\ngranularity = \"hourly\"\ntimezone = \"UTC\"\n\
         devices = [{}]\nper_device = true\n",
        devices.join(", ")
    );
    std::fs::write(&config, text).expect("write the config");
    let mut m = Measured::new(BIN, dir.path(), "latency-dry-run");
    m.cmd()
        .arg("--config")
        .arg(&config)
        .args(["fetch", "--job", "year", "--dry-run"])
        .args([
            "--from",
            "2025-01-01T00:00:00Z",
            "--to",
            "2026-01-01T00:00:00Z",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", DEFAULT_SECRET_KEY);
    let run = m.run();
    run.expect_success("mna-reportd fetch --dry-run (438,000 reports)");
    let text = &run.stdout;
    let listed = text.lines().filter(|l| l.contains('\t')).count();
    assert_eq!(listed, 438_000, "reports listed by the dry run");
    let estimate = text
        .lines()
        .find_map(|l| l.strip_prefix("estimate: "))
        .unwrap_or("none")
        .to_string();
    r.check(
        "latency",
        "peak RSS of fetch --dry-run, 438,000 reports",
        format!("{:.1} MiB ({:.1} s)", run.rss_mib(), run.wall.as_secs_f64()),
        "< 64 MiB",
        run.rss_mib() < RSS_TARGET_MIB,
    );
    r.info("latency", "its estimate", estimate);
    r.keep.push(dir);
}

/// Peak RSS of fetching 5 MiB reports at 2 s latency, at the limit.
fn big_reports_rss(r: &mut Results) {
    let cfg = FakeConfig {
        file_bytes: Some(5 << 20),
        ..fake(Duration::from_secs(2), Duration::from_millis(200))
    };
    let w = World::new(cfg, LIMIT, 0);
    let n = 100;
    let run = w.fetch(n, "latency-5mib");
    w.history().assert_all_ok(n as usize);
    let mut calls = w.fake.calls();
    calls.sort_by_key(|c| c.at);
    r.check(
        "latency",
        "peak RSS fetching 100 reports of 5 MiB, answers in 2 s",
        format!(
            "{:.1} MiB ({:.1} % of the limit, {} in flight at most)",
            run.rss_mib(),
            sustained_rate(&calls) / f64::from(LIMIT) * 100.0,
            w.fake.max_calls_in_flight()
        ),
        "< 64 MiB",
        run.rss_mib() < RSS_TARGET_MIB,
    );
    r.keep.push(w.dir);
}

pub fn scenario(r: &mut Results) {
    r.note(format!(
        "latency: {REPORTS} hourly reports, default config (`rate_limit = {LIMIT}`, no `concurrency`); \
         the fake refuses more than {LIMIT} calls in any 1 s and counts each call up to 20 ms late; \
         downloads wait 0.2 s; share of the limit = (calls - 1) / (last arrival - first arrival) / {LIMIT}"
    ));
    for ms in [100, 400, 1500] {
        latency_run(r, Duration::from_millis(ms));
    }
    dry_run_rss(r);
    big_reports_rss(r);
}
