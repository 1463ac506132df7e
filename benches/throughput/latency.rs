//! The `latency` scenario: the whole process at the API's limit under the
//! default config (`rate_limit = 20`, no `concurrency`), 200 hourly reports,
//! with the fake answering each call in 0.1, 0.4 or 1.5 s (downloads wait
//! 0.2 s) and refusing any call past 20 in any 1 s span of arrivals. Each
//! latency runs under three networks ([`Net`]): strict (calls counted the
//! moment they arrive), a server clock up to 20 ms late, and ±50 ms of
//! jitter. The figure is the share of the limit the whole run used: the
//! least time any client obeying the server's rule could take (a run of 20
//! calls each second: 9 s for 200, plus one answer and one download),
//! divided by the process's wall time, start to exit.
//! Then the peak RSS of `fetch --dry-run` over a year of hourly reports for
//! 50 devices (438,000), and of fetching 5 MiB reports at 2 s latency.

use std::time::Duration;

use fake_mna::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Delay, FakeConfig};

use crate::Results;
use crate::harness::{Measured, secs_between};
use crate::rate::{max_in_any_second, sustained_rate};
use crate::world::{BIN, World};

const REPORTS: i64 = 200;
const LIMIT: u32 = 20;
const RSS_TARGET_MIB: f64 = 64.0;
const DOWNLOAD: Duration = Duration::from_millis(200);
const SHARE_TARGET: f64 = 0.95;

/// The network between mna-reportd and the fake, as the fake plays it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// Every call counted the moment it arrives.
    Strict,
    /// The server's clock up to 20 ms late: each call counted 0-20 ms
    /// (random) after it arrives.
    LateClock,
    /// Network jitter of ±50 ms: each call reaches the count 0-50 ms late
    /// (random; a round trip that varies by ±50 ms spreads each way over
    /// 50 ms), and each answer and download takes its latency ±50 ms.
    Jitter,
}

impl Net {
    pub const ALL: [Net; 3] = [Net::Strict, Net::LateClock, Net::Jitter];

    pub fn label(self) -> &'static str {
        match self {
            Net::Strict => "strict",
            Net::LateClock => "clock up to 20 ms late",
            Net::Jitter => "±50 ms jitter",
        }
    }

    fn spread(self) -> Duration {
        match self {
            Net::Jitter => Duration::from_millis(50),
            _ => Duration::ZERO,
        }
    }

    /// A latency as this network delivers it.
    fn delay(self, d: Duration) -> Delay {
        Delay::between(d.saturating_sub(self.spread()), d + self.spread())
    }

    fn fake(self, answer: Duration, download: Duration) -> FakeConfig {
        FakeConfig {
            rate_limit: Some(LIMIT),
            answer_delay: self.delay(answer),
            download_delay: self.delay(download),
            arrival_jitter: match self {
                Net::Strict => Duration::ZERO,
                Net::LateClock => Duration::from_millis(20),
                Net::Jitter => Duration::from_millis(50),
            },
            ..FakeConfig::default()
        }
    }

    /// The least wall time of `n` calls for any client: runs of `LIMIT`
    /// calls one second apart, then one answer and one download (their
    /// nominal latency: with jitter, the mean).
    fn floor(n: i64, answer: Duration, download: Duration) -> f64 {
        let seconds = (n + i64::from(LIMIT) - 1) / i64::from(LIMIT) - 1;
        seconds as f64 + answer.as_secs_f64() + download.as_secs_f64()
    }
}

fn fake(answer: Duration, download: Duration) -> FakeConfig {
    Net::LateClock.fake(answer, download)
}

fn latency_run(r: &mut Results, net: Net, answer: Duration) {
    let w = World::new(net.fake(answer, DOWNLOAD), LIMIT, 0);
    let tag = format!("answers in {:.1} s, {}", answer.as_secs_f64(), net.label());
    let label = format!("latency-{}ms-{net:?}", answer.as_millis());
    let run = w.fetch(REPORTS, &label);
    w.history().assert_all_ok(REPORTS as usize);
    let mut calls = w.fake.calls();
    calls.sort_by_key(|c| c.at);
    let floor = Net::floor(REPORTS, answer, DOWNLOAD);
    let wall = run.wall.as_secs_f64();
    let share = floor / wall;
    let refused = w.fake.rate_limited_count();
    r.check(
        "latency",
        &format!("whole process, share of the limit, {tag}"),
        format!(
            "{:.1} % ({wall:.2} s, floor {floor:.2} s, {} calls)",
            share * 100.0,
            calls.len()
        ),
        ">= 95 %",
        share >= SHARE_TARGET,
    );
    r.check(
        "latency",
        &format!("RequestLimitExceeded answered, {tag}"),
        refused.to_string(),
        "0",
        refused == 0,
    );
    let (Some(first), Some(last)) = (calls.first(), calls.last()) else {
        panic!("{label}: the fake saw no call");
    };
    let last_download = w.fake.downloads().iter().map(|d| d.at).max();
    let last_download = last_download.unwrap_or_else(|| panic!("{label}: no download"));
    r.info(
        "latency",
        &format!(
            "start -> 1st call / calls / last call -> last download / -> exit; arrivals; most in 1 s / in flight, {tag}"
        ),
        format!(
            "{:.3} / {:.2} / {:.2} / {:.3} s; {:.2} calls/s; {} / {}",
            secs_between(run.started, first.at),
            secs_between(first.at, last.at),
            secs_between(last.at, last_download),
            secs_between(last_download, run.ended),
            sustained_rate(&calls),
            max_in_any_second(&calls),
            w.fake.max_calls_in_flight()
        ),
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
         the fake refuses more than {LIMIT} calls in any 1 s of arrivals; downloads wait 0.2 s. \
         Networks: strict (counted on arrival); clock up to 20 ms late (each call counted 0-20 ms late); \
         ±50 ms jitter (each call counted 0-50 ms late, answers and downloads ±50 ms). \
         Share of the limit = floor / wall time of the process, floor = 9 s (10 runs of {LIMIT} calls \
         1 s apart) + one answer + one download (nominal latencies)"
    ));
    for net in Net::ALL {
        for ms in [100, 400, 1500] {
            latency_run(r, net, Duration::from_millis(ms));
        }
    }
    dry_run_rss(r);
    big_reports_rss(r);
}
