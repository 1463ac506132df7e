//! Downloads: URL validity, download faults, large files and big reports.

use std::io::{Cursor, Read};
use std::time::Duration;

use super::{Req, body, client, io_kind, start};
use crate::{FakeConfig, Fault, PADDING_ENTRY};

fn zip_names(bytes: &[u8]) -> Vec<String> {
    let z = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    z.file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect()
}

async fn issue(fake: &crate::FakeMna, c: &reqwest::Client) -> (String, String) {
    Req::new(fake, &body()).ok(c).await
}

#[tokio::test]
async fn unknown_bad_sign_and_expired_urls() {
    let fake = start(FakeConfig {
        url_ttl: Duration::from_millis(300),
        ..FakeConfig::default()
    })
    .await;
    let c = client();
    let resp = c
        .get(format!("{}/files/nope.xlsx?sign=x", fake.endpoint()))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.expect("text").contains("NoSuchKey"));

    let (url, _) = issue(&fake, &c).await;
    let (base, _) = url.split_once("?sign=").expect("signed url");
    let resp = c
        .get(format!("{base}?sign=00"))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 403);

    fake.push_fault(Fault::DownloadCorrupt);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let resp = c.get(&url).send().await.expect("answer");
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["content-type"], "application/xml");
    assert!(
        resp.text()
            .await
            .expect("text")
            .contains("<Code>AccessDenied</Code>")
    );
    assert_eq!(
        fake.pending_faults(),
        (0, 1),
        "not consumed by refused downloads"
    );
    let statuses: Vec<u16> = fake.downloads().iter().map(|d| d.status).collect();
    assert_eq!(statuses, [404, 403, 403]);
}

#[tokio::test]
async fn download_status_faults() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    let (url, _) = issue(&fake, &c).await;
    for code in [404u16, 403, 500, 503] {
        fake.push_fault(Fault::DownloadStatus(code));
        let resp = c.get(&url).send().await.expect("answer");
        assert_eq!(resp.status(), code);
    }
    assert_eq!(c.get(&url).send().await.expect("answer").status(), 200);
    let d = fake.downloads();
    assert_eq!(d[0].fault.as_deref(), Some("DownloadStatus(404)"));
    assert_eq!(d.len(), 5);
}

#[tokio::test]
async fn download_reset_and_truncated_break_the_body() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    let (url, request_id) = issue(&fake, &c).await;
    let full = fake.served_file(&request_id).expect("file").len() as u64;
    for (fault, kind) in [
        (Fault::DownloadReset, std::io::ErrorKind::ConnectionReset),
        (Fault::DownloadTruncated, std::io::ErrorKind::UnexpectedEof),
    ] {
        fake.push_fault(fault.clone());
        let resp = c.get(&url).send().await.expect("headers arrive");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.content_length(), Some(full));
        let err = resp.bytes().await.expect_err("short body");
        assert!(err.is_decode() || err.is_body(), "{err:?}");
        assert_eq!(io_kind(&err), Some(kind), "{err:?}");
        let last = fake.downloads().pop().expect("record");
        assert_eq!(last.fault, Some(fault.label()));
        assert_eq!(last.bytes_sent, full / 2);
    }
    // The raw view of a truncated body: half the bytes, then EOF.
    fake.push_fault(Fault::DownloadTruncated);
    let addr = fake.addr();
    let path = url
        .strip_prefix(&fake.endpoint())
        .expect("own url")
        .to_owned();
    let (head, got) = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("write");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).expect("clean EOF");
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("headers");
        (
            String::from_utf8_lossy(&buf[..split]).into_owned(),
            buf.len() - split - 4,
        )
    })
    .await
    .expect("join");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {full}")),
        "{head}"
    );
    assert_eq!(got as u64, full / 2);
    // Still fine afterwards.
    let ok = c.get(&url).send().await.expect("answer");
    assert_eq!(ok.bytes().await.expect("body").len() as u64, full);
}

#[tokio::test]
async fn corrupt_and_not_xlsx_downloads() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    let (url, _) = issue(&fake, &c).await;

    fake.push_fault(Fault::DownloadCorrupt);
    let resp = c.get(&url).send().await.expect("answer");
    assert_eq!(resp.status(), 200);
    let len = resp.content_length();
    let bytes = resp.bytes().await.expect("body");
    assert_eq!(len, Some(bytes.len() as u64));
    assert!(zip::ZipArchive::new(Cursor::new(bytes.as_ref())).is_err());

    fake.push_fault(Fault::DownloadNotXlsx);
    let resp = c.get(&url).send().await.expect("answer");
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.expect("body");
    let names = zip_names(&bytes);
    assert!(!names.is_empty());
    assert!(
        !names
            .iter()
            .any(|n| n == "xl/workbook.xml" || n == "[Content_Types].xml")
    );

    fake.push_fault(Fault::DownloadDelay(Duration::from_secs(30)));
    let err = c
        .get(&url)
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .expect_err("times out");
    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn large_file_mode_streams_a_valid_xlsx() {
    let target = 3u64 << 20;
    let fake = start(FakeConfig {
        file_bytes: Some(target),
        ..FakeConfig::default()
    })
    .await;
    let c = client();
    let (url, request_id) = issue(&fake, &c).await;
    let resp = c.get(&url).send().await.expect("answer");
    assert_eq!(resp.content_length(), fake.large_file_len());
    let bytes = resp.bytes().await.expect("body");
    assert!(bytes.len() as u64 >= target);
    let names = zip_names(&bytes);
    assert!(names.iter().any(|n| n == "xl/workbook.xml"));
    assert!(names.iter().any(|n| n == "[Content_Types].xml"));
    assert!(names.iter().any(|n| n == PADDING_ENTRY));
    assert_eq!(fake.served_file(&request_id), None);
    assert_eq!(
        fake.served_sha256(&request_id),
        Some(crate::sign::sha256_hex(&bytes))
    );

    fake.push_fault(Fault::DownloadTruncated);
    let resp = c.get(&url).send().await.expect("answer");
    assert!(resp.bytes().await.is_err());
    assert_eq!(fake.downloads()[1].bytes_sent, bytes.len() as u64 / 2);
}

#[tokio::test]
async fn many_rows_are_generated_once() {
    let rows = 2000;
    let fake = start(FakeConfig {
        rows_per_report: Some(rows),
        with_summary_sheet: false,
        ..FakeConfig::default()
    })
    .await;
    let c = client();
    let (url1, id1) = issue(&fake, &c).await;
    let (url2, id2) = issue(&fake, &c).await;
    assert_ne!(url1, url2);
    let a = c
        .get(&url1)
        .send()
        .await
        .expect("a")
        .bytes()
        .await
        .expect("a");
    let b = c
        .get(&url2)
        .send()
        .await
        .expect("b")
        .bytes()
        .await
        .expect("b");
    assert_eq!(a, b, "same parameters, same bytes");
    assert_eq!(fake.served_sha256(&id1), fake.served_sha256(&id2));
    let mut z = zip::ZipArchive::new(Cursor::new(a.as_ref())).expect("zip");
    let mut sheet = String::new();
    z.by_name("xl/worksheets/sheet1.xml")
        .expect("sheet")
        .read_to_string(&mut sheet)
        .expect("read");
    assert!(sheet.contains(&format!("<row r=\"{}\"", rows + 1)));
    assert!(!sheet.contains(&format!("<row r=\"{}\"", rows + 2)));
}

#[tokio::test]
async fn huge_downloads_chunked_or_declared_and_a_drip() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    let (url, _) = issue(&fake, &c).await;
    fake.push_fault(Fault::DownloadHuge {
        bytes: 3 << 20,
        chunked: true,
    });
    let resp = c.get(&url).send().await.expect("answer");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), None, "chunked");
    assert_eq!(resp.bytes().await.expect("body").len(), 3 << 20);

    fake.push_fault(Fault::DownloadHuge {
        bytes: 1000,
        chunked: false,
    });
    let resp = c.get(&url).send().await.expect("answer");
    assert_eq!(resp.content_length(), Some(1000));
    assert_eq!(resp.bytes().await.expect("body").len(), 1000);

    let whole = c
        .get(&url)
        .send()
        .await
        .expect("answer")
        .bytes()
        .await
        .expect("body");
    fake.push_fault(Fault::DownloadDrip(Duration::from_millis(20)));
    let mut resp = c.get(&url).send().await.expect("answer");
    assert_eq!(resp.content_length(), Some(whole.len() as u64));
    // A byte every 20 ms: a reader late by a busy machine finds a few
    // bytes waiting, never more than a small part of the body.
    let mut got = Vec::new();
    while got.len() < 5 {
        let chunk = resp.chunk().await.expect("chunk").expect("more");
        assert!(
            chunk.len() < whole.len() / 10,
            "a drip, not the body at once: {} of {} bytes",
            chunk.len(),
            whole.len()
        );
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got, whole[..got.len()]);
    let faults: Vec<_> = fake.downloads().into_iter().map(|d| d.fault).collect();
    assert_eq!(
        faults[0].as_deref(),
        Some("DownloadHuge(3145728, chunked: true)")
    );
    assert_eq!(faults[3].as_deref(), Some("DownloadDrip(20ms)"));
}
