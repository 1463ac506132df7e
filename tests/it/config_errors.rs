//! Broken job files: exit 2, the key named with its line, nothing created.

use crate::common;

use common::*;

const BASE: &str = "[storage]\nstate_dir = \"state\"\n\n";

/// (what is broken, config text after BASE, key the error must name)
fn broken() -> Vec<(&'static str, String, &'static str)> {
    let devices: Vec<String> = (1..=11).map(|i| format!("\"d{i}\"")).collect();
    vec![
        ("syntax", "[[jobs]]\nname = \"a\"\ngranularity = hourly\n".into(), "jobs[0]"),
        ("unknown key", "[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\ncolour = \"red\"\n".into(), "jobs[0].colour"),
        ("bad cron", "[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\nschedule = \"0 25 * * *\"\n".into(), "jobs[0].schedule"),
        ("bad zone", "[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\ntimezone = \"Asia/Atlantis\"\n".into(), "jobs[0].timezone"),
        ("bad region", "[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\nregions = [\"MARS\"]\n".into(), "jobs[0].regions"),
        ("11 devices", format!("[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\ndevices = [{}]\n", devices.join(",")), "jobs[0].devices"),
        ("unknown granularity", "[[jobs]]\nname = \"a\"\ngranularity = \"fortnightly\"\n".into(), "jobs[0].granularity"),
        ("window not a multiple", "[[jobs]]\nname = \"a\"\ngranularity = \"daily\"\nwindow = \"36h\"\n".into(), "jobs[0].window"),
        ("../ in a job name", "[[jobs]]\nname = \"../escape\"\ngranularity = \"hourly\"\n".into(), "jobs[0].name"),
        ("duplicate job", "[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\n\n[[jobs]]\nname = \"a\"\ngranularity = \"daily\"\n".into(), "jobs[1].name"),
    ]
}

#[test]
fn ten_kinds_of_broken_config_exit_2_name_the_key_and_create_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (what, text, key) in broken() {
        let config = dir.path().join("config.toml");
        std::fs::write(&config, format!("{BASE}{text}")).expect("write");
        for args in [
            &["check"][..],
            &["fetch", "--all"][..],
            &["run"][..],
            &["history"][..],
        ] {
            let o = std::process::Command::new(BIN)
                .arg("--config")
                .arg(&config)
                .args(args)
                .env("TENCENTCLOUD_SECRET_ID", "AKIDx")
                .env("TENCENTCLOUD_SECRET_KEY", "k")
                .current_dir(dir.path())
                .output()
                .expect("run");
            assert_eq!(
                o.status.code(),
                Some(2),
                "{what} / {args:?}: {}",
                stderr(&o)
            );
            let err = stderr(&o);
            assert!(
                err.contains(key),
                "{what}: the error does not name {key}:\n{err}"
            );
            assert!(err.contains("line "), "{what}: no line number:\n{err}");
            assert!(
                !dir.path().join("state").exists(),
                "{what} / {args:?} created the state directory"
            );
        }
    }
}

#[test]
fn a_missing_config_file_says_how_to_point_at_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = std::process::Command::new(BIN)
        .args(["--config", "/nonexistent/config.toml", "check"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--config"), "{}", stderr(&o));
}

#[test]
fn no_credentials_anywhere_is_exit_2_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("{BASE}[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\n"),
    )
    .expect("write");
    let o = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("check")
        .env_clear()
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("no API credentials found"), "{err}");
    assert!(err.contains("fix:"), "{err}");
    assert!(!dir.path().join("state").exists());
}

#[test]
fn the_config_path_comes_from_the_environment_when_not_given() {
    let w = World::new("[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\n");
    let o = std::process::Command::new(BIN)
        .arg("check")
        .env("MNA_REPORTD_CONFIG", &w.config)
        .env("TENCENTCLOUD_SECRET_ID", "AKIDx")
        .env("TENCENTCLOUD_SECRET_KEY", "k")
        .output()
        .expect("run");
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("job a"), "{}", stdout(&o));
}

#[test]
fn every_unknown_key_is_reported_in_one_run_with_what_was_meant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[api]\nrate_limt = 3\nstate_dir = \"state\"\n\n[storage]\nretension = \"400d\"\n\n\
         [[job]]\nname = \"a\"\ngranularity = \"hourly\"\n",
    )
    .expect("write");
    let o = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("check")
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("(4 problems)"), "{err}");
    for want in [
        "line 2: api.rate_limt: unknown key \"rate_limt\" in [api]\n    fix: did you mean \"rate_limit\"?",
        "line 3: api.state_dir: unknown key \"state_dir\" in [api]\n    fix: state_dir is a key of [storage], not of [api]: move it there",
        "line 6: storage.retension: unknown key \"retension\" in [storage]\n    fix: did you mean \"retention\"?",
        "line 8: job: unknown table [[job]]\n    fix: job tables are [[jobs]] (plural): write [[jobs]]",
    ] {
        assert!(err.contains(want), "{want}\nin:\n{err}");
    }
    assert!(!err.contains("job[0].job"), "{err}");
    assert!(!dir.path().join("state").exists());
}

#[test]
fn a_chinese_zone_written_as_beijing_suggests_shanghai() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "{BASE}[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\ntimezone = \"Asia/Beijing\"\n"
        ),
    )
    .expect("write");
    let o = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("check")
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("did you mean \"Asia/Shanghai\"?"), "{err}");
    assert!(!err.contains("Beirut"), "{err}");
}
