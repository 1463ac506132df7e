//! The command line against hostile conditions: a manual fetch over windows
//! not complete yet, credentials with control characters or a BOM, readers
//! that go away (`| head`), and reports another process holds.

use crate::common;

use common::daemon::wait_for;
use common::*;
use fake_mna::{Credential, FakeConfig};
use std::process::{Command, Stdio};
use std::time::Duration;

const HOURLY: &str = "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\nlag = \"5m\"\n";

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// RFC 3339 of Unix second `t`.
fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .expect("timestamp")
        .to_string()
}

/// `fetch --from <two hours before this hour> --to <a day later>` with `extra` flags.
fn fetch_into_the_future(w: &World, extra: &[&str]) -> std::process::Output {
    let hour = now() / 3600 * 3600;
    w.fetch(
        "h",
        &rfc3339(hour - 2 * 3600),
        &rfc3339(hour + 24 * 3600),
        extra,
    )
}

fn max_window_end(w: &World) -> Option<i64> {
    w.db()
        .query_row("SELECT max(window_end) FROM reports", [], |r| r.get(0))
        .expect("query")
}

#[test]
fn a_manual_fetch_never_records_a_window_whose_end_plus_lag_has_not_passed() {
    let w = World::new(HOURLY);
    let o = fetch_into_the_future(&w, &[]);
    let after = now();
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("left out "), "{out}");
    assert!(out.contains("not ended 5m ago"), "{out}");
    let end = max_window_end(&w).expect("the complete windows are recorded");
    assert!(
        end + 300 <= after,
        "recorded a window ending at {end}; now {after}"
    );
    assert!(w.fake.calls().len() <= 3, "{} calls", w.fake.calls().len());

    // --force does not fetch them either.
    let o = fetch_into_the_future(&w, &["--force"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("left out "), "{}", stdout(&o));
    let end = max_window_end(&w).expect("rows");
    assert!(
        end + 300 <= now(),
        "--force recorded a window ending at {end}"
    );

    // Nor does --dry-run list them.
    let o = fetch_into_the_future(&w, &["--dry-run", "--force"]);
    assert_exit(&o, 0);
    let listed = stdout(&o).lines().filter(|l| l.contains('\t')).count();
    assert!((1..=3).contains(&listed), "{}", stdout(&o));
    assert!(stdout(&o).contains("left out "), "{}", stdout(&o));
}

fn cred_world() -> World {
    World::with(
        FakeConfig {
            credentials: vec![Credential::new("AKIDfiles0001", "key-from-files")],
            ..FakeConfig::default()
        },
        "",
        HOURLY,
    )
}

const PAST: [&str; 2] = ["2026-11-01T00:00:00Z", "2026-11-01T02:00:00Z"];

#[test]
fn a_key_file_with_a_line_break_inside_is_a_credentials_error_naming_the_file() {
    let w = cred_world();
    write_secret(&w.dir.path().join("id"), "AKIDfiles0001\n");
    write_secret(&w.dir.path().join("key"), "s3cr3tPartA\ns3cr3tPartB\n");
    w.write_config(
        "[credentials]\nsecret_id_file = \"id\"\nsecret_key_file = \"key\"\n",
        HOURLY,
    );
    for args in [
        vec!["check"],
        vec!["fetch", "--all", "--from", PAST[0], "--to", PAST[1]],
    ] {
        let o = w.cmd_without_env_keys().args(&args).output().expect("run");
        assert_exit(&o, 2);
        let err = stderr(&o);
        assert!(err.contains("SecretKey"), "{err}");
        assert!(err.contains(&path_str(&w.dir.path().join("key"))), "{err}");
        assert!(err.contains("line break"), "{err}");
        assert!(!err.contains("s3cr3t"), "the secret is shown: {err}");
    }
    assert_eq!(w.fake.calls().len(), 0);
}

#[test]
fn a_carriage_return_or_control_character_in_the_environment_is_refused() {
    let w = cred_world();
    for (id, key, what) in [
        ("AKIDfiles0001", "key-from-files\r", "key\\r"),
        ("AKIDfiles0001", "key-from\u{7}files", "BEL"),
        ("AKID\rfiles0001", "key-from-files", "id\\r"),
    ] {
        let o = w
            .cmd_without_env_keys()
            .env("TENCENTCLOUD_SECRET_ID", id)
            .env("TENCENTCLOUD_SECRET_KEY", key)
            .arg("check")
            .output()
            .expect("run");
        // A trailing CR is whitespace at the end and trimmed; one inside is refused.
        if what == "key\\r" {
            assert_exit(&o, 0);
            continue;
        }
        assert_exit(&o, 2);
        let err = stderr(&o);
        assert!(err.contains("TENCENTCLOUD_SECRET_ID"), "{what}: {err}");
        assert!(err.contains("fix: "), "{what}: {err}");
        assert!(!err.contains("key-from"), "{what}: {err}");
    }
}

#[test]
fn a_utf8_bom_in_key_files_is_stripped() {
    let w = cred_world();
    write_secret(&w.dir.path().join("id"), "\u{feff}AKIDfiles0001\r\n");
    write_secret(&w.dir.path().join("key"), "\u{feff}key-from-files\n");
    w.write_config(
        "[credentials]\nsecret_id_file = \"id\"\nsecret_key_file = \"key\"\n",
        HOURLY,
    );
    let o = w
        .cmd_without_env_keys()
        .args(["fetch", "--all", "--from", PAST[0], "--to", PAST[1]])
        .output()
        .expect("run");
    assert_exit(&o, 0);
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 2)]);
}

/// A pipe whose read end is already closed: every write to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Stdio::from(writer)
}

#[test]
fn a_closed_stderr_does_not_crash_a_fetch() {
    let w = World::new(HOURLY);
    let o = w
        .cmd()
        .args(["-v", "fetch", "--all", "--from", PAST[0], "--to", PAST[1]])
        .stderr(closed_pipe())
        .output()
        .expect("run");
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("2 ok"), "{}", stdout(&o));
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 2)]);
}

#[test]
fn a_closed_stdout_ends_commands_quietly_with_their_own_code() {
    let w = World::new(HOURLY);
    let fetch = ["fetch", "--all", "--from", PAST[0], "--to", PAST[1]];
    let runs: [&[&str]; 6] = [
        &fetch,
        &["history", "--format", "json"],
        &["history", "--format", "csv"],
        &["history"],
        &["status", "--format", "json"],
        &["check"],
    ];
    for args in runs {
        let o = w
            .cmd()
            .args(args)
            .stdout(closed_pipe())
            .output()
            .expect("run");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    }
    // Both streams gone at once.
    let o = w
        .cmd()
        .args([
            "fetch",
            "--all",
            "--from",
            PAST[0],
            "--to",
            "2026-11-01T04:00:00Z",
        ])
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0));
}

/// A stand-in for another process, killed when the test ends either way.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The claim owner string of process `pid` (as `mna-reportd` writes it).
fn owner_of(pid: u32) -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("boot id");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 1..];
    let start = rest.split_whitespace().nth(19).expect("starttime");
    format!("{}:{pid}:{start}", boot.trim())
}

/// What the other process does with the report it holds.
#[derive(Debug, Clone, Copy)]
enum Other {
    /// Records it `failed` and lets go.
    Fails,
    /// Dies without finishing.
    Dies,
    /// Records it `ok` and lets go.
    Finishes,
}

/// Fetch two windows while another live process holds the first one; the
/// other process then does `other`. The fetch's output and the world.
fn fetch_next_to_a_holder(other: Other) -> (std::process::Output, World) {
    let w = World::new(HOURLY);
    assert_exit(&w.fetch("h", PAST[0], PAST[1], &[]), 0);
    // Another live process holds the first report, as if fetching it.
    let mut holder = Holder(Command::new("sleep").arg("600").spawn().expect("sleep"));
    let owner = owner_of(holder.0.id());
    let db = w.db();
    let id: i64 = db
        .query_row(
            "SELECT id FROM reports ORDER BY window_start LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("a report");
    db.execute("UPDATE reports SET status = 'running' WHERE id = ?1", [id])
        .expect("update");
    db.execute(
        "INSERT INTO claims (report_id, owner, claimed_at, previous_status) VALUES (?1, ?2, 0, 'pending')",
        rusqlite::params![id, owner],
    )
    .expect("claim");

    let log = w.dir.path().join("fetch.err");
    let mut fetch = w
        .cmd()
        .args(["fetch", "--all", "--from", PAST[0], "--to", PAST[1]])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn fetch");
    wait_for("fetch to say it waits", Duration::from_secs(60), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("waiting for 1 report")
    });
    if let Some(status) = fetch.try_wait().expect("try_wait") {
        panic!("fetch did not wait: {status}");
    }
    let let_go = |status: &str| {
        db.execute(
            "UPDATE reports SET status = ?2 WHERE id = ?1",
            rusqlite::params![id, status],
        )
        .expect("status");
        db.execute("DELETE FROM claims WHERE report_id = ?1", [id])
            .expect("unclaim");
    };
    match other {
        Other::Fails => let_go("failed"),
        Other::Finishes => let_go("ok"),
        Other::Dies => {
            holder.0.kill().expect("kill holder");
            holder.0.wait().expect("reap holder");
        }
    }
    drop(db);
    let o = fetch.wait_with_output().expect("fetch ends");
    (o, w)
}

#[test]
fn a_fetch_waits_for_reports_another_process_holds_and_takes_those_it_does_not_finish() {
    for other in [Other::Fails, Other::Dies] {
        let (o, w) = fetch_next_to_a_holder(other);
        assert_exit(&o, 0);
        assert!(stdout(&o).contains("1 ok"), "{other:?}: {}", stdout(&o));
        assert_eq!(w.status_counts(), vec![("ok".to_string(), 2)], "{other:?}");
    }
}

#[test]
fn a_report_the_other_process_finishes_counts_as_done() {
    let (o, w) = fetch_next_to_a_holder(Other::Finishes);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("0 ok, 0 failed, 2 already done, 0 busy elsewhere"),
        "{}",
        stdout(&o)
    );
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 2)]);
    // Only the first fetch called the API.
    assert_eq!(w.fake.ok_calls(), 2);
}

#[test]
fn a_range_too_large_to_plan_is_refused_before_planning_it() {
    let w = World::new(HOURLY);
    let mut child = w
        .cmd()
        .args([
            "fetch",
            "--all",
            "--from",
            "1900-01-01",
            "--to",
            "2100-01-01",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if common::daemon::exit_within(&mut child, Duration::from_secs(60)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("a fetch of two centuries did not end within 60 s");
    }
    let o = child.wait_with_output().expect("output");
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("more than 1000000") && err.contains("fix: split the range"),
        "{err}"
    );
    assert_eq!(w.fake.calls().len(), 0);
    assert!(!w.db_path().exists(), "nothing is written");
}

#[test]
fn a_range_wholly_in_the_future_fetches_nothing_and_says_why() {
    let w = World::new(HOURLY);
    let o = w.fetch("h", "2100-01-01T00:00:00Z", "2100-01-02T00:00:00Z", &[]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("left out every window ending after now"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("0 ok, 0 failed"), "{}", stdout(&o));
    assert_eq!(w.fake.calls().len(), 0);
}
