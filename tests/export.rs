//! `export`: the rows of sealed reports as Hive-partitioned Parquet. The
//! files are read back with the `parquet` crate and every cell compared
//! with `report_rows`; a second run writes only what was sealed since; a
//! `kill -9` during an export leaves no partial file under a final name and
//! the next run completes it.

mod common;

use arrow_array::{
    Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use common::s3;
use common::*;
use fake_mna::FakeConfig;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
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

/// Every file below `d`, recursively, sorted.
fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The files of one tree of an export, relative to the tree.
fn tree(out: &Path, tree: &str) -> Vec<String> {
    let root = out.join(tree);
    walk(&root)
        .iter()
        .map(|p| path_str(p.strip_prefix(&root).expect("below the tree")))
        .collect()
}

/// A sealed report as the history holds it.
#[derive(Debug, Clone)]
struct Report {
    job: String,
    target: String,
    region: String,
    granularity: i64,
    start: i64,
    end: i64,
}

/// Sealed reports by id, and their rows by (report, sheet, row number).
type Rows = BTreeMap<(i64, String, i64), Vec<(String, Value)>>;

fn history(w: &World) -> (BTreeMap<i64, Report>, Rows) {
    let db = w.db();
    let mut st = db
        .prepare("SELECT id, job, target, region, granularity, window_start, window_end FROM reports WHERE status IN ('ok', 'pruned')")
        .expect("reports");
    let reports = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                Report {
                    job: r.get(1)?,
                    target: r.get(2)?,
                    region: r.get(3)?,
                    granularity: r.get(4)?,
                    start: r.get(5)?,
                    end: r.get(6)?,
                },
            ))
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let mut st = db
        .prepare("SELECT report_id, sheet, row_number, data FROM report_rows")
        .expect("rows");
    let rows = st
        .query_map([], |r| {
            let data: String = r.get(3)?;
            let obj: serde_json::Map<String, Value> =
                serde_json::from_str(&data).expect("a JSON object");
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?), obj.into_iter().collect()))
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    (reports, rows)
}

fn utc_date(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .expect("a time")
        .strftime("%Y-%m-%d")
        .to_string()
}

/// Cell `i` of a column as the JSON value the history would hold for it.
fn cell(col: &dyn Array, i: usize) -> Value {
    if col.is_null(i) {
        return Value::Null;
    }
    let any = col.as_any();
    match col.data_type() {
        DataType::Int64 => Value::from(any.downcast_ref::<Int64Array>().expect("i64").value(i)),
        DataType::Float64 => Value::from(any.downcast_ref::<Float64Array>().expect("f64").value(i)),
        DataType::Utf8 => Value::from(any.downcast_ref::<StringArray>().expect("utf8").value(i)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let us = any
                .downcast_ref::<TimestampMicrosecondArray>()
                .expect("timestamp")
                .value(i);
            Value::from(us)
        }
        other => panic!("unexpected column type {other:?}"),
    }
}

/// `expected` (a history cell) as the file should hold it in a column of `ty`.
fn as_written(expected: &Value, ty: &DataType) -> Value {
    match (ty, expected) {
        (_, Value::Null) => Value::Null,
        (DataType::Utf8, Value::String(_)) => expected.clone(),
        (DataType::Utf8, other) => Value::from(other.to_string()),
        (DataType::Float64, Value::Number(n)) => Value::from(n.as_f64().expect("a number")),
        (DataType::Timestamp(..), Value::String(s)) => {
            let dt: jiff::civil::DateTime = if s.len() == 10 {
                s.parse::<jiff::civil::Date>()
                    .expect("a date")
                    .at(0, 0, 0, 0)
            } else {
                s.parse().expect("a date-time")
            };
            let ts = dt
                .to_zoned(jiff::tz::TimeZone::UTC)
                .expect("utc")
                .timestamp();
            Value::from(ts.as_microsecond())
        }
        _ => expected.clone(),
    }
}

/// A Parquet file's `header.<column>` metadata (column → original header)
/// and its batches.
fn read_parquet(path: &Path) -> (BTreeMap<String, String>, Vec<RecordBatch>) {
    let file = std::fs::File::open(path).expect("open");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("a Parquet file");
    let headers = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            let name = kv.key.strip_prefix("header.")?;
            Some((name.to_string(), kv.value.clone()?))
        })
        .collect();
    let batches = builder
        .build()
        .expect("reader")
        .map(|b| b.expect("a batch"))
        .collect();
    (headers, batches)
}

/// Check row `i` of `batch` (of file `rel`) against the history, removing
/// it from `rows`; record each header's column type in `types`.
fn check_row(
    rel: &str,
    batch: &RecordBatch,
    i: usize,
    headers: &BTreeMap<String, String>,
    (reports, rows): (&BTreeMap<i64, Report>, &mut Rows),
    types: &mut BTreeMap<String, DataType>,
) {
    let get = |c: usize| cell(batch.column(c).as_ref(), i);
    let id = get(0).as_i64().expect("report_id");
    let sheet = get(7).as_str().expect("sheet").to_string();
    let row_number = get(8).as_i64().expect("row_number");
    let report = reports
        .get(&id)
        .unwrap_or_else(|| panic!("{rel}: report {id} is not sealed"));
    assert_eq!(get(1), Value::from(report.job.clone()), "{rel}: job");
    assert_eq!(get(2), Value::from(report.target.clone()), "{rel}: target");
    assert_eq!(get(3), Value::from(report.region.clone()), "{rel}: region");
    assert_eq!(
        get(4),
        Value::from(report.granularity),
        "{rel}: granularity"
    );
    assert_eq!(
        get(5),
        Value::from(report.start * 1_000_000),
        "{rel}: window_start"
    );
    assert_eq!(
        get(6),
        Value::from(report.end * 1_000_000),
        "{rel}: window_end"
    );
    assert!(
        rel.starts_with(&format!(
            "job={}/date={}/",
            report.job,
            utc_date(report.start)
        )),
        "{rel}: partition of report {id}"
    );
    let expected = rows
        .remove(&(id, sheet.clone(), row_number))
        .unwrap_or_else(|| panic!("{rel}: row {id}/{sheet}/{row_number} twice or unknown"));
    let schema = batch.schema();
    let mut cells: BTreeMap<String, Value> = BTreeMap::new();
    for (c, field) in schema.fields().iter().enumerate().skip(9) {
        let header = headers
            .get(field.name())
            .unwrap_or_else(|| panic!("{rel}: no header for {}", field.name()));
        types.insert(header.clone(), field.data_type().clone());
        cells.insert(header.clone(), get(c));
    }
    for (header, value) in &expected {
        let ty = types
            .get(header)
            .unwrap_or_else(|| panic!("{rel}: no column for {header}"));
        assert_eq!(
            cells.remove(header),
            Some(as_written(value, ty)),
            "{rel}: report {id} {sheet} row {row_number} column {header}"
        );
    }
    assert!(
        cells.values().all(Value::is_null),
        "{rel}: cells the row has not: {cells:?}"
    );
}

/// Read every `report_rows` file below `out` and check each cell against
/// the history: every sealed row exactly once, in the partition of its job
/// and window date, fixed columns from `reports`, each header's cell equal
/// to the row's value. Returns the header columns' types by file.
fn check_export(w: &World, out: &Path) -> BTreeMap<String, BTreeMap<String, DataType>> {
    let (reports, mut rows) = history(w);
    assert!(!rows.is_empty(), "the history has rows to export");
    let mut types = BTreeMap::new();
    for rel in tree(out, "report_rows") {
        assert!(rel.ends_with(".parquet"), "a stray file {rel}");
        let (headers, batches) = read_parquet(&out.join("report_rows").join(&rel));
        let mut file_types = BTreeMap::new();
        for batch in &batches {
            let names: Vec<String> = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(
                names[..9],
                [
                    "report_id",
                    "job",
                    "target",
                    "region",
                    "granularity",
                    "window_start",
                    "window_end",
                    "sheet",
                    "row_number"
                ],
                "{rel}: fixed columns first"
            );
            for i in 0..batch.num_rows() {
                check_row(
                    &rel,
                    batch,
                    i,
                    &headers,
                    (&reports, &mut rows),
                    &mut file_types,
                );
            }
        }
        types.insert(rel, file_types);
    }
    assert!(
        rows.is_empty(),
        "rows not exported: {:?}",
        rows.keys().collect::<Vec<_>>()
    );
    let sets: BTreeSet<String> = tree(out, "report_rows").into_iter().collect();
    let report_sets: BTreeSet<String> = tree(out, "reports").into_iter().collect();
    assert!(
        sets.is_subset(&report_sets),
        "a reports file beside every rows file"
    );
    // Every sealed report once in the reports files, with its identity.
    let mut left = reports.clone();
    for rel in report_sets {
        for batch in read_parquet(&out.join("reports").join(&rel)).1 {
            for i in 0..batch.num_rows() {
                let get = |c: usize| cell(batch.column(c).as_ref(), i);
                let id = get(0).as_i64().expect("report_id");
                let r = left
                    .remove(&id)
                    .unwrap_or_else(|| panic!("reports/{rel}: report {id} twice or unsealed"));
                assert_eq!(
                    (get(1), get(2), get(5)),
                    (
                        Value::from(r.job),
                        Value::from(r.target),
                        Value::from(r.start * 1_000_000)
                    ),
                    "reports/{rel}"
                );
            }
        }
    }
    assert!(
        left.is_empty(),
        "reports not exported: {:?}",
        left.keys().collect::<Vec<_>>()
    );
    types
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
    assert_exit(
        &w.fetch(
            "hourly-all",
            "2026-11-01T22:00:00Z",
            "2026-11-02T02:00:00Z",
            &[],
        ),
        0,
    );
    assert_exit(
        &w.fetch(
            "two-devices",
            "2026-11-01T23:00:00Z",
            "2026-11-02T01:00:00Z",
            &[],
        ),
        0,
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
    let w = World::new(JOBS);
    assert_exit(
        &w.fetch(
            "hourly-all",
            "2026-11-01T00:00:00Z",
            "2026-11-01T02:00:00Z",
            &[],
        ),
        0,
    );
    let said = export(&w, "out", &[]);
    assert!(said.contains("exported 2 reports"), "{said}");
    let out = w.dir.path().join("out");
    let first = tree(&out, "report_rows");
    let bytes: Vec<Vec<u8>> = first
        .iter()
        .map(|f| std::fs::read(out.join("report_rows").join(f)).expect("read"))
        .collect();
    let said = export(&w, "out", &[]);
    assert!(said.contains("exported 0 reports"), "nothing new: {said}");
    assert_eq!(tree(&out, "report_rows"), first);

    assert_exit(
        &w.fetch(
            "hourly-all",
            "2026-11-01T02:00:00Z",
            "2026-11-01T03:00:00Z",
            &[],
        ),
        0,
    );
    assert_exit(
        &w.fetch(
            "two-devices",
            "2026-11-01T02:00:00Z",
            "2026-11-01T03:00:00Z",
            &[],
        ),
        0,
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

/// The export of a large history, killed at a seeded moment after its
/// `n`th temporary file appeared.
fn kill_during_export(w: &World, seed: u64) {
    let out = w.dir.path().join(format!("out-{seed}"));
    let mut child = w
        .cmd()
        .args(["export", "--to"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn export");
    let wanted = 1 + (seed as usize % 4);
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < wanted && Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        for f in walk(&out) {
            if f.to_string_lossy().ends_with(".partial") {
                seen.insert(f);
            }
        }
    }
    // a little further into the file, by seed
    let spin = Instant::now() + Duration::from_micros(seed.wrapping_mul(7919) % 20_000);
    while Instant::now() < spin {}
    let _ = child.kill();
    child.wait().expect("reap");
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
}

#[test]
fn kill_9_during_an_export_leaves_no_partial_file_and_the_next_run_completes_it() {
    let cfg = FakeConfig {
        rows_per_report: Some(6000),
        ..FakeConfig::default()
    };
    let w = World::with(cfg, "", JOBS);
    assert_exit(
        &w.fetch(
            "hourly-all",
            "2026-11-01T20:00:00Z",
            "2026-11-02T04:00:00Z",
            &[],
        ),
        0,
    );
    for seed in 1..=5 {
        kill_during_export(&w, seed);
    }
}

#[test]
fn the_same_export_goes_to_a_real_s3_server() {
    let s3 = s3::S3Server::start();
    s3.create_bucket("analytics");
    let extra = format!(
        "[export]\nendpoint = \"{}\"\nregion = \"us-east-1\"\n",
        s3.endpoint
    );
    let w = World::with(FakeConfig::default(), &extra, JOBS);
    assert_exit(
        &w.fetch(
            "hourly-all",
            "2026-11-01T22:00:00Z",
            "2026-11-02T01:00:00Z",
            &[],
        ),
        0,
    );
    assert_exit(
        &w.fetch(
            "two-devices",
            "2026-11-01T23:00:00Z",
            "2026-11-02T01:00:00Z",
            &[],
        ),
        0,
    );
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
    let keys = s3.keys("analytics", "mna/");
    assert!(!keys.is_empty());
    let mirror = w.dir.path().join("mirror");
    for key in &keys {
        let rel = key.strip_prefix("mna/").expect("below the prefix");
        let path = mirror.join(rel);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, s3.get("analytics", key)).expect("write");
    }
    check_export(&w, &mirror);
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
    // Without [export] bucket keys, those of [storage.remote] (here its key
    // files) reach the bucket.
    write_secret(&w.dir.path().join("s3_id"), s3::ACCESS_KEY_ID);
    write_secret(&w.dir.path().join("s3_secret"), s3::SECRET_ACCESS_KEY);
    let remote = format!(
        "[storage.remote]\nurl = \"s3://analytics/archive\"\nendpoint = \"{}\"\naccess_key_id_file = \"s3_id\"\nsecret_access_key_file = \"s3_secret\"\n",
        s3.endpoint
    );
    // (the lines of [storage] end with the [storage.remote] table)
    w.write_config_with(
        &Settings {
            storage: &remote,
            ..Settings::default()
        },
        "",
        JOBS,
    );
    let said = export(&w, "s3://analytics/second", &[]);
    assert!(said.contains("exported 7 reports"), "{said}");
    assert_eq!(s3.keys("analytics", "second/").len(), keys.len());
}

#[test]
fn the_daemon_exports_on_its_own_and_metrics_and_status_show_the_lag() {
    use common::daemon::*;
    let port = free_port();
    let extra = format!(
        "[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n[export]\nto = \"out\"\ninterval = \"1s\"\n"
    );
    let jobs = "[[jobs]]\nname = \"hourly-all\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"3h\"\n";
    let w = World::with(FakeConfig::default(), &extra, jobs);
    let mut d = w.start_daemon(&[]);
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
        http_get(port, "/metrics")
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
