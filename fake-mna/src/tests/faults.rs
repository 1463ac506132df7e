//! API faults as a client sees them.

use std::io::{Read, Write};
use std::time::Duration;

use super::{Req, body, client, io_kind, start};
use crate::{FakeConfig, Fault, Outcome};

#[tokio::test]
async fn api_faults_are_fifo_and_skip_rejected_calls() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    fake.push_fault(Fault::api_error("InternalError"));
    fake.push_fault(Fault::ApiError {
        code: "InternalError.FileIOError".into(),
        message: "disk".into(),
    });
    fake.push_api_faults(2, Fault::api_error("RequestLimitExceeded"));
    assert_eq!(fake.pending_faults(), (4, 0));

    let good = Req::new(&fake, &body());
    let mut bad = good.clone();
    bad.secret_key = "wrong".into();
    assert_eq!(bad.code(&c).await, "AuthFailure.SignatureFailure");
    let invalid = Req::new(&fake, &serde_json::json!({"DeviceId": "d"}));
    assert_eq!(invalid.code(&c).await, "MissingParameter");
    assert_eq!(
        fake.pending_faults(),
        (4, 0),
        "not consumed by rejected calls"
    );

    assert_eq!(good.code(&c).await, "InternalError");
    let v = good.call(&c).await;
    assert_eq!(v["Response"]["Error"]["Code"], "InternalError.FileIOError");
    assert_eq!(v["Response"]["Error"]["Message"], "disk");
    assert_eq!(good.code(&c).await, "RequestLimitExceeded");
    assert_eq!(good.code(&c).await, "RequestLimitExceeded");
    assert_eq!(good.code(&c).await, "Ok");
    assert_eq!(fake.rate_limited_count(), 0, "injected, not limited");

    let calls = fake.calls();
    assert_eq!(calls[2].fault.as_deref(), Some("ApiError(InternalError)"));
    assert_eq!(calls[2].outcome.error_code(), Some("InternalError"));
    assert!(calls[6].fault.is_none() && calls[6].outcome.is_ok());
}

#[tokio::test]
async fn http_status_fault() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    fake.push_fault(Fault::HttpStatus(502));
    let resp = Req::new(&fake, &body()).send(&c).await.expect("answer");
    assert_eq!(resp.status(), 502);
    let text = resp.text().await.expect("text");
    assert!(text.contains("502 Bad Gateway"), "{text}");
    assert_eq!(fake.calls()[0].outcome, Outcome::Http(502));
}

#[tokio::test]
async fn reset_fault_is_a_connection_error() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    // Warm a pooled connection first: the reset must not be retried away.
    assert_eq!(Req::new(&fake, &body()).code(&c).await, "Ok");
    fake.push_fault(Fault::Reset);
    let err = Req::new(&fake, &body())
        .send(&c)
        .await
        .expect_err("no answer");
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    assert!(err.is_request(), "{err:?}");
    assert_eq!(
        io_kind(&err),
        Some(std::io::ErrorKind::ConnectionReset),
        "{err:?}"
    );
    assert_eq!(fake.calls()[1].outcome, Outcome::Reset);
    // The client (and the fake) carry on.
    assert_eq!(Req::new(&fake, &body()).code(&c).await, "Ok");
    assert_eq!(fake.calls().len(), 3);
}

#[tokio::test]
async fn reset_fault_sends_rst_and_no_bytes() {
    let fake = start(FakeConfig::default()).await;
    fake.push_fault(Fault::Reset);
    let req = Req::new(&fake, &body());
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nX-TC-Action: GetStatisticData\r\nX-TC-Version: 2021-01-19\r\nX-TC-Timestamp: {}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        req.host,
        req.timestamp,
        req.auth(),
        req.body.len()
    );
    let addr = fake.addr();
    let body = req.body.clone();
    let got = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(raw.as_bytes()).expect("write head");
        s.write_all(&body).expect("write body");
        let mut buf = Vec::new();
        let r = s.read_to_end(&mut buf);
        (r.map_err(|e| e.kind()), buf)
    })
    .await
    .expect("join");
    assert_eq!(got.1, b"", "no response bytes");
    assert_eq!(got.0, Err(std::io::ErrorKind::ConnectionReset));
}

#[tokio::test]
async fn delay_fault_trips_client_timeouts() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    fake.push_fault(Fault::Delay(Duration::from_secs(30)));
    let err = Req::new(&fake, &body())
        .build(&c)
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .expect_err("times out");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(fake.calls()[0].fault.as_deref(), Some("Delay(30s)"));

    fake.push_fault(Fault::Delay(Duration::from_millis(50)));
    assert_eq!(Req::new(&fake, &body()).code(&c).await, "Ok", "short delay");
}

#[tokio::test]
async fn hold_fault_answers_once_the_gate_opens() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    let gate = crate::Gate::new();
    fake.push_fault(Fault::Hold(gate.clone()));
    let held = tokio::spawn(Req::new(&fake, &body()).build(&c).send());
    // The call is recorded as it arrives; its answer waits at the gate.
    let start = std::time::Instant::now();
    while fake.calls().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "no call arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!held.is_finished(), "answered before the gate opened");
    assert_eq!(fake.calls()[0].fault.as_deref(), Some("Hold"));
    gate.open();
    let answer = held.await.expect("join").expect("answer");
    assert_eq!(answer.status(), 200);
    // An open gate holds nothing.
    fake.push_fault(Fault::Hold(gate));
    assert_eq!(Req::new(&fake, &body()).code(&c).await, "Ok");
}

#[tokio::test]
async fn expire_url_fault() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    fake.push_fault(Fault::ExpireUrl);
    let (url, _) = Req::new(&fake, &body()).ok(&c).await;
    let resp = c.get(&url).send().await.expect("answer");
    assert_eq!(resp.status(), 403);
    let text = resp.text().await.expect("text");
    assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
    let (url, _) = Req::new(&fake, &body()).ok(&c).await;
    assert_eq!(c.get(&url).send().await.expect("answer").status(), 200);
}

#[tokio::test]
async fn raw_and_huge_api_answers() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    fake.push_fault(Fault::ApiAnswer(
        r#"{"Response": {"RequestId": "r"}}"#.into(),
    ));
    let good = Req::new(&fake, &body());
    let v = good.call(&c).await;
    assert_eq!(v, serde_json::json!({"Response": {"RequestId": "r"}}));
    assert_eq!(fake.calls()[0].outcome, Outcome::Raw);

    fake.push_fault(Fault::ApiHugeAnswer {
        bytes: 2 << 20,
        chunked: true,
    });
    let resp = good.send(&c).await.expect("answer");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), None, "chunked");
    let bytes = resp.bytes().await.expect("body");
    assert_eq!(bytes.len(), 2 << 20);
    assert!(bytes.starts_with(br#"{"Response": {"RequestId": ""#));

    fake.push_fault(Fault::ApiHugeAnswer {
        bytes: 5000,
        chunked: false,
    });
    let resp = good.send(&c).await.expect("answer");
    assert_eq!(resp.content_length(), Some(5000));
    assert_eq!(
        fake.calls()[2].fault.as_deref(),
        Some("ApiHugeAnswer(5000, chunked: false)")
    );
}
