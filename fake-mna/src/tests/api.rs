//! `POST /`: authentication, validation, the rate limiter, records.

use std::time::Duration;

use serde_json::json;

use super::{Req, body, client, start};
use crate::{Credential, FakeConfig, Outcome, Params, unix_now};

#[tokio::test]
async fn success_is_recorded_and_downloadable() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    let (url, request_id) = Req::new(&fake, &body()).ok(&c).await;
    assert!(
        url.starts_with(&format!("{}/files/", fake.endpoint())),
        "{url}"
    );
    assert!(url.contains(".xlsx?sign="), "{url}");
    assert_eq!(request_id.len(), 36);

    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.secret_id.as_deref(), Some("AKIDfake"));
    assert_eq!(
        call.params,
        Some(Params::new("dev-1", 1_700_000_000, 1_700_086_400, 1))
    );
    assert_eq!(call.body, body());
    assert_eq!(call.header("x-tc-action"), Some("GetStatisticData"));
    assert_eq!(
        call.outcome,
        Outcome::Ok {
            request_id: request_id.clone(),
            file_url: url.clone()
        }
    );

    let resp = c.get(&url).send().await.expect("download");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], crate::XLSX_CONTENT_TYPE);
    let len: usize = resp.headers()["content-length"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number");
    let bytes = resp.bytes().await.expect("bytes");
    assert_eq!(bytes.len(), len);
    let served = fake.served_file(&request_id).expect("served");
    assert_eq!(bytes.as_ref(), served.as_slice());
    assert_eq!(
        fake.served_sha256(&request_id),
        Some(crate::sign::sha256_hex(&bytes))
    );
    let params = Params::new("dev-1", 1_700_000_000, 1_700_086_400, 1);
    assert_eq!(served, crate::workbook_for(&params, 24, true));
    let downloads = fake.downloads();
    assert_eq!(downloads.len(), 1);
    assert_eq!(downloads[0].request_id, request_id);
    assert_eq!(downloads[0].status, 200);
    assert_eq!(downloads[0].bytes_sent, len as u64);
    assert_eq!(fake.ok_calls(), 1);
}

#[tokio::test]
async fn signature_is_checked_over_the_exact_request() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    let base = Req::new(&fake, &body());

    let mut r = base.clone();
    r.secret_key = "another-key".into();
    assert_eq!(r.code(&c).await, "AuthFailure.SignatureFailure");

    let mut r = base.clone();
    r.sent_body = Some(serde_json::to_vec(&json!({"DeviceId": "dev-2", "BeginTime": 1_700_000_000, "EndTime": 1_700_086_400, "TimeGranularity": 1})).expect("json"));
    assert_eq!(
        r.code(&c).await,
        "AuthFailure.SignatureFailure",
        "tampered body"
    );

    let mut r = base.clone();
    r.host = "mna.tencentcloudapi.com".into();
    assert_eq!(
        r.code(&c).await,
        "AuthFailure.SignatureFailure",
        "other host signed"
    );

    let mut r = base.clone();
    r.date = Some("2001-01-01".into());
    assert_eq!(
        r.code(&c).await,
        "AuthFailure.SignatureFailure",
        "wrong date"
    );

    let mut r = base.clone();
    r.service = "cvm".into();
    assert_eq!(
        r.code(&c).await,
        "AuthFailure.SignatureFailure",
        "wrong service"
    );

    let mut r = base.clone();
    r.secret_id = "AKIDunknown".into();
    assert_eq!(r.code(&c).await, "AuthFailure.SecretIdNotFound");

    let mut r = base.clone();
    r.authorization = Some("TC3-HMAC-SHA256 Credential=AKIDfake, Signature=00".into());
    assert_eq!(r.code(&c).await, "AuthFailure.InvalidAuthorization");

    let mut r = base.clone();
    r.signed_headers = vec!["host".into()];
    assert_eq!(r.code(&c).await, "AuthFailure.InvalidAuthorization");

    let mut r = base.clone();
    r.timestamp = unix_now() - 301;
    assert_eq!(r.code(&c).await, "AuthFailure.SignatureExpire");
    r.timestamp = unix_now() + 400;
    assert_eq!(r.code(&c).await, "AuthFailure.SignatureExpire");

    let mut r = base.clone();
    r.action = "DeleteDevice".into();
    assert_eq!(r.code(&c).await, "InvalidAction");

    // the listing actions go through the same checks
    let listing = Req::new(&fake, &json!({"PageSize": 100, "PageNumber": 1}));
    let mut r = listing.clone();
    r.action = "GetDevices".into();
    r.secret_key = "another-key".into();
    assert_eq!(r.code(&c).await, "AuthFailure.SignatureFailure");
    let mut r = listing.clone();
    r.action = "GetGroupDetail".into();
    assert_eq!(
        r.code(&c).await,
        "MissingParameter",
        "signed, but no GroupId"
    );

    let mut r = base.clone();
    r.version = "2020-01-01".into();
    assert_eq!(r.code(&c).await, "NoSuchVersion");

    let mut r = base.clone();
    r.content_type = "text/plain".into();
    assert_eq!(r.code(&c).await, "InvalidParameter");

    // What a real client may legitimately do.
    let mut r = base.clone();
    r.content_type = "application/json; charset=utf-8".into();
    assert_eq!(r.code(&c).await, "Ok", "charset signed as sent");

    let mut r = base.clone();
    r.signed_headers = vec!["x-tc-action".into(), "content-type".into(), "host".into()];
    assert_eq!(
        r.code(&c).await,
        "Ok",
        "more signed headers, in their order"
    );

    let mut r = base.clone();
    r.body = br#"{"DeviceId": "dev-1", "BeginTime": 1700000000, "EndTime": 1700086400, "TimeGranularity": 1}"#.to_vec();
    assert_eq!(r.code(&c).await, "Ok", "json.dumps spacing");

    let mut r = base.clone();
    r.token = Some("not-needed".into());
    assert_eq!(
        r.code(&c).await,
        "Ok",
        "a token is ignored for permanent keys"
    );

    let failed = fake
        .calls()
        .iter()
        .filter(|c| c.outcome.error_code().is_some())
        .count();
    assert_eq!(failed, 15);
}

#[tokio::test]
async fn unsigned_payload_is_supported() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    let mut r = Req::new(&fake, &body());
    r.extra = vec![("x-tc-content-sha256".into(), "UNSIGNED-PAYLOAD".into())];
    r.sent_body = Some(r.body.clone());
    r.body = b"UNSIGNED-PAYLOAD".to_vec();
    assert_eq!(r.code(&c).await, "Ok");
}

#[tokio::test]
async fn token_credentials() {
    let cfg = FakeConfig {
        credentials: vec![
            Credential::new("AKIDtok", "tok-key").with_token("the-token"),
            Credential::new("AKIDplain", "plain-key"),
        ],
        ..FakeConfig::default()
    };
    let fake = start(cfg).await;
    let c = client();
    let mut r = Req::new(&fake, &body());
    r.secret_id = "AKIDtok".into();
    r.secret_key = "tok-key".into();
    assert_eq!(
        r.code(&c).await,
        "AuthFailure.TokenFailure",
        "missing token"
    );
    r.token = Some("wrong".into());
    assert_eq!(r.code(&c).await, "AuthFailure.TokenFailure", "wrong token");
    r.token = Some("the-token".into());
    assert_eq!(r.code(&c).await, "Ok");
    assert_eq!(fake.calls()[2].token.as_deref(), Some("the-token"));

    let mut r = Req::new(&fake, &body());
    r.secret_id = "AKIDplain".into();
    r.secret_key = "plain-key".into();
    assert_eq!(r.code(&c).await, "Ok");
    r.secret_id = "AKIDfake".into();
    r.secret_key = crate::DEFAULT_SECRET_KEY.into();
    assert_eq!(
        r.code(&c).await,
        "AuthFailure.SecretIdNotFound",
        "not configured"
    );
}

#[tokio::test]
async fn body_is_validated_after_authentication() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    let cases = [
        (
            json!({"BeginTime": 1, "EndTime": 2, "TimeGranularity": 1}),
            "MissingParameter",
        ),
        (
            json!({"DeviceId": "d", "BeginTime": 1, "EndTime": 2, "TimeGranularity": 1, "Foo": 1}),
            "InvalidParameter",
        ),
        (
            json!({"DeviceId": "d", "BeginTime": 3, "EndTime": 2, "TimeGranularity": 1}),
            "InvalidParameter",
        ),
        (
            json!({"DeviceId": "d", "BeginTime": 1, "EndTime": 2, "TimeGranularity": 1, "DeviceList": ["a", "b"], "GroupId": "g", "AccessRegion": "AP", "GatewayType": 1}),
            "Ok",
        ),
    ];
    for (b, expected) in cases {
        assert_eq!(Req::new(&fake, &b).code(&c).await, expected, "{b}");
    }
    let mut r = Req::new(&fake, &body());
    r.body = b"{not json".to_vec();
    assert_eq!(r.code(&c).await, "InvalidParameter");
    assert_eq!(fake.calls()[4].body, serde_json::Value::Null);
}

#[tokio::test]
async fn rate_limiter_refuses_the_21st_call_within_a_second() {
    let fake = start(FakeConfig {
        rate_limit: Some(20),
        ..FakeConfig::default()
    })
    .await;
    let c = client();
    let req = Req::new(&fake, &body());
    let mut tasks = Vec::new();
    for _ in 0..21 {
        let (req, c) = (req.clone(), c.clone());
        tasks.push(tokio::spawn(async move { req.code(&c).await }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.expect("task"));
    }
    let calls = fake.calls();
    let first = calls.iter().map(|c| c.at).min().expect("calls");
    let last = calls.iter().map(|c| c.at).max().expect("calls");
    let span = last.duration_since(first).unwrap_or_default();
    // All 21 normally arrive within milliseconds; on a machine slow enough
    // to spread them over a second there is nothing to refuse.
    if span < Duration::from_millis(900) {
        assert_eq!(fake.rate_limited_count(), 1, "{codes:?}");
        assert_eq!(
            codes
                .iter()
                .filter(|c| *c == "RequestLimitExceeded")
                .count(),
            1
        );
        assert_eq!(calls.iter().filter(|c| c.rate_limited).count(), 1);
    }
    // A wrongly signed call does not reach the limiter.
    let mut bad = req.clone();
    bad.secret_key = "x".into();
    assert_eq!(bad.code(&c).await, "AuthFailure.SignatureFailure");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(req.code(&c).await, "Ok", "accepted again a second later");
}

#[tokio::test]
async fn answers_and_downloads_take_the_configured_delay_and_calls_in_flight_are_counted() {
    let fake = start(FakeConfig {
        answer_delay: crate::Delay::fixed(Duration::from_millis(300)),
        download_delay: crate::Delay::between(
            Duration::from_millis(200),
            Duration::from_millis(250),
        ),
        ..FakeConfig::default()
    })
    .await;
    let c = client();
    let req = Req::new(&fake, &body());
    let started = std::time::Instant::now();
    let (url, _) = req.ok(&c).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "answer too early"
    );
    let started = std::time::Instant::now();
    assert_eq!(c.get(&url).send().await.expect("download").status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "download too early"
    );
    // three calls at once are all being answered together
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (req, c) = (req.clone(), c.clone());
        tasks.push(tokio::spawn(async move { req.code(&c).await }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), "Ok");
    }
    assert_eq!(fake.max_calls_in_flight(), 3);
}

#[test]
fn a_delay_range_draws_within_it() {
    let d = crate::Delay::between(Duration::from_millis(50), Duration::from_millis(10));
    for _ in 0..200 {
        let x = d.draw();
        assert!((Duration::from_millis(10)..=Duration::from_millis(50)).contains(&x));
    }
    assert_eq!(crate::Delay::default().draw(), Duration::ZERO);
}
