//! Crafted workbooks served by the fake API, read by the real binary: zip
//! bombs are refused within bounded memory, and workbooks that cannot be
//! stored faithfully (no sheet, two sheets of one name, a repeated row)
//! fail with a code of their own; duplicate headers keep every cell
//! reachable in `report_rows`.

use crate::common;

use common::rss::run_measured;
use common::*;
use fake_mna::Fault;
use fake_mna::hostile::{self, Cell, Sheet};
use std::path::PathBuf;
use std::sync::Arc;

/// Every crafted workbook is read within this.
const RSS_LIMIT: u64 = 256 << 20;

/// (status, error code, error message) of the only report.
fn report(w: &World) -> (String, String, String) {
    w.db()
        .query_row(
            "SELECT status, coalesce(error_code, ''), coalesce(error_message, '') FROM reports",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("one report")
}

/// (error code, request id) of every download attempt.
fn download_attempts(w: &World) -> Vec<(String, String)> {
    let db = w.db();
    let mut st = db
        .prepare(
            "SELECT coalesce(error_code, ''), coalesce(request_id, '') FROM attempts
             WHERE kind = 'download' ORDER BY attempt",
        )
        .expect("query");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

/// Report files under the state directory (anything but the history).
fn report_files(w: &World) -> Vec<PathBuf> {
    w.files()
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("history.db"))
        })
        .collect()
}

/// Serve `bytes` to two fetches of one report: each fails with `code`,
/// within [`RSS_LIMIT`], is recorded with its attempt, leaves no file, and
/// is not retried; then the next fetch, served a real report, is ok.
fn refused_twice_then_ok(bytes: Vec<u8>, code: &str) {
    let w = World::new(HOURLY);
    let body = Arc::new(bytes);
    w.fake.push_fault(Fault::DownloadBody(body.clone()));
    w.fake.push_fault(Fault::DownloadBody(body));
    for run in 1..=2 {
        let m = run_measured(w.cmd().args(FETCH_ONE_HOUR));
        eprintln!("{code}: run {run}: peak RSS {:.1} MiB", m.peak_mib());
        assert!(
            m.peak_rss < RSS_LIMIT,
            "run {run}: peak RSS {:.0} MiB",
            m.peak_mib()
        );
        assert_exit(&m.output, 1);
        let (status, got, message) = report(&w);
        assert_eq!(
            (status.as_str(), got.as_str()),
            ("failed", code),
            "{message}"
        );
        assert!(
            message.contains("workbook"),
            "the message says what happened: {message}"
        );
        let attempts = download_attempts(&w);
        assert_eq!(attempts.len(), run, "one download a run, not retried");
        assert!(
            attempts
                .iter()
                .all(|(c, request_id)| c == code && !request_id.is_empty()),
            "{attempts:?}"
        );
        assert_eq!(w.fake.downloads().len(), run);
        assert!(w.part_files().is_empty(), "{:?}", w.files());
        assert!(report_files(&w).is_empty(), "{:?}", report_files(&w));
        assert!(
            stderr(&m.output).contains(code),
            "the failure is shown: {}",
            stderr(&m.output)
        );
    }
    let o = w.run(&FETCH_ONE_HOUR);
    assert_exit(&o, 0);
    assert_eq!(report(&w).0, "ok");
    w.assert_files_match_served();
}

#[test]
fn a_sheet_of_whitespace_is_refused_in_bounded_memory() {
    let bomb = hostile::whitespace_bomb(384 << 20).expect("built");
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    refused_twice_then_ok(bomb, "WorkbookTooLarge");
}

#[test]
fn a_bomb_too_large_to_hold_in_memory_is_refused_as_it_is_stored() {
    // over 1 MiB, the download is read back from its file inside the commit
    let bomb = hostile::whitespace_bomb(64 << 20).expect("built");
    let bomb = hostile::padded(&bomb, 3 << 20).expect("padded");
    refused_twice_then_ok(bomb, "WorkbookTooLarge");
}

#[test]
fn a_flood_of_shared_strings_is_refused_in_bounded_memory() {
    let bomb = hostile::shared_strings_bomb(160 << 20).expect("built");
    refused_twice_then_ok(bomb, "WorkbookTooLarge");
}

#[test]
fn a_row_of_millions_of_cells_is_refused_in_bounded_memory() {
    let bomb = hostile::wide_row_bomb(8_000_000).expect("built");
    refused_twice_then_ok(bomb, "WorkbookTooLarge");
}

fn text(t: &str) -> Cell {
    Cell::Text(t.to_string())
}

#[test]
fn a_workbook_without_a_sheet_is_no_report() {
    let wb = hostile::workbook(&[], None).expect("built");
    refused_twice_then_ok(wb, "WorkbookInvalid");
}

#[test]
fn two_sheets_of_one_name_fail_with_their_own_code() {
    let rows = [
        vec![text("Time"), text("Bytes")],
        vec![text("t1"), Cell::Number(1.0)],
    ];
    let wb = hostile::workbook(
        &[Sheet::rows("Traffic", &rows), Sheet::rows("Traffic", &rows)],
        None,
    )
    .expect("built");
    refused_twice_then_ok(wb, "WorkbookInvalid");
}

#[test]
fn a_repeated_row_number_fails_with_its_own_code() {
    let sheet = Sheet::new("Traffic", |w| {
        for (r, v) in [(1, "Bytes"), (2, "1"), (3, "2"), (2, "3")] {
            w.write_all(hostile::row_xml(r, &[text(v)]).as_bytes())?;
        }
        Ok(())
    });
    let wb = hostile::workbook(&[sheet], None).expect("built");
    refused_twice_then_ok(wb, "WorkbookInvalid");
}

#[test]
fn duplicate_and_empty_headers_keep_every_cell_reachable() {
    let w = World::new(HOURLY);
    let rows = [
        vec![
            text("Bytes"),
            text("Bytes"),
            text("Bytes_2"),
            text(" "),
            text("E"),
        ],
        vec![
            Cell::Number(1.0),
            Cell::Number(2.0),
            Cell::Number(3.0),
            Cell::Number(4.0),
            Cell::Number(5.0),
            Cell::Number(6.0),
        ],
    ];
    let wb = hostile::workbook(&[Sheet::rows("Traffic", &rows)], None).expect("built");
    w.fake.push_fault(Fault::DownloadBody(Arc::new(wb)));
    let o = w.run(&FETCH_ONE_HOUR);
    assert_exit(&o, 0);
    assert_eq!(report(&w).0, "ok");
    let db = w.db();
    let (keys, values): (i64, String) = db
        .query_row(
            "SELECT (SELECT count(*) FROM json_each(data)),
                    json_array(json_extract(data, '$.Bytes'), json_extract(data, '$.Bytes_3'),
                               json_extract(data, '$.Bytes_2'), json_extract(data, '$.D'),
                               json_extract(data, '$.E'), json_extract(data, '$.F'))
             FROM report_rows WHERE sheet = 'Traffic' AND row_number = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the data row");
    assert_eq!(keys, 6, "one key a cell");
    assert_eq!(values, "[1,2,3,4,5,6]");
}

#[test]
fn a_large_report_with_a_binary_part_is_read_as_before() {
    // like the benchmark's big report: a real workbook plus a stored part of
    // random bytes, which no XML check could pass and none needs to
    let cfg = fake_mna::FakeConfig {
        file_bytes: Some(48 << 20),
        ..fake_mna::FakeConfig::default()
    };
    let w = World::with(cfg, "", HOURLY);
    let m = run_measured(w.cmd().args(FETCH_ONE_HOUR));
    assert_exit(&m.output, 0);
    assert!(m.peak_rss < RSS_LIMIT, "peak RSS {:.0} MiB", m.peak_mib());
    assert_eq!(report(&w).0, "ok");
    let rows: i64 = w
        .db()
        .query_row("SELECT count(*) FROM report_rows", [], |r| r.get(0))
        .expect("rows");
    assert!(rows >= 24, "{rows}");
}

#[test]
fn the_most_shared_strings_the_caps_allow_are_read_under_256_mib() {
    // just under both caps: 2,097,000 strings in just under 64 MiB, the
    // most a workbook can make the reader hold
    let w = World::new(HOURLY);
    let sheet = Sheet::new("Traffic", |w| {
        w.write_all(hostile::row_xml(1, &[text("Name")]).as_bytes())?;
        w.write_all(b"<row r=\"2\"><c r=\"A2\" t=\"s\"><v>2096999</v></c></row>")
    });
    let unit = b"<si><t>aaaaaaaaaaaaaaa</t></si>";
    let shared: hostile::Content<'_> =
        Box::new(move |w| hostile::repeat(w, unit, 2_097_000 * unit.len() as u64));
    let wb = hostile::workbook(&[sheet], Some(shared)).expect("built");
    w.fake.push_fault(Fault::DownloadBody(Arc::new(wb)));
    let m = run_measured(w.cmd().args(FETCH_ONE_HOUR));
    eprintln!("peak RSS {:.1} MiB", m.peak_mib());
    assert_exit(&m.output, 0);
    assert!(m.peak_rss < RSS_LIMIT, "peak RSS {:.0} MiB", m.peak_mib());
    let name: String = w
        .db()
        .query_row(
            "SELECT json_extract(data, '$.Name') FROM report_rows WHERE row_number = 2",
            [],
            |r| r.get(0),
        )
        .expect("the row");
    assert_eq!(name, "a".repeat(15));
}
