//! Discovery without an account: the standalone fake (`fake-mna --devices
//! 250`) lists made-up devices page by page and a discovering job fetches
//! one report per device; a discovering job left with no device says so and
//! why (none on the account, none in the group, all excluded, the listing
//! failed), with a fix.

use crate::common;

use common::*;
use fake_mna::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, FakeDevice};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The standalone fake, next to `mna-reportd`, brought up to date first (a
/// test run of this file alone does not build the workspace's other
/// binaries; an up-to-date one costs a moment). It is brought up to date by
/// the suite's own build, `cargo test --workspace` (fake-mna's tests run the
/// binary), which is a no-op inside that command: `cargo build -p fake-mna`
/// resolved other features and built every dependency of the fake a second
/// time, a minute on two cores, with two tests waiting.
fn fake_bin() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let path = Path::new(BIN).with_file_name("fake-mna");
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["test", "--workspace", "--no-run", "--quiet"])
            .status()
            .expect("cargo runs");
        assert!(st.success(), "building fake-mna");
    });
    assert!(path.is_file(), "{path:?}");
    path
}

/// `fake-mna` started with `args`, and the endpoint it printed.
struct Standalone {
    child: Child,
    endpoint: String,
}

impl Standalone {
    fn start(args: &[&str]) -> Standalone {
        let mut child = Command::new(fake_bin())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fake-mna starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("fake-mna prints its address");
        let endpoint = first
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        Standalone { child, endpoint }
    }

    /// SIGTERM, then the one-line JSON summary it prints on stderr.
    fn stop(mut self) -> serde_json::Value {
        // SAFETY: a signal to our own child, not reaped yet.
        let rc = unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        assert_eq!(rc, 0);
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .expect("summary");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "{status}: {err}");
        serde_json::from_str(err.trim()).unwrap_or_else(|e| panic!("{e}: {err}"))
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const FLEET: &str = r#"
[[jobs]]
name = "fleet"
granularity = "hourly"
timezone = "UTC"
devices = "all"
per_device = true
"#;

#[test]
fn the_standalone_fake_with_250_devices_gives_a_discovering_job_250_reports() {
    let fake = Standalone::start(&["--devices", "250"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nendpoint = \"{}\"\nrate_limit = 200\ntimeout = \"5s\"\nconcurrency = 8\n\
             [storage]\nstate_dir = \"state\"\n\
             [retry]\nmax_attempts = 3\ninitial_delay = \"10ms\"\nmax_delay = \"50ms\"\n{FLEET}",
            fake.endpoint
        ),
    )
    .expect("config");
    let o = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["fetch", "--job", "fleet"])
        .args([
            "--from",
            "2026-11-01T00:00:00Z",
            "--to",
            "2026-11-01T01:00:00Z",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", DEFAULT_SECRET_KEY)
        .current_dir(dir.path())
        .output()
        .expect("fetch runs");
    assert_exit(&o, 0);
    assert!(!stderr(&o).contains("no device to fetch"), "{}", stderr(&o));

    // in the history: 250 ok reports, one per device, of the one window
    let db = rusqlite::Connection::open(dir.path().join("state/history.db")).expect("history");
    let (n, targets, windows): (i64, i64, i64) = db
        .query_row(
            "SELECT count(*), count(DISTINCT target), count(DISTINCT window_start) FROM reports
             WHERE job = 'fleet' AND status = 'ok'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("count");
    assert_eq!((n, targets, windows), (250, 250, 1));
    let last: String = db
        .query_row(
            "SELECT max(target) FROM reports WHERE job = 'fleet'",
            [],
            |r| r.get(0),
        )
        .expect("last");
    assert_eq!(last, "device:syn-000000249");

    // at the fake: 250 reports, the devices listed in 3 pages of 100
    let summary = fake.stop();
    assert_eq!(summary["reports"], 250, "{summary}");
    assert_eq!(summary["downloads"], 250, "{summary}");
    assert_eq!(summary["listings"], 3, "{summary}");
}

#[test]
fn the_standalone_fake_serves_a_devices_file_and_a_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("devices.txt");
    std::fs::write(&file, "# lab\nmna-1\nmna-2 grp-lobby\n").expect("file");
    let fake = Standalone::start(&[
        "--devices-file",
        file.to_str().expect("utf-8 path"),
        "--devices",
        "3",
        "--group",
        "grp-syn",
    ]);
    let w = World::new("");
    let jobs = |scope: &str| {
        format!(
            "[[jobs]]\nname = \"fleet\"\ngranularity = \"hourly\"\ntimezone = \"UTC\"\n{scope}\nper_device = true\n"
        )
    };
    let text = std::fs::read_to_string(&w.config)
        .expect("config")
        .replace(&w.fake.endpoint(), &fake.endpoint);
    let listed = |scope: &str| {
        std::fs::write(&w.config, format!("{text}\n{}", jobs(scope))).expect("config");
        let o = w.run(&["devices", "--refresh", "--format", "csv"]);
        assert_exit(&o, 0);
        let mut ids: Vec<String> = stdout(&o)
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next().map(str::to_string))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        listed("group = \"grp-syn\""),
        ["mna-1", "syn-000000000", "syn-000000001", "syn-000000002"]
    );
    assert_eq!(
        listed("devices = \"all\""),
        [
            "mna-1",
            "mna-2",
            "syn-000000000",
            "syn-000000001",
            "syn-000000002"
        ]
    );
    drop(fake);
}

/// `fetch` of `fleet`'s first hour of 2026-11-01, with the job's device
/// scope `scope` (TOML lines).
fn fetch_fleet(w: &World, scope: &str) -> std::process::Output {
    w.write_config(
        "",
        &format!(
            "[[jobs]]\nname = \"fleet\"\ngranularity = \"hourly\"\ntimezone = \"UTC\"\nper_device = true\n{scope}\n"
        ),
    );
    w.fetch("fleet", "2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z", &[])
}

/// Whether `o`'s stderr says, once, that fleet has no device, `why`, and `fix`.
fn says_why(o: &std::process::Output, why: &str, fix: &str) {
    let err = stderr(o);
    let line = format!("warning: job fleet has no device to fetch: {why}\n  fix: {fix}");
    assert_eq!(err.matches(&line).count(), 1, "{line:?} in:\n{err}");
}

#[test]
fn a_discovering_job_with_no_device_says_why() {
    let w = World::new("");
    // no device on the account: the fetch did what it was asked (exit 0), and says why it did nothing
    let o = fetch_fleet(&w, "devices = \"all\"");
    assert_exit(&o, 0);
    assert!(w.fake.calls_of(fake_mna::ACTION).is_empty());
    says_why(
        &o,
        "the account lists no device (GetDevices)",
        "add devices to the account, or check that the keys are those of the account holding them",
    );
    // none of the type asked for
    w.fake.set_devices(vec![FakeDevice::new("mna-a", 0)]);
    let o = fetch_fleet(&w, "devices = \"all\"\ndevice_type = 2");
    assert_exit(&o, 0);
    says_why(
        &o,
        "the account lists no device of device_type = 2 (third-party devices) (GetDevices)",
        "add devices to the account, or check that the keys are those of the account holding them, or leave out device_type",
    );
    // every device excluded
    w.fake.set_devices(vec![
        FakeDevice::new("mna-a", 0).in_group("grp-1", "Lobby"),
        FakeDevice::new("mna-b", 0),
    ]);
    let o = fetch_fleet(&w, "devices = \"all\"\nexclude = [\"mna-a\", \"mna-b\"]");
    assert_exit(&o, 0);
    says_why(
        &o,
        "all 2 device(s) it lists are in its exclude list",
        "take device ids out of `exclude` in the job's config",
    );
    // a group emptied
    w.fake.remove_device("mna-a");
    let o = fetch_fleet(&w, "group = \"grp-1\"");
    assert_exit(&o, 0);
    says_why(
        &o,
        "group grp-1 lists no device (GetGroupDetail)",
        "add devices to group grp-1, or check the group id (GetGroupList lists the account's groups)",
    );
    // the listing failed (no such group) and the history knows none: exit 1
    let o = fetch_fleet(&w, "group = \"grp-nope\"");
    assert_exit(&o, 1);
    says_why(
        &o,
        "the last listing of its devices failed (ResourceNotFound) and the history knows none of them",
        "check the credentials and the endpoint (`mna-reportd check`), then `mna-reportd devices --refresh`",
    );
    // a job with devices says nothing of the kind
    w.fake.add_device(FakeDevice::new("mna-c", 0));
    let o = fetch_fleet(&w, "devices = \"all\"");
    assert_exit(&o, 0);
    assert!(!stderr(&o).contains("no device to fetch"), "{}", stderr(&o));
    assert_eq!(w.fake.calls_of(fake_mna::ACTION).len(), 2);
}

#[test]
fn a_daemon_fire_of_a_discovering_job_with_no_device_logs_why() {
    let w = World::new(FLEET);
    let d = w.start_daemon(&[]);
    common::daemon::wait_for(
        "the fire's warning",
        std::time::Duration::from_secs(60),
        || d.log_text().contains("no device to fetch"),
    );
    let log = d.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("no device to fetch"))
        .expect("the line");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("fleet"), "{line}");
    assert!(
        line.contains("the account lists no device (GetDevices)"),
        "{line}"
    );
    assert!(line.contains("add devices to the account"), "{line}");
    d.stop();
}
