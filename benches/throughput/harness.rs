//! Measuring child processes and the machine: every program the benchmark
//! times runs under a small measuring parent (this binary again, with
//! [`MEASURE_FLAG`]) that reaps it with `wait4` and reports its wall time,
//! CPU time and peak RSS; plus what the figures are taken on ([`Machine`])
//! and the small statistics every scenario uses (medians, formatting).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

pub const MIB: f64 = 1024.0 * 1024.0;

/// What the numbers were measured on.
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub mem_mib: u64,
    pub kernel: String,
}

impl Machine {
    pub fn detect() -> Machine {
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
pub struct ChildRun {
    pub code: Option<i32>,
    pub wall: Duration,
    /// Peak resident set of the child alone, KiB (`ru_maxrss`).
    pub max_rss_kib: i64,
    /// The measuring parent's peak RSS at spawn: `max_rss_kib` is never below it.
    pub floor_kib: i64,
    pub cpu: Duration,
    /// CPU time of this process while the child ran: the in-process fake's
    /// threads, since the main thread only waits.
    pub server_cpu: Duration,
    /// Wall clock around the measuring parent, to line up with the fake's records.
    pub started: SystemTime,
    pub ended: SystemTime,
    pub stdout: String,
    pub stderr: String,
}

impl ChildRun {
    pub fn rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }

    /// Panic with the child's output unless it exited 0.
    pub fn expect_success(&self, what: &str) {
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

pub fn tail(s: &str, n: usize) -> &str {
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
pub const MEASURE_FLAG: &str = "--measure-child";

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
pub fn measure_child_main(args: &[String]) -> i32 {
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
pub struct Measured {
    cmd: Command,
    report: PathBuf,
    out: PathBuf,
    err: PathBuf,
}

impl Measured {
    /// `program`, its output and measurement in files under `logs` named after `label`.
    pub fn new(program: impl AsRef<std::ffi::OsStr>, logs: &Path, label: &str) -> Measured {
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
    pub fn cmd(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Run to the end.
    pub fn run(mut self) -> ChildRun {
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
// Statistics and formatting
// ---------------------------------------------------------------------------

pub fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    b.duration_since(a).unwrap_or_default().as_secs_f64()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// `median s (runs: a, b, c)`.
pub fn fmt_runs(runs: &[f64]) -> String {
    let each: Vec<String> = runs.iter().map(|s| format!("{s:.2}")).collect();
    format!("{:.3} s (runs: {})", median(runs.to_vec()), each.join(", "))
}
