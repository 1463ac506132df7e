//! The rows download (`/api/reports/{id}/rows.csv`): streamed from the
//! history a batch at a time, whatever the report's size, and safe to open
//! in a spreadsheet.

use crate::common;

use common::{FETCH_ONE_HOUR, HOURLY, World};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

/// A running `serve`, killed when dropped (a failed assertion too).
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `serve` on `w`'s history; its address.
fn serve(w: &World) -> (Serving, SocketAddr) {
    let mut child = Serving(
        w.cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .and_then(Result::ok)
        .expect("serve prints its address");
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    let addr = first
        .rsplit("http://")
        .next()
        .and_then(|a| a.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    (child, addr)
}

/// `VmHWM` of a live process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    common::rss::vm_hwm(pid).expect("the process still runs")
}

/// GET `path`; calls `each` with every line of the (chunked) body, not
/// keeping it.
fn get_lines(addr: SocketAddr, path: &str, mut each: impl FnMut(&str)) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(300)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut chunked = false;
    loop {
        line.clear();
        r.read_line(&mut line).expect("header");
        if line.trim().is_empty() {
            break;
        }
        chunked |= line
            .to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked");
    }
    let mut partial = Vec::new();
    let mut split = |partial: &mut Vec<u8>| {
        while let Some(end) = partial.iter().position(|b| *b == b'\n') {
            each(&String::from_utf8_lossy(&partial[..end]));
            partial.drain(..=end);
        }
    };
    if !chunked {
        // A body with a length (or to the close): read it as it comes.
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = r.read(&mut buf).expect("body");
            if n == 0 {
                break;
            }
            partial.extend_from_slice(&buf[..n]);
            split(&mut partial);
        }
        return status;
    }
    loop {
        line.clear();
        if r.read_line(&mut line).expect("chunk size") == 0 {
            break;
        }
        let size = usize::from_str_radix(line.trim(), 16).expect("hex size");
        if size == 0 {
            break;
        }
        let mut chunk = vec![0; size + 2];
        r.read_exact(&mut chunk).expect("chunk");
        chunk.truncate(size);
        partial.extend_from_slice(&chunk);
        split(&mut partial);
    }
    status
}

/// A report of a million rows (a 25 MiB history table, 50 MB of CSV)
/// downloads with the server's peak RSS far under 64 MiB: before, the
/// whole table was read into memory and the CSV built in one buffer (874
/// MiB for these rows in a debug build; 909 MB for a million real rows).
#[test]
fn a_million_row_report_downloads_with_flat_memory() {
    let w = World::new(HOURLY);
    let o = w.run(&FETCH_ONE_HOUR);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let db = w.db();
    let id: i64 = db
        .query_row("SELECT id FROM reports WHERE status = 'ok'", [], |r| {
            r.get(0)
        })
        .expect("an ok report");
    db.execute_batch(&format!(
        "DELETE FROM report_rows WHERE report_id = {id};
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
         INSERT INTO report_rows (report_id, sheet, row_number, data)
           SELECT {id}, 'Traffic', i,
                  json_object('DeviceId', 'd' || (i % 97), 'UpBytes', i, 'DownBytes', i * 2)
           FROM n;"
    ))
    .expect("a million rows");
    drop(db);
    let (child, addr) = serve(&w);
    let mut lines = 0u64;
    let mut last = String::new();
    let status = get_lines(addr, &format!("/api/reports/{id}/rows.csv"), |l| {
        if lines == 0 {
            assert_eq!(l, "sheet,row,DeviceId,DownBytes,UpBytes");
        }
        lines += 1;
        last = l.to_string();
    });
    let peak = peak_rss(child.0.id());
    drop(child);
    assert_eq!(status, 200);
    assert_eq!(lines, 1_000_001, "a header and every row");
    assert_eq!(last, "Traffic,1000000,d27,2000000,1000000");
    let mib = peak as f64 / (1024.0 * 1024.0);
    eprintln!("serve's peak RSS over a 1,000,000-row download: {mib:.1} MiB");
    assert!(mib < 48.0, "serve peaked at {mib:.1} MiB");
}

/// Cells a spreadsheet would run as formulas come out quoted (`'=...`);
/// numbers, negative ones too, stay numbers.
#[test]
fn the_rows_download_neutralises_formulas() {
    let w = World::new(HOURLY);
    let o = w.run(&FETCH_ONE_HOUR);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let db = w.db();
    let id: i64 = db
        .query_row("SELECT id FROM reports WHERE status = 'ok'", [], |r| {
            r.get(0)
        })
        .expect("an ok report");
    db.execute(
        "INSERT INTO report_rows (report_id, sheet, row_number, data) VALUES (?1, '=Sheet', 99999, ?2)",
        rusqlite::params![
            id,
            r#"{"@key":"x","A":"=HYPERLINK(\"http://evil\",\"x\")","B":"+cmd|' /C calc'!A0","C":-5,"D":"-3","E":"@SUM(A1)","F":"\t=1"}"#
        ],
    )
    .expect("hostile row");
    drop(db);
    let (child, addr) = serve(&w);
    let mut rows = Vec::new();
    let status = get_lines(addr, &format!("/api/reports/{id}/rows.csv"), |l| {
        rows.push(l.to_string())
    });
    drop(child);
    assert_eq!(status, 200);
    let text = rows.join("\n");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    assert!(header.contains(&"'@key".to_string()), "{header:?}");
    let hostile = rdr
        .records()
        .map(|r| r.expect("record"))
        .find(|r| r.get(0) == Some("'=Sheet"))
        .expect("the hostile row, its sheet quoted");
    assert_eq!(&hostile[at("A")], "'=HYPERLINK(\"http://evil\",\"x\")");
    assert_eq!(&hostile[at("B")], "'+cmd|' /C calc'!A0");
    assert_eq!(&hostile[at("C")], "-5");
    assert_eq!(&hostile[at("D")], "-3");
    assert_eq!(&hostile[at("E")], "'@SUM(A1)");
    assert_eq!(&hostile[at("F")], "'\t=1");
}
