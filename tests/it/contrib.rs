//! What ships beside the binary: the Grafana dashboard
//! (`contrib/grafana/mna-reportd.json`) and the Prometheus rules
//! (`contrib/prometheus/mna-reportd.rules.yml`) parse, and every series their
//! queries name is one a real `mna-reportd run` exports on `/metrics` (read
//! from a daemon against the fake API); the man pages and completion scripts
//! the Debian package installs (`packaging/generated/`) are what the clap
//! definitions generate today.
//!
//! After a change to the command line, refresh the generated files with
//! `MNA_REPORTD_BLESS=1 cargo test --test it contrib::`.

use crate::common;

use common::daemon::*;
use common::*;
use fake_mna::Fault;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// Series Prometheus itself makes for every target; a query may name them.
const PROMETHEUS_SERIES: [&str; 1] = ["up"];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The series names a real daemon exports, read once from its `/metrics`
/// after a catch-up with retries and downloads, so every series has a sample.
fn exported() -> &'static BTreeSet<String> {
    static NAMES: OnceLock<BTreeSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let w = World::with(
            fake_mna::FakeConfig::default(),
            METRICS_PORT_0,
            "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"2h\"\n",
        );
        w.fake.push_fault(Fault::api_error("InternalError"));
        let d = w.start_daemon(&[]);
        let addr = d.metrics_addr();
        wait_for("2 reports ok", LONG, || count_status(&w, "ok") >= 2);
        wait_for("the fire to finish", LONG, || {
            http_get(addr, "/metrics")
                .1
                .contains("mna_reportd_missing_windows{job=\"h\"} 0")
        });
        let (status, text) = http_get(addr, "/metrics");
        d.stop();
        assert_eq!(status, 200, "{text}");
        let names: BTreeSet<String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(str::to_string)
            .collect();
        assert!(
            names.len() >= 6,
            "expected the six series of the README, got {names:?} from:\n{text}"
        );
        names
    })
}

/// Words of PromQL that are not series: aggregations (which may be followed
/// by `by (...)` before their parenthesis), binary operators and modifiers.
const KEYWORDS: [&str; 24] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "atan2",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LISTS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The series names a PromQL expression reads: every identifier that is not
/// a function (followed by `(`), a keyword, a label name (inside `{...}` or a
/// `by (...)` list), a string, a number or duration, or a Grafana variable.
fn series_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |from: usize, close: char| -> usize {
        let mut j = from;
        let mut quote = None;
        while j < chars.len() {
            match (quote, chars[j]) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), '\\') => j += 1,
                (Some(_), _) => {}
                (None, c @ ('"' | '\'' | '`')) => quote = Some(c),
                (None, c) if c == close => return j + 1,
                _ => {}
            }
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_to(i + 1, '}');
        } else if c == '[' {
            i = skip_to(i + 1, ']');
        } else if c == '"' || c == '\'' || c == '`' {
            // A string outside a selector: skip it whole.
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            i = j + 1;
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c == '$' {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let followed_by_paren = chars.get(next) == Some(&'(');
            if LABEL_LISTS.contains(&word.as_str()) {
                if followed_by_paren {
                    i = skip_to(next + 1, ')');
                }
            } else if !followed_by_paren && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The names in `exprs` that neither the daemon nor Prometheus makes.
fn unknown_series<'a>(exprs: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let exported = exported();
    exprs
        .into_iter()
        .flat_map(series_names)
        .filter(|n| !exported.contains(n) && !PROMETHEUS_SERIES.contains(&n.as_str()))
        .collect()
}

#[test]
fn the_query_reader_finds_series_and_only_series() {
    let names = |e: &str| series_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"sum by (job, outcome) (increase(mna_reportd_reports_total{instance=~"$instance", job=~"a|b"}[$__rate_interval]))"#
        ),
        ["mna_reportd_reports_total"]
    );
    assert_eq!(
        names(r#"time() - mna_reportd_last_success_timestamp_seconds{job="h"} > 2 * 3600"#),
        ["mna_reportd_last_success_timestamp_seconds"]
    );
    assert_eq!(
        names(r#"up{job="x"} == 0 or mna_reportd_missing_windows > 3"#),
        ["mna_reportd_missing_windows", "up"]
    );
    assert_eq!(
        names("rate(mna_reportd_nope_total[5m] offset 1h) / on (instance) group_left (job) x:y"),
        ["mna_reportd_nope_total", "x:y"]
    );
}

#[test]
fn a_query_naming_a_series_the_daemon_lacks_is_caught() {
    assert_eq!(
        unknown_series([
            "rate(mna_reportd_download_bytes_total[5m])",
            "rate(mna_reportd_downloaded_bytes_total[5m])",
            r#"up{job="mna-reportd"}"#,
        ]),
        ["mna_reportd_downloaded_bytes_total"]
    );
}

/// Every string under a `key` anywhere in `v`.
fn strings_under(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match v {
                    serde_json::Value::String(s) if k == key => out.push(s.clone()),
                    _ => strings_under(v, key, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings_under(v, key, out)),
        _ => {}
    }
}

/// `label_values(SELECTOR, LABEL)` of a Grafana variable: the selector.
fn label_values_selector(query: &str) -> Option<&str> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    Some(inner.rsplit_once(',').map_or(inner, |(sel, _)| sel))
}

#[test]
fn the_dashboard_parses_and_charts_only_exported_series() {
    let text = read("contrib/grafana/mna-reportd.json");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    assert_eq!(dash["uid"], "mna-reportd");
    let panels = dash["panels"].as_array().expect("panels");
    let mut exprs = Vec::new();
    for p in panels {
        let mut own = Vec::new();
        strings_under(&p["targets"], "expr", &mut own);
        assert!(!own.is_empty(), "panel {} has no query", p["title"]);
        exprs.extend(own);
    }
    let mut variables = Vec::new();
    strings_under(&dash["templating"], "definition", &mut variables);
    assert!(!variables.is_empty(), "the dashboard has variables");
    let selectors: Vec<&str> = variables
        .iter()
        .map(|q| label_values_selector(q).unwrap_or_else(|| panic!("not label_values: {q}")))
        .collect();
    let unknown = unknown_series(exprs.iter().map(String::as_str).chain(selectors));
    assert!(
        unknown.is_empty(),
        "the dashboard names series the daemon does not export: {unknown:?}; it exports {:?}",
        exported()
    );
    // Every series of the README has a panel.
    let charted: BTreeSet<String> = exprs.iter().flat_map(|e| series_names(e)).collect();
    let missing: Vec<&String> = exported()
        .iter()
        .filter(|n| n.starts_with("mna_reportd_") && !charted.contains(*n))
        .collect();
    assert!(missing.is_empty(), "no panel for {missing:?}");
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for want in [
        "Reports per job by outcome",
        "API calls by answer code",
        "Retries per job",
        "Missing windows",
        "Time since last success",
        "Bytes downloaded",
    ] {
        assert!(titles.contains(&want), "no panel {want:?} in {titles:?}");
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    rules: Vec<Rule>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    alert: Option<String>,
    #[serde(default)]
    record: Option<String>,
    expr: String,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[test]
fn the_alert_rules_load_and_name_only_exported_series() {
    let text = read("contrib/prometheus/mna-reportd.rules.yml");
    let file: RuleFile = serde_norway::from_str(&text).expect("rules file in Prometheus's format");
    assert!(!file.groups.is_empty());
    let mut alerts = BTreeSet::new();
    for g in &file.groups {
        assert!(!g.name.is_empty());
        if let Some(i) = &g.interval {
            humantime::parse_duration(i).unwrap_or_else(|e| panic!("interval {i}: {e}"));
        }
        for r in &g.rules {
            assert!(
                r.alert.is_some() != r.record.is_some(),
                "a rule is either an alert or a record: {r:?}"
            );
            if let Some(f) = &r.for_ {
                humantime::parse_duration(f).unwrap_or_else(|e| panic!("for: {f}: {e}"));
            }
            assert!(
                r.labels
                    .keys()
                    .chain(r.annotations.keys())
                    .all(|k| !k.is_empty())
            );
            if let Some(a) = &r.alert {
                assert!(alerts.insert(a.clone()), "alert {a} twice");
            }
        }
    }
    let unknown = unknown_series(
        file.groups
            .iter()
            .flat_map(|g| &g.rules)
            .map(|r| r.expr.as_str()),
    );
    assert!(
        unknown.is_empty(),
        "the rules name series the daemon does not export: {unknown:?}; it exports {:?}",
        exported()
    );
    for want in ["MnaReportdDown", "MnaReportsStalled", "MnaReportsMissing"] {
        assert!(alerts.contains(want), "no alert {want} in {alerts:?}");
    }
}

/// The files of `packaging/generated/`, and what they must hold now.
fn generated() -> Vec<(String, Vec<u8>)> {
    use mna_reportd::testing::{CompletionShell, man_pages, script};
    let mut files: Vec<(String, Vec<u8>)> = man_pages()
        .expect("man pages render")
        .into_iter()
        .map(|(name, roff)| (format!("man/{name}"), roff))
        .collect();
    for (shell, name) in [
        (CompletionShell::Bash, "mna-reportd.bash"),
        (CompletionShell::Zsh, "_mna-reportd"),
        (CompletionShell::Fish, "mna-reportd.fish"),
    ] {
        files.push((format!("completions/{name}"), script(shell)));
    }
    files
}

#[test]
fn the_packaged_man_pages_and_completions_match_the_command_line() {
    let dir = repo("packaging/generated");
    let bless = std::env::var_os("MNA_REPORTD_BLESS").is_some();
    let want = generated();
    let mut stale = Vec::new();
    for (name, content) in &want {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_ref() != Some(content) {
            if bless {
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(&path, content).expect("write");
            } else {
                stale.push(name.clone());
            }
        }
    }
    // No page or script of a command that is gone.
    for sub in ["man", "completions"] {
        for e in std::fs::read_dir(dir.join(sub))
            .expect("packaging/generated")
            .flatten()
        {
            let name = format!("{sub}/{}", e.file_name().to_string_lossy());
            if !want.iter().any(|(n, _)| *n == name) {
                if bless {
                    std::fs::remove_file(e.path()).expect("remove");
                } else {
                    stale.push(name);
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "packaging/generated/ is out of date with the command line: {stale:?}; \
         refresh it with `MNA_REPORTD_BLESS=1 cargo test --test it contrib::`"
    );
}

#[test]
fn the_commands_print_what_the_package_ships() {
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .env_clear()
            .output()
            .expect("run mna-reportd")
    };
    for (args, file) in [
        (&["completions", "bash"][..], "completions/mna-reportd.bash"),
        (&["completions", "zsh"][..], "completions/_mna-reportd"),
        (&["completions", "fish"][..], "completions/mna-reportd.fish"),
        (&["manpage"][..], "man/mna-reportd.1"),
        (&["manpage", "fetch"][..], "man/mna-reportd-fetch.1"),
    ] {
        let out = run(args);
        assert_exit(&out, 0);
        let (_, want) = generated()
            .into_iter()
            .find(|(n, _)| n == file)
            .unwrap_or_else(|| panic!("{file} is generated"));
        assert!(
            out.stdout == want,
            "mna-reportd {args:?} differs from {file}"
        );
    }
    for shell in ["elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert_exit(&out, 0);
        assert!(stdout(&out).contains("mna-reportd"), "{shell}");
    }
    let out = run(&["manpage", "nope"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("the commands are: run, check"),
        "{}",
        stderr(&out)
    );
    let out = run(&["completions", "tcsh"]);
    assert_exit(&out, 2);
    let help = stdout(&run(&["--help"]));
    for code in [
        "0 everything",
        "1 some report failed",
        "2 usage",
        "128+n stopped by signal n",
    ] {
        assert!(
            help.contains(code),
            "--help lacks exit code {code:?}:\n{help}"
        );
    }
}
