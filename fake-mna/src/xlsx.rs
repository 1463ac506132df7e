//! Report files: the deterministic workbook generator, its cache, the large
//! file of the memory benchmarks, and the bad files of download faults.
//!
//! This module owns every byte a download serves. A report is a real xlsx
//! workbook written with `rust_xlsxwriter`; its content depends only on the
//! request parameters, the row count and whether the summary sheet is on.
//! By default a report holds one row per granularity step inside its window
//! ([`window_rows`]), for the device, list or group it was asked for.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Cursor, Read, Seek, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, XlsxError};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::clock::utc_datetime;
use crate::faults::lock;
use crate::params::Params;

/// The MIME type downloads are served with.
pub const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The report sheet's name and header row.
pub const TRAFFIC_SHEET: &str = "Traffic";
pub const HEADER: [&str; 6] = [
    "Time",
    "DeviceId",
    "Region",
    "UpBytes",
    "DownBytes",
    "TotalBytes",
];
/// The optional second sheet.
pub const SUMMARY_SHEET: &str = "Summary";

/// The most data rows a worksheet holds (below the header row).
pub const MAX_ROWS: usize = 1_048_575;
const MAX_CELL_CHARS: usize = 32_767;

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn seed(params: &Params) -> u64 {
    let canonical = serde_json::to_vec(params).unwrap_or_default();
    let digest = Sha256::digest(&canonical);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// The traffic numbers of row `row`: (up, down).
pub fn row_bytes(params: &Params, row: usize) -> (u64, u64) {
    let s = seed(params);
    row_bytes_seeded(s, row)
}

fn row_bytes_seeded(seed: u64, row: usize) -> (u64, u64) {
    let a = splitmix64(seed ^ (row as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let b = splitmix64(a);
    (a % 5_000_000_000, b % 20_000_000_000)
}

/// How many rows a report of `params` holds by default: one per granularity
/// step inside `[begin, end)`, at least one. The count is rounded to the
/// nearest step, so a 23- or 25-hour daily window (a DST day) holds one row,
/// and every row's time lies inside the window.
pub fn window_rows(params: &Params) -> usize {
    let step = params.step_seconds().max(1);
    let span = params.end.saturating_sub(params.begin).max(0);
    let steps = span.saturating_add(step / 2) / step;
    usize::try_from(steps)
        .unwrap_or(MAX_ROWS)
        .clamp(1, MAX_ROWS)
}

fn cell_text(s: &str) -> &str {
    match s.char_indices().nth(MAX_CELL_CHARS) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The workbook for `params`, or the writer's error.
pub fn try_workbook_for(params: &Params, rows: usize, summary: bool) -> Result<Vec<u8>, XlsxError> {
    let rows = rows.min(MAX_ROWS);
    let seed = seed(params);
    let mut wb = Workbook::new();
    let created = ExcelDateTime::from_ymd(2024, 1, 1)?.and_hms(0, 0, 0)?;
    wb.set_properties(
        &DocProperties::new()
            .set_title("MNA traffic statistics")
            .set_author("fake-mna")
            .set_creation_datetime(&created),
    );
    wb.set_zip_compression_level(1);
    let bold = Format::new().set_bold();
    let subject = params.subject();
    let subject = cell_text(&subject);
    let region = params.region.as_deref().unwrap_or("ALL");
    let step = params.step_seconds();
    let (mut total_up, mut total_down) = (0u64, 0u64);
    {
        let ws = wb.add_worksheet_with_constant_memory()?;
        ws.set_name(TRAFFIC_SHEET)?;
        for (col, name) in HEADER.iter().enumerate() {
            ws.write_string_with_format(0, col as u16, *name, &bold)?;
        }
        ws.set_column_width(0, 20)?;
        ws.set_column_width(1, 24)?;
        for row in 0..rows {
            let r = row as u32 + 1;
            let t = params.begin.saturating_add(step.saturating_mul(row as i64));
            let (up, down) = row_bytes_seeded(seed, row);
            total_up += up;
            total_down += down;
            ws.write_string(r, 0, utc_datetime(t))?;
            ws.write_string(r, 1, subject)?;
            ws.write_string(r, 2, region)?;
            ws.write_number(r, 3, up as f64)?;
            ws.write_number(r, 4, down as f64)?;
            ws.write_number(r, 5, (up + down) as f64)?;
        }
    }
    if summary {
        let ws = wb.add_worksheet();
        ws.set_name(SUMMARY_SHEET)?;
        ws.write_string_with_format(0, 0, "Key", &bold)?;
        ws.write_string_with_format(0, 1, "Value", &bold)?;
        ws.set_column_width(0, 18)?;
        let text: [(&str, String); 6] = [
            ("DeviceId", params.device_id.clone()),
            ("Subject", subject.to_owned()),
            ("Region", region.to_owned()),
            ("BeginTime", utc_datetime(params.begin)),
            ("EndTime", utc_datetime(params.end)),
            ("Granularity", params.granularity.to_string()),
        ];
        let mut r = 1u32;
        for (k, v) in &text {
            ws.write_string(r, 0, *k)?;
            ws.write_string(r, 1, cell_text(v))?;
            r += 1;
        }
        for (k, v) in [
            ("Rows", rows as f64),
            ("UpBytes", total_up as f64),
            ("DownBytes", total_down as f64),
            ("TotalBytes", (total_up + total_down) as f64),
        ] {
            ws.write_string(r, 0, k)?;
            ws.write_number(r, 1, v)?;
            r += 1;
        }
    }
    wb.save_to_buffer()
}

/// The deterministic report workbook for `params`: the same arguments give
/// the same bytes. `rows` is capped at [`MAX_ROWS`].
///
/// # Panics
///
/// If the writer fails, which only an I/O error can make it do (the report
/// sheet is staged in a temp file); [`try_workbook_for`] returns the error.
pub fn workbook_for(params: &Params, rows: usize, summary: bool) -> Vec<u8> {
    match try_workbook_for(params, rows, summary) {
        Ok(bytes) => bytes,
        // Sheet names are fixed, rows are capped and strings cut to the cell
        // limit, so the writer has nothing left to refuse.
        Err(e) => panic!("rust_xlsxwriter refused a report: {e}"),
    }
}

/// Generated workbooks by parameters, bounded by total size (oldest out).
pub(crate) struct WorkbookCache {
    /// Rows per report; `None`: [`window_rows`].
    rows: Option<usize>,
    summary: bool,
    cap_bytes: usize,
    inner: Mutex<CacheInner>,
}

/// One key's workbook; its lock is held while it is generated, so that
/// concurrent requests for the same parameters generate it once.
type Slot = Arc<Mutex<Option<Arc<Vec<u8>>>>>;

#[derive(Default)]
struct CacheInner {
    map: HashMap<Params, (Slot, usize)>,
    order: VecDeque<Params>,
    bytes: usize,
}

impl WorkbookCache {
    pub fn new(rows: Option<usize>, summary: bool) -> WorkbookCache {
        WorkbookCache {
            rows,
            summary,
            cap_bytes: 512 << 20,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    /// The workbook for `params`, generated at most once while cached.
    /// Blocking: call it off the async threads for big reports.
    pub fn get(&self, params: &Params) -> Result<Arc<Vec<u8>>, XlsxError> {
        let slot = {
            let mut inner = lock(&self.inner);
            if let Some((slot, _)) = inner.map.get(params) {
                slot.clone()
            } else {
                let slot: Slot = Arc::default();
                inner.map.insert(params.clone(), (slot.clone(), 0));
                inner.order.push_back(params.clone());
                slot
            }
        };
        let bytes = {
            let mut cell = lock(&slot);
            match &*cell {
                Some(bytes) => return Ok(bytes.clone()),
                None => {
                    let rows = self.rows.unwrap_or_else(|| window_rows(params));
                    let bytes = Arc::new(try_workbook_for(params, rows, self.summary)?);
                    *cell = Some(bytes.clone());
                    bytes
                }
            }
        };
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        if let Some((s, counted)) = inner.map.get_mut(params)
            && *counted == 0
            && Arc::ptr_eq(s, &slot)
        {
            *counted = bytes.len();
            inner.bytes += bytes.len();
        }
        while inner.bytes > self.cap_bytes && inner.order.len() > 1 {
            if let Some(old) = inner.order.pop_front()
                && let Some((_, counted)) = inner.map.remove(&old)
            {
                inner.bytes -= counted;
            }
        }
        Ok(bytes)
    }
}

/// The shared file of large-file mode, on disk.
pub(crate) struct LargeFile {
    path: tempfile::TempPath,
    pub len: u64,
    sha256: OnceLock<Option<String>>,
}

impl LargeFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hex SHA-256 of the file, computed on first use.
    pub fn sha256(&self) -> Option<String> {
        self.sha256
            .get_or_init(|| {
                let mut f = std::fs::File::open(&self.path).ok()?;
                let mut h = Sha256::new();
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = f.read(&mut buf).ok()?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                Some(hex::encode(h.finalize()))
            })
            .clone()
    }
}

/// Name of the padding entry of large-file mode.
pub const PADDING_ENTRY: &str = "xl/media/image1.bin";

/// Writes `base` (an xlsx) plus a STORED entry of pseudo-random bytes so
/// that the whole file has at least `target` bytes, to a temp file.
pub(crate) fn build_large_file(base: &[u8], target: u64) -> io::Result<LargeFile> {
    let tmp = tempfile::Builder::new()
        .prefix("fake-mna-large-")
        .suffix(".xlsx")
        .tempfile()?;
    let (file, path) = tmp.into_parts();
    let mut out = ZipWriter::new(io::BufWriter::with_capacity(1 << 20, file));
    let mut src = ZipArchive::new(Cursor::new(base)).map_err(io::Error::other)?;
    for i in 0..src.len() {
        let entry = src.by_index(i).map_err(io::Error::other)?;
        let is_types = entry.name().is_ok_and(|n| n == "[Content_Types].xml");
        if is_types {
            let mut xml = String::new();
            let mut entry = entry;
            entry.read_to_string(&mut xml)?;
            let xml = xml.replacen(
                "<Default ",
                "<Default Extension=\"bin\" ContentType=\"application/octet-stream\"/><Default ",
                1,
            );
            out.start_file(
                "[Content_Types].xml",
                SimpleFileOptions::default().compression_method(CompressionMethod::Deflated),
            )
            .map_err(io::Error::other)?;
            out.write_all(xml.as_bytes())?;
        } else {
            drop(entry);
            let raw = src.by_index_raw(i).map_err(io::Error::other)?;
            out.raw_copy_file(raw).map_err(io::Error::other)?;
        }
    }
    // The copied entries can come out a little smaller than in `base`
    // (recompressed content types, no data descriptors): 1 KiB of slack
    // keeps the file at or just above `target`.
    let pad = target.saturating_sub(base.len() as u64) + 1024;
    out.start_file(
        PADDING_ENTRY,
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(pad >= u32::MAX as u64),
    )
    .map_err(io::Error::other)?;
    let mut block = vec![0u8; 1 << 20];
    let mut x = 0x5EED_u64;
    for chunk in block.chunks_mut(8) {
        x = splitmix64(x);
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    let mut left = pad;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    let mut w = out.finish().map_err(io::Error::other)?;
    w.flush()?;
    let mut file = w.into_inner().map_err(|e| e.into_error())?;
    let len = file.seek(io::SeekFrom::End(0))?;
    file.sync_all()?;
    Ok(LargeFile {
        path,
        len,
        sha256: OnceLock::new(),
    })
}

/// A valid zip that is not an xlsx workbook.
pub(crate) fn not_xlsx_zip() -> Arc<Vec<u8>> {
    static ZIP: OnceLock<Arc<Vec<u8>>> = OnceLock::new();
    ZIP.get_or_init(|| {
        let build = || -> zip::result::ZipResult<Vec<u8>> {
            let mut w = ZipWriter::new(Cursor::new(Vec::new()));
            let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
            w.start_file("readme.txt", opts)?;
            w.write_all(b"This archive is not a spreadsheet.\n")?;
            w.start_file("data/report.csv", opts)?;
            w.write_all(b"Time,DeviceId,TotalBytes\n2024-01-01 00:00:00,-1,0\n")?;
            Ok(w.finish()?.into_inner())
        };
        Arc::new(build().unwrap_or_default())
    })
    .clone()
}

/// Garbage that is not a zip (no `PK` signature anywhere at the start).
pub(crate) fn garbage(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"<html>not a spreadsheet</html>\n");
    let mut x = 0xBAD_u64;
    while out.len() < len {
        x = splitmix64(x);
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len.max(32));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(bytes: &[u8]) -> Vec<String> {
        let z = ZipArchive::new(Cursor::new(bytes)).expect("zip");
        z.file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect()
    }

    fn read_entry(bytes: &[u8], name: &str) -> String {
        let mut z = ZipArchive::new(Cursor::new(bytes)).expect("zip");
        let mut s = String::new();
        z.by_name(name)
            .expect("entry")
            .read_to_string(&mut s)
            .expect("read");
        s
    }

    #[test]
    fn workbook_is_xlsx_and_deterministic() {
        let p = Params::new("dev-1", 1_700_000_000, 1_700_086_400, 1);
        let a = workbook_for(&p, 24, true);
        let b = workbook_for(&p, 24, true);
        assert_eq!(a, b);
        let n = names(&a);
        assert!(n.iter().any(|x| x == "xl/workbook.xml"), "{n:?}");
        assert!(n.iter().any(|x| x == "[Content_Types].xml"));
        assert!(n.iter().any(|x| x == "xl/worksheets/sheet2.xml"));
        let wb = read_entry(&a, "xl/workbook.xml");
        assert!(wb.contains("name=\"Traffic\"") && wb.contains("name=\"Summary\""));
        let strings = read_entry(&a, "xl/sharedStrings.xml");
        assert!(strings.contains("2023-11-14 22:13:20"), "first row time");
        assert!(strings.contains("dev-1") && strings.contains("ALL"));

        let mut other = p.clone();
        other.device_id = "dev-2".into();
        assert_ne!(workbook_for(&other, 24, true), a);
        let single = workbook_for(&p, 24, false);
        assert!(
            !names(&single)
                .iter()
                .any(|x| x == "xl/worksheets/sheet2.xml")
        );
    }

    #[test]
    fn by_default_a_report_holds_one_row_per_step_inside_its_window() {
        use crate::clock::utc_datetime;
        // 2026-11-01T00:00:00Z
        let t = 1_793_491_200;
        let cases = [
            // (granularity, window seconds, rows)
            (1, 3600, 1),
            (1, 86_400, 24),
            (1, 25 * 3600, 25),
            (2, 86_400, 1),
            (2, 23 * 3600, 1),
            (2, 25 * 3600, 1),
            (2, 7 * 86_400, 7),
            (4, 3600, 12),
            (3, 300, 5),
        ];
        let cache = WorkbookCache::new(None, true);
        for (granularity, span, rows) in cases {
            let p = Params::new("mna-device-1", t, t + span, granularity);
            assert_eq!(window_rows(&p), rows, "{p:?}");
            let book = cache.get(&p).expect("workbook");
            let sheet = read_entry(&book, "xl/worksheets/sheet1.xml");
            assert_eq!(sheet.matches("<row ").count(), rows + 1, "{p:?}");
            let text = sheet + &read_entry(&book, "xl/sharedStrings.xml");
            let step = p.step_seconds();
            for i in 0..rows as i64 {
                let at = t + i * step;
                assert!(at >= p.begin && at < p.end);
                assert!(text.contains(&utc_datetime(at)), "{p:?} row {i}");
            }
            let after = t + rows as i64 * step;
            assert!(after + step / 2 >= p.end, "{p:?}: a step left out");
        }
    }

    #[test]
    fn long_device_id_is_cut_not_refused() {
        let p = Params::new("x".repeat(40_000), 0, 1, 1);
        assert!(try_workbook_for(&p, 2, true).is_ok());
    }

    #[test]
    fn cache_returns_same_bytes() {
        let c = WorkbookCache::new(Some(5), false);
        let p = Params::new("d", 0, 10, 2);
        let a = c.get(&p).expect("generated");
        let b = c.get(&p).expect("cached");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(*a, workbook_for(&p, 5, false));
    }

    #[test]
    fn large_file_is_valid_xlsx() {
        let base = workbook_for(&Params::new("d", 0, 10, 1), 3, true);
        let target = 3 << 20;
        let lf = build_large_file(&base, target).expect("large file");
        assert!(lf.len >= target && lf.len <= target + 4096, "{}", lf.len);
        let bytes = std::fs::read(lf.path()).expect("read");
        assert_eq!(bytes.len() as u64, lf.len);
        let n = names(&bytes);
        assert!(n.iter().any(|x| x == "xl/workbook.xml"));
        assert!(n.iter().any(|x| x == PADDING_ENTRY));
        assert!(read_entry(&bytes, "[Content_Types].xml").contains("Extension=\"bin\""));
        assert_eq!(lf.sha256().map(|s| s.len()), Some(64));
    }

    #[test]
    fn bad_files() {
        let z = not_xlsx_zip();
        let n = names(&z);
        assert!(
            !n.iter()
                .any(|x| x == "xl/workbook.xml" || x == "[Content_Types].xml")
        );
        let g = garbage(4096);
        assert_eq!(g.len(), 4096);
        assert!(ZipArchive::new(Cursor::new(&g[..])).is_err());
    }
}
