//! What a hostile or broken network edge can do to a fetch, against the real
//! binary: answers that never end, downloads that drip or never end, files
//! above the size cap, server text that tries to drive the terminal, a
//! redirect, an unusable answer with a request id, a large report. Memory
//! against an endless answer is measured in `hostile_net_memory.rs`.

use crate::common;

use common::*;
use fake_mna::{FakeConfig, Fault};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A world whose config has `max_attempts` tries per report and `storage`
/// lines added to `[storage]`.
fn world(max_attempts: u32, storage: &str) -> World {
    let w = World::new(HOURLY);
    let settings = Settings {
        storage,
        max_attempts,
        ..Settings::default()
    };
    w.write_config_with(&settings, "", HOURLY);
    w
}

/// Run `cmd`, killing it if it is still running after `limit` (then panic).
fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mna-reportd");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            // SAFETY: kill only signals our own child, by its pid.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            panic!("mna-reportd still running after {limit:?}");
        }
    }
}

/// (kind, error_code, request_id) of every attempt, in order.
fn attempts(w: &World) -> Vec<(String, Option<String>, Option<String>)> {
    let db = w.db();
    let mut st = db
        .prepare("SELECT kind, error_code, request_id FROM attempts ORDER BY report_id, attempt")
        .expect("query");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

fn codes(w: &World) -> Vec<String> {
    attempts(w)
        .into_iter()
        .map(|(kind, code, _)| format!("{kind}:{}", code.unwrap_or_else(|| "ok".into())))
        .collect()
}

/// (status, error_code, request_id) of the only report.
fn report(w: &World) -> (String, Option<String>, Option<String>) {
    w.db()
        .query_row(
            "SELECT status, error_code, request_id FROM reports",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("one report")
}

#[test]
fn an_answer_announcing_more_than_the_cap_is_refused_and_tried_again() {
    let w = world(3, "");
    w.fake.push_fault(Fault::ApiHugeAnswer {
        bytes: 2 << 20,
        chunked: false,
    });
    let o = w.run(&FETCH_ONE_HOUR);
    assert_exit(&o, 0);
    assert_eq!(
        codes(&w),
        ["call:ResponseTooLarge", "call:ok", "download:ok"],
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_dripping_download_is_cut_off_within_the_progress_window_and_tried_again() {
    // api.timeout 5s: the progress window is 10 s and must bring 10 KiB.
    let w = world(3, "");
    // One byte a second: never silent for the 5 s timeout, never anywhere.
    w.fake
        .push_fault(Fault::DownloadDrip(Duration::from_secs(1)));
    let t0 = Instant::now();
    let o = run_within(w.cmd().args(FETCH_ONE_HOUR), Duration::from_secs(180));
    assert_exit(&o, 0);
    assert!(t0.elapsed() < Duration::from_secs(180));
    assert_eq!(
        codes(&w),
        ["call:ok", "download:DownloadStalled", "download:ok"],
        "{}",
        stderr(&o)
    );
    let msg: String = w
        .db()
        .query_row(
            "SELECT error_message FROM attempts WHERE error_code = 'DownloadStalled'",
            [],
            |r| r.get(0),
        )
        .expect("message");
    assert!(msg.contains("10240 bytes in 10s"), "{msg}");
    w.assert_files_match_served();
    assert!(w.part_files().is_empty());
}

#[test]
fn a_file_announced_above_max_report_size_fails_at_once_without_a_part_file() {
    let w = world(8, r#"max_report_size = "1KiB""#);
    let o = w.run(&FETCH_ONE_HOUR);
    assert_exit(&o, 1);
    // Not retried: the file would stay too large.
    assert_eq!(codes(&w), ["call:ok", "download:DownloadTooLarge"]);
    assert_eq!(report(&w).1.as_deref(), Some("DownloadTooLarge"));
    let err = stderr(&o);
    assert!(err.contains("storage.max_report_size (1 KiB)"), "{err}");
    assert!(w.part_files().is_empty(), "{:?}", w.part_files());
}

#[test]
fn an_endless_chunked_download_stops_at_max_report_size() {
    let w = world(8, r#"max_report_size = "1MiB""#);
    w.fake.push_fault(Fault::DownloadHuge {
        bytes: 256 << 20,
        chunked: true,
    });
    let o = run_within(w.cmd().args(FETCH_ONE_HOUR), Duration::from_secs(180));
    assert_exit(&o, 1);
    assert_eq!(codes(&w), ["call:ok", "download:DownloadTooLarge"]);
    assert!(w.part_files().is_empty(), "{:?}", w.part_files());
    // Far less than the server offered went through.
    let sent: u64 = w.fake.downloads().iter().map(|d| d.bytes_sent).sum();
    assert!(sent < 64 << 20, "{sent} bytes sent");
}

#[test]
fn max_report_size_is_checked_with_its_line() {
    let w = world(8, r#"max_report_size = "lots""#);
    let o = w.run(&["check"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("storage.max_report_size"), "{err}");
    assert!(err.contains("line 9: storage.max_report_size"), "{err}");
    assert!(err.contains("\"1GiB\""), "{err}");
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains('\x1b'), "{what} holds an ESC: {text:?}");
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("failed: forged")),
        "{what} holds a forged line: {text}"
    );
}

#[test]
fn server_text_never_reaches_the_terminal_raw_and_is_stored_capped() {
    let w = world(1, "");
    let answer = serde_json::json!({"Response": {
        "Error": {
            "Code": "InvalidParameter\u{1b}[31m\n failed: forged",
            "Message": format!("bad\u{1b}]0;owned\u{7}\n failed: forged {}", "m".repeat(200_000)),
        },
        "RequestId": "req\u{1b}[2J\n failed: forged",
    }});
    w.fake.push_fault(Fault::ApiAnswer(answer.to_string()));
    let o = w.run(&FETCH_ONE_HOUR);
    assert_exit(&o, 1);
    assert_clean("fetch stdout", &stdout(&o));
    assert_clean("fetch stderr", &stderr(&o));
    assert!(
        stderr(&o).contains("InvalidParameter\\u{1b}[31m\\n failed: forged"),
        "{}",
        stderr(&o)
    );
    let longest: i64 = w
        .db()
        .query_row(
            "SELECT max(max(length(CAST(error_code AS BLOB))), max(length(CAST(error_message AS BLOB))), max(length(CAST(request_id AS BLOB)))) FROM attempts",
            [],
            |r| r.get(0),
        )
        .expect("lengths");
    assert!(longest <= 4096, "an attempt row holds {longest} bytes");
    let (_, code, _) = report(&w);
    assert!(code.is_some_and(|c| !c.contains('\x1b')));

    // Rows recorded raw (before text was cleaned where it enters) are escaped when shown.
    w.db()
        .execute(
            "UPDATE reports SET error_code = ?1, error_message = ?1, request_id = ?1",
            ["Raw\u{1b}[31m\n failed: forged"],
        )
        .expect("raw row");
    for args in [
        &["history"][..],
        &["history", "--format", "csv"],
        &["history", "--format", "json"],
        &["status"],
        &["status", "--format", "json"],
    ] {
        let o = w.run(args);
        assert_exit(&o, 0);
        assert_clean(&format!("{args:?} stdout"), &stdout(&o));
        assert_clean(&format!("{args:?} stderr"), &stderr(&o));
    }
    assert!(stdout(&w.run(&["history"])).contains("Raw\\u{1b}[31m\\n"));
}

#[test]
fn a_redirected_download_asks_the_api_for_a_new_url() {
    let w = world(3, "");
    w.fake.push_fault(Fault::DownloadStatus(302));
    let o = w.run(&FETCH_ONE_HOUR);
    assert_exit(&o, 0);
    assert_eq!(
        codes(&w),
        [
            "call:ok",
            "download:DownloadRedirected",
            "call:ok",
            "download:ok"
        ]
    );
    assert_eq!(w.fake.calls().len(), 2, "a new URL was asked for");
    w.assert_files_match_served();
}

#[test]
fn an_unusable_answer_keeps_its_request_id() {
    let w = world(1, "");
    w.fake.push_fault(Fault::ApiAnswer(
        r#"{"Response": {"RequestId": "req-unusable-1"}}"#.to_string(),
    ));
    let o = w.run(&FETCH_ONE_HOUR);
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("BadResponse"), "{err}");
    assert!(err.contains("request id req-unusable-1"), "{err}");
    assert!(!err.contains("request_id=-"), "{err}");
    assert_eq!(
        attempts(&w),
        [(
            "call".to_string(),
            Some("BadResponse".to_string()),
            Some("req-unusable-1".to_string())
        )]
    );
    assert_eq!(report(&w).2.as_deref(), Some("req-unusable-1"));
}

#[test]
fn a_large_report_is_written_whole_in_batches() {
    let cfg = FakeConfig {
        file_bytes: Some(48 << 20),
        ..FakeConfig::default()
    };
    let w = World::with(cfg, "", HOURLY);
    let o = w.run(&FETCH_ONE_HOUR);
    assert_exit(&o, 0);
    let (_, path, sha, bytes) = w.ok_rows().pop().expect("one ok report");
    let len = w.fake.large_file_len().expect("large-file mode");
    assert_eq!(bytes as u64, len);
    let data = std::fs::read(&path).expect("report file");
    assert_eq!(data.len() as u64, len);
    assert_eq!(fake_mna::sign::sha256_hex(&data), sha);
    assert!(w.part_files().is_empty());
}
