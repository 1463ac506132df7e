//! `export`: the rows of sealed reports as Hive-partitioned Parquet. The
//! files are read back with the `parquet` crate and every cell compared
//! with `report_rows`; a second run writes only what was sealed since; a
//! `kill -9` during an export leaves no partial file under a final name and
//! the next run completes it.

mod check;

use crate::common::s3;
use crate::common::*;
use arrow_schema::{DataType, TimeUnit};
use check::{check_export, tree, walk};
use fake_mna::FakeConfig;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Two jobs: all devices in one report, and two devices a report each.
const JOBS: &str = r#"
[[jobs]]
name = "hourly-all"
granularity = "hourly"
timezone = "UTC"

[[jobs]]
name = "two-devices"
granularity = "hourly"
timezone = "Asia/Shanghai"
devices = ["mna-7", "mna-8"]
per_device = true
"#;

/// `fetch --job JOB --from FROM --to TO`, which must succeed.
fn fetched(w: &World, job: &str, from: &str, to: &str) {
    assert_exit(&w.fetch(job, from, to, &[]), 0);
}

/// `export --to out` with `extra` flags: its stdout.
fn export(w: &World, to: &str, extra: &[&str]) -> String {
    let mut args = vec!["export", "--to", to];
    args.extend_from_slice(extra);
    let o = w.run(&args);
    assert_exit(&o, 0);
    stdout(&o)
}

#[test]
fn every_cell_of_report_rows_is_in_the_export_with_its_partition_and_type() {
    let w = World::new(JOBS);
    fetched(
        &w,
        "hourly-all",
        "2026-11-01T22:00:00Z",
        "2026-11-02T02:00:00Z",
    );
    fetched(
        &w,
        "two-devices",
        "2026-11-01T23:00:00Z",
        "2026-11-02T01:00:00Z",
    );
    // A header that changes type inside a file, and a header the other
    // reports of its file do not have.
    w.db()
        .execute_batch(
            "UPDATE report_rows SET data = json_set(data, '$.UpBytes', 'n/a', '$.Taken', '2026-11-02T00:30:00')
             WHERE sheet = 'Traffic' AND report_id = (SELECT max(id) FROM reports WHERE job = 'hourly-all')",
        )
        .expect("edit rows");
    let said = export(&w, "out", &[]);
    let out = w.dir.path().join("out");
    let types = check_export(&w, &out);
    for f in walk(&out) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&f).expect("stat").permissions().mode();
        assert_eq!(
            mode & 0o007,
            0,
            "{} readable by others: {mode:o}",
            f.display()
        );
    }
    let files: Vec<&String> = types.keys().collect();
    assert!(
        files.len() >= 4,
        "a file per job and date: {files:?}\n{said}"
    );
    let (changed, _) = types
        .iter()
        .find(|(_, t)| t.contains_key("Taken"))
        .expect("the file with the new header");
    assert_eq!(
        types[changed]["UpBytes"],
        DataType::Utf8,
        "mixed numbers and text are text"
    );
    assert_eq!(
        types[changed]["Taken"],
        DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    let other = types
        .iter()
        .find(|(f, t)| *f != changed && t.contains_key("UpBytes"))
        .expect("another file");
    assert_eq!(other.1["UpBytes"], DataType::Int64, "{}", other.0);
    assert_eq!(
        other.1["Time"],
        DataType::Timestamp(TimeUnit::Microsecond, None),
        "the service's time text is a timestamp: {}",
        other.0
    );
    assert!(said.contains("exported 8 reports"), "{said}");
}

#[test]
fn a_second_run_writes_only_reports_sealed_since_and_pruned_reports_keep_their_rows() {
    // `status` reads the lag of the [export] destination, the same "out"
    let w = World::with(FakeConfig::default(), "[export]\nto = \"out\"\n", JOBS);
    let status = || stdout(&w.run(&["status"]));
    let o = w.run(&["check"]);
    assert!(stdout(&o).contains("export: to "), "{}", stdout(&o));
    fetched(
        &w,
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T02:00:00Z",
    );
    assert!(
        status().contains("not yet exported has waited"),
        "{}",
        status()
    );
    let said = export(&w, "out", &[]);
    assert!(said.contains("exported 2 reports"), "{said}");
    assert!(
        status().contains("every sealed report exported"),
        "{}",
        status()
    );
    let out = w.dir.path().join("out");
    let first = tree(&out, "report_rows");
    let bytes: Vec<Vec<u8>> = first
        .iter()
        .map(|f| std::fs::read(out.join("report_rows").join(f)).expect("read"))
        .collect();
    let said = export(&w, "out", &[]);
    assert!(said.contains("exported 0 reports"), "nothing new: {said}");
    assert_eq!(tree(&out, "report_rows"), first);

    fetched(
        &w,
        "hourly-all",
        "2026-11-01T02:00:00Z",
        "2026-11-01T03:00:00Z",
    );
    fetched(
        &w,
        "two-devices",
        "2026-11-01T02:00:00Z",
        "2026-11-01T03:00:00Z",
    );
    // --job takes only the job named
    let said = export(&w, "out", &["--job", "two-devices"]);
    assert!(said.contains("exported 2 reports"), "{said}");
    let said = export(&w, "out", &[]);
    assert!(said.contains("exported 1 reports"), "{said}");
    let now = tree(&out, "report_rows");
    assert_eq!(now.len(), first.len() + 2, "{now:?}");
    for (f, b) in first.iter().zip(&bytes) {
        assert_eq!(
            &std::fs::read(out.join("report_rows").join(f)).expect("read"),
            b,
            "{f} rewritten"
        );
    }
    check_export(&w, &out);

    // Pruned reports keep their rows: a new destination still gets them,
    // and the files already exported stay.
    let o = w.run(&["prune", "--older-than", "1d"]);
    assert_exit(&o, 0);
    assert!(
        w.status_counts()
            .iter()
            .any(|(s, n)| s == "pruned" && *n > 0)
    );
    export(&w, "again", &[]);
    check_export(&w, &w.dir.path().join("again"));
    assert_eq!(tree(&out, "report_rows"), now);

    // The same reports give the same file names: per set here, as the
    // sets of the first destination were cut by its runs.
    export(&w, "third", &["--until", "2026-11-01T02:00:00Z"]);
    let third = tree(&w.dir.path().join("third"), "report_rows");
    assert_eq!(third, first, "the first run's set, named the same");
}

/// The export of a large history, killed when its `n`th file (temporary or
/// final, `n` from the seed) appears; whether the kill left a set planned but
/// not written (which the next run must write under its planned name).
fn kill_during_export(w: &World, seed: u64) -> bool {
    let out = w.dir.path().join(format!("out-{seed}"));
    let mut child = w
        .cmd()
        .args(["export", "--to"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn export");
    let wanted = 1 + (seed as usize % 5);
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < wanted && Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        // every file it starts (under whatever name it writes it), looked
        // for every millisecond: a spinning look would take a core from the
        // export it watches
        seen.extend(walk(&out));
        std::thread::sleep(Duration::from_millis(1));
    }
    // killed the moment its `wanted`th file is seen: inside a set's writing
    let _ = child.kill();
    child.wait().expect("reap");
    let planned: i64 = w
        .db()
        .query_row(
            "SELECT count(*) FROM exports WHERE exported_at IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("planned sets");
    assert!(
        !seen.is_empty(),
        "seed {seed}: the export ended before its first file"
    );
    // No partial file under a final name: every final name reads whole.
    for f in walk(&out) {
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        if name.starts_with('.') {
            assert!(name.ends_with(".partial"), "seed {seed}: {}", f.display());
            continue;
        }
        let file = std::fs::File::open(&f).expect("open");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap_or_else(|e| {
                panic!(
                    "seed {seed}: {} is not a whole Parquet file: {e}",
                    f.display()
                )
            })
            .build()
            .expect("reader");
        for b in reader {
            b.unwrap_or_else(|e| panic!("seed {seed}: {}: {e}", f.display()));
        }
    }
    // The next run completes it: every row exactly once, no temporary left.
    export(w, &path_str(&out), &[]);
    check_export(w, &out);
    assert!(
        walk(&out)
            .iter()
            .all(|f| !f.to_string_lossy().ends_with(".partial")),
        "seed {seed}: a temporary file left"
    );
    planned > 0
}

#[test]
fn kill_9_during_an_export_leaves_no_partial_file_and_the_next_run_completes_it() {
    let cfg = FakeConfig {
        rows_per_report: Some(6000),
        ..FakeConfig::default()
    };
    let w = World::with(cfg, "", JOBS);
    fetched(
        &w,
        "hourly-all",
        "2026-11-01T20:00:00Z",
        "2026-11-02T04:00:00Z",
    );
    let mut interrupted = 0;
    for seed in 1..=5 {
        interrupted += usize::from(kill_during_export(&w, seed));
    }
    assert!(interrupted > 0, "no kill landed inside a set");
}

/// The objects below `prefix/` of `bucket`, fetched into `dir` (the
/// export as a folder); their keys.
fn mirror(s3: &s3::S3Server, bucket: &str, prefix: &str, dir: &std::path::Path) -> Vec<String> {
    let keys = s3.keys(bucket, &format!("{prefix}/"));
    assert!(!keys.is_empty(), "nothing below {bucket}/{prefix}/");
    for key in &keys {
        let rel = key
            .strip_prefix(&format!("{prefix}/"))
            .expect("below the prefix");
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, s3.get(bucket, key)).expect("write");
    }
    keys
}

/// A world with [`JOBS`] fetched (7 reports), its config's `[storage]`
/// ending with `storage` and `extra` tables added.
fn fetched_for_s3(storage: &str, extra: &str) -> World {
    let w = World::with(FakeConfig::default(), "", JOBS);
    let settings = Settings {
        storage,
        ..Settings::default()
    };
    w.write_config_with(&settings, extra, JOBS);
    // A `[storage.remote]` in `storage` names these key files: a fetch
    // uploads its reports there.
    write_secret(&w.dir.path().join("s3_id"), s3::ACCESS_KEY_ID);
    write_secret(&w.dir.path().join("s3_secret"), s3::SECRET_ACCESS_KEY);
    fetched(
        &w,
        "hourly-all",
        "2026-11-01T22:00:00Z",
        "2026-11-02T01:00:00Z",
    );
    fetched(
        &w,
        "two-devices",
        "2026-11-01T23:00:00Z",
        "2026-11-02T01:00:00Z",
    );
    w
}

#[test]
fn the_same_export_goes_to_a_real_s3_server() {
    let s3 = s3::S3Server::start();
    s3.create_bucket("analytics");
    let extra = format!(
        "[export]\nendpoint = \"{}\"\nregion = \"us-east-1\"\n",
        s3.endpoint
    );
    let w = fetched_for_s3("", &extra);
    let run = || {
        let o = w
            .cmd()
            .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY)
            .args(["export", "--to", "s3://analytics/mna/"])
            .output()
            .expect("run export");
        assert_exit(&o, 0);
        stdout(&o)
    };
    let said = run();
    assert!(
        said.contains("exported 7 reports") && said.contains("s3://analytics/mna"),
        "{said}"
    );
    // The bucket's objects, fetched into a folder, are the whole export.
    let keys = mirror(&s3, "analytics", "mna", &w.dir.path().join("mirror"));
    check_export(&w, &w.dir.path().join("mirror"));
    assert!(
        walk(&w.state())
            .iter()
            .all(|f| !f.to_string_lossy().ends_with(".partial")),
        "spool emptied"
    );
    // Incremental there too.
    let said = run();
    assert!(said.contains("exported 0 reports"), "{said}");
    assert_eq!(s3.keys("analytics", "mna/"), keys);
    // Without keys, the error says where they come from.
    let o = w.run(&["export", "--to", "s3://analytics/mna"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("AWS_ACCESS_KEY_ID"), "{}", stderr(&o));
}

#[test]
fn without_export_keys_the_bucket_settings_of_storage_remote_reach_the_bucket() {
    let s3 = s3::S3Server::start();
    s3.create_bucket("analytics");
    // (the lines of [storage] end with the [storage.remote] table)
    let remote = format!(
        "[storage.remote]\nurl = \"s3://analytics/archive\"\nendpoint = \"{}\"\naccess_key_id_file = \"s3_id\"\nsecret_access_key_file = \"s3_secret\"\n",
        s3.endpoint
    );
    let w = fetched_for_s3(&remote, "");
    let said = export(&w, "s3://analytics/warehouse", &[]);
    assert!(said.contains("exported 7 reports"), "{said}");
    mirror(&s3, "analytics", "warehouse", &w.dir.path().join("mirror"));
    check_export(&w, &w.dir.path().join("mirror"));
}

#[test]
fn the_daemon_exports_on_its_own_and_metrics_and_status_show_the_lag() {
    use crate::common::daemon::*;
    let extra =
        "[metrics]\nlisten = \"127.0.0.1:0\"\n\n[export]\nto = \"out\"\ninterval = \"1s\"\n";
    let jobs = "[[jobs]]\nname = \"hourly-all\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"3h\"\n";
    let w = World::with(FakeConfig::default(), extra, jobs);
    let mut d = w.start_daemon(&[]);
    let addr = d.metrics_addr();
    let out = w.dir.path().join("out");
    let exported = || -> i64 {
        w.db()
            .query_row(
                "SELECT count(*) FROM exports WHERE exported_at IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0)
    };
    wait_for("the catch-up exported", Duration::from_secs(120), || {
        let ok = count_status(&w, "ok");
        let open = count_status(&w, "pending") + count_status(&w, "running");
        ok >= 3 && open == 0 && exported() == ok
    });
    wait_for("the lag gauge at 0", Duration::from_secs(120), || {
        http_get(addr, "/metrics")
            .1
            .lines()
            .any(|l| l == "mna_reportd_export_lag_seconds 0")
    });
    let o = w.run(&["status"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("every sealed report exported (lag 0s)"),
        "{}",
        stdout(&o)
    );
    let o = w.run(&["status", "--format", "json"]);
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(v[0]["export_lag_seconds"], 0, "{v}");
    d.signal(15);
    assert_eq!(
        d.wait_exit(Duration::from_secs(60)),
        Some(0),
        "{}",
        d.log_text()
    );
    // A window that came due meanwhile is exported by hand; the daemon's
    // files and these read back whole.
    export(&w, "out", &[]);
    check_export(&w, &out);
    assert!(d.log_text().contains("exported"), "{}", d.log_text());
}

#[test]
fn a_file_over_the_single_put_size_goes_up_as_a_multipart_upload() {
    let s3 = s3::S3Server::start();
    s3.create_bucket("analytics");
    let extra = format!("[export]\nendpoint = \"{}\"\n", s3.endpoint);
    let w = World::with(FakeConfig::default(), &extra, HOURLY);
    assert_exit(&w.run(&FETCH_ONE_HOUR), 0);
    // 24,000 rows of 1,000 incompressible characters: a file of about 24 MiB,
    // over the 16 MiB of one PUT.
    let mut rng = fastrand::Rng::with_seed(21);
    let mut db = w.db();
    let tx = db.transaction().expect("tx");
    for n in 0..24_000 {
        let blob: String = (0..1000).map(|_| rng.alphanumeric()).collect();
        tx.execute(
            "INSERT INTO report_rows (report_id, sheet, row_number, data) VALUES (1, 'Blobs', ?1, ?2)",
            rusqlite::params![n + 2, serde_json::json!({ "Blob": blob }).to_string()],
        )
        .expect("row");
    }
    tx.commit().expect("commit");
    let o = w
        .cmd()
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY)
        .args(["export", "--to", "s3://analytics/big"])
        .output()
        .expect("run export");
    assert_exit(&o, 0);
    let mirror_dir = w.dir.path().join("mirror");
    let keys = mirror(&s3, "analytics", "big", &mirror_dir);
    let rows_file = keys
        .iter()
        .find(|k| k.contains("report_rows/"))
        .expect("a rows file");
    let size = std::fs::metadata(mirror_dir.join(rows_file.strip_prefix("big/").expect("prefix")))
        .expect("stat")
        .len();
    assert!(
        size > 16 << 20,
        "the file is {size} bytes: not over one PUT"
    );
    check_export(&w, &mirror_dir);
}
