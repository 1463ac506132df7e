//! The `fake-mna` binary: startup line, serving, summary on SIGTERM; and a
//! fake started on its own runtime from synchronous code.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use fake_mna::{FakeConfig, FakeMna, authorization, unix_now};

#[tokio::test]
async fn binary_serves_and_summarises_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-mna"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--secret-id",
            "AKIDbin",
            "--secret-key",
            "bin-key",
        ])
        .args(["--rate-limit", "20", "--rows", "3", "--url-ttl", "10m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("line");
    let endpoint = line
        .trim()
        .strip_prefix("listening ")
        .expect("listening line")
        .to_owned();
    let host = endpoint.trim_start_matches("http://").to_owned();

    let body =
        br#"{"DeviceId":"-1","BeginTime":1700000000,"EndTime":1700086400,"TimeGranularity":2}"#;
    let ts = unix_now();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let resp = client
        .post(format!("{endpoint}/"))
        .header("Content-Type", "application/json")
        .header("X-TC-Action", "GetStatisticData")
        .header("X-TC-Version", "2021-01-19")
        .header("X-TC-Timestamp", ts.to_string())
        .header(
            "Authorization",
            authorization(
                "AKIDbin",
                "bin-key",
                "mna",
                &host,
                "application/json",
                body,
                ts,
            ),
        )
        .body(body.to_vec())
        .send()
        .await
        .expect("answer");
    let v: serde_json::Value =
        serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
    let url = v["Response"]["FilePath"].as_str().expect("FilePath");
    let file = client.get(url).send().await.expect("download");
    assert_eq!(file.status(), 200);
    assert!(file.bytes().await.expect("bytes").starts_with(b"PK"));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(child.wait().expect("wait").success());
    let summary: serde_json::Value = serde_json::from_str(err.trim()).expect("one JSON line");
    assert_eq!(summary["calls"], 1);
    assert_eq!(summary["ok"], 1);
    assert_eq!(summary["rate_limited"], 0);
    assert_eq!(summary["downloads"], 1);
}

#[test]
fn background_start_from_sync_code() {
    let fake =
        FakeMna::start_background("127.0.0.1:0".parse().expect("addr"), FakeConfig::default())
            .expect("starts");
    let mut s = std::net::TcpStream::connect(fake.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /latest/meta-data/cam/security-credentials/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert_eq!(fake.metadata_requests(), 1);
    let addr = fake.addr();
    drop(fake);
    // The server goes away with its last handle.
    let mut gone = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_err() {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone, "still accepting after the last handle was dropped");
}
