use super::*;
use fake_mna::hostile::{self, Cell, Sheet};
use std::io::{Cursor, Write};

fn refused(bytes: &[u8]) -> Option<WorkbookError> {
    match guard(Cursor::new(bytes)) {
        Err(GuardError::Refused(e)) => Some(e),
        _ => None,
    }
}

fn limit(bytes: &[u8]) -> Option<Limit> {
    match refused(bytes) {
        Some(WorkbookError::TooLarge { what, .. }) => Some(what),
        _ => None,
    }
}

#[test]
fn a_real_report_passes_and_reads_through_the_guard() {
    let params = fake_mna::Params::new("-1", 1_700_000_000, 1_700_086_400, 1);
    let bytes = fake_mna::workbook_for(&params, 500, true);
    let guarded = guard(Cursor::new(&bytes[..])).expect("within the limits");
    let mut wb: calamine::Xlsx<_> = calamine::Reader::new(guarded).expect("calamine reads it");
    let range = calamine::Reader::worksheet_range(&mut wb, "Traffic").expect("sheet");
    assert_eq!(range.height(), 501);
}

#[test]
fn bombs_are_refused_by_what_they_decompress() {
    assert_eq!(
        limit(&hostile::whitespace_bomb(8 << 20).expect("built")),
        Some(Limit::Event)
    );
    let strings = limit(&hostile::shared_strings_bomb(80 << 20).expect("built"));
    assert!(
        matches!(
            strings,
            Some(Limit::SharedStrings | Limit::SharedStringsBytes)
        ),
        "{strings:?}"
    );
    // within the caps, a row of too many cells is the cell reader's to refuse
    assert!(guard(Cursor::new(hostile::wide_row_bomb(20_000).expect("built"))).is_ok());
}

#[test]
fn parts_are_capped_by_what_they_decompress() {
    // no single piece is long, but the parts are over their caps (small
    // ones here, so that the test stays quick)
    let caps = Caps {
        part: 4 << 20,
        shared_strings: 2 << 20,
        total: 6 << 20,
    };
    let what = |bytes: &[u8]| match guard_with(Cursor::new(bytes), &caps) {
        Err(GuardError::Refused(WorkbookError::TooLarge { what, .. })) => Some(what),
        _ => None,
    };
    let sheet = |n: u64| Sheet::new("S", move |w| hostile::repeat(w, b"<x/> ", n));
    let one = hostile::workbook(&[sheet((4 << 20) + 1)], None).expect("built");
    assert_eq!(what(&one), Some(Limit::PartBytes));
    let two = hostile::workbook(&[sheet(3 << 20), sheet(3 << 20)], None).expect("built");
    assert_eq!(what(&two), Some(Limit::TotalBytes));
    let shared: hostile::Content<'_> = Box::new(|w| hostile::repeat(w, b"<x/>", (2 << 20) + 1));
    let strings = hostile::workbook(&[sheet(10)], Some(shared)).expect("built");
    assert_eq!(what(&strings), Some(Limit::SharedStringsBytes));
    assert!(
        guard_with(
            Cursor::new(&hostile::workbook(&[sheet(3 << 20)], None).expect("built")[..]),
            &caps
        )
        .is_ok()
    );
}

/// A workbook with a stored binary part of `len` pseudo-random bytes, as
/// large reports carry images.
fn with_binary_part(len: usize, sheet_target: &str) -> Vec<u8> {
    let base = hostile::workbook(
        &[Sheet::rows(
            "S",
            &[vec![Cell::Text("H".into())], vec![Cell::Number(1.0)]],
        )],
        None,
    )
    .expect("built");
    let mut src = zip::ZipArchive::new(Cursor::new(&base)).expect("zip");
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..src.len() {
        let mut f = src.by_index(i).expect("entry");
        let name = f.name().map(|n| n.to_string()).expect("name");
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut content).expect("read");
        if name == "xl/_rels/workbook.xml.rels" {
            content = String::from_utf8(content)
                .expect("utf-8")
                .replace("worksheets/sheet1.xml", sheet_target)
                .into_bytes();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("start");
        out.write_all(&content).expect("write");
    }
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    out.start_file("xl/media/image1.bin", stored)
        .expect("start");
    let mut rng = fastrand::Rng::with_seed(11);
    let mut left = len;
    let mut block = vec![0u8; 1 << 16];
    while left > 0 {
        rng.fill(&mut block);
        let n = left.min(block.len());
        out.write_all(&block[..n]).expect("write");
        left -= n;
    }
    out.finish().expect("finish").into_inner()
}

#[test]
fn binary_parts_are_not_read_and_the_reader_may_not_read_them() {
    // random bytes hold `<![` and `<!--` often enough to fail any XML check:
    // they are left alone, and the workbook reads
    let bytes = with_binary_part(24 << 20, "worksheets/sheet1.xml");
    let guarded = guard(Cursor::new(&bytes[..])).expect("binary parts are not checked");
    let mut wb: calamine::Xlsx<_> = calamine::Reader::new(guarded).expect("reads");
    assert!(calamine::Reader::worksheet_range(&mut wb, "S").is_ok());

    // a workbook that points its sheet at the binary part is refused
    let bytes = with_binary_part(1 << 20, "media/image1.bin");
    let guarded = guard(Cursor::new(&bytes[..])).expect("checked parts pass");
    let refusal = guarded.refusal();
    let mut wb: calamine::Xlsx<_> = calamine::Reader::new(guarded).expect("opens");
    assert!(calamine::Reader::worksheet_range(&mut wb, "S").is_err());
    assert!(matches!(refusal.error(), Some(WorkbookError::Invalid(m)) if m.contains("image1.bin")));
}

#[test]
fn codes_and_messages_say_what_happened() {
    let e = WorkbookError::too_large("xl/sharedStrings.xml", Limit::SharedStringsBytes);
    assert_eq!(e.code(), "WorkbookTooLarge");
    let text = e.to_string();
    assert!(
        text.contains("xl/sharedStrings.xml") && text.contains("64 MiB"),
        "{text}"
    );
    assert_eq!(WorkbookError::Invalid("x".into()).code(), "WorkbookInvalid");
}

#[test]
fn a_zip_of_too_many_parts_is_refused() {
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..=MAX_PARTS {
        out.start_file(format!("xl/media/{i}.bin"), stored)
            .expect("start");
    }
    let bytes = out.finish().expect("finish").into_inner();
    assert_eq!(limit(&bytes), Some(Limit::Parts));
}
