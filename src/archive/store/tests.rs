use super::reports::*;
use super::*;
use crate::domain::report::{ReportKey, Status, Trigger};
use std::os::unix::fs::PermissionsExt;

fn key(start: i64) -> ReportKey {
    ReportKey {
        job: "j".into(),
        target: "all".into(),
        region: String::new(),
        window_start: start,
        window_end: start + 3600,
    }
}

fn req<'a>(owner: &'a str, force: bool, file: &'a str, now: i64) -> ClaimRequest<'a> {
    ClaimRequest {
        owner,
        force,
        trigger: Trigger::Manual,
        file_path: file,
        now,
    }
}

fn status_of(s: &Store, id: i64) -> String {
    s.on_thread(|c| {
        c.query_row("SELECT status FROM reports WHERE id = ?1", [id], |r| {
            r.get(0)
        })
    })
    .expect("status")
}

fn open() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().expect("tempdir");
    let s = Store::open(&d.path().join("state/history.db")).expect("open");
    (d, s)
}

fn dead_owner() -> String {
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let pid = child.id();
    child.wait().expect("wait");
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    format!("{}:{pid}:1", boot.trim())
}

#[test]
fn opens_private_in_wal_mode_with_the_spec_tables() {
    let (d, s) = open();
    let mode = std::fs::metadata(d.path().join("state/history.db"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "database readable by others: {mode:o}");
    let journal: String = s
        .on_thread(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
        .expect("pragma");
    assert_eq!(journal, "wal");
    for (table, cols) in [
        (
            "reports",
            "id job target region granularity window_start window_end status attempts trigger request_id file_path bytes sha256 error_code error_message created_at updated_at",
        ),
        (
            "attempts",
            "report_id attempt started_at duration_ms http_status error_code error_message request_id",
        ),
        ("report_rows", "report_id sheet row_number data"),
    ] {
        let have: Vec<String> = s
            .on_thread(|c| {
                let mut st =
                    c.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
                let r = st.query_map([], |r| r.get(0))?;
                r.collect()
            })
            .expect("columns");
        for col in cols.split(' ') {
            assert!(have.iter().any(|h| h == col), "{table}.{col} missing");
        }
    }
    // reopening runs no migration twice
    drop(s);
    Store::open(&d.path().join("state/history.db")).expect("reopen");
}

#[test]
fn plan_is_idempotent() {
    let (_d, s) = open();
    let a = s
        .on_thread(|c| record_planned(c, &key(0), 1, Trigger::Manual, 10))
        .expect("plan");
    let b = s
        .on_thread(|c| record_planned(c, &key(0), 1, Trigger::Schedule, 20))
        .expect("plan");
    assert_eq!(a, b);
    assert_eq!(a.1, Status::Pending);
}

#[test]
fn a_claim_excludes_other_live_owners_and_is_taken_over_from_dead_ones() {
    let (_d, s) = open();
    let (id, _) = s
        .on_thread(|c| record_planned(c, &key(0), 1, Trigger::Manual, 10))
        .expect("plan");
    let me = s.owner().to_string();
    let got = s
        .on_thread(|c| claim(c, id, &req(&me, false, "/r/f.xlsx", 11)))
        .expect("claim");
    assert_eq!(got, Claim::Claimed { attempts: 0 });
    // the same owner (another task) and any other live process are refused
    let again = s
        .on_thread(|c| claim(c, id, &req(&me, false, "/r/f.xlsx", 12)))
        .expect("claim");
    assert!(matches!(again, Claim::Busy { .. }));
    // a claim held by a dead process is taken over
    s.on_thread(|c| c.execute("UPDATE claims SET owner = ?1", [dead_owner()]))
        .expect("update");
    let taken = s
        .on_thread(|c| claim(c, id, &req(&me, false, "/r/f.xlsx", 13)))
        .expect("claim");
    assert_eq!(taken, Claim::Claimed { attempts: 0 });
}

#[test]
fn attempts_are_numbered_and_counted() {
    let (_d, s) = open();
    let (id, _) = s
        .on_thread(|c| record_planned(c, &key(0), 1, Trigger::Manual, 10))
        .expect("plan");
    let a = AttemptRecord {
        kind: AttemptKind::Call,
        started_at: 10,
        duration_ms: 5,
        http_status: Some(200),
        error_code: Some("InternalError".into()),
        error_message: Some("boom".into()),
        request_id: Some("r1".into()),
    };
    assert_eq!(
        s.on_thread(|c| record_attempt_now(c, id, &a, 11))
            .expect("attempt"),
        1
    );
    assert_eq!(
        s.on_thread(|c| record_attempt_now(c, id, &a, 12))
            .expect("attempt"),
        2
    );
    let rows = s.on_thread(|c| attempts_of(c, id)).expect("attempts");
    assert_eq!(rows.len(), 2);
    let n: i64 = s
        .on_thread(|c| {
            c.query_row("SELECT attempts FROM reports WHERE id = ?1", [id], |r| {
                r.get(0)
            })
        })
        .expect("count");
    assert_eq!(n, 2);
}

#[test]
fn ok_is_done_and_done_is_not_claimed_again_unless_forced() {
    let (_d, s) = open();
    let me = s.owner().to_string();
    let id = ok_report(&s, 0);
    assert_eq!(
        s.on_thread(|c| claim(c, id, &req(&me, false, "/r/f.xlsx", 13)))
            .expect("claim"),
        Claim::Done
    );
    let done = s
        .on_thread(|c| query::done_keys(c, "j", -1, 10_000))
        .expect("done");
    assert!(done.contains(&key(0)));
    assert!(matches!(
        s.on_thread(|c| claim(c, id, &req(&me, true, "/r/f.xlsx", 13)))
            .expect("claim"),
        Claim::Claimed { .. }
    ));
}

#[test]
fn dead_claims_are_released_and_parts_of_live_ones_kept() {
    let (_d, s) = open();
    let me = s.owner().to_string();
    let (a, _) = s
        .on_thread(|c| record_planned(c, &key(0), 1, Trigger::Manual, 10))
        .expect("plan");
    let (b, _) = s
        .on_thread(|c| record_planned(c, &key(3600), 1, Trigger::Manual, 10))
        .expect("plan");
    s.on_thread(|c| claim(c, a, &req(&me, false, "/r/a.xlsx", 11)))
        .expect("claim");
    s.on_thread(|c| claim(c, b, &req(&me, false, "/r/b.xlsx", 11)))
        .expect("claim");
    s.on_thread(|c| {
        c.execute(
            "UPDATE claims SET owner = ?1 WHERE report_id = ?2",
            rusqlite::params![dead_owner(), b],
        )
    })
    .expect("update");
    let parts = s.on_thread(claimed_file_paths).expect("parts");
    assert_eq!(parts, vec!["/r/a.xlsx".to_string()]);
    assert_eq!(
        s.on_thread(|c| release_dead_claims(c, 20))
            .expect("release"),
        1
    );
    let status: String = s
        .on_thread(|c| {
            c.query_row("SELECT status FROM reports WHERE id = ?1", [b], |r| {
                r.get(0)
            })
        })
        .expect("status");
    assert_eq!(status, "pending");
    let status: String = s
        .on_thread(|c| {
            c.query_row("SELECT status FROM reports WHERE id = ?1", [a], |r| {
                r.get(0)
            })
        })
        .expect("status");
    assert_eq!(status, "running");
}

#[test]
fn history_filters_and_orders_newest_first() {
    let (_d, s) = open();
    for i in 0..5 {
        s.on_thread(|c| record_planned(c, &key(i * 3600), 1, Trigger::Manual, 10))
            .expect("plan");
    }
    let all = s
        .on_thread(|c| query::history(c, &query::HistoryFilter::default()))
        .expect("history");
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|p| p[0].window_end > p[1].window_end));
    let some = s
        .on_thread(|c| {
            query::history(
                c,
                &query::HistoryFilter {
                    since: Some(3 * 3600),
                    limit: Some(1),
                    ..Default::default()
                },
            )
        })
        .expect("history");
    assert_eq!(some.len(), 1);
    assert_eq!(some[0].window_end, 5 * 3600);
}

fn ok_report(s: &Store, start: i64) -> i64 {
    let me = s.owner().to_string();
    let (id, _) = s
        .on_thread(|c| record_planned(c, &key(start), 1, Trigger::Manual, 10))
        .expect("plan");
    s.on_thread(|c| claim(c, id, &req(&me, false, "/r/f.xlsx", 11)))
        .expect("claim");
    let f = Fetched {
        request_id: "r".into(),
        file_path: "/r/f.xlsx".into(),
        bytes: 10,
        sha256: "00".into(),
    };
    s.on_thread(|c| {
        let tx = c.transaction()?;
        mark_ok(&tx, id, &f, 12)?;
        tx.commit()
    })
    .expect("ok");
    id
}

#[test]
fn a_forced_fetch_that_fails_or_stops_leaves_a_done_report_done() {
    let (_d, s) = open();
    let me = s.owner().to_string();
    let id = ok_report(&s, 0);
    // forced, then failed: still ok (the failure is in attempts)
    s.on_thread(|c| claim(c, id, &req(&me, true, "/r/f.xlsx", 20)))
        .expect("claim");
    assert_eq!(status_of(&s, id), "running");
    s.on_thread(|c| mark_failed(c, id, "InvalidParameter", "no", Some("r2"), 21))
        .expect("failed");
    assert_eq!(status_of(&s, id), "ok");
    let rid: String = s
        .on_thread(|c| {
            c.query_row("SELECT request_id FROM reports WHERE id = ?1", [id], |r| {
                r.get(0)
            })
        })
        .expect("rid");
    assert_eq!(rid, "r", "the row still describes the file it has");
    // forced, then interrupted: still ok
    s.on_thread(|c| claim(c, id, &req(&me, true, "/r/f.xlsx", 22)))
        .expect("claim");
    s.on_thread(|c| release(c, id, &me, 23)).expect("release");
    assert_eq!(status_of(&s, id), "ok");
    // forced by a process that died: taken back to ok at the next start
    s.on_thread(|c| claim(c, id, &req(&me, true, "/r/f.xlsx", 24)))
        .expect("claim");
    s.on_thread(|c| c.execute("UPDATE claims SET owner = ?1", [dead_owner()]))
        .expect("update");
    s.on_thread(|c| release_dead_claims(c, 25))
        .expect("release");
    assert_eq!(status_of(&s, id), "ok");
    // a failure without a done past is a failure
    let (fresh, _) = s
        .on_thread(|c| record_planned(c, &key(7200), 1, Trigger::Manual, 30))
        .expect("plan");
    s.on_thread(|c| claim(c, fresh, &req(&me, false, "/r/g.xlsx", 31)))
        .expect("claim");
    s.on_thread(|c| mark_failed(c, fresh, "InternalError", "boom", None, 32))
        .expect("failed");
    assert_eq!(status_of(&s, fresh), "failed");
}

#[test]
fn taking_over_a_dead_claim_keeps_the_status_from_before_it() {
    let (_d, s) = open();
    let me = s.owner().to_string();
    let id = ok_report(&s, 0);
    s.on_thread(|c| claim(c, id, &req(&me, true, "/r/f.xlsx", 20)))
        .expect("claim");
    s.on_thread(|c| c.execute("UPDATE claims SET owner = ?1", [dead_owner()]))
        .expect("update");
    // another forced fetch takes it over, then fails: back to ok, not to the dead claim's 'running'
    s.on_thread(|c| claim(c, id, &req(&me, true, "/r/f.xlsx", 21)))
        .expect("claim");
    s.on_thread(|c| mark_failed(c, id, "InternalError", "boom", None, 22))
        .expect("failed");
    assert_eq!(status_of(&s, id), "ok");
}

#[test]
fn a_claim_of_this_process_that_is_not_in_flight_is_stale() {
    let (_d, s) = open();
    let me = s.owner().to_string();
    let (id, _) = s
        .on_thread(|c| record_planned(c, &key(0), 1, Trigger::Manual, 10))
        .expect("plan");
    s.on_thread(|c| claim(c, id, &req(&me, false, "/r/f.xlsx", 11)))
        .expect("claim");
    // in flight: busy for another task of ours
    let guard = s.in_flight(id);
    assert!(s.holder_alive(id, &me));
    let busy = s
        .on_thread(|c| {
            let tx = c.transaction()?;
            claim_in(&tx, id, &req(&me, false, "/r/f.xlsx", 12), |h| {
                s.holder_alive(id, h)
            })
        })
        .expect("claim");
    assert!(matches!(busy, Claim::Busy { .. }));
    // no longer in flight (say its release failed): ours to take again
    drop(guard);
    assert!(!s.holder_alive(id, &me));
    let again = s
        .on_thread(|c| {
            let tx = c.transaction()?;
            let r = claim_in(&tx, id, &req(&me, false, "/r/f.xlsx", 13), |h| {
                s.holder_alive(id, h)
            });
            tx.commit()?;
            r
        })
        .expect("claim");
    assert!(matches!(again, Claim::Claimed { .. }));
}

/// One `attempts` row, in brief.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AttemptBrief {
    attempt: i64,
    kind: String,
    http_status: Option<i64>,
    error_code: Option<String>,
}

/// The attempts of report `id`, oldest first.
fn attempts_of(conn: &rusqlite::Connection, id: i64) -> rusqlite::Result<Vec<AttemptBrief>> {
    let mut stmt = conn.prepare("SELECT attempt, kind, http_status, error_code FROM attempts WHERE report_id = ?1 ORDER BY attempt")?;
    let rows = stmt.query_map([id], |r| {
        Ok(AttemptBrief {
            attempt: r.get(0)?,
            kind: r.get(1)?,
            http_status: r.get(2)?,
            error_code: r.get(3)?,
        })
    })?;
    rows.collect()
}

#[test]
fn a_call_and_its_download_are_one_try() {
    let (_d, s) = open();
    let (id, _) = s
        .on_thread(|c| record_planned(c, &key(0), 1, Trigger::Manual, 10))
        .expect("plan");
    let call = AttemptRecord {
        kind: AttemptKind::Call,
        started_at: 10,
        duration_ms: 5,
        http_status: Some(200),
        error_code: None,
        error_message: None,
        request_id: Some("r1".into()),
    };
    let download = AttemptRecord {
        kind: AttemptKind::Download,
        ..call.clone()
    };
    let tries = s
        .on_thread(|c| {
            let tx = c.transaction()?;
            let n = record_try(&tx, id, &[call.clone(), download.clone()], 11)?;
            tx.commit()?;
            Ok(n)
        })
        .expect("try");
    assert_eq!(tries, 1);
    let tries = s
        .on_thread(|c| record_try(c, id, std::slice::from_ref(&download), 12))
        .expect("try");
    assert_eq!(tries, 2);
    // the attempts table keeps one row per call or download, numbered on
    let numbers: Vec<i64> = s
        .on_thread(|c| {
            let mut st =
                c.prepare("SELECT attempt FROM attempts WHERE report_id = ?1 ORDER BY attempt")?;
            let r = st.query_map([id], |r| r.get(0))?;
            r.collect()
        })
        .expect("rows");
    assert_eq!(numbers, vec![1, 2, 3]);
}

#[test]
fn an_unknown_status_is_an_error_not_pending() {
    let (_d, s) = open();
    let (id, _) = s
        .on_thread(|c| record_planned(c, &key(0), 1, Trigger::Manual, 10))
        .expect("plan");
    s.on_thread(|c| {
        c.pragma_update(None, "ignore_check_constraints", true)?;
        c.execute("UPDATE reports SET status = 'archived' WHERE id = ?1", [id])
    })
    .expect("a status from elsewhere");
    let planned = s.on_thread(|c| record_planned(c, &key(0), 1, Trigger::Manual, 11));
    let err = planned.expect_err("an unknown status is no pending report");
    assert!(err.to_string().contains("archived"), "{err}");
    let me = s.owner().to_string();
    assert!(
        s.on_thread(|c| claim(c, id, &req(&me, false, "/r/f.xlsx", 12)))
            .is_err()
    );
}

#[test]
fn a_failed_report_keeps_no_file_path_and_a_claim_carries_its_own() {
    let (_d, s) = open();
    let (id, _) = s
        .on_thread(|c| record_planned(c, &key(0), 1, Trigger::Manual, 10))
        .expect("plan");
    let me = s.owner().to_string();
    s.on_thread(|c| claim(c, id, &req(&me, false, "/r/f.xlsx", 11)))
        .expect("claim");
    let parts = s.on_thread(claimed_file_paths).expect("parts");
    assert_eq!(parts, vec!["/r/f.xlsx".to_string()]);
    s.on_thread(|c| mark_failed(c, id, "InternalError", "boom", None, 12))
        .expect("failed");
    let path: Option<String> = s
        .on_thread(|c| {
            c.query_row("SELECT file_path FROM reports WHERE id = ?1", [id], |r| {
                r.get(0)
            })
        })
        .expect("path");
    assert_eq!(path, None);
}

/// A database at schema version 1 (the first migration only).
fn old_schema(path: &std::path::Path) {
    let c = Connection::open(path).expect("create");
    c.execute_batch(MIGRATIONS[0]).expect("first migration");
    c.pragma_update(None, "user_version", 1).expect("version");
}

/// Open the history at `path` from four threads at the same moment; each must succeed.
fn open_at_once(path: &Path, round: usize) {
    let start = std::sync::Arc::new(std::sync::Barrier::new(4));
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let (path, start) = (path.to_path_buf(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                Store::open(&path).map(drop)
            })
        })
        .collect();
    for o in openers {
        o.join()
            .expect("thread")
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
}

#[test]
fn an_older_schema_opened_by_several_at_once_is_migrated_once() {
    for round in 0..10 {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("history.db");
        old_schema(&path);
        open_at_once(&path, round);
        let c = Connection::open(&path).expect("open");
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v as usize, MIGRATIONS.len());
    }
}

#[test]
fn a_fresh_database_opened_by_several_at_once_is_created_once() {
    for round in 0..10 {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("state/history.db");
        open_at_once(&path, round);
    }
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("history.db");
    drop(Store::open(&path).expect("open"));
    Connection::open(&path)
        .expect("open")
        .pragma_update(None, "user_version", 99)
        .expect("version");
    let err = Store::open(&path).err().expect("refused").to_string();
    assert!(err.contains("newer") && err.contains("fix:"), "{err}");
}
