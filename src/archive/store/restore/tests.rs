use super::*;

fn db() -> Connection {
    let mut c = Connection::open_in_memory().expect("open");
    crate::archive::store::migrate(&mut c).expect("migrate");
    // 1: ok, uploaded as p/j/a; 2: ok, local only; 3: failed; 4: running
    // under a claim taken from `ok`; 5: running without a claim; 6: ok,
    // uploaded as p/j/f, whose object is gone.
    c.execute_batch(
        "INSERT INTO reports (id, job, target, granularity, window_start, window_end, status,
             \"trigger\", file_path, bytes, sha256, remote_key, uploaded_at, created_at, updated_at)
         VALUES (1, 'j', 't', 1, 0, 3600, 'ok', 'schedule', '/r/j/a.xlsx', 10, 'aa', 'p/j/a', 50, 5, 5),
                (2, 'j', 't', 1, 3600, 7200, 'ok', 'schedule', '/r/j/b.xlsx', 10, 'bb', NULL, NULL, 6, 6),
                (3, 'j', 't', 1, 7200, 10800, 'failed', 'schedule', NULL, NULL, NULL, NULL, NULL, 7, 7),
                (4, 'j', 't', 1, 10800, 14400, 'running', 'manual', '/r/j/d.xlsx', 10, 'dd', NULL, NULL, 8, 8),
                (5, 'j', 't', 1, 14400, 18000, 'running', 'schedule', NULL, NULL, NULL, NULL, NULL, 9, 9),
                (6, 'j', 't', 1, 18000, 21600, 'ok', 'schedule', '/r/j/f.xlsx', 10, 'ff', 'p/j/f', 60, 9, 9);
         INSERT INTO claims (report_id, owner, claimed_at, previous_status) VALUES (4, 'x:1:2', 8, 'ok');
         INSERT INTO runs (id, trigger, jobs, started_at, pid, version, holder)
             VALUES (1, 'manual', '[\"j\"]', 8, 1, 'v', 'x:1:2');",
    )
    .expect("rows");
    c
}

fn obj(key: &str, start: i64, sha: &str) -> Object {
    Object {
        key: key.into(),
        size: 10,
        last_modified: 70,
        job: "j".into(),
        target: "t".into(),
        region: String::new(),
        granularity: 1,
        window_start: start,
        window_end: start + 3600,
        sha256: sha.into(),
        request_id: Some("req".into()),
        trigger: "schedule".into(),
    }
}

fn status(c: &Connection, id: i64) -> (String, Option<String>, Option<String>, Option<i64>) {
    c.query_row(
        "SELECT status, file_path, remote_key, uploaded_at FROM reports WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .expect("row")
}

#[test]
fn each_object_meets_its_row_as_decided() {
    let row = |status, sha: &str, file: Option<&str>| Row {
        id: 9,
        status,
        sha256: Some(sha.into()),
        file_path: file.map(str::to_string),
    };
    let o = obj("p/j/x", 0, "aa");
    let never = |_: &str| panic!("the disk is not asked");
    assert_eq!(decide(None, &o, never), Action::Insert);
    for s in [
        Status::Pending,
        Status::Failed,
        Status::Running,
        Status::Pruned,
    ] {
        assert_eq!(
            decide(Some(&row(s, "zz", None)), &o, never),
            Action::Adopt(9)
        );
    }
    assert_eq!(
        decide(Some(&row(Status::Ok, "aa", Some("/r/x"))), &o, never),
        Action::MarkUploaded(9)
    );
    let other = row(Status::Ok, "zz", Some("/r/x"));
    assert_eq!(decide(Some(&other), &o, |_| true), Action::Reupload(9));
    assert_eq!(decide(Some(&other), &o, |_| false), Action::Adopt(9));
    assert_eq!(
        decide(Some(&row(Status::Ok, "zz", None)), &o, never),
        Action::Adopt(9)
    );
}

#[test]
fn the_old_machines_claims_and_runs_are_dropped() {
    let mut c = db();
    let d = drop_claims(&mut c, 100).expect("drop");
    assert_eq!(d, Dropped { claims: 1, runs: 1 });
    assert_eq!(status(&c, 4).0, "ok");
    assert_eq!(status(&c, 5).0, "pending");
    let open: i64 = c
        .query_row(
            "SELECT count(*) FROM runs WHERE outcome = 'running'",
            [],
            |r| r.get(0),
        )
        .expect("runs");
    assert_eq!(open, 0);
}

#[test]
fn the_listing_records_what_the_history_does_not_hold_and_forgets_what_is_gone() {
    let mut c = db();
    drop_claims(&mut c, 100).expect("drop");
    start_listing(&c).expect("start");
    // a: as recorded; b: uploaded after the snapshot; c: a failed window
    // fetched and uploaded after it; g: a window the snapshot never saw;
    // a second size of a: replaced meanwhile.
    let listed: Vec<(String, u64)> = ["p/j/a", "p/j/b", "p/j/c", "p/j/g", "p/x"]
        .iter()
        .map(|k| (k.to_string(), 10))
        .collect();
    add_listed(&mut c, &listed).expect("list");
    let todo = unmatched(&c, "", 2).expect("page");
    assert_eq!(
        todo,
        vec![("p/j/b".to_string(), 10), ("p/j/c".to_string(), 10)]
    );
    let rest = unmatched(&c, "p/j/c", 10).expect("rest");
    assert_eq!(rest.len(), 2, "{rest:?}");
    let objects = [
        obj("p/j/b", 3600, "bb"),
        obj("p/j/c", 7200, "cc"),
        obj("p/j/g", 90_000, "gg"),
    ];
    let actions: Vec<(Action, Object)> = objects
        .into_iter()
        .map(|o| {
            let row = row_of(&c, &o).expect("row");
            (decide(row.as_ref(), &o, |_| false), o)
        })
        .collect();
    assert_eq!(
        actions.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        vec![Action::MarkUploaded(2), Action::Adopt(3), Action::Insert]
    );
    apply(&mut c, &actions, 100).expect("apply");
    assert_eq!(
        status(&c, 2),
        (
            "ok".into(),
            Some("/r/j/b.xlsx".into()),
            Some("p/j/b".into()),
            Some(70)
        )
    );
    assert_eq!(
        status(&c, 3),
        ("ok".into(), None, Some("p/j/c".into()), Some(70))
    );
    let (id, bytes, sha): (i64, i64, String) = c
        .query_row(
            "SELECT id, bytes, sha256 FROM reports WHERE window_start = 90000",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("new row");
    assert_eq!((bytes, sha.as_str()), (10, "gg"));
    assert_eq!(status(&c, id).0, "ok");
    // f's object is not listed: its upload is forgotten.
    assert_eq!(forget_missing_objects(&c).expect("gone"), 1);
    assert_eq!(status(&c, 6).2, None);
    finish_listing(&c).expect("finish");
}

#[test]
fn rows_without_their_file_keep_the_remote_copy_or_are_fetched_again() {
    let mut c = db();
    drop_claims(&mut c, 100).expect("drop");
    let claims = local_claims(&c, 0, 10).expect("claims");
    assert_eq!(
        claims.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![1, 2, 4, 6]
    );
    assert_eq!(local_claims(&c, 2, 1).expect("page")[0].id, 4);
    // No file is on this disk; 6's object was found gone.
    c.execute(
        "UPDATE reports SET remote_key = NULL, uploaded_at = NULL WHERE id = 6",
        [],
    )
    .expect("gone");
    forget_local_files(&mut c, &[1, 2, 4, 6]).expect("forget");
    let lost = refetch_lost(&mut c, Some(3700), 100).expect("lost");
    // 1 is uploaded: remote only. 2 ended at 7200 (after the cutoff):
    // pending; 4 ended at 14400: pending; 6: pending.
    assert_eq!(
        lost,
        Lost {
            pending: 3,
            pruned: 0
        }
    );
    assert_eq!(
        status(&c, 1),
        ("ok".into(), None, Some("p/j/a".into()), Some(50))
    );
    assert_eq!(status(&c, 2).0, "pending");
    let lost = refetch_lost(&mut c, None, 100).expect("again");
    assert_eq!(lost, Lost::default());
    // Past the retention: pruned.
    c.execute(
        "UPDATE reports SET status = 'ok', uploaded_at = NULL, remote_key = NULL WHERE id = 1",
        [],
    )
    .expect("lose 1");
    assert_eq!(
        refetch_lost(&mut c, Some(3700), 100).expect("pruned"),
        Lost {
            pending: 0,
            pruned: 1
        }
    );
    assert_eq!(status(&c, 1).0, "pruned");
}
