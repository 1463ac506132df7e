//! Reading the remote archive against a real S3 server: the page downloads
//! a file kept only in the bucket through the program, byte for byte (a
//! local one still from disk); `history`, `status` and the page say where
//! each file is and how many wait for their upload; `prune` deletes the
//! objects of pruned reports, and one the bucket could not delete is
//! deleted by the next prune; `check` shows the remote and `check --probe`
//! writes, reads back and deletes an object, or says what to fix.

use crate::common::rss::vm_hwm;
use crate::common::s3_read::{BUCKET, PREFIX, RemoteWorld, dead_endpoint};
use crate::common::{FETCH_ONE_HOUR, HOURLY, assert_exit, stderr, stdout};
use crate::web_support::{get, serve_world};

/// Three hourly reports of 2026-11-01, fetched by real fetches with the
/// outbox: the first kept only in the bucket (`keep_local = "0s"`), the
/// second in both places, the third only on disk (the bucket was
/// unreachable: it waits for its upload). Their ids, in that order.
fn three_reports() -> (RemoteWorld, [i64; 3]) {
    let rw = RemoteWorld::new(HOURLY);
    let hour = |h: u32, endpoint: &str, keep_local: Option<&str>| {
        rw.point_at(endpoint, keep_local);
        let o = rw.w.fetch(
            "hourly-all",
            &format!("2026-11-01T{h:02}:00:00Z"),
            &format!("2026-11-01T{:02}:00:00Z", h + 1),
            &[],
        );
        assert_exit(&o, 0);
    };
    let endpoint = rw.s3.endpoint.clone();
    hour(0, &endpoint, Some("0s"));
    hour(1, &endpoint, None);
    hour(2, &dead_endpoint(), None);
    rw.point_at(&endpoint, None);
    let ids = rw.ok_ids();
    assert_eq!(ids.len(), 3);
    let ids = [ids[0], ids[1], ids[2]];
    let kept = |id| (rw.local_file(id).is_some(), rw.remote_key(id).is_some());
    assert_eq!(
        ids.map(kept),
        [(false, true), (true, true), (true, false)],
        "remote only, both, local only"
    );
    (rw, ids)
}

#[test]
fn the_page_serves_a_file_kept_only_in_the_bucket_byte_for_byte_and_a_local_one_from_disk() {
    let (rw, [remote_id, both_id, local_id]) = three_reports();
    let remote_bytes = rw.served(remote_id);
    let remote_key = rw.remote_key(remote_id).expect("key");
    let both_bytes = rw.served(both_id);
    let local_bytes = rw.served(local_id);
    // The bucket's copy of the second differs: the local one must be served.
    let both_key = rw.remote_key(both_id).expect("key");
    rw.put(&both_key, &vec![b'x'; both_bytes.len()]);
    // A hostile row: a key outside the reports (a snapshot's folder) with
    // an object there; never read.
    rw.put(&format!("{PREFIX}/_history/secret"), b"not a report");
    rw.w.db()
        .execute_batch(&format!(
            "INSERT INTO reports (job, target, region, granularity, window_start, window_end, status,
                 \"trigger\", bytes, sha256, remote_key, uploaded_at, created_at, updated_at)
             VALUES ('hourly-all', 'all', '', 1, 0, 3600, 'ok', 'manual', 12, 'aa',
                     '{PREFIX}/_history/secret', 1, 1, 1);"
        ))
        .expect("hostile row");
    let hostile: i64 =
        rw.w.db()
            .query_row("SELECT max(id) FROM reports", [], |r| r.get(0))
            .expect("id");

    let served = serve_world(&rw.w, "127.0.0.1:0");
    let file = |id: i64| get(served.addr, &format!("/api/reports/{id}/file"), &[]);
    let a = file(remote_id);
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.body == remote_bytes, "the bucket's file, byte for byte");
    assert_eq!(
        a.header("content-type"),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    let length = remote_bytes.len().to_string();
    assert_eq!(a.header("content-length"), Some(length.as_str()));
    // The file's name, as a local file's is given (`+` of the offset made safe).
    let name = remote_key
        .rsplit('/')
        .next()
        .expect("name")
        .replace('+', "_");
    assert_eq!(
        a.header("content-disposition"),
        Some(format!("attachment; filename=\"{name}\"").as_str())
    );
    assert!(
        !a.headers.iter().any(|(k, v)| {
            let t = format!("{k}: {v}").to_ascii_lowercase();
            t.contains("amz") || t.contains("127.0.0.1:") && k.eq_ignore_ascii_case("location")
        }),
        "nothing of the bucket reaches the browser"
    );
    let a = file(local_id);
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.body == local_bytes, "the local file");
    let a = file(both_id);
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.body == both_bytes, "local first when both are there");
    // Its local copy gone from disk (the row still names it): the bucket's.
    rw.put(&both_key, &both_bytes);
    std::fs::remove_file(rw.local_file(both_id).expect("local")).expect("remove");
    let a = file(both_id);
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(
        a.body == both_bytes,
        "the bucket's copy of a file gone from disk"
    );
    let a = file(hostile);
    assert_eq!(a.status, 404, "{}", a.text());
    assert!(!a.text().contains("not a report"));

    // Where each file is, on the report and the window's list.
    let stored = |id: i64| {
        get(served.addr, &format!("/api/reports/{id}"), &[]).json()["stored"]
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(stored(remote_id).as_deref(), Some("remote"));
    assert_eq!(stored(local_id).as_deref(), Some("local"));
    assert_eq!(stored(both_id).as_deref(), Some("both"));
    let r = get(served.addr, &format!("/api/reports/{remote_id}"), &[]).json();
    assert_eq!(r["has_file"], true);
    // The job card: one report waits for its upload.
    let jobs = get(served.addr, "/api/jobs", &[]).json();
    assert_eq!(jobs["jobs"][0]["upload_backlog"], 1, "{jobs}");
    assert!(jobs["jobs"][0]["upload_lag_seconds"].as_i64() >= Some(0));

    // The bucket gone: a clear 503, the local files still served.
    let RemoteWorld { w, s3, .. } = rw;
    drop(s3);
    let a = get(served.addr, &format!("/api/reports/{remote_id}/file"), &[]);
    assert_eq!(a.status, 503, "{}", a.text());
    let said = a.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        said.contains("in the bucket") && said.contains("fix:"),
        "{said}"
    );
    assert!(!said.contains(crate::common::s3::SECRET_ACCESS_KEY));
    let a = get(served.addr, &format!("/api/reports/{local_id}/file"), &[]);
    assert_eq!(a.status, 200);
    drop(served);
    drop(w);
}

#[test]
fn history_and_status_say_where_files_are_and_what_waits_for_its_upload() {
    let (rw, [remote_id, both_id, local_id]) = three_reports();
    let o = rw.w.run(&["history", "--format", "json"]);
    assert_exit(&o, 0);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let stored = |id: i64| {
        rows.as_array()
            .expect("rows")
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["stored"].clone())
    };
    assert_eq!(stored(remote_id), Some("remote".into()));
    assert_eq!(stored(both_id), Some("both".into()));
    assert_eq!(stored(local_id), Some("local".into()));
    let o = rw.w.run(&["history"]);
    assert_exit(&o, 0);
    let table = stdout(&o);
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.contains("SIZE") && header.contains("FILE"),
        "{table}"
    );
    for word in ["remote", "local", "both"] {
        assert!(
            table
                .lines()
                .skip(1)
                .any(|l| l.split_whitespace().any(|c| c == word)),
            "{word} in\n{table}"
        );
    }
    let o = rw.w.run(&["history", "--format", "csv"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o)
            .lines()
            .next()
            .is_some_and(|h| h.ends_with("remote_key,uploaded_at,stored")),
        "{}",
        stdout(&o)
    );

    let o = rw.w.run(&["status", "--format", "json"]);
    assert_exit(&o, 0);
    let st: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(st[0]["upload_backlog"], 1, "{st}");
    assert!(st[0]["upload_lag_seconds"].as_i64() >= Some(0), "{st}");
    let o = rw.w.run(&["status"]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    assert!(
        text.contains(&format!("upload to s3://{BUCKET}/{PREFIX}:"))
            && text.contains("hourly-all  1 report waiting (backlog), the oldest for"),
        "{text}"
    );
    // The bucket back, a fetch of a done window drains the outbox: nothing waits.
    let o = rw.w.fetch(
        "hourly-all",
        "2026-11-01T02:00:00Z",
        "2026-11-01T03:00:00Z",
        &[],
    );
    assert_exit(&o, 0);
    let o = rw.w.run(&["status"]);
    assert!(
        stdout(&o).contains("hourly-all  every sealed report uploaded (backlog 0, lag 0s)"),
        "{}",
        stdout(&o)
    );
    let o = rw.w.run(&["status", "--format", "json"]);
    let st: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(
        (
            st[0]["upload_backlog"].clone(),
            st[0]["upload_lag_seconds"].clone()
        ),
        (0.into(), 0.into())
    );
}

#[test]
fn prune_deletes_the_objects_of_pruned_reports_and_the_next_prune_those_a_dead_bucket_left() {
    let (rw, [remote_id, both_id, _]) = three_reports();
    let keys = [remote_id, both_id].map(|id| rw.remote_key(id).expect("key"));
    // Another object in the bucket, not of a pruned report: it stays.
    rw.put(&format!("{PREFIX}/_history/keep"), b"snapshot");
    let o = rw.w.run(&["prune", "--older-than", "1d", "--dry-run"]);
    assert_exit(&o, 0);
    let said = stdout(&o);
    for k in &keys {
        assert!(
            said.contains(&format!("s3://{BUCKET}/{k}")),
            "{k} in\n{said}"
        );
    }
    assert!(said.contains("would prune 3 reports (2 files, "), "{said}");
    assert_eq!(rw.keys().len(), 3, "a dry run deletes nothing");

    // The bucket unreachable: the local prune goes on, the objects are left, said.
    rw.point_at(&dead_endpoint(), None);
    let o = rw.w.run(&["prune", "--older-than", "1d"]);
    assert_exit(&o, 0);
    let said = stdout(&o);
    assert!(said.contains("pruned 3 reports (2 files"), "{said}");
    assert!(
        said.contains(
            "2 objects of pruned reports left in the bucket; the next prune deletes them"
        ) && said.contains("fix:"),
        "{said}"
    );
    assert_eq!(rw.w.status_counts(), vec![("pruned".to_string(), 3)]);
    assert_eq!(rw.keys().len(), 3);
    let with_key = || -> i64 {
        rw.w.db()
            .query_row(
                "SELECT count(*) FROM reports WHERE remote_key IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .expect("count")
    };
    assert_eq!(
        with_key(),
        2,
        "the rows keep their keys until the objects are gone"
    );

    // The bucket back: the next prune deletes them, and only them.
    rw.point_at(&rw.s3.endpoint.clone(), None);
    let o = rw.w.run(&["prune", "--older-than", "1d"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("pruned 0 reports (0 files, 0 bytes, 2 objects in the bucket)"),
        "{}",
        stdout(&o)
    );
    assert_eq!(rw.keys(), vec![format!("{PREFIX}/_history/keep")]);
    assert_eq!(with_key(), 0);
    let o = rw.w.run(&["history", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert!(
        rows.as_array()
            .expect("rows")
            .iter()
            .all(|r| r["stored"].is_null()),
        "{rows}"
    );
}

#[test]
fn a_report_kept_only_in_the_bucket_is_pruned_too() {
    let rw = RemoteWorld::new(HOURLY);
    rw.point_at(&rw.s3.endpoint.clone(), Some("0s"));
    let o = rw.w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T03:00:00Z",
        &[],
    );
    assert_exit(&o, 0);
    assert_eq!(rw.keys().len(), 3);
    assert!(rw.ok_ids().iter().all(|id| rw.local_file(*id).is_none()));
    let o = rw.w.run(&["prune", "--older-than", "1d"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("pruned 3 reports (0 files, ")
            && stdout(&o).contains("3 objects in the bucket"),
        "{}",
        stdout(&o)
    );
    assert!(rw.keys().is_empty(), "{:?}", rw.keys());
}

#[test]
fn check_shows_the_remote_and_the_probe_round_trips_an_object_or_names_the_fix() {
    let rw = RemoteWorld::new(HOURLY);
    let o = rw.w.run(&["check"]);
    assert_exit(&o, 0);
    let said = stdout(&o);
    let line = said
        .lines()
        .find(|l| l.starts_with("remote: "))
        .unwrap_or_else(|| panic!("no remote line in\n{said}"));
    assert!(
        line.contains(&format!("s3://{BUCKET}/{PREFIX} at {}", rw.s3.endpoint))
            && line.contains("path-style requests")
            && line.contains("keys from access_key_id_file and secret_access_key_file"),
        "{line}"
    );
    assert!(!said.contains(crate::common::s3::SECRET_ACCESS_KEY));
    assert!(!said.contains(crate::common::s3::ACCESS_KEY_ID));

    let o = rw.w.run(&["check", "--probe"]);
    assert_exit(&o, 0);
    let said = stdout(&o);
    for step in ["wrote", "read back", "deleted", "probe: bucket ok"] {
        assert!(said.contains(step), "{step} in\n{said}");
    }
    assert!(
        rw.keys().is_empty(),
        "the probe leaves nothing: {:?}",
        rw.keys()
    );
    assert!(!said.contains(crate::common::s3::SECRET_ACCESS_KEY));

    let RemoteWorld { w, s3, .. } = rw;
    drop(s3);
    let o = w.run(&["check", "--probe"]);
    assert_exit(&o, 1);
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(said.contains("probe: bucket failed to write"), "{said}");
    assert!(
        said.contains("  fix: check [storage.remote] endpoint and that this host reaches it"),
        "{said}"
    );
    assert!(
        said.contains("GetStatisticData"),
        "the API probe still ran: {said}"
    );
}

#[test]
fn the_probe_names_keys_the_bucket_refuses_with_their_fix() {
    let rw = RemoteWorld::new(HOURLY);
    // The server checks signatures from now on; the keys in the files are not its.
    rw.s3.require_keys();
    let o = rw.w.run(&["check", "--probe"]);
    assert_exit(&o, 1);
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(said.contains("probe: bucket failed to write"), "{said}");
    assert!(
        said.contains(
            "  fix: the bucket refuses the key from access_key_id_file and secret_access_key_file: check the access key id and secret"
        ),
        "{said}"
    );
    assert!(
        !said.contains(crate::common::s3::SECRET_ACCESS_KEY),
        "{said}"
    );
    rw.s3.stop_checking_keys();
    assert!(rw.keys().is_empty(), "{:?}", rw.keys());
}

#[test]
fn a_large_file_kept_only_in_the_bucket_streams_through_the_page_in_bounded_memory() {
    const SIZE: usize = 96 << 20;
    let fake = fake_mna::FakeConfig {
        file_bytes: Some(SIZE as u64),
        ..fake_mna::FakeConfig::default()
    };
    let rw = RemoteWorld::with_fake(fake, HOURLY);
    rw.point_at(&rw.s3.endpoint.clone(), Some("0s"));
    let o = rw.w.run(&FETCH_ONE_HOUR);
    assert_exit(&o, 0);
    let [id] = rw.ok_ids()[..] else {
        panic!("one report")
    };
    assert_eq!(rw.local_file(id), None, "kept only in the bucket");
    // (the fake keeps no copy of a file this large: the recorded checksum tells)
    let (sha, bytes): (String, i64) =
        rw.w.db()
            .query_row(
                "SELECT sha256, bytes FROM reports WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("row");
    assert!(bytes >= SIZE as i64, "{bytes}");
    let served = serve_world(&rw.w, "127.0.0.1:0");
    let a = get(served.addr, &format!("/api/reports/{id}/file"), &[]);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.body.len() as i64, bytes);
    assert_eq!(
        fake_mna::sign::sha256_hex(&a.body),
        sha,
        "the bucket's file, byte for byte"
    );
    let peak = vm_hwm(served.child.id()).expect("serve still runs") as f64 / f64::from(1 << 20);
    assert!(
        peak < 64.0,
        "peak RSS of serve {peak:.1} MiB for a {} MiB file from the bucket",
        SIZE >> 20
    );
}

#[test]
fn the_daemon_prunes_the_buckets_objects_and_its_page_serves_files_kept_only_there() {
    use crate::common::Settings;
    use crate::common::daemon::PAGE_LISTENING;
    use crate::common::s3_read::remote_table;
    let rw = RemoteWorld::new(HOURLY);
    rw.point_at(&rw.s3.endpoint.clone(), Some("0s"));
    let o = rw.w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T02:00:00Z",
        &[],
    );
    assert_exit(&o, 0);
    // One recent window: inside the retention.
    let now = jiff::Timestamp::now().as_second();
    let end = now - now.rem_euclid(3600) - 3 * 3600;
    let utc = |t: i64| jiff::Timestamp::from_second(t).expect("time").to_string();
    let o = rw.w.fetch("hourly-all", &utc(end - 3600), &utc(end), &[]);
    assert_exit(&o, 0);
    let ids = rw.ok_ids();
    assert_eq!(ids.len(), 3);
    assert_eq!(rw.keys().len(), 3);
    let old = [ids[0], ids[1]].map(|id| rw.remote_key(id).expect("uploaded"));
    let recent = ids[2];
    let recent_key = rw.remote_key(recent).expect("uploaded");
    assert!(ids.iter().all(|id| rw.local_file(*id).is_none()));

    // The daemon with `retention` and its page; the job's horizon is the
    // last two hours (its catch-up fire ends soon, and the daily
    // housekeeping runs when the loop first wakes).
    let storage = format!(
        "retention = \"1d\"\n{}",
        remote_table(&rw.s3.endpoint, Some("0s"))
    );
    rw.w.write_config_with(
        &Settings {
            storage: &storage,
            ..Settings::default()
        },
        "[web]\nlisten = \"127.0.0.1:0\"\n",
        &format!("{HOURLY}catch_up = \"2h\"\n"),
    );
    let d = rw.w.start_daemon(&[]);
    let page = d.listening(PAGE_LISTENING);
    crate::common::daemon::wait_for(
        "the daily prune to delete the old objects",
        std::time::Duration::from_secs(120),
        || {
            let keys = rw.keys();
            keys.contains(&recent_key) && !old.iter().any(|k| keys.contains(k))
        },
    );
    let pruned: i64 =
        rw.w.db()
            .query_row(
                "SELECT count(*) FROM reports WHERE status = 'pruned' AND remote_key IS NULL",
                [],
                |r| r.get(0),
            )
            .expect("count");
    assert_eq!(pruned, 2);
    let a = get(page, &format!("/api/reports/{recent}/file"), &[]);
    assert_eq!(a.status, 200, "{}\n{}", a.text(), d.log_text());
    let sha: String =
        rw.w.db()
            .query_row("SELECT sha256 FROM reports WHERE id = ?1", [recent], |r| {
                r.get(0)
            })
            .expect("row");
    assert_eq!(fake_mna::sign::sha256_hex(&a.body), sha);
    d.stop();
}
