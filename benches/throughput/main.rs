//! Acceptance benchmarks of mna-reportd, run against the in-process fake
//! MNA API (`fake-mna`) with the real release binary as a child process.
//!
//! `cargo bench --bench throughput [-- FILTER...]` runs the scenarios whose
//! name contains one of the filters (all without one):
//!
//! - `rate`: sustained API calls/s under a 20/s server limit, and refusals;
//! - `sdk`: wall time against a sequential script using the official
//!   Python SDK (`bench/sdk_sequential.py`);
//! - `memory`: peak RSS of a fetch of one 256 MiB report, and of a small one;
//! - `ingest`: time of `ingest` on 100,000 rows, and peak RSS of fetches of
//!   10k / 100k / 300k-row reports.
//!
//! Each figure is checked against its target: a miss prints a `FAIL` line
//! (the run goes on); a broken run (a report not `ok`, a file missing)
//! panics. The table of figures goes to stdout and to `bench/results.md`.
//! See `bench/README.md`.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use fake_mna::{
    CallRecord, DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, FakeConfig, FakeMna, Fault, Params,
};
use mna_reportd::ingest::{self, Ingested};
use mna_reportd::store::Store;
use mna_reportd::store::reports::{self, ReportKey, Trigger};
use rusqlite::Connection;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_mna-reportd");
const SDK_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/sdk_sequential.py");
const RESULTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/results.md");

/// 2025-01-01T00:00:00Z: the first window of every run.
const BASE: i64 = 1_735_689_600;
const HOUR: i64 = 3600;
const JOB: &str = "hourly";
const MIB: f64 = 1024.0 * 1024.0;
/// Rows of the Summary sheet that every fake workbook also carries.
const SUMMARY_ROWS: usize = 10;

// ---------------------------------------------------------------------------
// Figures and the results table
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    Info,
    Skipped,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "**FAIL**",
            Verdict::Info => "",
            Verdict::Skipped => "SKIPPED",
        }
    }
}

struct Figure {
    scenario: &'static str,
    name: String,
    value: String,
    target: String,
    verdict: Verdict,
}

/// The figures gathered so far, in the order measured.
#[derive(Default)]
struct Results {
    figures: Vec<Figure>,
    notes: Vec<String>,
    /// Every run's directory, deleted only when the benchmark ends: deleting
    /// files while measuring loads the disk (and, on ext4 without a journal,
    /// slows the creation of new files) under the runs that follow.
    keep: Vec<TempDir>,
}

impl Results {
    fn push(
        &mut self,
        scenario: &'static str,
        name: &str,
        value: String,
        target: &str,
        v: Verdict,
    ) {
        println!("  {name}: {value}");
        self.figures.push(Figure {
            scenario,
            name: name.to_string(),
            value,
            target: target.to_string(),
            verdict: v,
        });
    }

    /// A figure without a target.
    fn info(&mut self, scenario: &'static str, name: &str, value: String) {
        self.push(scenario, name, value, "", Verdict::Info);
    }

    /// A figure with a target; a miss is printed loudly, not a panic.
    fn check(&mut self, scenario: &'static str, name: &str, value: String, target: &str, ok: bool) {
        if !ok {
            let line = format!("FAIL: [{scenario}] {name} = {value}, target {target}");
            println!("\n!!!!!!!! {line} !!!!!!!!\n");
            eprintln!("{line}");
        }
        let v = if ok { Verdict::Pass } else { Verdict::Fail };
        self.push(scenario, name, value, target, v);
    }

    fn skipped(&mut self, scenario: &'static str, name: &str, why: String) {
        println!("\n!!!!!!!! SKIPPED: [{scenario}] {name}: {why} !!!!!!!!\n");
        self.push(
            scenario,
            name,
            format!("skipped: {why}"),
            "",
            Verdict::Skipped,
        );
    }

    fn note(&mut self, text: String) {
        println!("  note: {text}");
        self.notes.push(text);
    }

    fn failures(&self) -> usize {
        self.figures
            .iter()
            .filter(|f| f.verdict == Verdict::Fail)
            .count()
    }

    fn markdown(&self, machine: &Machine, elapsed: Duration) -> String {
        let mut s = String::from("# mna-reportd benchmark results\n\n");
        s.push_str(&format!(
            "Build: {}. Machine: {} cores, {}, {} MiB RAM, Linux {}. \
             The benchmark took {:.0} s.\n\n",
            build_id(),
            machine.cores,
            machine.cpu,
            machine.mem_mib,
            machine.kernel,
            elapsed.as_secs_f64()
        ));
        s.push_str("| scenario | figure | value | target | verdict |\n");
        s.push_str("|---|---|---|---|---|\n");
        for f in &self.figures {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                f.scenario,
                f.name,
                f.value,
                f.target,
                f.verdict.text()
            ));
        }
        if !self.notes.is_empty() {
            s.push_str("\nNotes:\n\n");
            for n in &self.notes {
                s.push_str(&format!("- {n}\n"));
            }
        }
        s
    }
}

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR")])
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// The source measured: the commit, and whether the product's sources
/// differ from it (the benchmark's own files do not count).
fn build_id() -> String {
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "not a git checkout".into();
    };
    let changed = git(&[
        "status",
        "--porcelain",
        "--",
        "src",
        "fake-mna",
        "migrations",
    ]);
    match changed.as_deref() {
        Some("") => format!("commit {commit}"),
        _ => format!("commit {commit} with uncommitted changes in src/fake-mna/migrations"),
    }
}

/// What the numbers were measured on.
struct Machine {
    cores: usize,
    cpu: String,
    mem_mib: u64,
    kernel: String,
}

impl Machine {
    fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            mem_mib: mem_kib / 1024,
            kernel,
        }
    }
}

// ---------------------------------------------------------------------------
// Child processes, timed and measured with wait4
// ---------------------------------------------------------------------------

/// A finished child: exit code, wall time, and its own rusage.
struct ChildRun {
    code: Option<i32>,
    wall: Duration,
    /// Peak resident set of the child alone, KiB (`ru_maxrss`).
    max_rss_kib: i64,
    /// The measuring parent's peak RSS at spawn: `max_rss_kib` is never below it.
    floor_kib: i64,
    cpu: Duration,
    /// CPU time of this process while the child ran: the in-process fake's
    /// threads, since the main thread only waits.
    server_cpu: Duration,
    /// Wall clock around the measuring parent, to line up with the fake's records.
    started: SystemTime,
    ended: SystemTime,
    stdout: String,
    stderr: String,
}

impl ChildRun {
    fn rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }

    /// Panic with the child's output unless it exited 0.
    fn expect_success(&self, what: &str) {
        if self.code != Some(0) {
            panic!(
                "{what}: exit {:?}\n--- stdout\n{}\n--- stderr (last 4000 bytes)\n{}",
                self.code,
                self.stdout,
                tail(&self.stderr, 4000)
            );
        }
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Wait for `pid` and return its wait status and resource usage.
fn wait4(pid: libc::pid_t) -> (libc::c_int, libc::rusage) {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; `pid` is our own unwaited child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return (status, usage);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            panic!("wait4({pid}) failed: {err}");
        }
    }
}

/// The argument that turns this binary into the measuring parent of one child.
const MEASURE_FLAG: &str = "--measure-child";

/// What the measuring parent writes about its child.
#[derive(serde::Serialize, serde::Deserialize)]
struct Measurement {
    code: Option<i32>,
    wall_s: f64,
    cpu_s: f64,
    max_rss_kib: i64,
    /// The measuring parent's own peak RSS when it spawned the child: the
    /// floor of `max_rss_kib` (see [`Measured`]).
    floor_kib: i64,
}

/// CPU time (user + sys) of this process so far, all threads.
fn own_cpu() -> Duration {
    // SAFETY: rusage is plain old data; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a local.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

/// This process's own memory high-water mark (`VmHWM`), KiB. Not
/// `getrusage(RUSAGE_SELF)`: that also holds the high-water mark inherited
/// from the process that spawned this one (see [`Measured`]).
fn own_vm_hwm_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `throughput --measure-child REPORT -- PROGRAM ARGS...`: run PROGRAM (with
/// this process's environment, directory and standard streams), wait for it
/// with `wait4`, and write a [`Measurement`] as JSON to REPORT.
fn measure_child_main(args: &[String]) -> i32 {
    let [report, dashdash, program, rest @ ..] = args else {
        eprintln!("usage: {MEASURE_FLAG} REPORT -- PROGRAM [ARGS...]");
        return 2;
    };
    if dashdash != "--" {
        eprintln!("usage: {MEASURE_FLAG} REPORT -- PROGRAM [ARGS...]");
        return 2;
    }
    let floor_kib = own_vm_hwm_kib();
    let t0 = Instant::now();
    let child = match Command::new(program).args(rest).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start {program}: {e}");
            return 2;
        }
    };
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    let (status, usage) = wait4(pid);
    let wall = t0.elapsed();
    // The child is reaped: dropping the handle neither waits nor kills.
    drop(child);
    let m = Measurement {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        wall_s: wall.as_secs_f64(),
        cpu_s: (timeval(usage.ru_utime) + timeval(usage.ru_stime)).as_secs_f64(),
        max_rss_kib: usage.ru_maxrss,
        floor_kib,
    };
    let text = serde_json::to_string(&m).expect("a measurement serializes");
    match std::fs::write(report, text) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cannot write {report}: {e}");
            2
        }
    }
}

/// A child process run under a fresh measuring parent (this binary again).
///
/// Why not `wait4` from here: Linux carries the RSS high-water mark of the
/// memory a process had before `execve` into the new program's `ru_maxrss`;
/// with `posix_spawn` (vfork) that memory is the *spawner's*, so a child of
/// this large process would report at least this process's peak. The
/// measuring parent is a fresh, small process, so its child's `ru_maxrss`
/// is the child's own peak (never below the parent's few MiB, the floor).
struct Measured {
    cmd: Command,
    report: PathBuf,
    out: PathBuf,
    err: PathBuf,
}

impl Measured {
    /// `program`, its output and measurement in files under `logs` named after `label`.
    fn new(program: impl AsRef<std::ffi::OsStr>, logs: &Path, label: &str) -> Measured {
        let exe = std::env::current_exe().expect("the benchmark knows its own path");
        let report = logs.join(format!("{label}.rusage.json"));
        let mut cmd = Command::new(exe);
        cmd.arg(MEASURE_FLAG).arg(&report).arg("--").arg(program);
        Measured {
            cmd,
            report,
            out: logs.join(format!("{label}.stdout")),
            err: logs.join(format!("{label}.stderr")),
        }
    }

    /// The command, to add arguments, environment and directory.
    fn cmd(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Run to the end.
    fn run(mut self) -> ChildRun {
        self.cmd
            .stdin(std::process::Stdio::null())
            .stdout(File::create(&self.out).expect("create the child's stdout file"))
            .stderr(File::create(&self.err).expect("create the child's stderr file"));
        // Start from a quiet disk: no writeback of earlier runs under this one.
        // SAFETY: sync(2) has no arguments and cannot fail.
        unsafe { libc::sync() };
        let (started, cpu0) = (SystemTime::now(), own_cpu());
        let status = self.cmd.status().expect("start the measuring parent");
        let (ended, cpu1) = (SystemTime::now(), own_cpu());
        let stdout = std::fs::read_to_string(&self.out).unwrap_or_default();
        let stderr = std::fs::read_to_string(&self.err).unwrap_or_default();
        let m: Measurement = std::fs::read_to_string(&self.report)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| {
                panic!(
                    "the measuring parent failed ({status}): {}",
                    tail(&stderr, 2000)
                )
            });
        ChildRun {
            code: m.code,
            wall: Duration::from_secs_f64(m.wall_s),
            max_rss_kib: m.max_rss_kib,
            floor_kib: m.floor_kib,
            cpu: Duration::from_secs_f64(m.cpu_s),
            server_cpu: cpu1.saturating_sub(cpu0),
            started,
            ended,
            stdout,
            stderr,
        }
    }
}

// ---------------------------------------------------------------------------
// A fake API, a state directory and a config: one run of mna-reportd
// ---------------------------------------------------------------------------

struct World {
    fake: FakeMna,
    dir: TempDir,
    config: PathBuf,
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .expect("benchmark times are valid")
        .to_string()
}

impl World {
    /// A fake configured by `cfg`, and a config with one hourly UTC job.
    fn new(cfg: FakeConfig, rate_limit: u32, concurrency: usize) -> World {
        let fake = FakeMna::start_background(loopback(), cfg).expect("the fake API starts");
        let dir = tempfile::tempdir().expect("create a temp dir");
        World::with_fake(fake, dir, rate_limit, concurrency)
    }

    /// A config in `dir` for `fake`, with one hourly UTC job.
    fn with_fake(fake: FakeMna, dir: TempDir, rate_limit: u32, concurrency: usize) -> World {
        let config = dir.path().join("config.toml");
        let text = format!(
            r#"[api]
endpoint = "{endpoint}"
rate_limit = {rate_limit}
timeout = "120s"
concurrency = {concurrency}

[storage]
state_dir = "state"

[retry]
max_attempts = 8
initial_delay = "100ms"
max_delay = "2s"

[[jobs]]
name = "{JOB}"
granularity = "hourly"
timezone = "UTC"
"#,
            endpoint = fake.endpoint()
        );
        std::fs::write(&config, text).expect("write the config");
        World { fake, dir, config }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `mna-reportd fetch` of `hours` hourly windows from [`BASE`].
    fn fetch(&self, hours: i64, label: &str) -> ChildRun {
        let mut m = Measured::new(BIN, self.dir.path(), label);
        m.cmd()
            .arg("--config")
            .arg(&self.config)
            .args(["fetch", "--job", JOB, "--from"])
            .arg(rfc3339(BASE))
            .arg("--to")
            .arg(rfc3339(BASE + hours * HOUR))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID)
            .env("TENCENTCLOUD_SECRET_KEY", DEFAULT_SECRET_KEY)
            .current_dir(self.dir.path());
        let run = m.run();
        run.expect_success(&format!("mna-reportd fetch ({label})"));
        run
    }

    fn db(&self) -> Connection {
        Connection::open(self.state().join("history.db")).expect("open the history database")
    }

    /// Every report `ok`, `expected` of them, each file on disk with its
    /// recorded length; returns the `ok` rows (request id, path, bytes).
    fn assert_all_ok(&self, expected: usize) -> Vec<(String, String, u64)> {
        let db = self.db();
        let not_ok: i64 = db
            .query_row(
                "SELECT count(*) FROM reports WHERE status <> 'ok'",
                [],
                |r| r.get(0),
            )
            .expect("count reports not ok");
        assert_eq!(not_ok, 0, "every report must be ok");
        let mut st = db
            .prepare("SELECT request_id, file_path, bytes FROM reports WHERE status = 'ok'")
            .expect("query ok reports");
        let rows: Vec<(String, String, u64)> = st
            .query_map([], |r| {
                let bytes: i64 = r.get(2)?;
                Ok((r.get(0)?, r.get(1)?, u64::try_from(bytes).unwrap_or(0)))
            })
            .expect("read ok reports")
            .collect::<Result<_, _>>()
            .expect("read an ok report");
        assert_eq!(rows.len(), expected, "number of ok reports");
        for (_, path, bytes) in &rows {
            let len = std::fs::metadata(path)
                .unwrap_or_else(|e| panic!("report file {path}: {e}"))
                .len();
            assert_eq!(len, *bytes, "{path}: length on disk vs recorded");
        }
        rows
    }

    fn report_rows(&self) -> i64 {
        self.db()
            .query_row("SELECT count(*) FROM report_rows", [], |r| r.get(0))
            .expect("count report_rows")
    }
}

// ---------------------------------------------------------------------------
// Scenario 1: rate-limited throughput
// ---------------------------------------------------------------------------

const RATE_REPORTS: i64 = 200;
const RATE_LIMIT: u32 = 20;

fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    b.duration_since(a).unwrap_or_default().as_secs_f64()
}

/// (calls - 1) / (last arrival - first arrival).
fn sustained_rate(calls: &[CallRecord]) -> f64 {
    match (calls.first(), calls.last()) {
        (Some(first), Some(last)) if calls.len() > 1 => {
            (calls.len() - 1) as f64 / secs_between(first.at, last.at)
        }
        _ => 0.0,
    }
}

/// The most calls whose arrivals lie within any 1 s span.
fn max_in_any_second(calls: &[CallRecord]) -> usize {
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
    w.assert_all_ok(RATE_REPORTS as usize);
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

fn scenario_rate(r: &mut Results) {
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

// ---------------------------------------------------------------------------
// Scenario 2: against the official Python SDK, sequential
// ---------------------------------------------------------------------------

const SDK_REPORTS: i64 = 300;
const SDK_REPEATS: usize = 3;
const SDK_CONCURRENCY: usize = 16;
const SDK_RATE_LIMIT: u32 = 1000;
/// The highest `api.rate_limit` the config accepts.
const MAX_RATE_LIMIT: u32 = 10_000;
/// Simulated server latency of the extra run: per API answer and per download.
const SDK_LATENCY: Duration = Duration::from_millis(20);
/// A RAM file system, to take the disk out of the comparison.
const TMPFS: &str = "/dev/shm";

fn python_has_sdk() -> Result<bool, String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import tencentcloud.mna.v20210119.mna_client, requests",
        ])
        .output()
        .map_err(|e| format!("python3 cannot be run: {e}"))?;
    Ok(out.status.success())
}

/// Make sure `python3` can import the SDK, installing it if needed.
fn ensure_python_sdk() -> Result<(), String> {
    if python_has_sdk()? {
        return Ok(());
    }
    println!("  installing tencentcloud-sdk-python-mna with pip ...");
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "tencentcloud-sdk-python-mna",
        ])
        .output()
        .map_err(|e| format!("pip cannot be run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pip install tencentcloud-sdk-python-mna failed: {}",
            tail(&String::from_utf8_lossy(&out.stderr), 500).trim()
        ));
    }
    match python_has_sdk()? {
        true => Ok(()),
        false => Err("the SDK still cannot be imported after pip install".into()),
    }
}

/// Where a comparison run happens: its files' file system, and the
/// server's latency. Both clients of a pair get the same.
#[derive(Clone, Copy)]
struct Env {
    tmpfs: bool,
    latency: Option<Duration>,
}

const ON_DISK: Env = Env {
    tmpfs: false,
    latency: None,
};

impl Env {
    fn tempdir(self) -> TempDir {
        let made = match self.tmpfs {
            true => tempfile::tempdir_in(TMPFS),
            false => tempfile::tempdir(),
        };
        made.expect("create a temp dir")
    }

    /// A fresh unthrottled fake, each call and download delayed by the latency.
    fn fake(self) -> FakeMna {
        let fake = FakeMna::start_background(loopback(), FakeConfig::default())
            .expect("the fake API starts");
        if let Some(d) = self.latency {
            fake.push_api_faults(SDK_REPORTS as usize, Fault::Delay(d));
            fake.push_api_faults(SDK_REPORTS as usize, Fault::DownloadDelay(d));
        }
        fake
    }
}

/// A Python run: the whole process, and the loop as the script timed it.
struct PythonRun {
    child: ChildRun,
    loop_s: f64,
}

/// Run `bench/sdk_sequential.py` once; its directory goes to `keep`.
fn python_run(env: Env, fsync: bool, label: &str, keep: &mut Vec<TempDir>) -> PythonRun {
    let fake = env.fake();
    let dir = env.tempdir();
    let mut m = Measured::new("python3", dir.path(), label);
    m.cmd()
        .arg(SDK_SCRIPT)
        .args(["--endpoint", &fake.host()])
        .args(["--secret-id", DEFAULT_SECRET_ID])
        .args(["--secret-key", DEFAULT_SECRET_KEY])
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(["--begin", &BASE.to_string()])
        .args(["--count", &SDK_REPORTS.to_string()]);
    if fsync {
        m.cmd().arg("--fsync");
    }
    let child = m.run();
    child.expect_success("bench/sdk_sequential.py");
    let summary: serde_json::Value = child
        .stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON summary from the script: {}", child.stdout));
    assert_eq!(
        summary["reports"], SDK_REPORTS,
        "reports the script fetched"
    );
    assert_eq!(
        fake.ok_calls(),
        SDK_REPORTS as usize,
        "calls the script made"
    );
    assert_eq!(
        fake.downloads().len(),
        SDK_REPORTS as usize,
        "downloads the script made"
    );
    assert_eq!(fake.pending_faults(), (0, 0), "every latency fault used");
    keep.push(dir);
    let loop_s = summary["loop_s"].as_f64().unwrap_or(f64::NAN);
    PythonRun { child, loop_s }
}

/// A run of mna-reportd, with where its time went as the fake saw it.
struct ReportdRun {
    child: ChildRun,
    /// Process start to the first API call's arrival.
    startup_s: f64,
    /// First API call's arrival to the last download's arrival.
    busy_s: f64,
    /// Last download's arrival to the process's end.
    tail_s: f64,
}

/// Fetch the [`SDK_REPORTS`] windows once; the state directory goes to `keep`.
fn reportd_run(
    env: Env,
    concurrency: usize,
    rate_limit: u32,
    label: &str,
    keep: &mut Vec<TempDir>,
) -> ReportdRun {
    let w = World::with_fake(env.fake(), env.tempdir(), rate_limit, concurrency);
    let child = w.fetch(SDK_REPORTS, label);
    w.assert_all_ok(SDK_REPORTS as usize);
    let want = SDK_REPORTS * (24 + SUMMARY_ROWS as i64);
    assert_eq!(w.report_rows(), want, "report_rows after {label}");
    let first_call = w.fake.calls().iter().map(|c| c.at).min();
    let last_download = w.fake.downloads().iter().map(|d| d.at).max();
    let (Some(first_call), Some(last_download)) = (first_call, last_download) else {
        panic!("{label}: the fake saw no call or no download");
    };
    assert_eq!(w.fake.pending_faults(), (0, 0), "every latency fault used");
    keep.push(w.dir);
    ReportdRun {
        startup_s: secs_between(child.started, first_call),
        busy_s: secs_between(first_call, last_download),
        tail_s: secs_between(last_download, child.ended),
        child,
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

fn walls<'a>(runs: impl IntoIterator<Item = &'a ChildRun>) -> Vec<f64> {
    runs.into_iter().map(|r| r.wall.as_secs_f64()).collect()
}

fn cpus<'a>(runs: impl IntoIterator<Item = &'a ChildRun>) -> Vec<f64> {
    runs.into_iter().map(|r| r.cpu.as_secs_f64()).collect()
}

fn server_cpus<'a>(runs: impl IntoIterator<Item = &'a ChildRun>) -> Vec<f64> {
    runs.into_iter()
        .map(|r| r.server_cpu.as_secs_f64())
        .collect()
}

/// `median s (runs: a, b, c)`.
fn fmt_runs(runs: &[f64]) -> String {
    let each: Vec<String> = runs.iter().map(|s| format!("{s:.2}")).collect();
    format!("{:.3} s (runs: {})", median(runs.to_vec()), each.join(", "))
}

/// The repeated runs of the comparison, interleaved so that drift (page
/// cache, disk) hits every kind alike.
#[derive(Default)]
struct SdkRuns {
    python: Vec<PythonRun>,
    ours: Vec<ReportdRun>,
    ours_c8: Vec<ReportdRun>,
    ours_max_rate: Vec<ReportdRun>,
    python_tmpfs: Vec<PythonRun>,
    ours_tmpfs: Vec<ReportdRun>,
    ours_tmpfs_max_rate: Vec<ReportdRun>,
}

fn sdk_runs(tmpfs: bool, keep: &mut Vec<TempDir>) -> SdkRuns {
    let mut runs = SdkRuns::default();
    let ram = Env {
        tmpfs: true,
        latency: None,
    };
    let (c, rl) = (SDK_CONCURRENCY, SDK_RATE_LIMIT);
    for i in 0..SDK_REPEATS {
        let python = python_run(ON_DISK, false, &format!("sdk-python-{i}"), keep);
        runs.python.push(python);
        let ours = reportd_run(ON_DISK, c, rl, &format!("sdk-c{c}-{i}"), keep);
        runs.ours.push(ours);
        let c8 = reportd_run(ON_DISK, 8, rl, &format!("sdk-c8-{i}"), keep);
        runs.ours_c8.push(c8);
        let max = reportd_run(ON_DISK, c, MAX_RATE_LIMIT, &format!("sdk-max-{i}"), keep);
        runs.ours_max_rate.push(max);
        if tmpfs {
            let python = python_run(ram, false, &format!("sdk-python-tmpfs-{i}"), keep);
            runs.python_tmpfs.push(python);
            let ours = reportd_run(ram, c, rl, &format!("sdk-tmpfs-{i}"), keep);
            runs.ours_tmpfs.push(ours);
            let max = reportd_run(ram, c, MAX_RATE_LIMIT, &format!("sdk-tmpfs-max-{i}"), keep);
            runs.ours_tmpfs_max_rate.push(max);
        }
    }
    runs
}

fn children(runs: &[ReportdRun]) -> impl Iterator<Item = &ChildRun> {
    runs.iter().map(|o| &o.child)
}

fn python_children(runs: &[PythonRun]) -> impl Iterator<Item = &ChildRun> {
    runs.iter().map(|p| &p.child)
}

/// The judged comparison: on disk, rate_limit 1000, concurrency 16.
fn report_sdk_main(r: &mut Results, runs: &SdkRuns) {
    let py_wall = walls(python_children(&runs.python));
    let ours_wall = walls(children(&runs.ours));
    r.info(
        "sdk",
        "Python SDK script, sequential (whole process)",
        fmt_runs(&py_wall),
    );
    let loops: Vec<f64> = runs.python.iter().map(|p| p.loop_s).collect();
    r.info("sdk", "Python SDK script, its loop alone", fmt_runs(&loops));
    r.info(
        "sdk",
        &format!("mna-reportd, concurrency {SDK_CONCURRENCY}, rate_limit {SDK_RATE_LIMIT}"),
        fmt_runs(&ours_wall),
    );
    let ratio = median(py_wall) / median(ours_wall);
    r.check(
        "sdk",
        &format!("speed-up, Python / mna-reportd (concurrency {SDK_CONCURRENCY})"),
        format!("{ratio:.2}x"),
        ">= 10x",
        ratio >= 10.0,
    );
}

/// Variants that say where mna-reportd's time goes.
fn report_sdk_variants(r: &mut Results, runs: &SdkRuns) {
    r.info(
        "sdk",
        &format!("mna-reportd, concurrency 8, rate_limit {SDK_RATE_LIMIT}"),
        fmt_runs(&walls(children(&runs.ours_c8))),
    );
    r.info(
        "sdk",
        &format!(
            "mna-reportd, concurrency {SDK_CONCURRENCY}, rate_limit {MAX_RATE_LIMIT} (config max)"
        ),
        fmt_runs(&walls(children(&runs.ours_max_rate))),
    );
    r.info(
        "sdk",
        "client CPU user+sys, Python / mna-reportd c16",
        format!(
            "{:.3} s / {:.3} s",
            median(cpus(python_children(&runs.python))),
            median(cpus(children(&runs.ours)))
        ),
    );
    r.info(
        "sdk",
        "fake server CPU during the run, Python / mna-reportd c16",
        format!(
            "{:.3} s / {:.3} s",
            median(server_cpus(python_children(&runs.python))),
            median(server_cpus(children(&runs.ours)))
        ),
    );
    let m = |f: fn(&ReportdRun) -> f64| median(runs.ours.iter().map(f).collect());
    r.info(
        "sdk",
        "mna-reportd c16: start -> 1st call / 1st call -> last download / -> exit",
        format!(
            "{:.3} s / {:.3} s / {:.3} s",
            m(|o| o.startup_s),
            m(|o| o.busy_s),
            m(|o| o.tail_s)
        ),
    );
    if runs.ours_tmpfs.is_empty() {
        return;
    }
    let py = median(walls(python_children(&runs.python_tmpfs)));
    let ours = median(walls(children(&runs.ours_tmpfs)));
    r.info(
        "sdk",
        &format!("on tmpfs: Python / mna-reportd c16 rate_limit {SDK_RATE_LIMIT} (ratio)"),
        format!("{py:.3} s / {ours:.3} s ({:.2}x)", py / ours),
    );
    r.info(
        "sdk",
        &format!("on tmpfs: mna-reportd c16 rate_limit {MAX_RATE_LIMIT}"),
        fmt_runs(&walls(children(&runs.ours_tmpfs_max_rate))),
    );
}

/// One pair of runs against a server that answers after [`SDK_LATENCY`].
fn report_sdk_latency(r: &mut Results) {
    let env = Env {
        tmpfs: false,
        latency: Some(SDK_LATENCY),
    };
    let py = python_run(env, false, "sdk-python-latency", &mut r.keep);
    let ours = reportd_run(
        env,
        SDK_CONCURRENCY,
        SDK_RATE_LIMIT,
        "sdk-latency",
        &mut r.keep,
    );
    let (py, ours) = (py.child.wall.as_secs_f64(), ours.child.wall.as_secs_f64());
    r.info(
        "sdk",
        &format!(
            "with {} ms server latency per call and per download: Python / mna-reportd c16 (ratio)",
            SDK_LATENCY.as_millis()
        ),
        format!("{py:.2} s / {ours:.2} s ({:.1}x)", py / ours),
    );
}

fn scenario_sdk(r: &mut Results) {
    if let Err(why) = ensure_python_sdk() {
        r.skipped("sdk", "mna-reportd vs official Python SDK", why);
        return;
    }
    let tmpfs = Path::new(TMPFS).is_dir();
    r.note(format!(
        "sdk: {SDK_REPORTS} hourly reports (24 rows each) from an unthrottled fake, a fresh fake per run; \
         whole-process wall times, median of {SDK_REPEATS}; files in the default temp dir unless said"
    ));
    if !tmpfs {
        r.note(format!("sdk: no {TMPFS}: the tmpfs variants were not run"));
    }
    let runs = sdk_runs(tmpfs, &mut r.keep);
    report_sdk_main(r, &runs);
    let py_fsync = python_run(ON_DISK, true, "sdk-python-fsync", &mut r.keep);
    r.info(
        "sdk",
        "Python SDK script with --fsync (file + dir), one run",
        format!(
            "{:.3} s (loop {:.3} s)",
            py_fsync.child.wall.as_secs_f64(),
            py_fsync.loop_s
        ),
    );
    report_sdk_variants(r, &runs);
    report_history_cost(r);
    report_sdk_latency(r);
}

// ---------------------------------------------------------------------------
// The history work of one report, replayed without the network
// ---------------------------------------------------------------------------

/// Per-report costs of mna-reportd's disk and history steps, replayed here
/// with the library's own functions on a 24-row workbook, one report after
/// the other, without the network. The database steps go through the one
/// connection of a `Store`, so across reports in flight they run one at a
/// time. Milliseconds, medians over the reports.
struct HistoryCost {
    claim_ms: f64,
    record_ms: f64,
    ingest_ms: f64,
    rename_ms: f64,
    commit_ms: f64,
    /// Mean of claim + record + ingest + commit.
    db_total_ms: f64,
    /// Creating, writing, fsyncing and checking the `.part` file.
    part_file_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn attempt(kind: reports::AttemptKind) -> reports::AttemptRecord {
    reports::AttemptRecord {
        kind,
        started_at: BASE,
        duration_ms: 1,
        http_status: Some(200),
        error_code: None,
        error_message: None,
        request_id: Some("bench".into()),
    }
}

/// Plan and claim report `i`; its id.
fn replay_claim(store: &Store, i: i64, file: &str) -> i64 {
    let key = ReportKey {
        job: JOB.into(),
        target: "all".into(),
        region: String::new(),
        window_start: BASE + i * HOUR,
        window_end: BASE + (i + 1) * HOUR,
    };
    let owner = store.owner().to_string();
    store
        .with(|c| {
            let (id, _) = reports::plan(c, &key, 1, Trigger::Manual, BASE)?;
            reports::claim(c, id, &owner, false, Trigger::Manual, file, BASE)?;
            Ok(id)
        })
        .expect("plan and claim")
}

/// The commit transaction: (ingest, rename + dir fsync, the rest).
fn replay_commit(
    store: &Store,
    id: i64,
    part: &Path,
    final_path: &Path,
    bytes: u64,
) -> [Duration; 3] {
    let fetched = reports::Fetched {
        request_id: "bench".into(),
        file_path: final_path.to_string_lossy().into_owned(),
        bytes,
        sha256: String::new(),
    };
    store
        .with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let t = Instant::now();
            ingest::ingest(&tx, id, part).expect("ingest a 24-row workbook");
            let ingest = t.elapsed();
            let t = Instant::now();
            mna_reportd::files::commit(part, final_path).expect("rename, fsync the directory");
            let rename = t.elapsed();
            let t = Instant::now();
            let download = attempt(reports::AttemptKind::Download);
            reports::record_attempt(&tx, id, &download, BASE)?;
            reports::mark_ok(&tx, id, &fetched, BASE)?;
            tx.commit()?;
            Ok([ingest, rename, t.elapsed()])
        })
        .expect("commit the report")
}

/// One report's steps: claim, record the call, ingest, rename, rest of the
/// commit; and apart, the time of the `.part` file.
fn replay_report(store: &Store, workbook: &[u8], dir: &Path, i: i64) -> ([Duration; 5], Duration) {
    let final_path = dir.join(format!("r{i}.xlsx"));
    let part = mna_reportd::files::part_path(&final_path);
    let t = Instant::now();
    let id = replay_claim(store, i, &final_path.to_string_lossy());
    let claim = t.elapsed();
    let t = Instant::now();
    let call = attempt(reports::AttemptKind::Call);
    store
        .with(|c| reports::record_attempt_now(c, id, &call, BASE))
        .expect("record the call");
    let record = t.elapsed();
    let part_time = write_part(&part, workbook);
    let [ingest, rename, commit] =
        replay_commit(store, id, &part, &final_path, workbook.len() as u64);
    ([claim, record, ingest, rename, commit], part_time)
}

/// Create, write, fsync and check a `.part` file as a download does.
fn write_part(part: &Path, workbook: &[u8]) -> Duration {
    use std::io::Write;
    let t = Instant::now();
    let mut f = mna_reportd::files::create_private(part).expect("create the part file");
    f.write_all(workbook).expect("write the part file");
    f.sync_all().expect("fsync the part file");
    mna_reportd::download::check_xlsx(part).expect("a valid workbook");
    t.elapsed()
}

fn history_cost(n: i64) -> HistoryCost {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let store = Store::open(&dir.path().join("history.db")).expect("open a fresh history");
    let files = dir.path().join("reports");
    std::fs::create_dir_all(&files).expect("create the reports dir");
    let workbook = fake_mna::workbook_for(&Params::new("-1", BASE, BASE + HOUR, 1), 24, true);
    let mut steps: [Vec<f64>; 5] = Default::default();
    let mut db = Vec::new();
    let mut part_file = Vec::new();
    for i in 0..n {
        let (d, part) = replay_report(&store, &workbook, &files, i);
        for (v, d) in steps.iter_mut().zip(d) {
            v.push(ms(d));
        }
        let [claim, record, ingest, _, commit] = d;
        db.push(ms(claim + record + ingest + commit));
        part_file.push(ms(part));
    }
    let [claim, record, ingest, rename, commit] = steps.map(median);
    HistoryCost {
        claim_ms: claim,
        record_ms: record,
        ingest_ms: ingest,
        rename_ms: rename,
        commit_ms: commit,
        db_total_ms: db.iter().sum::<f64>() / n as f64,
        part_file_ms: median(part_file),
    }
}

fn report_history_cost(r: &mut Results) {
    let c = history_cost(SDK_REPORTS);
    r.info(
        "sdk",
        "replayed per report: claim / record call / ingest / rename+dir fsync / commit",
        format!(
            "{:.2} / {:.2} / {:.2} / {:.2} / {:.2} ms",
            c.claim_ms, c.record_ms, c.ingest_ms, c.rename_ms, c.commit_ms
        ),
    );
    r.info(
        "sdk",
        &format!("replayed: database work of {SDK_REPORTS} reports (one connection, so serial)"),
        format!("{:.3} s", c.db_total_ms * SDK_REPORTS as f64 / 1000.0),
    );
    r.info(
        "sdk",
        "replayed: create + write + fsync + check of a .part file, per report",
        format!("{:.2} ms", c.part_file_ms),
    );
}

// ---------------------------------------------------------------------------
// Scenario 3: memory on a big file
// ---------------------------------------------------------------------------

const BIG_FILE: u64 = 256 << 20;

/// Hex SHA-256 of a file, read in pieces (the big report stays out of memory).
fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    use std::io::Read;
    let mut f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if n == 0 {
            return hex::encode(h.finalize());
        }
        h.update(&buf[..n]);
    }
}
const RSS_TARGET_MIB: f64 = 64.0;

fn scenario_memory(r: &mut Results) {
    let small = World::new(FakeConfig::default(), 20, 4);
    let run = small.fetch(1, "memory-small");
    small.assert_all_ok(1);
    r.info(
        "memory",
        "peak RSS, one default report (24 rows)",
        format!("{:.1} MiB", run.rss_mib()),
    );
    r.note(format!(
        "memory: peak RSS is the child's ru_maxrss from wait4 in a small measuring parent, \
         whose own {:.1} MiB is the floor of the figure",
        run.floor_kib as f64 / 1024.0
    ));
    r.keep.push(small.dir);

    let t0 = Instant::now();
    let cfg = FakeConfig {
        file_bytes: Some(BIG_FILE),
        ..FakeConfig::default()
    };
    let big = World::new(cfg, 20, 4);
    println!(
        "  (the fake built its 256 MiB file in {:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    let run = big.fetch(1, "memory-big");
    let rows = big.assert_all_ok(1);
    let (request_id, path, bytes) = &rows[0];
    assert_eq!(
        Some(*bytes),
        big.fake.large_file_len(),
        "{path}: whole file"
    );
    let want = big.fake.served_sha256(request_id);
    let got = sha256_file(Path::new(path));
    assert_eq!(want.as_deref(), Some(got.as_str()), "{path}: content");
    r.check(
        "memory",
        &format!("peak RSS, one {:.0} MiB report", *bytes as f64 / MIB),
        format!("{:.1} MiB", run.rss_mib()),
        "< 64 MiB",
        run.rss_mib() < RSS_TARGET_MIB,
    );
    r.info(
        "memory",
        "wall time of the 256 MiB fetch",
        format!(
            "{:.2} s ({:.0} MiB/s)",
            run.wall.as_secs_f64(),
            *bytes as f64 / MIB / run.wall.as_secs_f64()
        ),
    );
    r.keep.push(big.dir);
}

// ---------------------------------------------------------------------------
// Scenario 4: ingesting 100,000 rows
// ---------------------------------------------------------------------------

const INGEST_ROWS: usize = 100_000;
const INGEST_REPEATS: usize = 5;
const INGEST_TARGET: Duration = Duration::from_secs(1);

/// A fresh history with one planned report; its id.
fn fresh_store(dir: &Path) -> (Store, i64) {
    let store = Store::open(&dir.join("history.db")).expect("open a fresh history");
    let key = ReportKey {
        job: JOB.into(),
        target: "all".into(),
        region: String::new(),
        window_start: BASE,
        window_end: BASE + HOUR,
    };
    let (id, _) = store
        .with(|c| reports::plan(c, &key, 1, Trigger::Manual, BASE))
        .expect("plan a report");
    (store, id)
}

/// Time `ingest` alone, then the commit, on a fresh history.
fn time_ingest(workbook: &Path, dir: &Path) -> (Duration, Duration, Ingested) {
    let (store, id) = fresh_store(dir);
    store
        .with(|c| {
            let tx = c.transaction()?;
            let t0 = Instant::now();
            let ingested = ingest::ingest(&tx, id, workbook);
            let t_ingest = t0.elapsed();
            let t1 = Instant::now();
            tx.commit()?;
            Ok((t_ingest, t1.elapsed(), ingested))
        })
        .map(|(ti, tc, res)| (ti, tc, res.expect("ingest the workbook")))
        .expect("the history database works")
}

fn ingest_timing(r: &mut Results) {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let params = Params::new("-1", BASE, BASE + HOUR, 1);
    let t0 = Instant::now();
    let bytes = fake_mna::workbook_for(&params, INGEST_ROWS, true);
    println!(
        "  (built a {INGEST_ROWS}-row workbook of {:.1} MiB in {:.1} s)",
        bytes.len() as f64 / MIB,
        t0.elapsed().as_secs_f64()
    );
    let workbook = dir.path().join("report.xlsx");
    std::fs::write(&workbook, &bytes).expect("write the workbook");
    let mut ingest_s = Vec::new();
    let mut commit_s = Vec::new();
    for i in 0..INGEST_REPEATS {
        let db_dir = dir.path().join(format!("db{i}"));
        let (ti, tc, got) = time_ingest(&workbook, &db_dir);
        assert_eq!(got.rows, INGEST_ROWS + SUMMARY_ROWS, "rows ingested");
        ingest_s.push(ti.as_secs_f64());
        commit_s.push(tc.as_secs_f64());
    }
    let med = median(ingest_s.clone());
    r.check(
        "ingest",
        &format!("ingest of {INGEST_ROWS} rows, median of {INGEST_REPEATS}"),
        fmt_runs(&ingest_s),
        "< 1 s",
        med < INGEST_TARGET.as_secs_f64(),
    );
    r.info(
        "ingest",
        "rows/s (ingest alone)",
        format!("{:.0}", (INGEST_ROWS + SUMMARY_ROWS) as f64 / med),
    );
    r.info(
        "ingest",
        "commit after the ingest, median",
        format!("{:.3} s", median(commit_s)),
    );
}

fn ingest_rss(r: &mut Results) {
    let mut rss = Vec::new();
    for rows in [10_000usize, 100_000, 300_000] {
        let cfg = FakeConfig {
            rows_per_report: rows,
            ..FakeConfig::default()
        };
        let w = World::new(cfg, 20, 4);
        let run = w.fetch(1, &format!("ingest-rss-{rows}"));
        let ok = w.assert_all_ok(1);
        assert_eq!(
            w.report_rows(),
            (rows + SUMMARY_ROWS) as i64,
            "report_rows of a {rows}-row report"
        );
        r.info(
            "ingest",
            &format!("peak RSS, fetch of one {rows}-row report"),
            format!(
                "{:.1} MiB ({:.1} MiB file, {:.2} s)",
                run.rss_mib(),
                ok[0].2 as f64 / MIB,
                run.wall.as_secs_f64()
            ),
        );
        rss.push(run.rss_mib());
        r.keep.push(w.dir);
    }
    let growth = rss[2] - rss[0];
    r.check(
        "ingest",
        "RSS growth, 10k -> 300k rows",
        format!("{growth:+.1} MiB"),
        "flat (< 16 MiB)",
        growth < 16.0,
    );
}

fn scenario_ingest(r: &mut Results) {
    ingest_timing(r);
    ingest_rss(r);
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

type Scenario = fn(&mut Results);

const SCENARIOS: [(&str, Scenario); 4] = [
    ("rate", scenario_rate),
    ("sdk", scenario_sdk),
    ("memory", scenario_memory),
    ("ingest", scenario_ingest),
];

/// Filters from the command line; `cargo bench` adds flags such as `--bench`.
fn filters() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect()
}

fn selected(name: &str, filters: &[String]) -> bool {
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(MEASURE_FLAG) {
        std::process::exit(measure_child_main(&args[2..]));
    }
    let filters = filters();
    let machine = Machine::detect();
    println!(
        "mna-reportd benchmarks on {} cores, {} ({BIN})",
        machine.cores, machine.cpu
    );
    let t0 = Instant::now();
    let mut results = Results::default();
    for (name, scenario) in SCENARIOS {
        if selected(name, &filters) {
            println!("\n== {name}");
            let ts = Instant::now();
            scenario(&mut results);
            println!("  ({name} took {:.1} s)", ts.elapsed().as_secs_f64());
        }
    }
    let table = results.markdown(&machine, t0.elapsed());
    println!("\n{table}");
    match std::fs::write(RESULTS, &table) {
        Ok(()) => println!("written to {RESULTS}"),
        Err(e) => eprintln!("cannot write {RESULTS}: {e}"),
    }
    let failed = results.failures();
    if failed > 0 {
        println!("\nFAIL: {failed} figure(s) missed their target (see the table above)");
    }
}
