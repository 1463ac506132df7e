//! The `cpu` and `idle` scenarios: what a report costs the machine, and
//! what the daemon costs it while it waits.
//!
//! - `cpu`: CPU time (user + sys) of the whole `mna-reportd fetch` process
//!   per report, over 300 hourly reports from an unthrottled local fake
//!   (its workbooks built before the clock starts), median of 3 runs.
//! - `idle`: `mna-reportd run` with one hourly job against the fake; once
//!   its catch-up is done (the log says `fire done`) and the blocking
//!   threads it used have gone, the context switches of all its threads
//!   (each wake-up of any thread is one) over [`SAMPLE`], and its resident
//!   memory (VmRSS) at the end. The same as `bench/idle.sh`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_mna::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, FakeConfig, FakeMna};

use crate::Results;
use crate::clients::{Env, each, reportd_run};
use crate::harness::median;
use crate::sdk::SDK_REPORTS;
use crate::world::{BIN, loopback};

const CPU_RUNS: usize = 3;
const CPU_TARGET_MS: f64 = 0.4;
/// How long the idle daemon is watched.
const SAMPLE: Duration = Duration::from_secs(120);
/// After the catch-up: longer than the runtime keeps an idle blocking thread
/// (10 s) and than the HTTP pools take to close idle connections (two ticks
/// of their 10 s timer).
const SETTLE: Duration = Duration::from_secs(30);
const WAKES_TARGET: f64 = 1.0;
const RSS_TARGET_MIB: f64 = 12.0;

pub fn cpu(r: &mut Results) {
    let runs: Vec<_> = (0..CPU_RUNS)
        .map(|i| reportd_run(Env::DISK, 16, 1000, &format!("cpu-{i}"), &mut r.keep))
        .collect();
    let per_report: Vec<f64> = each(&runs, |c| c.cpu)
        .into_iter()
        .map(|s| s * 1000.0 / SDK_REPORTS as f64)
        .collect();
    let med = median(per_report.clone());
    let each_run: Vec<String> = per_report.iter().map(|m| format!("{m:.3}")).collect();
    r.check(
        "cpu",
        &format!(
            "CPU (user + sys) per report, whole process, {SDK_REPORTS} reports, concurrency 16"
        ),
        format!("{med:.3} ms (runs: {})", each_run.join(", ")),
        "<= 0.4 ms",
        med <= CPU_TARGET_MS,
    );
}

/// Voluntary and involuntary context switches of every thread of `pid`.
fn switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// `VmRSS` of `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The daemon, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(fake: &FakeMna, dir: &Path) -> Daemon {
    let config = dir.join("config.toml");
    let text = format!(
        "[api]\nendpoint = \"{}\"\n\n[storage]\nstate_dir = \"state\"\n\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n\n\
         [[jobs]]\nname = \"hourly\"\ngranularity = \"hourly\"\nlag = \"5m\"\ncatch_up = \"6h\"\n",
        fake.endpoint()
    );
    std::fs::write(&config, text).expect("write the config");
    let log = std::fs::File::create(dir.join("daemon.log")).expect("create the daemon's log");
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", DEFAULT_SECRET_KEY)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start mna-reportd run");
    Daemon(child)
}

pub fn idle(r: &mut Results) {
    let fake =
        FakeMna::start_background(loopback(), FakeConfig::default()).expect("the fake API starts");
    let dir = tempfile::tempdir().expect("create a temp dir");
    let daemon = start_daemon(&fake, dir.path());
    let pid = daemon.0.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    let log = dir.path().join("daemon.log");
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("fire done") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not finish its catch-up in 120 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(SETTLE);
    let (t0, s0, at) = (threads(pid), switches(pid), Instant::now());
    std::thread::sleep(SAMPLE);
    let (s1, t1, took) = (switches(pid), threads(pid), at.elapsed());
    let rss = rss_kib(pid) as f64 / 1024.0;
    drop(daemon);
    let per_minute = (s1 - s0) as f64 * 60.0 / took.as_secs_f64();
    r.check(
        "idle",
        "wake-ups per minute after the catch-up (context switches of all threads)",
        format!(
            "{per_minute:.1} ({} in {:.0} s, {t1} threads{})",
            s1 - s0,
            took.as_secs_f64(),
            if t0 == t1 { "" } else { ", the count changed" }
        ),
        "<= 1",
        per_minute <= WAKES_TARGET,
    );
    r.check(
        "idle",
        "resident memory (VmRSS) after the catch-up",
        format!("{rss:.1} MiB"),
        "<= 12 MiB",
        rss <= RSS_TARGET_MIB,
    );
    r.keep.push(dir);
}
