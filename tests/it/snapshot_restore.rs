//! History snapshots and `restore` against a real S3 server (moto): the
//! state directory wiped after reports were uploaded before and after the
//! last snapshot, `restore`, then `fetch` of the whole range asks the API
//! only for what the bucket does not hold; `restore` refuses a state
//! directory that holds a history or reports unless `--force`;
//! `snapshot_keep` leaves the newest snapshots; a snapshot taken while the
//! history is written is whole; the daemon writes one on its own.

use crate::common::daemon::*;
use crate::common::s3::S3Server;
use crate::common::s3_snapshot::*;
use crate::common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const JOB: &str = "hourly-all";

fn api_calls(w: &World) -> usize {
    w.fake.calls_of("GetStatisticData").len()
}

/// Fetch `[from, to)` of [`JOB`] (its reports upload before it exits).
fn fetched(w: &World, from: &str, to: &str) {
    let o = w.fetch(JOB, from, to, &[]);
    assert_exit(&o, 0);
}

/// `snapshot`, which must succeed: the key of the snapshot it wrote.
fn snapshot(w: &World) -> String {
    snapshot_said(w).0
}

/// `snapshot`, which must succeed: the key of the snapshot it wrote, and
/// what it said.
fn snapshot_said(w: &World) -> (String, String) {
    let o = w.run(&["snapshot"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    let url = out
        .split_whitespace()
        .find(|t| t.starts_with("s3://"))
        .unwrap_or_else(|| panic!("no snapshot URL in {out}"));
    let key = url
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .expect("in the bucket")
        .to_string();
    (key, out)
}

/// `(window_start, file_path, remote_key)` of every `ok` row.
fn ok_rows(w: &World) -> Vec<(i64, Option<String>, Option<String>)> {
    let db = w.db();
    let mut st = db
        .prepare(
            "SELECT window_start, file_path, remote_key FROM reports WHERE status = 'ok'
             ORDER BY window_start",
        )
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// The key of the object of the `ok` report of the window starting at `start`.
fn key_of(w: &World, start: i64) -> String {
    ok_rows(w)
        .into_iter()
        .find(|r| r.0 == start)
        .and_then(|r| r.2)
        .unwrap_or_else(|| panic!("no uploaded report at {start}"))
}

/// The window starts `GetStatisticData` was asked for while `f` ran, sorted.
fn asked_while(w: &World, f: impl FnOnce()) -> Vec<i64> {
    let before = api_calls(w);
    f();
    let mut asked: Vec<i64> = w.fake.calls_of("GetStatisticData")[before..]
        .iter()
        .map(|c| c.body["BeginTime"].as_i64().unwrap_or_default())
        .collect();
    asked.sort();
    asked
}

/// No scratch file (a dot file) is left in the state directory.
fn assert_no_scratch_file(w: &World) {
    let files = w.files();
    assert!(
        files.iter().all(|f| !f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .starts_with('.')),
        "scratch files left: {files:?}"
    );
}

/// Move the history files of `w`'s state directory to `to` (or back).
fn move_history(w: &World, back: bool) {
    let (from, to) = match back {
        false => (w.state(), w.dir.path().to_path_buf()),
        true => (w.dir.path().to_path_buf(), w.state()),
    };
    for e in std::fs::read_dir(&from).expect("read").flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with("history.db") {
            std::fs::rename(e.path(), to.join(&name)).expect("move");
        }
    }
}

fn t(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().expect("time").as_second()
}

#[test]
fn after_a_wipe_restore_then_fetch_asks_the_api_only_for_what_the_bucket_lacks() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let w = remote_world(&s3, "acct", "", "", HOURLY);
    // Six reports uploaded, the snapshot, six more uploaded after it.
    fetched(&w, "2026-11-01T00:00:00Z", "2026-11-01T06:00:00Z");
    let snap = snapshot(&w);
    assert!(
        snap.starts_with("acct/_history/history-") && snap.ends_with(".db.gz"),
        "{snap}"
    );
    fetched(&w, "2026-11-01T06:00:00Z", "2026-11-01T12:00:00Z");
    let rows = ok_rows(&w);
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().all(|r| r.2.is_some()), "all uploaded: {rows:?}");
    // Two objects lost from the bucket: one the snapshot holds as
    // uploaded, one uploaded after it.
    let lost = [t("2026-11-01T02:00:00Z"), t("2026-11-01T08:00:00Z")];
    for start in lost {
        delete(&s3, BUCKET, &key_of(&w, start));
    }
    // An object with no report's metadata is left alone.
    put_with_meta(&s3, BUCKET, "acct/notes.txt", b"hello", &[]);

    std::fs::remove_dir_all(w.state()).expect("wipe the state directory");
    let o = w.run(&["restore"]);
    assert_exit(&o, 0);
    let said = stdout(&o);
    assert!(said.contains(&format!("s3://{BUCKET}/{snap}")), "{said}");
    assert!(said.contains("(6 reports in the snapshot)"), "{said}");
    for want in [
        "11 objects, 6 of them not recorded as uploaded in the snapshot",
        "5 recorded as new reports from their metadata",
        "1 are not reports",
        "1 reports recorded as uploaded are no longer in the bucket",
        "1 reports neither on disk nor in the bucket are pending again",
    ] {
        assert!(said.contains(want), "{want}: {said}");
    }
    assert_eq!(integrity(&w.db_path()), "ok");
    assert_no_scratch_file(&w);
    let restored = ok_rows(&w);
    assert_eq!(restored.len(), 10, "{restored:?}");
    assert!(
        restored.iter().all(|r| r.1.is_none() && r.2.is_some()),
        "remote only: {restored:?}"
    );

    let asked = asked_while(&w, || {
        fetched(&w, "2026-11-01T00:00:00Z", "2026-11-01T12:00:00Z")
    });
    assert_eq!(
        asked, lost,
        "only the two windows whose objects were lost are fetched"
    );
    let after = ok_rows(&w);
    assert_eq!(after.len(), 12);
    assert!(
        after.iter().all(|r| r.2.is_some()),
        "uploaded again: {after:?}"
    );
    // A second run asks for nothing.
    let before = api_calls(&w);
    fetched(&w, "2026-11-01T00:00:00Z", "2026-11-01T12:00:00Z");
    assert_eq!(api_calls(&w), before);
}

#[test]
fn restore_refuses_a_state_directory_that_holds_a_history_or_reports_unless_forced() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let w = remote_world(&s3, "acct", "", "", HOURLY);
    fetched(&w, "2026-11-01T00:00:00Z", "2026-11-01T02:00:00Z");
    let snap = snapshot(&w);
    let o = w.run(&["restore"]);
    assert_exit(&o, 2);
    let e = stderr(&o);
    for want in [
        "is not empty",
        "history.db",
        "report files in",
        "fix:",
        "--force",
    ] {
        assert!(e.contains(want), "{want}: {e}");
    }
    // The history alone is enough to refuse; so are reports alone.
    let reports = w.state().join("reports");
    let moved = w.dir.path().join("reports-aside");
    std::fs::rename(&reports, &moved).expect("move the reports");
    let o = w.run(&["restore"]);
    assert_exit(&o, 2);
    assert!(!stderr(&o).contains("report files in"), "{}", stderr(&o));
    std::fs::rename(&moved, &reports).expect("reports back");
    move_history(&w, false);
    let o = w.run(&["restore"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("report files in"), "{}", stderr(&o));
    move_history(&w, true);
    // Nothing was written by the refusals.
    assert_eq!(ok_rows(&w).len(), 2);

    // --force, from the snapshot as a file: the old history is moved
    // aside, the files on disk stay recorded.
    let file = w.dir.path().join("snapshot.db.gz");
    std::fs::write(&file, s3.get(BUCKET, &snap)).expect("save the snapshot");
    let o = w.run(&["restore", "--force", "--from", &path_str(&file)]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("history.db.replaced-"),
        "{}",
        stdout(&o)
    );
    let aside = std::fs::read_dir(w.state())
        .expect("state")
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("history.db.replaced-")
        })
        .expect("the old history moved aside");
    assert_eq!(integrity(&aside.path()), "ok");
    let rows = ok_rows(&w);
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r.1.is_some() && r.2.is_some()),
        "{rows:?}"
    );
    let asked = asked_while(&w, || {
        fetched(&w, "2026-11-01T00:00:00Z", "2026-11-01T02:00:00Z")
    });
    assert_eq!(asked, Vec::<i64>::new());
    assert_no_scratch_file(&w);

    // A --from that names nothing.
    let o = w.run(&["restore", "--force", "--from", "no-such-file.db.gz"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("no such file"), "{}", stderr(&o));
}

#[test]
fn snapshot_and_restore_without_a_bucket_say_what_is_missing() {
    let w = World::new(HOURLY);
    let o = w.run(&["snapshot"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("[storage.remote]"), "{}", stderr(&o));
    let o = w.run(&["restore"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("[storage.remote]") && stderr(&o).contains("--from FILE"),
        "{}",
        stderr(&o)
    );
    assert!(!w.state().join("history.db").exists(), "nothing written");
}

#[test]
fn snapshot_keep_leaves_the_newest_snapshots_and_nothing_else_is_touched() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let w = remote_world(&s3, "acct", "snapshot_keep = 2\n", "", HOURLY);
    fetched(&w, "2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z");
    for old in ["20200101T000000Z", "20210101T000000Z", "20220101T000000Z"] {
        put_with_meta(
            &s3,
            BUCKET,
            &format!("acct/_history/history-{old}.db.gz"),
            b"old",
            &[],
        );
    }
    put_with_meta(&s3, BUCKET, "acct/_history/notes.txt", b"mine", &[]);
    // Uploads of snapshots left open: one by a crash long ago, one begun
    // an hour ago (another process may still send it).
    let hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let recent = hour_ago.strftime("%Y%m%dT%H%M%SZ").to_string();
    for stamp in ["20190101T000000Z", recent.as_str()] {
        let path = format!("/{BUCKET}/acct/_history/history-{stamp}.db.gz?uploads");
        let got = s3.request("POST", &path, &[]).map(|(s, _)| s);
        assert_eq!(got, Some(200), "create an upload");
    }
    assert_eq!(s3.open_uploads(BUCKET), 2);
    let (snap, said) = snapshot_said(&w);
    assert_eq!(s3.open_uploads(BUCKET), 1, "the stale upload is aborted");
    assert!(said.contains("2 kept, 2 older deleted"), "{said}");
    let mut want = vec![
        "acct/_history/history-20220101T000000Z.db.gz".to_string(),
        snap.clone(),
        "acct/_history/notes.txt".to_string(),
    ];
    want.sort();
    assert_eq!(s3.keys(BUCKET, "acct/_history/"), want);
    let recorded: Vec<String> = {
        let db = w.db();
        let mut st = db
            .prepare("SELECT remote_key FROM snapshots ORDER BY remote_key")
            .expect("prepare");
        st.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert!(
        recorded.contains(&snap) && recorded.len() <= 2,
        "{recorded:?}"
    );
    // Each is a whole, gzip-compressed history.
    let db = w.dir.path().join("copy.db");
    std::fs::write(&db, gunzip(&s3.get(BUCKET, &snap))).expect("write");
    assert_eq!(integrity(&db), "ok");
    // One named by its URL is restored; one that is not a history is
    // refused, and the state directory stays as it was.
    std::fs::remove_dir_all(w.state()).expect("wipe");
    let old = format!("s3://{BUCKET}/acct/_history/history-20220101T000000Z.db.gz");
    let o = w.run(&["restore", "--from", &old]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("cannot be used") && stderr(&o).contains("fix:"),
        "{}",
        stderr(&o)
    );
    assert!(!w.db_path().exists());
    assert_no_scratch_file(&w);
    let o = w.run(&["restore", "--from", &format!("s3://{BUCKET}/{snap}")]);
    assert_exit(&o, 0);
    assert_eq!(ok_rows(&w).len(), 1);
}

#[test]
fn a_snapshot_of_a_history_being_written_is_one_whole_moment() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let w = remote_world(&s3, "acct", "snapshot_keep = 10\n", "", HOURLY);
    fetched(&w, "2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z");
    // A writer adds two rows per transaction as fast as it can: any one
    // moment of the history holds an even number of them.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written, db) = (stop.clone(), written.clone(), w.db_path());
        std::thread::spawn(move || {
            let mut c = rusqlite::Connection::open(&db).expect("open");
            c.busy_timeout(Duration::from_secs(30)).expect("busy");
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let tx = c.transaction().expect("tx");
                for k in 0..2 {
                    tx.execute(
                        "INSERT INTO report_rows (report_id, sheet, row_number, data)
                         VALUES (1, 'Load', ?1, ?2)",
                        rusqlite::params![n + k, format!("{{\"pad\":\"{}\"}}", "x".repeat(2000))],
                    )
                    .expect("row");
                }
                tx.commit().expect("commit");
                n += 2;
                written.store(n as u64, Ordering::Relaxed);
            }
        })
    };
    wait_for("the writer to start", Duration::from_secs(60), || {
        written.load(Ordering::Relaxed) > 100
    });
    let mut snaps = Vec::new();
    for _ in 0..2 {
        let from = written.load(Ordering::Relaxed);
        snaps.push(snapshot(&w));
        wait_for("the writer to go on", Duration::from_secs(60), || {
            written.load(Ordering::Relaxed) > from + 100
        });
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    for (i, key) in snaps.iter().enumerate() {
        let db = w.dir.path().join(format!("copy-{i}.db"));
        std::fs::write(&db, gunzip(&s3.get(BUCKET, key))).expect("write");
        assert_eq!(integrity(&db), "ok", "{key}");
        let c = rusqlite::Connection::open(&db).expect("open");
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM report_rows WHERE sheet = 'Load'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert!(n > 0 && n % 2 == 0, "{key}: {n} rows: not one moment");
    }
}

#[test]
fn the_daemon_writes_a_snapshot_when_one_is_due_and_exports_its_time() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let jobs = "[[jobs]]\nname = \"hourly-all\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"2h\"\n";
    let w = remote_world(
        &s3,
        "acct",
        "snapshot_interval = \"1h\"\n",
        METRICS_PORT_0,
        jobs,
    );
    let d = w.start_daemon(&[]);
    let addr = d.metrics_addr();
    wait_for("a snapshot in the bucket", Duration::from_secs(120), || {
        !s3.keys(BUCKET, "acct/_history/").is_empty()
    });
    let taken: i64 = {
        let mut v = 0;
        wait_for("the snapshot recorded", Duration::from_secs(60), || {
            v = w
                .db()
                .query_row(
                    "SELECT coalesce(max(taken_at), 0) FROM snapshots",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or(0);
            v > 0
        });
        v
    };
    let line = format!("mna_reportd_last_snapshot_timestamp_seconds {taken}");
    wait_for("the gauge", Duration::from_secs(60), || {
        http_get(addr, "/metrics").1.lines().any(|l| l == line)
    });
    d.stop();
    // A restart within the interval writes none, and seeds the gauge.
    let d = w.start_daemon(&[]);
    let addr = d.metrics_addr();
    wait_for("the gauge seeded", Duration::from_secs(60), || {
        http_get(addr, "/metrics").1.lines().any(|l| l == line)
    });
    d.stop();
    assert_eq!(s3.keys(BUCKET, "acct/_history/").len(), 1);
}

/// Add `mib` MiB of incompressible rows to report 1 of `w`'s history.
fn grow_history(w: &World, mib: usize) {
    let mut rng = fastrand::Rng::with_seed(20);
    let mut db = w.db();
    let tx = db.transaction().expect("tx");
    let mut bytes = [0u8; 2000];
    for n in 0..mib * 256 {
        rng.fill(&mut bytes);
        let blob = hex::encode(bytes);
        tx.execute(
            "INSERT INTO report_rows (report_id, sheet, row_number, data) VALUES (1, 'Big', ?1, ?2)",
            rusqlite::params![n as i64, format!("{{\"blob\":\"{blob}\"}}")],
        )
        .expect("row");
    }
    tx.commit().expect("commit");
}

#[test]
fn a_large_history_is_snapshotted_and_restored_in_flat_memory() {
    use crate::common::rss::run_measured;
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let w = remote_world(&s3, "acct", "", "", HOURLY);
    fetched(&w, "2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z");
    grow_history(&w, 96);
    let size = std::fs::metadata(w.db_path()).expect("db").len()
        + std::fs::metadata(w.state().join("history.db-wal")).map_or(0, |m| m.len());
    assert!(size > 96 << 20, "{size}");
    let m = run_measured(w.cmd().arg("snapshot"));
    assert_exit(&m.output, 0);
    assert!(
        m.peak_mib() < 64.0,
        "peak RSS {:.1} MiB for a snapshot of a {} MiB history",
        m.peak_mib(),
        size >> 20
    );
    let keys = s3.keys(BUCKET, "acct/_history/");
    assert_eq!(keys.len(), 1);
    // Hardly compressible: the snapshot is many parts, a multipart upload.
    let (_, gz) = s3.head(BUCKET, &keys[0]);
    assert!(gz > 32 << 20, "{gz}");
    assert_eq!(s3.open_uploads(BUCKET), 0);
    std::fs::remove_dir_all(w.state()).expect("wipe");
    let m = run_measured(w.cmd().arg("restore"));
    assert_exit(&m.output, 0);
    assert!(
        m.peak_mib() < 64.0,
        "peak RSS {:.1} MiB for a restore of a {} MiB history",
        m.peak_mib(),
        size >> 20
    );
    let rows: i64 = w
        .db()
        .query_row(
            "SELECT count(*) FROM report_rows WHERE sheet = 'Big'",
            [],
            |r| r.get(0),
        )
        .expect("rows");
    assert_eq!(rows, 96 * 256);
    assert_no_scratch_file(&w);
}

#[test]
fn after_a_restore_the_daemons_catch_up_asks_for_no_uploaded_window() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let jobs = "[[jobs]]\nname = \"hourly-all\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"4h\"\n";
    let w = remote_world(&s3, "acct", "", "", jobs);
    assert_exit(&w.run(&["fetch", "--all"]), 0);
    let uploaded: Vec<i64> = ok_rows(&w)
        .into_iter()
        .filter(|r| r.2.is_some())
        .map(|r| r.0)
        .collect();
    assert!(uploaded.len() >= 3, "{uploaded:?}");
    snapshot(&w);
    std::fs::remove_dir_all(w.state()).expect("wipe");
    assert_exit(&w.run(&["restore"]), 0);
    let restored_at = jiff::Timestamp::now().as_second();
    let asked = asked_while(&w, || {
        let d = w.start_daemon(&[]);
        wait_for("the catch-up fire to end", Duration::from_secs(120), || {
            w.db()
                .query_row(
                    "SELECT count(*) FROM runs WHERE trigger = 'catch-up'
                     AND outcome <> 'running' AND started_at >= ?1",
                    [restored_at],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap_or(0)
                > 0
        });
        d.stop();
    });
    // A window that came due meanwhile may be asked for; no uploaded one.
    assert!(
        asked.iter().all(|s| !uploaded.contains(s)),
        "uploaded windows fetched again: {asked:?} of {uploaded:?}"
    );
}

#[test]
fn a_snapshot_the_bucket_refuses_fails_with_the_fix_and_leaves_no_scratch_file() {
    let s3 = S3Server::start();
    // No bucket made: every request is refused with NoSuchBucket.
    let w = remote_world(&s3, "acct", "", "", HOURLY);
    let o = w.fetch(JOB, "2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z", &[]);
    assert_exit(&o, 0);
    let o = w.run(&["snapshot"]);
    assert_exit(&o, 1);
    let e = stderr(&o);
    assert!(e.contains(BUCKET) && e.contains("fix:"), "{e}");
    assert_no_scratch_file(&w);
    let recorded: i64 = w
        .db()
        .query_row("SELECT count(*) FROM snapshots", [], |r| r.get(0))
        .expect("count");
    assert_eq!(recorded, 0);
}
