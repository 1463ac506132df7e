//! Small things a newcomer meets first, on the real binary: an unknown
//! `history --job`, `fetch` without a selection, a missing config file, zone
//! typos, `check` without keys, seconds in `status`, `prune --dry-run`,
//! `--older-than` and `[storage] retention`, and the example config without a `state_dir`.

use crate::common;

use common::{BIN, HOURLY, World, assert_exit, path_str, stderr, stdout};
use std::process::Command;

const TWO_JOBS: &str = r#"
[[jobs]]
name = "hourly-all"
granularity = "hourly"
timezone = "UTC"

[[jobs]]
name = "daily-berlin"
granularity = "daily"
timezone = "Europe/Berlin"
"#;

#[test]
fn history_of_an_unknown_job_says_so_and_lists_the_jobs() {
    let w = World::new(TWO_JOBS);
    let o = w.run(&["history", "--job", "hourly-al"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("no job named \"hourly-al\""), "{err}");
    assert!(err.contains("hourly-all, daily-berlin"), "{err}");
    assert!(stdout(&o).is_empty());

    // a job removed from the config keeps its history readable
    assert_exit(&w.run(&common::FETCH_ONE_HOUR), 0);
    w.write_config("", "[[jobs]]\nname = \"other\"\ngranularity = \"daily\"\n");
    let o = w.run(&["history", "--job", "hourly-all"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("hourly-all"), "{}", stdout(&o));
}

#[test]
fn fetch_without_a_selection_names_both_choices() {
    let w = World::new(HOURLY);
    let o = w.run(&["fetch"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("--job") && err.contains("--all"), "{err}");
    assert!(w.fake.calls().is_empty());
    let help = w.run(&["fetch", "--help"]);
    assert!(
        stdout(&help).contains("for --job NAME... or --all"),
        "{}",
        stdout(&help)
    );
    assert_exit(&w.run(&["fetch", "--job", "hourly-all", "--all"]), 2);
}

#[test]
fn a_missing_config_file_is_one_clear_error_with_the_default_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.toml");
    let o = Command::new(BIN)
        .arg("--config")
        .arg(&missing)
        .arg("check")
        .env_clear()
        .output()
        .expect("run");
    assert_exit(&o, 2);
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "an error and its fix: {err}");
    assert_eq!(
        lines[0],
        format!(
            "error: cannot read config file {}: no such file",
            path_str(&missing)
        )
    );
    assert!(!err.contains("os error"), "{err}");
    assert!(
        lines[1].contains("--config PATH")
            && lines[1].contains("$MNA_REPORTD_CONFIG")
            && lines[1].contains("/etc/mna-reportd/config.toml"),
        "{err}"
    );
}

#[test]
fn zone_typos_name_their_key_and_the_closest_zone() {
    let w = World::new(
        r#"
[defaults]
timezone = "Asia/Shangai"

[[jobs]]
name = "a"
granularity = "hourly"

[[jobs]]
name = "b"
granularity = "hourly"

[[jobs]]
name = "c"
granularity = "daily"
timezone = "Europe/Berln"
"#,
    );
    let o = w.run(&["check"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("(2 problems)"), "once for the default: {err}");
    assert!(
        err.contains("defaults.timezone: unknown time zone \"Asia/Shangai\""),
        "{err}"
    );
    assert!(err.contains("did you mean \"Asia/Shanghai\"?"), "{err}");
    assert!(!err.contains("jobs[0].timezone"), "{err}");
    assert!(
        err.contains("jobs[2].timezone: unknown time zone \"Europe/Berln\""),
        "{err}"
    );
    assert!(err.contains("did you mean \"Europe/Berlin\"?"), "{err}");
}

#[test]
fn check_without_credentials_reports_the_whole_config_first() {
    let w = World::new(TWO_JOBS);
    let o = w.cmd_without_env_keys().arg("check").output().expect("run");
    assert_exit(&o, 2);
    let out = stdout(&o);
    assert!(out.contains(": valid, 2 job(s)"), "{out}");
    assert!(
        out.contains("job hourly-all") && out.contains("job daily-berlin"),
        "{out}"
    );
    assert!(out.contains("next fires"), "{out}");
    assert!(out.contains("credentials: none usable"), "{out}");
    assert!(
        stderr(&o).starts_with("error:") && stderr(&o).contains("credentials"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_credentials_file_is_told_once() {
    let w = World::new(HOURLY);
    let o = w
        .cmd_without_env_keys()
        .env("TENCENTCLOUD_CREDENTIALS_FILE", w.dir.path().join("none"))
        .arg("check")
        .output()
        .expect("run");
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("TENCENTCLOUD_CREDENTIALS_FILE"), "{err}");
    assert_eq!(err.matches("no such file").count(), 1, "{err}");
}

/// Whether `text` holds a time with seconds and an offset (`12:34:56+08:00`).
fn has_seconds(text: &str) -> bool {
    let b = text.as_bytes();
    b.windows(9).any(|w| {
        let d = |i: usize| w[i].is_ascii_digit();
        d(0) && d(1)
            && w[2] == b':'
            && d(3)
            && d(4)
            && w[5] == b':'
            && d(6)
            && d(7)
            && (w[8] == b'+' || w[8] == b'-')
    })
}

#[test]
fn status_shows_next_fire_with_seconds_like_check() {
    let w = World::new(HOURLY);
    let o = w.run(&["status"]);
    assert_exit(&o, 0);
    let line = stdout(&o)
        .lines()
        .find(|l| l.trim_start().starts_with("hourly-all"))
        .map(str::to_owned)
        .expect("the job's line");
    assert!(has_seconds(&line), "{line}");
    let check = w.run(&["check"]);
    assert!(has_seconds(&stdout(&check)), "{}", stdout(&check));
    assert!(!has_seconds("2026-11-01 00:00+00:00"));
}

#[test]
fn prune_dry_run_lists_the_files_and_older_than_refuses_under_a_day() {
    let w = World::new(HOURLY);
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T03:00:00Z",
        &[],
    );
    assert_exit(&o, 0);
    let files: Vec<String> = w.ok_rows().into_iter().map(|r| r.1).collect();
    assert_eq!(files.len(), 3);

    let o = w.run(&["prune", "--older-than", "23h"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("less than a day"), "{}", stderr(&o));
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 3)]);

    let o = w.run(&["prune", "--older-than", "1d", "--dry-run"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    for f in &files {
        assert!(out.contains(&format!("  {f}\n")), "{f} listed: {out}");
        assert!(std::path::Path::new(f).exists(), "nothing deleted");
    }
    assert!(out.contains("would prune 3 reports (3 files"), "{out}");
    assert!(out.contains("more than 1 day ago (--older-than)"), "{out}");
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 3)]);

    // without --older-than nor a retention: the error says to set one
    let o = w.run(&["prune", "--dry-run"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("[storage] retention is not set")
            && err.contains("fix: give --older-than")
            && err.contains("retention = \"400d\" under [storage]"),
        "{err}"
    );

    // with a retention: prune uses it and says so
    w.write_config_with(
        &common::Settings {
            storage: "retention = \"2d\"",
            ..Default::default()
        },
        "",
        HOURLY,
    );
    let o = w.run(&["prune", "--dry-run"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("would prune 3 reports (3 files"), "{out}");
    assert!(
        out.contains("more than 2 days ago ([storage] retention)"),
        "{out}"
    );
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 3)]);
}

#[test]
fn the_example_config_takes_its_state_directory_from_systemd() {
    let example = include_str!("../../config.example.toml");
    assert!(
        !example.lines().any(|l| l.starts_with("state_dir")),
        "state_dir is left unset"
    );
    let w = World::new(HOURLY);
    std::fs::write(&w.config, example).expect("config");
    let state = w.dir.path().join("from-systemd");
    let o = w
        .cmd()
        .env("STATE_DIRECTORY", &state)
        .arg("check")
        .output()
        .expect("run");
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains(&format!("storage: {}", path_str(&state.join("history.db")))),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_empty_history_filtered_by_status_says_none_match_not_none_recorded() {
    let w = World::new(HOURLY);
    assert_exit(&w.run(&common::FETCH_ONE_HOUR), 0);
    let o = w.run(&["history", "--status", "failed"]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "no failed reports\n");
    let o = w.run(&["history", "--job", "hourly-all", "--status", "pruned"]);
    assert_eq!(stdout(&o), "no pruned reports of hourly-all\n");
    let o = w.run(&["history", "--status", "ok"]);
    assert!(stdout(&o).contains("hourly-all"), "{}", stdout(&o));
}

#[test]
fn since_takes_a_duration_and_a_reversed_range_echoes_what_was_typed() {
    let w = World::new(HOURLY);
    assert_exit(&w.run(&common::FETCH_ONE_HOUR), 0);
    // the one report's window ended 2026-11-01T01:00Z: more than 2h ago, less than 10000d
    let o = w.run(&["history", "--since", "2h"]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "no reports ending since that time\n");
    let o = w.run(&["history", "--since", "10000d"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("hourly-all"), "{}", stdout(&o));
    let o = w.run(&["history", "--since", "soon"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("a duration back from now (2h, 3d, 90m)"),
        "{}",
        stderr(&o)
    );

    let calls = w.fake.calls().len();
    let o = w.run(&[
        "fetch",
        "--job",
        "hourly-all",
        "--from",
        "2026-11-02T08:00",
        "--to",
        "2026-11-01",
    ]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("--from 2026-11-02T08:00 must be before --to 2026-11-01\n  fix:"),
        "{err}"
    );
    assert_eq!(w.fake.calls().len(), calls);
}

#[test]
fn durations_and_sizes_printed_to_people_read_as_words() {
    let w = World::new(HOURLY);
    let o = w.run(&common::FETCH_ONE_HOUR);
    assert_exit(&o, 0);
    let out = stdout(&o);
    let bytes: u64 = w.ok_rows().iter().map(|r| r.3 as u64).sum();
    assert!(bytes >= 1024, "{bytes}");
    let want = format!(
        "; {:.1} KiB ({},{:03} bytes) received",
        bytes as f64 / 1024.0,
        bytes / 1000,
        bytes % 1000
    );
    assert!(bytes < 1_000_000 && out.contains(&want), "{want} in {out}");
    let o = w.run(&["check"]);
    let out = stdout(&o);
    assert!(out.contains("lag 5m, catch-up 1 day"), "{out}");
    assert!(!out.contains("1day"), "{out}");
}

/// An attempt's `duration_ms` is the call's, not the rate limiter's queue:
/// at one call a second, five reports asked at once wait up to about 4 s
/// for their turn, yet each call to the local fake takes well under that.
#[test]
fn an_attempts_duration_leaves_out_the_rate_limiters_wait() {
    let w = World::new(HOURLY);
    let text = std::fs::read_to_string(&w.config).expect("config");
    std::fs::write(
        &w.config,
        text.replace("rate_limit = 200", "rate_limit = 1")
            .replace("concurrency = 4", "concurrency = 5"),
    )
    .expect("config");
    let o = w.run(&[
        "fetch",
        "--job",
        "hourly-all",
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-11-01T05:00:00Z",
    ]);
    assert_exit(&o, 0);
    let durations: Vec<i64> = {
        let db = w.db();
        let mut st = db
            .prepare("SELECT duration_ms FROM attempts WHERE kind = 'call' ORDER BY started_at")
            .expect("query");
        st.query_map([], |r| r.get(0))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect()
    };
    assert_eq!(durations.len(), 5, "{durations:?}");
    // The queue alone puts the fifth call about 4.2 s after the first: a
    // duration that counted it would be at least that.
    assert!(
        durations.iter().all(|&d| d < 3_000),
        "durations include the limiter's wait: {durations:?}"
    );
}
