//! The local state under attack: links in the reports tree, processes
//! racing on a fresh state directory, a forced refetch whose commit fails
//! or that is killed, a damaged or read-only history. After any failure at
//! any moment, every `ok` report's file has the sha256 and size its row
//! records.

use crate::common;

use common::daemon::{KillOnDrop, poll_until, wait_for};
use common::renames::Renames;
use common::*;
use fake_mna::{FakeConfig, Fault, Gate};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const JOB: &str = "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\ntimezone = \"UTC\"\n";

/// The process' wait for the write lock (`MNA_REPORTD_BUSY_TIMEOUT`, 30 s
/// otherwise) in the tests that hold the lock until a write of it gives up.
const BUSY: (&str, &str) = ("MNA_REPORTD_BUSY_TIMEOUT", "5s");

/// The final path of job `h`'s report for the hour starting at `hour` on 2026-11-01 (UTC).
fn final_of(w: &World, hour: u32) -> PathBuf {
    w.state().join(format!(
        "reports/h/2026/11/h_all_ALL_20261101T{hour:02}00+0000_20261101T{:02}00+0000.xlsx",
        hour + 1
    ))
}

fn hour(h: u32) -> String {
    format!("2026-11-01T{h:02}:00:00Z")
}

fn sha_of(data: &[u8]) -> String {
    fake_mna::sign::sha256_hex(data)
}

#[test]
fn a_link_at_a_part_path_is_replaced_never_written_through() {
    let w = World::new(JOB);
    assert_exit(&w.fetch("h", &hour(1), &hour(2), &[]), 0);
    let db = w.db_path();
    let rows_before: i64 = w
        .db()
        .query_row("SELECT count(*) FROM report_rows", [], |r| r.get(0))
        .expect("rows");
    // a link at the next report's part path, to the history
    let fin = final_of(&w, 0);
    let part = PathBuf::from(format!("{}.part", fin.display()));
    std::os::unix::fs::symlink(&db, &part).expect("plant link");

    let o = w.fetch("h", &hour(0), &hour(1), &[]);
    assert_exit(&o, 0);
    assert_eq!(integrity(&db), "ok", "the history is intact");
    assert_eq!(w.status_counts(), vec![("ok".to_string(), 2)]);
    let rows_after: i64 = w
        .db()
        .query_row("SELECT count(*) FROM report_rows", [], |r| r.get(0))
        .expect("rows");
    assert_eq!(rows_after, rows_before * 2, "both reports' rows are there");
    let meta = std::fs::symlink_metadata(&fin).expect("final file");
    assert!(
        meta.file_type().is_file(),
        "the report is a real file, not a link"
    );
    w.assert_files_match_served();
    assert!(w.part_files().is_empty());
}

#[test]
fn a_linked_month_directory_in_the_reports_tree_is_refused() {
    let w = World::new(JOB);
    let outside = w.dir.path().join("outside");
    std::fs::create_dir(&outside).expect("outside dir");
    let month = w.state().join("reports/h/2026/11");
    std::fs::create_dir_all(month.parent().expect("year")).expect("year dir");
    std::os::unix::fs::symlink(&outside, &month).expect("plant link");

    let o = w.fetch("h", &hour(0), &hour(1), &[]);
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains(&month.display().to_string()) && err.contains("symbolic link"),
        "the error names the link: {err}"
    );
    assert!(err.contains("fix:"), "the error says what to do: {err}");
    assert_eq!(
        std::fs::read_dir(&outside).expect("outside").count(),
        0,
        "nothing was written through the link"
    );
    let (status, code): (String, String) = w
        .db()
        .query_row("SELECT status, error_code FROM reports", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("row");
    assert_eq!((status.as_str(), code.as_str()), ("failed", "LocalIoError"));
}

/// Two `fetch` processes started together, one hour each: both succeed and
/// both hours are `ok`.
fn two_fetches_at_once(w: &World, round: usize) {
    let spawn = |h: u32| {
        let mut c = w.cmd();
        c.args([
            "fetch",
            "--job",
            "h",
            "--from",
            &hour(h),
            "--to",
            &hour(h + 1),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        c.spawn().expect("spawn")
    };
    let (a, b) = (spawn(0), spawn(1));
    for child in [a, b] {
        let o = child.wait_with_output().expect("wait");
        assert!(
            o.status.success(),
            "round {round}: exit {:?}\n{}",
            o.status,
            stderr(&o)
        );
    }
    assert_eq!(
        w.status_counts(),
        vec![("ok".to_string(), 2)],
        "round {round}"
    );
}

#[test]
fn prune_never_deletes_through_a_link_and_a_deleted_file_leaves_its_row() {
    let w = World::new(JOB);
    let o = w.fetch("h", &hour(0), &hour(2), &[]);
    assert_exit(&o, 0);
    // The month directory is replaced by a link to a directory holding a
    // file of the same name: pruning must not delete it.
    let month = w.state().join("reports/h/2026/11");
    let outside = w.dir.path().join("outside");
    std::fs::rename(&month, &outside).expect("move the month away");
    std::os::unix::fs::symlink(&outside, &month).expect("plant link");
    let o = w.run(&["prune", "--older-than", "1d"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("2 files left alone: reached through a link"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("replace the link with a real directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_dir(&outside).expect("outside").count(),
        2,
        "nothing was deleted through the link"
    );
    let kept: i64 = w
        .db()
        .query_row(
            "SELECT count(*) FROM reports WHERE status = 'pruned' AND file_path IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(kept, 2, "a file not deleted keeps its path");

    // A file that is deleted takes its path with it.
    std::fs::remove_file(&month).expect("remove the link");
    let o = w.fetch("h", &hour(2), &hour(3), &[]);
    assert_exit(&o, 0);
    let o = w.run(&["prune", "--older-than", "1d"]);
    assert_exit(&o, 0);
    let paths: Vec<Option<String>> = {
        let db = w.db();
        let mut st = db
            .prepare("SELECT file_path FROM reports WHERE window_start = ?1")
            .expect("query");
        st.query_map([1_793_491_200i64 + 2 * 3600], |r| r.get(0))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect()
    };
    assert_eq!(
        paths,
        vec![None],
        "a pruned report whose file is gone has no path"
    );
}

#[test]
fn two_processes_starting_at_once_on_a_fresh_state_directory_both_succeed() {
    let w = World::new(JOB);
    for round in 0..10 {
        let _ = std::fs::remove_dir_all(w.state());
        two_fetches_at_once(&w, round);
    }
}

/// Replace every `ok` report's file with other bytes and record those,
/// so that a refetch brings a different file.
fn make_files_differ(w: &World, tag: &str) {
    let db = w.db();
    for (_, path, _, _) in w.ok_rows() {
        let data = format!("the good copy of {path} ({tag})").into_bytes();
        std::fs::write(&path, &data).expect("rewrite");
        db.execute(
            "UPDATE reports SET sha256 = ?1, bytes = ?2 WHERE file_path = ?3",
            rusqlite::params![sha_of(&data), data.len() as i64, path],
        )
        .expect("record");
    }
}

#[test]
fn a_forced_fetch_whose_commit_times_out_keeps_the_recorded_file() {
    let w = World::new(JOB);
    assert_exit(&w.fetch("h", &hour(0), &hour(1), &[]), 0);
    make_files_differ(&w, "before the forced fetch");
    let before = w.ok_rows();
    let calls = w.fake.calls().len();
    // The download waits until the test holds the write lock, so the commit meets it.
    let gate = Gate::new();
    w.fake.push_fault(Fault::DownloadHold(gate.clone()));
    let mut child = w
        .cmd()
        .args(["fetch", "--job", "h", "--from", &hour(0), "--to", &hour(1)])
        .arg("--force")
        .env(BUSY.0, BUSY.1)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for("the forced fetch's call", Duration::from_secs(60), || {
        w.fake.calls().len() > calls
    });
    let mut lock = w.db();
    lock.busy_timeout(Duration::from_secs(60)).expect("timeout");
    let tx = lock
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .expect("take the write lock");
    gate.open();
    // Hold it until the commit gave up (or the process ended).
    let mut refused = false;
    let mut log = String::new();
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    for line in lines.by_ref() {
        let line = line.expect("line");
        log.push_str(&line);
        log.push('\n');
        if line.contains("refused the commit") {
            refused = true;
            break;
        }
    }
    drop(tx);
    for line in lines {
        log.push_str(&line.expect("line"));
        log.push('\n');
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1), "{log}");
    assert_ok_files_as_recorded(&w, "after the refused commit");
    assert_eq!(
        w.ok_rows(),
        before,
        "the report keeps its recorded file: {:?}\n{log}",
        w.status_counts()
    );
    assert!(refused, "the commit met the lock: {log}");
    assert!(
        w.files()
            .iter()
            .all(|f| !f.to_string_lossy().ends_with(".prev"))
    );
    // the next run finds it done, its file as recorded
    assert_exit(&w.fetch("h", &hour(0), &hour(1), &[]), 0);
    assert_ok_files_as_recorded(&w, "after the next run");
    assert_eq!(w.ok_rows(), before);
}

/// Whether some report's file differs from what its row records right now
/// (a forced fetch between its rename and its commit).
fn mid_commit(w: &World) -> bool {
    let db = w.db();
    let mut st = db
        .prepare("SELECT file_path, sha256 FROM reports WHERE file_path IS NOT NULL")
        .expect("query");
    let rows: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    rows.iter()
        .any(|(path, sha)| std::fs::read(path).is_ok_and(|data| sha_of(&data) != *sha))
}

#[test]
fn forced_refetches_killed_at_random_moments_keep_every_ok_file_as_recorded() {
    let cfg = FakeConfig {
        rows_per_report: Some(3_000),
        ..FakeConfig::default()
    };
    let w = World::with(cfg, "", JOB);
    let range = [
        "fetch",
        "--job",
        "h",
        "--from",
        &hour(0),
        "--to",
        "2026-11-02T00:00:00Z",
    ];
    assert_exit(&w.run(&range), 0);
    let mut rng = fastrand::Rng::with_seed(0x7e57);
    let (mut hit, mut in_window) = (0, 0);
    let dir = final_of(&w, 0);
    let dir = dir.parent().expect("the reports' directory");
    for round in 0..6 {
        make_files_differ(&w, &format!("round {round}"));
        let calls = w.fake.calls().len();
        let renames = Renames::watch(dir);
        let mut child = w
            .cmd()
            .args(range)
            .arg("--force")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let running =
            |child: &mut std::process::Child| child.try_wait().expect("try_wait").is_none();
        poll_until(Duration::from_secs(60), || {
            w.fake.calls().len() >= calls + 2 || !running(&mut child)
        });
        let pid = child.id() as i32;
        let unreaped = KillOnDrop(pid);
        if round % 2 == 0 {
            // aim: a new file has its name, the history does not record it yet;
            // each rename stops the process to look, and it goes on if not there
            let aim = Instant::now();
            while running(&mut child) && aim.elapsed() < Duration::from_secs(30) {
                if !renames.next(Duration::from_secs(1)) {
                    continue;
                }
                // SAFETY: signals to our own child.
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                if mid_commit(&w) {
                    in_window += 1;
                    break;
                }
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGCONT) };
            }
        } else {
            // a random moment: after a random number of further calls
            let more = rng.usize(0..6);
            poll_until(Duration::from_secs(60), || {
                w.fake.calls().len() >= calls + 2 + more || !running(&mut child)
            });
        }
        if running(&mut child) {
            hit += 1;
        }
        drop(unreaped);
        let _ = child.wait();
        // The next start settles what the killed one left.
        assert_exit(&w.run(&range), 0);
        assert_ok_files_as_recorded(&w, &format!("after kill {round}"));
        assert_eq!(w.status_counts(), vec![("ok".to_string(), 24)]);
        assert!(
            w.files()
                .iter()
                .all(|f| !f.to_string_lossy().ends_with(".prev"))
        );
    }
    assert!(hit >= 4, "the kills mostly missed the forced fetches");
    assert!(
        in_window >= 1,
        "no kill landed between a rename and its commit"
    );
}

#[test]
fn a_clean_fetch_is_one_try_and_a_failed_report_has_no_file_path() {
    let w = World::new(JOB);
    assert_exit(&w.fetch("h", &hour(0), &hour(1), &[]), 0);
    w.fake.push_fault(Fault::api_error("InvalidParameter"));
    let o = w.fetch("h", &hour(1), &hour(2), &[]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("failed: 1 × InvalidParameter, e.g. h "),
        "{}",
        stderr(&o)
    );
    let o = w.run(&["history", "--format", "json"]);
    assert_exit(&o, 0);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 2);
    for r in rows {
        match r["status"].as_str() {
            Some("ok") => {
                assert_eq!(r["attempts"], 1, "a call and its download are one try: {r}");
                let path = r["file_path"].as_str().expect("ok rows have their file");
                assert!(Path::new(path).is_file());
            }
            Some("failed") => {
                assert_eq!(r["attempts"], 1, "{r}");
                assert!(r["file_path"].is_null(), "no file, no path: {r}");
            }
            other => panic!("unexpected status {other:?}"),
        }
    }
    // the attempts table keeps a row per call and per download
    let n: i64 = w
        .db()
        .query_row("SELECT count(*) FROM attempts", [], |r| r.get(0))
        .expect("attempts");
    assert_eq!(n, 3);
}

#[test]
fn history_and_status_read_a_state_directory_they_cannot_write() {
    use std::os::unix::process::CommandExt;
    let w = World::new(JOB);
    assert_exit(&w.fetch("h", &hour(0), &hour(1), &[]), 0);
    // Another user, who may read the state directory but not write it.
    let nobody = 65534;
    let status = std::process::Command::new("chown")
        .args(["-R", &format!("{nobody}:{nobody}")])
        .arg(w.dir.path())
        .status()
        .expect("chown");
    assert!(status.success());
    let mut mode = std::fs::metadata(w.state()).expect("state").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o555);
    std::fs::set_permissions(w.state(), mode).expect("read-only state dir");
    for args in [
        &["history", "--format", "json"][..],
        &["status", "--format", "json"],
    ] {
        let o = w
            .cmd()
            .args(args)
            .uid(nobody)
            .gid(nobody)
            .output()
            .expect("run");
        assert_exit(&o, 0);
        if args[0] == "history" {
            let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
            assert_eq!(rows.as_array().map(Vec::len), Some(1), "{}", stdout(&o));
        }
    }
    // nothing was created in it
    let names: Vec<String> = std::fs::read_dir(w.state())
        .expect("state")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n == "history.db" || n == "reports"),
        "{names:?}"
    );
}

/// Overwrite pages `from..to` (4 KiB each, counted from 0) of the file at `path` with garbage.
fn damage(path: &Path, from: u64, to: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    for page in from..to {
        f.seek(SeekFrom::Start(page * 4096)).expect("seek");
        f.write_all(&[0xA5; 4096]).expect("write");
    }
}

#[test]
fn a_damaged_history_stops_the_run_says_what_to_do_and_exits_2() {
    let cfg = FakeConfig {
        rows_per_report: Some(2_000),
        ..FakeConfig::default()
    };
    let w = World::with(cfg, "", JOB);
    assert_exit(&w.fetch("h", &hour(0), &hour(4), &[]), 0);
    // the root page of the stored workbook rows, which every new report writes under
    let root: u32 = w
        .db()
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'report_rows'",
            [],
            |r| r.get(0),
        )
        .expect("root page");
    damage(&w.db_path(), u64::from(root) - 1, u64::from(root));
    let calls = w.fake.calls().len();
    let o = w.fetch("h", &hour(4), &hour(12), &[]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("history database") && err.contains("is damaged") && err.contains("fix:"),
        "{err}"
    );
    assert!(
        w.fake.calls().len() - calls < 8,
        "the run stopped instead of failing every report"
    );

    // a header that is no database's: the same, at once
    damage(&w.db_path(), 0, 1);
    let o = w.fetch("h", &hour(12), &hour(13), &[]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("is damaged") && err.contains("fix:"), "{err}");
    let o = w.run(&["history"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("is damaged"), "{}", stderr(&o));
}

#[test]
fn a_report_whose_release_failed_is_given_back_before_the_process_exits() {
    let w = World::new(JOB);
    // the first run makes the history; the second one's download hangs
    assert_exit(&w.fetch("h", &hour(1), &hour(2), &[]), 0);
    w.fake
        .push_fault(Fault::DownloadDelay(Duration::from_secs(600)));
    let calls = w.fake.calls().len();
    let mut child = w
        .cmd()
        .args(["fetch", "--job", "h", "--from", &hour(0), "--to", &hour(1)])
        .env(BUSY.0, BUSY.1)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for("the call", Duration::from_secs(60), || {
        w.fake.calls().len() > calls
    });
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = String::new();
    let mut until = |what: &str, log: &mut String| {
        for line in lines.by_ref() {
            let line = line.expect("line");
            log.push_str(&line);
            log.push('\n');
            if line.contains(what) {
                return true;
            }
        }
        false
    };
    // The history is locked while the report is abandoned: its release fails.
    let mut lock = w.db();
    let tx = lock
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .expect("take the write lock");
    // SAFETY: signals to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(until("stopping", &mut log), "{log}");
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(until("could not give back", &mut log), "{log}");
    drop(tx);
    while until("", &mut log) {}
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{log}");
    let (status, claims): (String, i64) = w
        .db()
        .query_row(
            "SELECT status, (SELECT count(*) FROM claims) FROM reports WHERE window_start = (SELECT min(window_start) FROM reports)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!((status.as_str(), claims), ("pending", 0), "{log}");
}

#[test]
fn two_processes_starting_at_once_on_an_older_history_migrate_it_once() {
    let w = World::new(JOB);
    for round in 0..20 {
        let _ = std::fs::remove_dir_all(w.state());
        std::fs::create_dir_all(w.state()).expect("state dir");
        // the history as the first release left it
        let old = rusqlite::Connection::open(w.db_path()).expect("create");
        old.execute_batch(include_str!("../../migrations/01-initial/up.sql"))
            .expect("01");
        old.pragma_update(None, "user_version", 1).expect("version");
        drop(old);
        two_fetches_at_once(&w, round);
        let version: i64 = w
            .db()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert!(version > 1, "round {round}: migrated");
    }
}
