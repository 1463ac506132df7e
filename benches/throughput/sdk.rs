//! The `sdk` scenario: 300 hourly reports from an unthrottled fake, fetched
//! by mna-reportd and by `bench/sdk_sequential.py` on the official Python
//! SDK, in its plain mode (call, download, write, record) and in its
//! same-work mode (what mna-reportd does per report). Owns the repeated,
//! interleaved runs, the judged comparison (same-work script vs mna-reportd,
//! target 10x), and the figures that show where each program's time goes.

use std::time::Duration;

use tempfile::TempDir;

use crate::Results;
use crate::clients::{
    Env, Mode, PythonError, PythonRun, ReportdRun, STEPS, TMPFS, each, ensure_python, median_of,
    python_run, reportd_run,
};
use crate::harness::{ChildRun, fmt_runs, median};
use crate::replay;
use crate::world::History;

pub const SDK_REPORTS: i64 = 300;
const SDK_REPEATS: usize = 3;
const SDK_CONCURRENCY: usize = 16;
const SDK_RATE_LIMIT: u32 = 1000;
/// The highest `api.rate_limit` the config accepts.
const MAX_RATE_LIMIT: u32 = 10_000;
/// Simulated server latency of the extra runs: per API answer and per download.
const SDK_LATENCY: Duration = Duration::from_millis(20);
/// The acceptance target: the same-work script's time over mna-reportd's.
const TARGET_SPEEDUP: f64 = 10.0;
const TARGET_FIGURE: &str =
    "speed-up, same-work Python script / mna-reportd c16 (the acceptance target)";

fn wall(c: &ChildRun) -> Duration {
    c.wall
}

fn cpu(c: &ChildRun) -> Duration {
    c.cpu
}

fn server_cpu(c: &ChildRun) -> Duration {
    c.server_cpu
}

/// `t s (ratio x)`: a time and how many times mna-reportd's `ours` it is.
fn vs(t: f64, ours: f64) -> String {
    format!("{t:.3} s ({:.1}x)", t / ours)
}

/// One figure of several parts: `what: a / b / c` in the label, the values
/// in the same order.
fn info_parts(r: &mut Results, what: &str, parts: &[(&str, String)]) {
    let names: Vec<&str> = parts.iter().map(|(n, _)| *n).collect();
    let values: Vec<&str> = parts.iter().map(|(_, v)| v.as_str()).collect();
    r.info(
        "sdk",
        &format!("{what}: {}", names.join(" / ")),
        values.join(" / "),
    );
}

/// The parts `Python plain / Python same-work / mna-reportd c16` of a
/// figure (without the same-work part when it did not run).
fn by_client(
    python: String,
    same_work: Option<String>,
    ours: String,
) -> Vec<(&'static str, String)> {
    let mut parts = vec![("Python plain", python)];
    parts.extend(same_work.map(|s| ("Python same-work", s)));
    parts.push(("mna-reportd c16", ours));
    parts
}

/// The runs on one file system. `same_work` is empty when openpyxl is missing.
#[derive(Default)]
struct EnvRuns {
    python: Vec<PythonRun>,
    same_work: Vec<PythonRun>,
    ours: Vec<ReportdRun>,
    ours_max_rate: Vec<ReportdRun>,
}

/// The repeated runs of the comparison, interleaved so that drift (page
/// cache, disk) hits every kind alike. `tmpfs` is empty without a tmpfs.
#[derive(Default)]
struct SdkRuns {
    disk: EnvRuns,
    ours_c8: Vec<ReportdRun>,
    tmpfs: EnvRuns,
}

fn sdk_runs(tmpfs: bool, same_work: bool, keep: &mut Vec<TempDir>) -> SdkRuns {
    let mut runs = SdkRuns::default();
    let (c, rl) = (SDK_CONCURRENCY, SDK_RATE_LIMIT);
    let envs = match tmpfs {
        true => [(Env::DISK, ""), (Env::RAM, "tmpfs-")].as_slice(),
        false => [(Env::DISK, "")].as_slice(),
    };
    for i in 0..SDK_REPEATS {
        for &(env, fs) in envs {
            let into = if env.tmpfs {
                &mut runs.tmpfs
            } else {
                &mut runs.disk
            };
            let label = |kind: &str| format!("sdk-{fs}{kind}-{i}");
            into.python
                .push(python_run(env, Mode::Plain, &label("python"), keep));
            if same_work {
                let same = python_run(env, Mode::SameWork, &label("same-work"), keep);
                into.same_work.push(same);
            }
            into.ours
                .push(reportd_run(env, c, rl, &label(&format!("c{c}")), keep));
            let max = reportd_run(env, c, MAX_RATE_LIMIT, &label("max"), keep);
            into.ours_max_rate.push(max);
            if !env.tmpfs {
                runs.ours_c8
                    .push(reportd_run(env, 8, rl, &label("c8"), keep));
            }
        }
    }
    runs
}

/// The whole-process and loop times of the script's runs in one mode (none
/// when it did not run); the whole-process times.
fn report_script(r: &mut Results, mode: &str, runs: &[PythonRun]) -> Vec<f64> {
    let walls = each(runs, wall);
    if !runs.is_empty() {
        let name = |what: &str| format!("Python SDK script, {mode}, {what}");
        r.info("sdk", &name("whole process"), fmt_runs(&walls));
        let loops: Vec<f64> = runs.iter().map(|p| p.loop_s).collect();
        r.info("sdk", &name("its loop alone"), fmt_runs(&loops));
    }
    walls
}

/// The judged comparison (same-work script vs mna-reportd on disk,
/// rate_limit 1000, concurrency 16) and the plain one, for information.
fn report_main(r: &mut Results, runs: &SdkRuns, same_work: &Result<(), PythonError>) {
    let py = report_script(
        r,
        "plain (call, download, write, record)",
        &runs.disk.python,
    );
    let same = report_script(r, "same work as mna-reportd", &runs.disk.same_work);
    let ours = each(&runs.disk.ours, wall);
    r.info(
        "sdk",
        &format!("mna-reportd, concurrency {SDK_CONCURRENCY}, rate_limit {SDK_RATE_LIMIT}"),
        fmt_runs(&ours),
    );
    let ours = median(ours);
    match same_work {
        Ok(()) => {
            let ratio = median(same) / ours;
            r.check(
                "sdk",
                TARGET_FIGURE,
                format!("{ratio:.2}x"),
                ">= 10x",
                ratio >= TARGET_SPEEDUP,
            );
        }
        Err(why) => r.skipped("sdk", TARGET_FIGURE, why.to_string()),
    }
    r.info(
        "sdk",
        "speed-up, plain Python script / mna-reportd c16 (information: the plain script does less work)",
        format!("{:.2}x", median(py) / ours),
    );
}

/// Where the same-work script's time goes, and the proof that it stored
/// what mna-reportd stores.
fn report_same_work(r: &mut Results, runs: &SdkRuns) {
    let (Some(python), Some(ours)) = (runs.disk.same_work.first(), runs.disk.ours.first()) else {
        return;
    };
    let step_ms = |j: usize| {
        let per_report = runs
            .disk
            .same_work
            .iter()
            .filter_map(|p| p.steps.map(|s| s[j] * 1000.0 / SDK_REPORTS as f64))
            .collect();
        format!("{:.2}", median(per_report))
    };
    let parts: Vec<(&str, String)> = STEPS
        .iter()
        .enumerate()
        .map(|(j, (_, label))| (*label, step_ms(j)))
        .collect();
    info_parts(r, "same-work script per report, ms", &parts);
    let imports: Vec<f64> = runs.disk.same_work.iter().map(|p| p.import_s).collect();
    r.info(
        "sdk",
        "same-work script: imports (SDK, requests, openpyxl), median",
        format!("{:.3} s", median(imports)),
    );
    let theirs = History::open(&python.history).contents();
    let mine = History::open(&ours.history).contents();
    if let Some((key, value)) = theirs.iter().find(|(k, v)| mine.get(*k) != Some(*v)) {
        panic!(
            "report_rows differ at {key:?}: same-work script {value}, mna-reportd {:?}",
            mine.get(key)
        );
    }
    assert_eq!(theirs.len(), mine.len(), "report_rows of the two programs");
    r.info(
        "sdk",
        "report_rows, same-work script vs mna-reportd (first runs)",
        format!(
            "{} rows each, equal (window, sheet, row, JSON)",
            theirs.len()
        ),
    );
}

/// Variants that say where mna-reportd's time goes.
fn report_variants(r: &mut Results, runs: &SdkRuns) {
    r.info(
        "sdk",
        &format!("mna-reportd, concurrency 8, rate_limit {SDK_RATE_LIMIT}"),
        fmt_runs(&each(&runs.ours_c8, wall)),
    );
    r.info(
        "sdk",
        &format!(
            "mna-reportd, concurrency {SDK_CONCURRENCY}, rate_limit {MAX_RATE_LIMIT} (config max)"
        ),
        fmt_runs(&each(&runs.disk.ours_max_rate, wall)),
    );
    for (what, measure) in [
        ("client CPU user+sys", cpu as fn(&ChildRun) -> Duration),
        ("fake server CPU during the run", server_cpu),
    ] {
        let secs = |runs: &[PythonRun]| format!("{:.3} s", median_of(runs, measure));
        let same = (!runs.disk.same_work.is_empty()).then(|| secs(&runs.disk.same_work));
        let ours = format!("{:.3} s", median_of(&runs.disk.ours, measure));
        info_parts(r, what, &by_client(secs(&runs.disk.python), same, ours));
    }
    let m = |f: fn(&ReportdRun) -> f64| {
        format!("{:.3} s", median(runs.disk.ours.iter().map(f).collect()))
    };
    info_parts(
        r,
        "mna-reportd c16",
        &[
            ("start -> 1st call", m(|o| o.startup_s)),
            ("1st call -> last download", m(|o| o.busy_s)),
            ("-> exit", m(|o| o.tail_s)),
        ],
    );
    if runs.tmpfs.ours.is_empty() {
        return;
    }
    let ours = median_of(&runs.tmpfs.ours, wall);
    let python = vs(median_of(&runs.tmpfs.python, wall), ours);
    let same = (!runs.tmpfs.same_work.is_empty())
        .then(|| vs(median_of(&runs.tmpfs.same_work, wall), ours));
    let parts = by_client(python, same, format!("{ours:.3} s"));
    info_parts(r, &format!("on tmpfs, median of {SDK_REPEATS}"), &parts);
    r.info(
        "sdk",
        &format!("on tmpfs: mna-reportd c16 rate_limit {MAX_RATE_LIMIT}"),
        fmt_runs(&each(&runs.tmpfs.ours_max_rate, wall)),
    );
}

/// One run of each client against a server that answers after [`SDK_LATENCY`].
fn report_latency(r: &mut Results, same_work: bool) {
    let env = Env {
        tmpfs: false,
        latency: Some(SDK_LATENCY),
    };
    let keep = &mut r.keep;
    let py = python_run(env, Mode::Plain, "sdk-python-latency", keep);
    let same = same_work.then(|| python_run(env, Mode::SameWork, "sdk-same-work-latency", keep));
    let ours = reportd_run(env, SDK_CONCURRENCY, SDK_RATE_LIMIT, "sdk-latency", keep);
    let ours = ours.child.wall.as_secs_f64();
    let same = same.map(|s| vs(s.child.wall.as_secs_f64(), ours));
    let parts = by_client(
        vs(py.child.wall.as_secs_f64(), ours),
        same,
        format!("{ours:.3} s"),
    );
    let what = format!(
        "with {} ms server latency per call and per download, one run each",
        SDK_LATENCY.as_millis()
    );
    info_parts(r, &what, &parts);
}

pub fn scenario(r: &mut Results) {
    let sdk = ensure_python(
        "tencentcloud.mna.v20210119.mna_client, requests",
        "tencentcloud-sdk-python-mna",
    );
    if let Err(why) = sdk {
        r.skipped("sdk", "mna-reportd vs official Python SDK", why.to_string());
        return;
    }
    let same_work = ensure_python("openpyxl", "openpyxl");
    let tmpfs = std::path::Path::new(TMPFS).is_dir();
    r.note(format!(
        "sdk: {SDK_REPORTS} hourly reports (24 rows each) from an unthrottled fake, a fresh fake per run with its workbooks built before the clock starts; \
         whole-process wall times, median of {SDK_REPEATS}; files in the default temp dir unless said. \
         Python plain: call, download, write, one-row commit. Python same-work: call, download, \
         .part + fsync, zip check, rename + dir fsync, one transaction with the report, 2 attempts \
         and every sheet row as JSON (openpyxl), WAL + synchronous NORMAL (see bench/README.md)"
    ));
    if !tmpfs {
        r.note(format!("sdk: no {TMPFS}: the tmpfs variants were not run"));
    }
    let runs = sdk_runs(tmpfs, same_work.is_ok(), &mut r.keep);
    report_main(r, &runs, &same_work);
    report_same_work(r, &runs);
    let py_fsync = python_run(Env::DISK, Mode::Fsync, "sdk-python-fsync", &mut r.keep);
    r.info(
        "sdk",
        "Python SDK script, plain with --fsync (file + dir), one run",
        format!(
            "{:.3} s (loop {:.3} s)",
            py_fsync.child.wall.as_secs_f64(),
            py_fsync.loop_s
        ),
    );
    report_variants(r, &runs);
    replay::report(r, SDK_REPORTS);
    report_latency(r, same_work.is_ok());
}
