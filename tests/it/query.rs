//! Reading the history back: `history` and `status` output (JSON fields a
//! script relies on, tables pinned by snapshots), `prune`, and the xlsx rows
//! in `report_rows`.

use crate::common;

use calamine::DataType;
use common::*;
use fake_mna::{FakeConfig, Fault, Params};
use serde_json::Value;

const JOBS: &str = r#"
[[jobs]]
name = "hourly-all"
granularity = "hourly"
timezone = "Asia/Shanghai"

[[jobs]]
name = "one-device"
granularity = "hourly"
timezone = "UTC"
devices = ["mna-7"]
per_device = true
regions = ["EU"]
"#;

const RANGE: [&str; 4] = [
    "--from",
    "2026-11-01T00:00:00Z",
    "--to",
    "2026-11-01T03:00:00Z",
];

fn fetched_world() -> World {
    let w = World::new(JOBS);
    let fetch = |job: &str, from: &str, to: &str, code: i32| {
        let o = w.run(&["fetch", "--job", job, "--from", from, "--to", to]);
        assert_exit(&o, code);
    };
    // one report retried once, the others at the first try
    w.fake.push_fault(Fault::api_error("InternalError"));
    fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T01:00:00Z",
        0,
    );
    fetch(
        "hourly-all",
        "2026-11-01T01:00:00Z",
        "2026-11-01T03:00:00Z",
        0,
    );
    // one report failed for good
    w.fake.push_fault(Fault::api_error("InvalidParameter"));
    fetch(
        "one-device",
        "2026-11-01T00:00:00Z",
        "2026-11-01T01:00:00Z",
        1,
    );
    fetch(
        "one-device",
        "2026-11-01T01:00:00Z",
        "2026-11-01T03:00:00Z",
        0,
    );
    w
}

#[test]
fn history_json_csv_and_table() {
    let w = fetched_world();
    let o = w.run(&["history", "--format", "json"]);
    assert_exit(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("history --format json is JSON");
    let rows = v.as_array().expect("an array");
    assert_eq!(rows.len(), 6);
    let fields = [
        "id",
        "job",
        "target",
        "region",
        "granularity",
        "window_start",
        "window_end",
        "status",
        "attempts",
        "trigger",
        "request_id",
        "file_path",
        "bytes",
        "sha256",
        "error_code",
        "error_message",
        "created_at",
        "updated_at",
        "remote_key",
        "uploaded_at",
        "stored",
    ];
    for r in rows {
        let obj = r.as_object().expect("objects");
        for f in fields {
            assert!(obj.contains_key(f), "field {f} missing");
        }
        assert_eq!(obj.len(), fields.len(), "unexpected fields: {obj:?}");
    }
    // newest window first
    let ends: Vec<i64> = rows
        .iter()
        .map(|r| r["window_end"].as_i64().expect("int"))
        .collect();
    assert!(ends.windows(2).all(|p| p[0] >= p[1]));
    let failed: Vec<&Value> = rows.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["error_code"], "InvalidParameter");
    assert_eq!(failed[0]["target"], "device:mna-7");
    assert_eq!(failed[0]["region"], "EU");

    // filters
    let o = w.run(&[
        "history",
        "--job",
        "hourly-all",
        "--status",
        "ok",
        "--limit",
        "2",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(2));
    let o = w.run(&[
        "history",
        "--since",
        "2026-11-01T02:00:00Z",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(
        v.as_array().map(Vec::len),
        Some(4),
        "windows ending at or after 02:00"
    );

    // CSV: a header of the column names, one line per row
    let o = w.run(&["history", "--format", "csv"]);
    let text = stdout(&o);
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, fields);
    assert_eq!(rdr.records().count(), 6);

    // the table, pinned (file paths and timestamps of the run are not in it)
    let o = w.run(&["history"]);
    assert_exit(&o, 0);
    insta::assert_snapshot!("history_table", stdout(&o));
}

#[test]
fn status_json_and_table() {
    let w = World::new(
        r#"
[[jobs]]
name = "recent"
granularity = "hourly"
lag = "0s"
catch_up = "3h"

[[jobs]]
name = "broken"
granularity = "hourly"
lag = "0s"
catch_up = "3h"
devices = ["dev-x"]
per_device = true

[[jobs]]
name = "off"
granularity = "daily"
enabled = false
"#,
    );
    // `fetch` without a range takes what is due now; retry once if an hour turned meanwhile
    for _ in 0..2 {
        let o = w.run(&["fetch", "--job", "recent"]);
        assert_exit(&o, 0);
        let o = w.run(&["status", "--format", "json"]);
        let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
        if v[0]["missing"] == 0 {
            break;
        }
    }
    w.fake
        .push_api_faults(3, Fault::api_error("AuthFailure.UnauthorizedOperation"));
    let o = w.run(&["fetch", "--job", "broken"]);
    assert_exit(&o, 1);

    let o = w.run(&["status", "--format", "json"]);
    assert_exit(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("status --format json is JSON");
    let jobs = v.as_array().expect("array");
    assert_eq!(jobs.len(), 3);
    let fields = [
        "job",
        "enabled",
        "last_done_window_start",
        "last_done_window_end",
        "last_success_at",
        "next_fire",
        "missing",
        "failed",
        "running",
        "last_error",
    ];
    for j in jobs {
        for f in fields {
            assert!(j.get(f).is_some(), "field {f} missing in {j}");
        }
    }
    let recent = &jobs[0];
    assert_eq!(recent["job"], "recent");
    assert_eq!(recent["missing"], 0);
    assert!(recent["last_done_window_end"].as_i64().is_some());
    assert!(recent["next_fire"].as_i64().expect("next fire") > jiff::Timestamp::now().as_second());
    let broken = &jobs[1];
    // the key's refusal stops the fetch: one report failed, the others untouched
    assert_eq!(broken["failed"], 1);
    assert_eq!(broken["missing"], 3);
    assert_eq!(
        broken["last_error"]["code"],
        "AuthFailure.UnauthorizedOperation"
    );
    assert_eq!(broken["last_done_window_end"], Value::Null);
    let off = &jobs[2];
    assert_eq!(off["enabled"], false);
    assert_eq!(off["next_fire"], Value::Null);

    let o = w.run(&["status"]);
    assert_exit(&o, 0);
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?[+-]\d{2}:\d{2}",
        "[time]",
    );
    settings.bind(|| insta::assert_snapshot!("status_table", stdout(&o)));
}

#[test]
fn prune_deletes_old_files_keeps_rows_and_pruned_windows_stay_done() {
    let w = World::new(JOBS);
    let o = w.fetch("hourly-all", RANGE[1], RANGE[3], &[]);
    assert_exit(&o, 0);
    let files: Vec<String> = w.ok_rows().into_iter().map(|r| r.1).collect();
    assert_eq!(files.len(), 3);

    let dry = w.run(&["prune", "--older-than", "1d", "--dry-run"]);
    assert_exit(&dry, 0);
    assert!(
        stdout(&dry).contains("would prune 3 reports"),
        "{}",
        stdout(&dry)
    );
    assert!(files.iter().all(|f| std::path::Path::new(f).exists()));

    let o = w.run(&["prune", "--older-than", "1d"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("pruned 3 reports (3 files"),
        "{}",
        stdout(&o)
    );
    assert!(files.iter().all(|f| !std::path::Path::new(f).exists()));
    assert_eq!(w.status_counts(), vec![("pruned".to_string(), 3)]);
    // the rows and their contents stay
    let rows: i64 = w
        .db()
        .query_row("SELECT count(*) FROM report_rows", [], |r| r.get(0))
        .expect("rows");
    assert!(rows > 0);

    let calls = w.fake.calls().len();
    let o = w.fetch("hourly-all", RANGE[1], RANGE[3], &[]);
    assert_exit(&o, 0);
    assert_eq!(
        w.fake.calls().len(),
        calls,
        "a pruned window is done: no call"
    );
}

#[test]
fn retention_prunes_in_the_daemon() {
    let w = World::new(JOBS);
    let o = w.fetch("hourly-all", RANGE[1], RANGE[3], &[]);
    assert_exit(&o, 0);
    // the same job with a short horizon (the old windows are out of it), and a retention of a day
    w.write_config("", "[[jobs]]\nname = \"hourly-all\"\ngranularity = \"hourly\"\ntimezone = \"Asia/Shanghai\"\ncatch_up = \"2h\"\n");
    let text = std::fs::read_to_string(&w.config).expect("config");
    std::fs::write(
        &w.config,
        text.replace(
            "state_dir = \"state\"",
            "state_dir = \"state\"\nretention = \"1d\"",
        ),
    )
    .expect("write");
    let d = w.start_daemon(&[]);
    common::daemon::wait_for(
        "retention to prune the old reports",
        std::time::Duration::from_secs(60),
        || common::daemon::count_status(&w, "pruned") == 3,
    );
    d.stop();
}

#[test]
fn report_rows_hold_every_row_of_every_file_with_numbers_as_numbers() {
    let cfg = FakeConfig {
        rows_per_report: Some(50),
        ..FakeConfig::default()
    };
    let w = World::with(cfg, "", JOBS);
    let o = w.run(&["fetch", "--all", RANGE[0], RANGE[1], RANGE[2], RANGE[3]]);
    assert_exit(&o, 0);
    let db = w.db();
    for (request_id, path, _, _) in w.ok_rows() {
        let id: i64 = db
            .query_row(
                "SELECT id FROM reports WHERE request_id = ?1",
                [&request_id],
                |r| r.get(0),
            )
            .expect("id");
        // what calamine reads whole from the file, sheet by sheet
        let sheets = read_all(std::path::Path::new(&path));
        let mut expected_rows = 0;
        for (sheet, cells) in &sheets {
            let header: Vec<String> = cells[0].iter().map(|c| c.to_string()).collect();
            for (i, row) in cells.iter().enumerate().skip(1) {
                if row.iter().all(|c| c.is_empty()) {
                    continue;
                }
                expected_rows += 1;
                let data: String = db
                    .query_row(
                        "SELECT data FROM report_rows WHERE report_id = ?1 AND sheet = ?2 AND row_number = ?3",
                        rusqlite::params![id, sheet, (i + 1) as i64],
                        |r| r.get(0),
                    )
                    .unwrap_or_else(|e| panic!("{sheet} row {}: {e}", i + 1));
                let obj: Value = serde_json::from_str(&data).expect("json");
                for (h, cell) in header.iter().zip(row) {
                    let v = &obj[h];
                    match cell {
                        calamine::Data::Int(n) => {
                            assert_eq!(v.as_i64(), Some(*n), "{sheet}!{h}{}", i + 1)
                        }
                        calamine::Data::Float(f) => {
                            assert_eq!(v.as_f64(), Some(*f), "{sheet}!{h}{}", i + 1)
                        }
                        calamine::Data::String(s) => {
                            assert_eq!(v.as_str(), Some(s.as_str()), "{sheet}!{h}{}", i + 1)
                        }
                        calamine::Data::Empty => assert!(v.is_null()),
                        other => panic!("unexpected cell {other:?}"),
                    }
                }
            }
        }
        let stored: i64 = db
            .query_row(
                "SELECT count(*) FROM report_rows WHERE report_id = ?1",
                [id],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(stored, expected_rows, "{path}");
    }
    // SQL over the traffic: the sum of TotalBytes for one report equals the fake's own numbers
    let call = w
        .fake
        .calls()
        .into_iter()
        .find(|c| c.params.as_ref().is_some_and(|p| p.device_id == "mna-7"))
        .expect("call");
    let params: Params = call.params.expect("params");
    let want: u64 = (0..50)
        .map(|r| {
            let (up, down) = fake_mna::row_bytes(&params, r);
            up + down
        })
        .sum();
    let got: i64 = db
        .query_row(
            "SELECT sum(json_extract(data, '$.TotalBytes')) FROM report_rows r JOIN reports p ON p.id = r.report_id
             WHERE p.target = 'device:mna-7' AND p.window_start = ?1 AND r.sheet = 'Traffic'",
            [params.begin],
            |r| r.get(0),
        )
        .expect("sum");
    assert_eq!(got as u64, want);
}

#[test]
fn a_corrupt_workbook_never_becomes_ok() {
    let w = World::new(JOBS);
    // a zip that claims to be a workbook but is not readable as one, every time
    w.fake.push_fault(Fault::DownloadNotXlsx);
    for _ in 0..7 {
        w.fake.push_fault(Fault::DownloadCorrupt);
    }
    let o = w.run(&[
        "fetch",
        "--job",
        "hourly-all",
        RANGE[0],
        RANGE[1],
        "--to",
        "2026-11-01T01:00:00Z",
    ]);
    assert_exit(&o, 1);
    assert_eq!(w.status_counts(), vec![("failed".to_string(), 1)]);
    let rows: i64 = w
        .db()
        .query_row("SELECT count(*) FROM report_rows", [], |r| r.get(0))
        .expect("rows");
    assert_eq!(rows, 0);
    assert!(
        w.files()
            .iter()
            .all(|f| !f.to_string_lossy().ends_with(".xlsx")),
        "no file under a final name"
    );
}

/// Every cell of every sheet of the workbook at `path`, as calamine reads it
/// whole: what the streaming ingestion is compared against.
fn read_all(path: &std::path::Path) -> Vec<(String, Vec<Vec<calamine::Data>>)> {
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(path).expect("workbook");
    let mut out = Vec::new();
    for sheet in wb.sheet_names() {
        let range = wb.worksheet_range(&sheet).expect("sheet");
        out.push((sheet, range.rows().map(|r| r.to_vec()).collect()));
    }
    out
}
