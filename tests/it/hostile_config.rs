//! Hostile job files: extreme numbers, huge or endless files and slow reads
//! never panic, never exhaust memory and never stall the daemon: exit 2 with
//! the key named, or a reload that fails and leaves the running jobs alone.

use crate::common;

use common::daemon::{METRICS_PORT_0, Notify, http_get, wait_for};
use common::*;
use mna_reportd::testing::{self, ConfigError};
use proptest::prelude::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const BASE: &str = "[storage]\nstate_dir = \"state\"\n\n";

/// `check` on `text` as the config, with a key in the environment.
fn check(text: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, text).expect("write");
    check_at(&config, dir.path())
}

fn check_at(config: &Path, cwd: &Path) -> std::process::Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("check")
        .env_clear()
        .env("TENCENTCLOUD_SECRET_ID", "AKIDx")
        .env("TENCENTCLOUD_SECRET_KEY", "k")
        .current_dir(cwd)
        .output()
        .expect("run")
}

fn assert_refused(o: &std::process::Output, key: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{key}: {err}");
    assert!(!err.contains("panicked"), "{key}: {err}");
    assert!(err.contains(key), "the error does not name {key}:\n{err}");
    assert!(err.contains("line "), "{key}: no line number:\n{err}");
    assert!(err.contains("fix: "), "{key}: no fix:\n{err}");
}

const HUGE: &str = "18446744073709551615s";

#[test]
fn an_overflowing_duration_in_any_key_is_exit_2_naming_key_and_line() {
    let job = "[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\n";
    let cases = [
        ("jobs[0].lag", format!("{BASE}{job}lag = \"{HUGE}\"\n")),
        (
            "jobs[0].catch_up",
            format!("{BASE}{job}catch_up = \"{HUGE}\"\n"),
        ),
        (
            "jobs[0].window",
            format!("{BASE}{job}window = \"{HUGE}\"\n"),
        ),
        ("jobs[0].step", format!("{BASE}{job}step = \"{HUGE}\"\n")),
        (
            "api.timeout",
            format!("[api]\ntimeout = \"{HUGE}\"\n{BASE}{job}"),
        ),
        (
            "retry.initial_delay",
            format!("[retry]\ninitial_delay = \"{HUGE}\"\nmax_delay = \"{HUGE}\"\n{BASE}{job}"),
        ),
        (
            "storage.retention",
            format!("{BASE}retention = \"{HUGE}\"\n{job}"),
        ),
        (
            "jobs[0].lag",
            format!("{BASE}{job}lag = \"31d\"\ncatch_up = \"400d\"\n"),
        ),
    ];
    for (key, text) in cases {
        assert_refused(&check(&text), key);
    }
}

#[test]
fn the_largest_documented_values_are_accepted() {
    let text = format!(
        "[api]\ntimeout = \"1h\"\n[retry]\ninitial_delay = \"1h\"\nmax_delay = \"1h\"\n\
         {BASE}retention = \"36500d\"\n\
         [[jobs]]\nname = \"a\"\ngranularity = \"daily\"\nwindow = \"366d\"\nstep = \"366d\"\nlag = \"30d\"\ncatch_up = \"400d\"\n"
    );
    let o = check(&text);
    assert_exit(&o, 0);
}

#[test]
fn an_endless_config_file_is_refused_with_its_size_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = common::rss::run_measured(
        Command::new(BIN)
            .args(["--config", "/dev/zero", "check"])
            .env_clear()
            .current_dir(dir.path()),
    );
    let err = stderr(&o.output);
    assert_eq!(o.output.status.code(), Some(2), "{err}");
    assert!(err.contains("/dev/zero") && err.contains("1 MiB"), "{err}");
    assert!(o.peak_rss < 64 * 1024 * 1024, "peak RSS {}", o.peak_rss);

    // A file just over the limit, made of valid TOML comments, too.
    let big = dir.path().join("big.toml");
    let line = "# padding padding padding padding padding padding padding padding\n";
    let text = format!(
        "{BASE}[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\n{}",
        line.repeat(1024 * 1024 / line.len() + 1)
    );
    std::fs::write(&big, text).expect("write");
    let o = check_at(&big, dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("larger than"), "{}", stderr(&o));
}

/// A TOML value for a key: a string, or a raw number/bool/array.
#[derive(Debug, Clone)]
enum V {
    Str(String),
    Raw(String),
}

impl V {
    fn toml(&self) -> String {
        match self {
            V::Str(s) => toml::Value::String(s.clone()).to_string(),
            V::Raw(r) => r.clone(),
        }
    }
}

fn duration_text() -> impl Strategy<Value = V> {
    let unit = prop::sample::select(vec!["ns", "ms", "s", "m", "h", "d", "w", "y", ""]);
    prop_oneof![
        (any::<u64>(), unit.clone()).prop_map(|(n, u)| V::Str(format!("{n}{u}"))),
        (0u64..1_000_000, unit).prop_map(|(n, u)| V::Str(format!("{n}{u}"))),
        Just(V::Str(HUGE.to_string())),
        Just(V::Str("584542046090y".to_string())),
        Just(V::Str("0s".to_string())),
        Just(V::Str("1ns".to_string())),
        Just(V::Raw("-1".to_string())),
        any::<String>().prop_map(V::Str),
    ]
}

fn int_text() -> impl Strategy<Value = V> {
    prop_oneof![
        any::<i64>().prop_map(|n| V::Raw(n.to_string())),
        (-3i64..300).prop_map(|n| V::Raw(n.to_string())),
        Just(V::Raw(i64::MAX.to_string())),
        Just(V::Raw(i64::MIN.to_string())),
        Just(V::Raw("1e300".to_string())),
        Just(V::Raw("inf".to_string())),
    ]
}

fn text() -> impl Strategy<Value = V> {
    prop_oneof![
        any::<String>().prop_map(V::Str),
        "[a-zA-Z0-9_/:.*, -]{0,40}".prop_map(V::Str),
        Just(V::Str(String::new())),
        Just(V::Raw("12".to_string())),
    ]
}

fn list_text() -> impl Strategy<Value = V> {
    prop::collection::vec(any::<String>(), 0..15).prop_map(|v| {
        let items: Vec<String> = v
            .into_iter()
            .map(|s| toml::Value::String(s).to_string())
            .collect();
        V::Raw(format!("[{}]", items.join(", ")))
    })
}

/// Every key of the file with the kind of value it takes.
fn keys() -> Vec<(&'static str, &'static str, u8)> {
    // (table, key, kind): 0 duration, 1 integer, 2 text, 3 list, 4 bool
    vec![
        ("api", "endpoint", 2),
        ("api", "rate_limit", 1),
        ("api", "timeout", 0),
        ("api", "concurrency", 1),
        ("api", "language", 2),
        ("api", "region", 2),
        ("credentials", "secret_id_file", 2),
        ("credentials", "secret_key_file", 2),
        ("credentials", "token_file", 2),
        ("credentials", "profile", 2),
        ("credentials", "cvm_role", 4),
        ("credentials", "metadata_endpoint", 2),
        ("storage", "state_dir", 2),
        ("storage", "reports_dir", 2),
        ("storage", "retention", 0),
        ("retry", "max_attempts", 1),
        ("retry", "initial_delay", 0),
        ("retry", "max_delay", 0),
        ("metrics", "listen", 2),
        ("jobs", "name", 2),
        ("jobs", "granularity", 2),
        ("jobs", "window", 0),
        ("jobs", "step", 0),
        ("jobs", "timezone", 2),
        ("jobs", "lag", 0),
        ("jobs", "catch_up", 0),
        ("jobs", "schedule", 2),
        ("jobs", "devices", 3),
        ("jobs", "per_device", 4),
        ("jobs", "group", 2),
        ("jobs", "device_type", 1),
        ("jobs", "exclude", 3),
        ("jobs", "discovery_interval", 0),
        ("jobs", "regions", 3),
        ("jobs", "gateway", 2),
        ("jobs", "enabled", 4),
    ]
}

fn value_for(kind: u8) -> BoxedStrategy<V> {
    match kind {
        0 => duration_text().boxed(),
        1 => int_text().boxed(),
        2 => text().boxed(),
        3 => list_text().boxed(),
        _ => prop_oneof![
            any::<bool>().prop_map(|b| V::Raw(b.to_string())),
            Just(V::Raw("1".to_string()))
        ]
        .boxed(),
    }
}

/// A config with a random subset of keys set to extreme or random values.
fn hostile_config() -> impl Strategy<Value = String> {
    let per_key: Vec<BoxedStrategy<Option<V>>> = keys()
        .into_iter()
        .map(|(_, _, kind)| prop::option::weighted(0.5, value_for(kind)).boxed())
        .collect();
    per_key.prop_map(|values| {
        let mut tables: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for ((table, key, _), v) in keys().into_iter().zip(values) {
            if let Some(v) = v {
                tables
                    .entry(table)
                    .or_default()
                    .push(format!("{key} = {}", v.toml()));
            }
        }
        let mut out = String::new();
        for (table, lines) in &tables {
            if *table == "jobs" || *table == "storage" {
                continue;
            }
            out.push_str(&format!("[{table}]\n{}\n", lines.join("\n")));
        }
        // Defaults for the keys left out that the rest needs.
        let has = |table: &str, key: &str| {
            tables
                .get(table)
                .is_some_and(|l| l.iter().any(|l| l.starts_with(&format!("{key} = "))))
        };
        out.push_str("[storage]\n");
        if !has("storage", "state_dir") {
            out.push_str("state_dir = \"state\"\n");
        }
        if let Some(lines) = tables.get("storage") {
            out.push_str(&format!("{}\n", lines.join("\n")));
        }
        out.push_str("[[jobs]]\n");
        if !has("jobs", "name") {
            out.push_str("name = \"a\"\n");
        }
        if let Some(lines) = tables.get("jobs") {
            out.push_str(&format!("{}\n", lines.join("\n")));
        }
        out
    })
}

/// What `check` does with a config, in process: load it and, when valid,
/// plan every job at a few moments and list its next fires. Never a panic.
fn load_and_plan(text: &str) -> Result<(), ConfigError> {
    let path = Path::new("/tmp/hostile/config.toml");
    match testing::parse(text, path) {
        Err(e) => {
            let shown = e.to_string();
            let problems = match &e {
                ConfigError::Invalid { problems, .. } => problems.as_slice(),
                ConfigError::Read { .. } | ConfigError::TooLarge { .. } => &[],
            };
            assert!(!problems.is_empty(), "no problem listed: {shown}");
            for p in problems {
                assert!(!p.key.is_empty() && !p.message.is_empty(), "{shown}");
            }
            Err(e)
        }
        Ok(c) => {
            for job in &c.jobs {
                let job = std::sync::Arc::new(job.clone());
                for now in [
                    jiff::Timestamp::now(),
                    jiff::Timestamp::MIN,
                    jiff::Timestamp::MAX,
                    jiff::Timestamp::UNIX_EPOCH,
                ] {
                    let _ = testing::due(&job, now, true);
                    let _ = testing::next_fires(job.fires(), now, 3);
                }
            }
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn extreme_and_random_values_in_every_key_never_panic(text in hostile_config()) {
        let _ = load_and_plan(&text);
    }

    #[test]
    fn one_extreme_duration_in_any_duration_key_is_a_problem_not_a_panic(
        which in prop::sample::select(vec!["lag", "catch_up", "window", "step"]),
        n in prop_oneof![Just(u64::MAX), any::<u64>(), 1u64 << 40..u64::MAX],
        unit in prop::sample::select(vec!["s", "m", "h", "d", "y"]),
    ) {
        let text = format!(
            "{BASE}[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\n{which} = \"{n}{unit}\"\n"
        );
        prop_assert!(load_and_plan(&text).is_err());
    }
}

/// The same kind of files through the real binary: a handful of `check` runs.
#[test]
fn the_binary_refuses_hostile_values_with_exit_2() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&hostile_config(), |text| {
            let o = check(&text);
            let err = stderr(&o);
            prop_assert!(!err.contains("panicked"), "{}\n{}", text, err);
            match o.status.code() {
                Some(0) => {}
                Some(2) => prop_assert!(err.contains("error:"), "{}", err),
                other => prop_assert!(false, "exit {:?}\n{}\n{}", other, text, err),
            }
            Ok(())
        })
        .expect("no panic, exit 0 or 2");
}

const JOB: &str =
    "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"3h\"\n";

#[test]
fn run_survives_sighup_with_an_overflowing_job_file() {
    let w = World::new(JOB);
    let mut d = w.start_daemon(&[]);
    wait_for("the daemon ready", Duration::from_secs(60), || {
        d.log_text().contains("ready;")
    });
    w.write_config(
        "",
        &format!("{JOB}\n[[jobs]]\nname = \"b\"\ngranularity = \"hourly\"\nlag = \"{HUGE}\"\n"),
    );
    d.signal(libc::SIGHUP);
    wait_for("the reload to fail", Duration::from_secs(60), || {
        d.log_text().contains("reload failed")
    });
    let log = d.log_text();
    assert!(log.contains("jobs[1].lag"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(
        d.child.try_wait().expect("try_wait"),
        None,
        "the daemon died:\n{log}"
    );
    d.stop();
}

#[test]
fn a_reload_that_blocks_reading_the_file_does_not_stall_the_daemon() {
    let w = World::with(Default::default(), METRICS_PORT_0, JOB);
    let good = std::fs::read_to_string(&w.config).expect("read config");
    let mut notify = Notify::new(&w);
    let mut d = w.start_daemon(&[notify.env()]);
    notify.read_until("READY=1");
    let addr = d.metrics_addr();
    // The config becomes a FIFO: reading it blocks until someone writes.
    std::fs::remove_file(&w.config).expect("remove config");
    let c = std::ffi::CString::new(w.config.to_string_lossy().as_bytes()).expect("path");
    // SAFETY: mkfifo only creates a file at a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    d.signal(libc::SIGHUP);
    notify.clear();
    notify.read_until("RELOADING=1");
    // A writer opens the FIFO without waiting only once the reload has it
    // open for reading; held open and silent, it keeps the reload waiting
    // on the file for as long as the test asks.
    let mut writer = None;
    wait_for(
        "the reload to open the file",
        Duration::from_secs(60),
        || {
            use std::os::unix::fs::OpenOptionsExt;
            writer = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&w.config)
                .ok();
            writer.is_some()
        },
    );
    let mut writer = writer.expect("the FIFO's writer");
    // While the reload waits on the file, the daemon answers (10 s read timeout).
    for _ in 0..3 {
        let (status, body) = http_get(addr, "/healthz");
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(d.child.try_wait().expect("try_wait"), None);
    std::io::Write::write_all(&mut writer, good.as_bytes()).expect("feed the FIFO");
    drop(writer);
    wait_for("the reload to finish", Duration::from_secs(60), || {
        d.log_text().contains("reloaded the job file")
    });
    d.stop();
}
