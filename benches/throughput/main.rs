//! Acceptance benchmarks of mna-reportd, run against the in-process fake
//! MNA API (`fake-mna`) with the real release binary as a child process.
//!
//! `cargo bench --bench throughput [-- FILTER...]` runs the scenarios whose
//! name contains one of the filters (all without one):
//!
//! - `rate`: sustained API calls/s under a 20/s server limit, and refusals;
//! - `latency`: the same with the API answering in 0.1, 0.4 and 1.5 s under
//!   the default config, and peak RSS of planning a 438,000-report range and
//!   of fetching 5 MiB reports at 2 s latency;
//! - `sdk`: wall time against sequential scripts using the official
//!   Python SDK (`bench/sdk_sequential.py`), plain and doing the same work
//!   per report as mna-reportd;
//! - `cpu`: CPU time per report of the whole process, 300 reports from an
//!   unthrottled fake;
//! - `idle`: wake-ups per minute and resident memory of the daemon once it
//!   has caught up;
//! - `memory`: peak RSS of a fetch of one 256 MiB report, and of a small one;
//! - `ingest`: time of `ingest` on 100,000 rows, and peak RSS of fetches of
//!   10k / 100k / 300k-row reports.
//!
//! Each figure is checked against its target: a miss prints a `FAIL` line
//! (the run goes on); a broken run (a report not `ok`, a file missing)
//! panics. The table of figures goes to stdout and to `bench/results.md`.
//! See `bench/README.md`.
//!
//! This file owns the command line (scenario filters, the measuring-parent
//! mode of [`harness`]) and the results table; each scenario lives in its
//! own module.

mod clients;
mod harness;
mod idle;
mod ingest;
mod latency;
mod memory;
mod rate;
mod replay;
mod sdk;
mod world;

use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use harness::Machine;
use world::BIN;

const RESULTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/results.md");

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
pub struct Results {
    figures: Vec<Figure>,
    notes: Vec<String>,
    /// Every run's directory, deleted only when the benchmark ends: deleting
    /// files while measuring loads the disk (and, on ext4 without a journal,
    /// slows the creation of new files) under the runs that follow.
    pub keep: Vec<TempDir>,
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
    pub fn info(&mut self, scenario: &'static str, name: &str, value: String) {
        self.push(scenario, name, value, "", Verdict::Info);
    }

    /// A figure with a target; a miss is printed loudly, not a panic.
    pub fn check(
        &mut self,
        scenario: &'static str,
        name: &str,
        value: String,
        target: &str,
        ok: bool,
    ) {
        if !ok {
            let line = format!("FAIL: [{scenario}] {name} = {value}, target {target}");
            println!("\n!!!!!!!! {line} !!!!!!!!\n");
            eprintln!("{line}");
        }
        let v = if ok { Verdict::Pass } else { Verdict::Fail };
        self.push(scenario, name, value, target, v);
    }

    pub fn skipped(&mut self, scenario: &'static str, name: &str, why: String) {
        println!("\n!!!!!!!! SKIPPED: [{scenario}] {name}: {why} !!!!!!!!\n");
        self.push(
            scenario,
            name,
            format!("skipped: {why}"),
            "",
            Verdict::Skipped,
        );
    }

    pub fn note(&mut self, text: String) {
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

// ---------------------------------------------------------------------------
// Scenarios and the command line
// ---------------------------------------------------------------------------

type Scenario = fn(&mut Results);

const SCENARIOS: [(&str, Scenario); 7] = [
    ("rate", rate::scenario),
    ("latency", latency::scenario),
    ("cpu", idle::cpu),
    ("idle", idle::idle),
    ("sdk", sdk::scenario),
    ("memory", memory::scenario),
    ("ingest", ingest::scenario),
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
    if args.get(1).map(String::as_str) == Some(harness::MEASURE_FLAG) {
        std::process::exit(harness::measure_child_main(&args[2..]));
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
