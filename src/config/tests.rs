use super::*;
use crate::domain::target::{Gateway, Region, Selection};
use model::Scope;
use std::path::Path;

const GOOD: &str = r#"
[api]
endpoint = "http://127.0.0.1:9999"
rate_limit = 20

[storage]
state_dir = "state"

[[jobs]]
name = "hourly-all"
granularity = "hourly"
timezone = "Asia/Shanghai"
"#;

fn ok(text: &str) -> Config {
    match parse(text, Path::new("/etc/mna-reportd/config.toml")) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// The problems of an invalid config, as (key, line).
fn problems(text: &str) -> Vec<(String, Option<usize>)> {
    match parse(text, Path::new("/tmp/c.toml")) {
        Ok(_) => panic!("expected an invalid config"),
        Err(e) => e
            .problems()
            .iter()
            .map(|p| (p.key.clone(), p.line))
            .collect(),
    }
}

fn with_job(extra: &str) -> String {
    format!("{GOOD}{extra}\n")
}

#[test]
fn a_minimal_config_gets_the_documented_defaults() {
    let c = ok(GOOD);
    assert_eq!(c.api.rate_limit.get(), 20);
    assert_eq!(c.api.concurrency.get(), 64);
    assert_eq!(c.api.timeout, std::time::Duration::from_secs(30));
    assert_eq!(c.api.host, "127.0.0.1:9999");
    assert_eq!(c.storage.state_dir, Path::new("/etc/mna-reportd/state"));
    assert_eq!(
        c.storage.reports_dir,
        Path::new("/etc/mna-reportd/state/reports")
    );
    assert_eq!(c.retry.max_attempts.get(), 8);
    let j = &c.jobs[0];
    assert_eq!(j.name, "hourly-all");
    assert_eq!(j.lag, std::time::Duration::from_secs(300));
    assert_eq!(j.catch_up, std::time::Duration::from_secs(86_400));
    assert_eq!(j.targets.len(), 1);
    assert_eq!(j.targets[0].selection, Selection::All);
    assert_eq!(j.regions, vec![None]);
    assert_eq!(j.gateway, Gateway::Public);
    assert!(j.enabled);
}

#[test]
fn the_example_config_is_valid() {
    let text = include_str!("../../config.example.toml");
    let c = ok(text);
    assert!(!c.jobs.is_empty());
}

#[test]
fn defaults_apply_to_every_job_and_jobs_override_them() {
    let c = ok(r#"
[defaults]
granularity = "daily"
timezone = "Europe/Berlin"
regions = ["MC", "EU"]

[[jobs]]
name = "a"

[[jobs]]
name = "b"
granularity = "hourly"
devices = ["d1", "d2"]
per_device = true
"#);
    assert_eq!(c.jobs[0].timezone, "Europe/Berlin");
    assert_eq!(c.jobs[0].regions, vec![Some(Region::MC), Some(Region::EU)]);
    assert_eq!(c.jobs[1].granularity.code(), 1);
    assert_eq!(c.jobs[1].targets.len(), 2);
    assert_eq!(
        c.jobs[1].targets[1].selection,
        Selection::Device("d2".into())
    );
}

#[test]
fn syntax_error_names_its_line() {
    let p = problems("[api]\nrate_limit = = 3\n[[jobs]]\nname=\"a\"\ngranularity=\"hourly\"\n");
    assert_eq!(p[0].1, Some(2));
    assert_eq!(p[0].0, "api");
}

#[test]
fn unknown_key_is_named_with_its_table_and_line() {
    let p = problems(&with_job("colour = \"blue\""));
    assert_eq!(p, vec![("jobs[0].colour".to_string(), Some(13))]);
    let p = problems("[api]\nrate_limt = 3\n");
    assert_eq!(p, vec![("api.rate_limt".to_string(), Some(2))]);
}

#[test]
fn bad_cron() {
    let p = problems(&with_job("schedule = \"61 * * * *\""));
    assert_eq!(p, vec![("jobs[0].schedule".to_string(), Some(13))]);
}

#[test]
fn bad_zone() {
    let p = problems(&GOOD.replace("Asia/Shanghai", "Mars/Olympus"));
    assert_eq!(p, vec![("jobs[0].timezone".to_string(), Some(12))]);
}

#[test]
fn bad_region() {
    let p = problems(&with_job("regions = [\"MC\", \"XX\"]"));
    assert_eq!(p, vec![("jobs[0].regions".to_string(), Some(13))]);
}

#[test]
fn eleven_devices_without_per_device() {
    let devices: Vec<String> = (1..=11).map(|i| format!("\"d{i}\"")).collect();
    let p = problems(&with_job(&format!("devices = [{}]", devices.join(", "))));
    assert_eq!(p, vec![("jobs[0].devices".to_string(), Some(13))]);
    // with per_device it is fine
    ok(&with_job(&format!(
        "devices = [{}]\nper_device = true",
        devices.join(", ")
    )));
}

#[test]
fn unknown_granularity() {
    let p = problems(&GOOD.replace("\"hourly\"", "\"weekly\""));
    assert_eq!(p, vec![("jobs[0].granularity".to_string(), Some(11))]);
}

#[test]
fn window_not_a_multiple_of_the_granularity() {
    let p = problems(&with_job("window = \"90m\""));
    assert_eq!(p, vec![("jobs[0].window".to_string(), Some(13))]);
    let p = problems(
        &GOOD
            .replace("\"hourly\"", "\"daily\"")
            .replace("[[jobs]]", "[[jobs]]\nwindow = \"12h\""),
    );
    assert_eq!(p[0].0, "jobs[0].window");
}

#[test]
fn unsafe_job_names() {
    for bad in ["../etc", "a/b", "", "x y", &"n".repeat(65)] {
        let p = problems(&GOOD.replace("hourly-all", bad));
        assert_eq!(p, vec![("jobs[0].name".to_string(), Some(10))], "{bad:?}");
    }
}

#[test]
fn duplicate_job() {
    let text = format!("{GOOD}\n[[jobs]]\nname = \"hourly-all\"\ngranularity = \"daily\"\n");
    let p = problems(&text);
    assert_eq!(p, vec![("jobs[1].name".to_string(), Some(15))]);
}

#[test]
fn bad_durations() {
    let p = problems(&with_job("lag = \"soon\""));
    assert_eq!(p, vec![("jobs[0].lag".to_string(), Some(13))]);
    let p =
        problems("[api]\ntimeout = \"30 parsecs\"\n[[jobs]]\nname=\"a\"\ngranularity=\"hourly\"\n");
    assert_eq!(p, vec![("api.timeout".to_string(), Some(2))]);
    let p = problems(
        "[retry]\ninitial_delay = \"10s\"\nmax_delay = \"1s\"\n[[jobs]]\nname=\"a\"\ngranularity=\"hourly\"\n",
    );
    assert_eq!(p, vec![("retry.max_delay".to_string(), Some(3))]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "[api]\nrate_limit = 0\n[[jobs]]\nname = \"a\"\ngranularity = \"yearly\"\ntimezone = \"Nowhere\"\n";
    let keys: Vec<String> = problems(text).into_iter().map(|p| p.0).collect();
    assert_eq!(
        keys,
        vec!["api.rate_limit", "jobs[0].granularity", "jobs[0].timezone"]
    );
}

#[test]
fn group_and_devices_are_exclusive() {
    let p = problems(&with_job("group = \"g\"\ndevices = [\"d\"]"));
    assert_eq!(p[0].0, "jobs[0].group");
}

#[test]
fn plain_http_only_for_loopback() {
    let p = problems(&GOOD.replace("http://127.0.0.1:9999", "http://mna.tencentcloudapi.com"));
    assert_eq!(p, vec![("api.endpoint".to_string(), Some(3))]);
    ok(&GOOD.replace(
        "http://127.0.0.1:9999",
        "https://mna.intl.tencentcloudapi.com",
    ));
}

#[test]
fn catch_up_shorter_than_lag_plus_step() {
    let p = problems(&with_job("lag = \"30m\"\ncatch_up = \"1h\""));
    assert_eq!(p, vec![("jobs[0].catch_up".to_string(), Some(14))]);
}

#[test]
fn sub_day_step_must_divide_a_day() {
    let p = problems(&with_job("step = \"7h\""));
    assert_eq!(p[0].0, "jobs[0].step");
}

#[test]
fn messages_say_what_to_do() {
    let err = parse(
        &GOOD.replace("Asia/Shanghai", "Mars/Olympus"),
        Path::new("/tmp/c.toml"),
    )
    .err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("line 12"), "{text}");
    assert!(text.contains("jobs[0].timezone"), "{text}");
    assert!(text.contains("fix:"), "{text}");
}

#[test]
fn state_dir_defaults_to_the_given_directory() {
    let text = "[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\n";
    let c = parse_with(
        text,
        Path::new("/etc/x/config.toml"),
        Path::new("/var/lib/mna-reportd/acct1"),
    )
    .expect("valid");
    assert_eq!(c.storage.state_dir, Path::new("/var/lib/mna-reportd/acct1"));
    assert_eq!(
        c.storage.reports_dir,
        Path::new("/var/lib/mna-reportd/acct1/reports")
    );
    let c = parse(text, Path::new("/etc/x/config.toml")).expect("valid");
    assert_eq!(c.storage.state_dir, Path::new(DEFAULT_STATE_DIR));
}

#[test]
fn no_input_makes_the_parser_panic() {
    let base = include_str!("../../config.example.toml");
    let mut rng = fastrand::Rng::with_seed(7);
    // every prefix at some stride, and random byte edits
    for cut in (0..base.len()).step_by(37) {
        if let Some(prefix) = base.get(..cut) {
            let _ = parse(prefix, Path::new("/tmp/c.toml"));
        }
    }
    let bytes = base.as_bytes();
    for _ in 0..400 {
        let mut b = bytes.to_vec();
        for _ in 0..rng.usize(1..6) {
            let i = rng.usize(..b.len());
            b[i] = *rng.choice(b"=[]\"'#\n 0-.:{}z\\".iter()).unwrap_or(&b'x');
        }
        if let Ok(text) = String::from_utf8(b) {
            let _ = parse(&text, Path::new("/tmp/c.toml"));
        }
    }
}

#[test]
fn every_duration_key_is_bounded_and_the_problem_names_the_largest_allowed() {
    let huge = "\"18446744073709551615s\"";
    for (key, text) in [
        (
            "jobs[1].lag",
            with_job(&format!(
                "[[jobs]]\nname = \"b\"\ngranularity = \"hourly\"\nlag = {huge}"
            )),
        ),
        (
            "jobs[1].catch_up",
            with_job("[[jobs]]\nname = \"b\"\ngranularity = \"hourly\"\ncatch_up = \"401d\""),
        ),
        (
            "jobs[1].window",
            with_job("[[jobs]]\nname = \"b\"\ngranularity = \"daily\"\nwindow = \"367d\""),
        ),
        (
            "jobs[1].step",
            with_job(&format!(
                "[[jobs]]\nname = \"b\"\ngranularity = \"hourly\"\nstep = {huge}"
            )),
        ),
        (
            "api.timeout",
            "[api]\ntimeout = \"61m\"\n[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\n"
                .to_string(),
        ),
        (
            "retry.max_delay",
            format!(
                "[retry]\nmax_delay = {huge}\n[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\n"
            ),
        ),
        (
            "storage.retention",
            "[storage]\nretention = \"36501d\"\n[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\n"
                .to_string(),
        ),
    ] {
        let e = parse(&text, Path::new("/tmp/c.toml")).expect_err(key);
        let p = e
            .problems()
            .iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("{key} not named:\n{e}"));
        assert!(p.line.is_some(), "{key}: no line");
        assert!(
            p.hint
                .as_deref()
                .is_some_and(|h| h.starts_with("use at most ")),
            "{key}: {e}"
        );
    }
}

#[test]
fn a_config_file_over_the_size_limit_is_refused_without_reading_it_all() {
    let e = load(Path::new("/dev/zero")).expect_err("endless");
    assert!(matches!(e, ConfigError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("1 MiB"), "{e}");
}

#[test]
fn every_device_or_a_group_per_device_discovers_its_devices() {
    let c = ok(&with_job(
        "devices = \"all\"\nper_device = true\ndevice_type = 2\nexclude = [\"lab-1\"]\ndiscovery_interval = \"15m\"",
    ));
    let j = &c.jobs[0];
    assert!(j.targets.is_empty());
    let d = j.discovery.as_ref().expect("discovers");
    assert_eq!(d.scope, Scope::All);
    assert_eq!(d.device_type, Some(2));
    assert_eq!(d.exclude, ["lab-1"]);
    assert_eq!(d.interval, std::time::Duration::from_secs(900));
    let c = ok(&with_job("group = \"g-1\"\nper_device = true"));
    let d = c.jobs[0].discovery.as_ref().expect("discovers");
    assert_eq!(d.scope, Scope::Group("g-1".into()));
    assert_eq!(d.interval, std::time::Duration::from_secs(3600));
    // a group without per_device stays the one summed group report
    let c = ok(&with_job("group = \"g-1\""));
    assert!(c.jobs[0].discovery.is_none());
    assert_eq!(
        c.jobs[0].targets[0].selection,
        Selection::Group("g-1".into())
    );
}

#[test]
fn every_device_needs_per_device_and_the_fix_says_so() {
    let e = parse(&with_job("devices = \"all\""), Path::new("/tmp/c.toml")).expect_err("invalid");
    let p = &e.problems()[0];
    assert_eq!((p.key.as_str(), p.line), ("jobs[0].devices", Some(13)));
    let hint = p.hint.as_deref().unwrap_or_default();
    assert!(
        hint.contains("per_device = true") && hint.contains("leave devices out"),
        "{hint}"
    );
    assert_eq!(
        problems(&with_job("devices = \"everything\"\nper_device = true")),
        vec![("jobs[0].devices".to_string(), Some(13))]
    );
    assert_eq!(
        problems(&with_job(
            "devices = \"all\"\nper_device = true\ngroup = \"g\""
        )),
        vec![("jobs[0].group".to_string(), Some(15))]
    );
}

#[test]
fn discovery_keys_only_fit_a_discovering_job() {
    assert_eq!(
        problems(&with_job("devices = [\"a\"]\nexclude = [\"a\"]")),
        vec![("jobs[0].exclude".to_string(), Some(14))]
    );
    assert_eq!(
        problems(&with_job(
            "group = \"g\"\nper_device = true\ndevice_type = 1"
        )),
        vec![("jobs[0].device_type".to_string(), Some(15))]
    );
    assert_eq!(
        problems(&with_job(
            "devices = \"all\"\nper_device = true\ndevice_type = 3"
        )),
        vec![("jobs[0].device_type".to_string(), Some(15))]
    );
    assert_eq!(
        problems(&with_job(
            "devices = \"all\"\nper_device = true\ndiscovery_interval = \"0s\""
        )),
        vec![("jobs[0].discovery_interval".to_string(), Some(15))]
    );
}

#[test]
fn web_listens_on_loopback_by_default_and_needs_a_token_elsewhere() {
    assert!(ok(GOOD).web.is_none());
    let web = ok(&format!("{GOOD}\n[web]\n")).web.expect("web");
    assert!(web.listen.ip().is_loopback(), "{web:?}");
    assert_eq!(web.token_file, None);
    let text = format!("{GOOD}\n[web]\nlisten = \"0.0.0.0:9465\"\n");
    let line = text
        .lines()
        .position(|l| l.starts_with("listen"))
        .map(|n| n + 1);
    assert_eq!(problems(&text), vec![("web.listen".to_string(), line)]);
    let err = parse(&text, Path::new("/tmp/c.toml"))
        .expect_err("refused")
        .to_string();
    assert!(err.contains("token_file"), "{err}");
    let web = ok(&format!(
        "{GOOD}\n[web]\nlisten = \"0.0.0.0:9465\"\ntoken_file = \"web-token\"\n"
    ))
    .web
    .expect("web");
    assert_eq!(
        web.token_file.as_deref(),
        Some(Path::new("/etc/mna-reportd/web-token"))
    );
    assert_eq!(
        problems(&format!("{GOOD}\n[web]\nlisten = \"nowhere\"\n"))[0].0,
        "web.listen"
    );
}

#[test]
fn web_allowed_hosts_takes_plain_names_only() {
    let web = ok(&format!(
        "{GOOD}\n[web]\nallowed_hosts = [\"Reports.Example.NET.\", \"host-1\"]\n"
    ))
    .web
    .expect("web");
    assert_eq!(web.allowed_hosts, vec!["reports.example.net", "host-1"]);
    let text = format!(
        "{GOOD}\n[web]\nallowed_hosts = [\"ok.example\",\n  \"reports.example.net:9465\"]\n"
    );
    let line = text
        .lines()
        .position(|l| l.contains(":9465"))
        .map(|i| i + 1);
    assert_eq!(
        problems(&text),
        vec![("web.allowed_hosts".to_string(), line)]
    );
    for ok in ["reports.example.net", "host-1", "a.b.c."] {
        assert!(web::valid_host_name(ok), "{ok}");
    }
    for bad in [
        "",
        "reports.example.net:9465",
        "http://reports.example.net",
        "*.example.net",
        "-a.example",
        "a..b",
        "a b",
    ] {
        assert!(!web::valid_host_name(bad), "{bad}");
    }
}

#[test]
fn timezone_localtime_becomes_the_machines_iana_name() {
    let c = ok(&GOOD.replace("\"Asia/Shanghai\"", "\"localtime\""));
    let job = c.job("hourly-all").expect("job");
    let system = jiff::tz::TimeZone::try_system().expect("a system zone");
    let name = system
        .iana_name()
        .expect("an IANA name for this machine's zone");
    assert_eq!(job.timezone, name);
    assert_ne!(
        job.timezone, "localtime",
        "a browser knows no zone \"localtime\""
    );
    assert_eq!(c.zone_of("hourly-all").iana_name(), Some(name));
}
