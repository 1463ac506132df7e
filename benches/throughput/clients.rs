//! The two clients of the `sdk` comparison, one measured run each:
//! `bench/sdk_sequential.py` in one of its [`Mode`]s ([`python_run`]) and
//! mna-reportd ([`reportd_run`]), on a fresh fake and a fresh directory
//! chosen by an [`Env`], with the checks that the run did all its work.
//! Also installs the Python packages the script needs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fake_mna::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, FakeConfig, FakeMna, Fault, Params};
use tempfile::TempDir;

use crate::harness::{ChildRun, Measured, median, secs_between, tail};
use crate::sdk::SDK_REPORTS;
use crate::world::{BASE, HOUR, History, SUMMARY_ROWS, World, loopback};

const SDK_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/sdk_sequential.py");
/// A RAM file system, to take the disk out of the comparison.
pub const TMPFS: &str = "/dev/shm";
/// Data rows of every default fake report.
const DATA_ROWS: i64 = 24;
/// `report_rows` after [`SDK_REPORTS`] default reports.
const STORED_ROWS: i64 = SDK_REPORTS * (DATA_ROWS + SUMMARY_ROWS as i64);

/// Why the Python side of a comparison cannot run.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    #[error("{what} cannot be run: {source}")]
    Run {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("pip install {package} failed: {stderr}")]
    Pip { package: String, stderr: String },
    #[error("{0} still cannot be imported after pip install")]
    Import(String),
}

fn python_can_import(module: &str) -> Result<bool, PythonError> {
    let out = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .map_err(|source| PythonError::Run {
            what: "python3",
            source,
        })?;
    Ok(out.status.success())
}

/// Make sure `python3` can import `module`, installing `package` with pip if needed.
pub fn ensure_python(module: &str, package: &str) -> Result<(), PythonError> {
    if python_can_import(module)? {
        return Ok(());
    }
    println!("  installing {package} with pip ...");
    let out = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", package])
        .output()
        .map_err(|source| PythonError::Run {
            what: "pip",
            source,
        })?;
    if !out.status.success() {
        return Err(PythonError::Pip {
            package: package.to_string(),
            stderr: tail(&String::from_utf8_lossy(&out.stderr), 500)
                .trim()
                .to_string(),
        });
    }
    match python_can_import(module)? {
        true => Ok(()),
        false => Err(PythonError::Import(module.to_string())),
    }
}

/// Where a comparison run happens: its files' file system, and the
/// server's latency. Both clients of a pair get the same.
#[derive(Clone, Copy)]
pub struct Env {
    pub tmpfs: bool,
    pub latency: Option<Duration>,
}

impl Env {
    pub const DISK: Env = Env {
        tmpfs: false,
        latency: None,
    };
    pub const RAM: Env = Env {
        tmpfs: true,
        latency: None,
    };

    fn tempdir(self) -> TempDir {
        let made = match self.tmpfs {
            true => tempfile::tempdir_in(TMPFS),
            false => tempfile::tempdir(),
        };
        made.expect("create a temp dir")
    }

    /// A fresh unthrottled fake serving [`DATA_ROWS`]-row reports, each call and download delayed by the
    /// latency, its workbooks for the benchmark's windows built before the
    /// clock starts (a real server's work does not run on the client's cores).
    fn fake(self) -> FakeMna {
        let cfg = FakeConfig {
            rows_per_report: Some(DATA_ROWS as usize),
            ..FakeConfig::default()
        };
        let fake = FakeMna::start_background(loopback(), cfg).expect("the fake API starts");
        let windows = (0..SDK_REPORTS).map(|i| {
            let begin = BASE + i * HOUR;
            Params {
                gateway: Some(0),
                ..Params::new("-1", begin, begin + HOUR, 1)
            }
        });
        fake.prewarm(windows)
            .expect("the fake builds the workbooks");
        if let Some(d) = self.latency {
            fake.push_api_faults(SDK_REPORTS as usize, Fault::Delay(d));
            fake.push_api_faults(SDK_REPORTS as usize, Fault::DownloadDelay(d));
        }
        fake
    }
}

/// A measured run of either client.
pub trait Run {
    fn child(&self) -> &ChildRun;
}

/// One measure (`wall`, `cpu`, `server_cpu`, ...) of each run, in seconds.
pub fn each<R: Run>(runs: &[R], measure: fn(&ChildRun) -> Duration) -> Vec<f64> {
    runs.iter()
        .map(|r| measure(r.child()).as_secs_f64())
        .collect()
}

/// The median of [`each`].
pub fn median_of<R: Run>(runs: &[R], measure: fn(&ChildRun) -> Duration) -> f64 {
    median(each(runs, measure))
}

// ---------------------------------------------------------------------------
// The Python script
// ---------------------------------------------------------------------------

/// What `bench/sdk_sequential.py` does per report.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Call, download, write, record (one row, one commit).
    Plain,
    /// [`Mode::Plain`], and fsync of the file and the directory.
    Fsync,
    /// What mna-reportd does: `.part`, fsync, zip check, rename, directory
    /// fsync, and one transaction with the report, its attempts and its rows.
    SameWork,
}

/// The steps the script times in `--same-work` mode (its `steps_s` keys), with labels.
pub const STEPS: [(&str, &str); 7] = [
    ("call", "call"),
    ("download", "download"),
    ("write_fsync", "write + fsync .part"),
    ("zip_check", "zip check"),
    ("rename_dir_fsync", "rename + dir fsync"),
    ("rows", "openpyxl rows + JSON"),
    ("db", "rest of the SQLite transaction"),
];

/// A Python run: the whole process, and the script's own timings.
pub struct PythonRun {
    pub child: ChildRun,
    pub loop_s: f64,
    pub import_s: f64,
    /// `--same-work`: seconds in each of [`STEPS`], summed over the reports.
    pub steps: Option<[f64; STEPS.len()]>,
    pub history: PathBuf,
}

impl Run for PythonRun {
    fn child(&self) -> &ChildRun {
        &self.child
    }
}

/// Run `bench/sdk_sequential.py` once; its directory goes to `keep`.
pub fn python_run(env: Env, mode: Mode, label: &str, keep: &mut Vec<TempDir>) -> PythonRun {
    let fake = env.fake();
    let dir = env.tempdir();
    let out = dir.path().join("out");
    let mut m = Measured::new("python3", dir.path(), label);
    m.cmd()
        .arg(SDK_SCRIPT)
        .args(["--endpoint", &fake.host()])
        .args(["--secret-id", DEFAULT_SECRET_ID])
        .args(["--secret-key", DEFAULT_SECRET_KEY])
        .arg("--out")
        .arg(&out)
        .args(["--begin", &BASE.to_string()])
        .args(["--count", &SDK_REPORTS.to_string()]);
    match mode {
        Mode::Plain => {}
        Mode::Fsync => {
            m.cmd().arg("--fsync");
        }
        Mode::SameWork => {
            m.cmd().arg("--same-work");
        }
    }
    let child = m.run();
    child.expect_success(&format!("bench/sdk_sequential.py ({label})"));
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
    let history = out.join("history.db");
    let steps = (mode == Mode::SameWork).then(|| same_work_checks(&summary, &history));
    keep.push(dir);
    let secs = |key: &str| summary[key].as_f64().unwrap_or(f64::NAN);
    PythonRun {
        loop_s: secs("loop_s"),
        import_s: secs("import_s"),
        steps,
        history,
        child,
    }
}

/// The same-work script's history holds what mna-reportd's would; its step times.
fn same_work_checks(summary: &serde_json::Value, history: &Path) -> [f64; STEPS.len()] {
    let h = History::open(history);
    h.assert_all_ok(SDK_REPORTS as usize);
    assert_eq!(h.report_rows(), STORED_ROWS, "report_rows of the script");
    assert_eq!(summary["rows"], STORED_ROWS, "rows the script stored");
    assert_eq!(h.attempts(), 2 * SDK_REPORTS, "attempts of the script");
    STEPS.map(|(key, _)| {
        summary["steps_s"][key]
            .as_f64()
            .unwrap_or_else(|| panic!("no steps_s.{key} in the script's summary: {summary}"))
    })
}

// ---------------------------------------------------------------------------
// mna-reportd
// ---------------------------------------------------------------------------

/// A run of mna-reportd, with where its time went as the fake saw it.
pub struct ReportdRun {
    pub child: ChildRun,
    /// Process start to the first API call's arrival.
    pub startup_s: f64,
    /// First API call's arrival to the last download's arrival.
    pub busy_s: f64,
    /// Last download's arrival to the process's end.
    pub tail_s: f64,
    pub history: PathBuf,
}

impl Run for ReportdRun {
    fn child(&self) -> &ChildRun {
        &self.child
    }
}

/// Fetch the [`SDK_REPORTS`] windows once; the state directory goes to `keep`.
pub fn reportd_run(
    env: Env,
    concurrency: usize,
    rate_limit: u32,
    label: &str,
    keep: &mut Vec<TempDir>,
) -> ReportdRun {
    let w = World::with_fake(env.fake(), env.tempdir(), rate_limit, concurrency);
    let child = w.fetch(SDK_REPORTS, label);
    let h = w.history();
    h.assert_all_ok(SDK_REPORTS as usize);
    assert_eq!(h.report_rows(), STORED_ROWS, "report_rows after {label}");
    let first_call = w.fake.calls().iter().map(|c| c.at).min();
    let last_download = w.fake.downloads().iter().map(|d| d.at).max();
    let (Some(first_call), Some(last_download)) = (first_call, last_download) else {
        panic!("{label}: the fake saw no call or no download");
    };
    assert_eq!(w.fake.pending_faults(), (0, 0), "every latency fault used");
    let history = w.history_path();
    keep.push(w.dir);
    ReportdRun {
        startup_s: secs_between(child.started, first_call),
        busy_s: secs_between(first_call, last_download),
        tail_s: secs_between(last_download, child.ended),
        history,
        child,
    }
}
