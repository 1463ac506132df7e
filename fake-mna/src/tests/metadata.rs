//! CVM role credentials from the metadata endpoints.

use std::time::Duration;

use serde_json::Value;

use super::{Req, body, client, start};
use crate::{FakeConfig, unix_now};

async fn get(c: &reqwest::Client, url: &str) -> (u16, String) {
    let resp = c.get(url).send().await.expect("answer");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("text"))
}

#[tokio::test]
async fn role_credentials_are_accepted_until_they_expire() {
    let fake = start(FakeConfig {
        cvm_role: Some("mna-reader".into()),
        cvm_ttl: Duration::from_secs(600),
        ..FakeConfig::default()
    })
    .await;
    let c = client();
    let base = format!("{}cam/security-credentials/", fake.metadata_endpoint());
    assert_eq!(get(&c, &base).await, (200, "mna-reader".into()));
    let (status, doc) = get(&c, &format!("{base}mna-reader")).await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&doc).expect("json");
    assert_eq!(doc["Code"], "Success");
    let expired = doc["ExpiredTime"].as_i64().expect("ExpiredTime");
    assert!((expired - unix_now() - 600).abs() <= 2, "{doc}");
    assert!(
        doc["Expiration"]
            .as_str()
            .expect("Expiration")
            .ends_with('Z')
    );
    assert_eq!(get(&c, &format!("{base}other-role")).await.0, 404);
    assert_eq!(fake.metadata_requests(), 3);

    let issued = fake.issued_temp_credentials();
    assert_eq!(issued.len(), 1);
    assert_eq!(
        issued[0].secret_id,
        doc["TmpSecretId"].as_str().expect("id")
    );

    let mut r = Req::new(&fake, &body());
    r.secret_id = issued[0].secret_id.clone();
    r.secret_key = issued[0].secret_key.clone();
    assert_eq!(r.code(&c).await, "AuthFailure.TokenFailure", "token needed");
    r.token = doc["Token"].as_str().map(str::to_owned);
    assert_eq!(r.code(&c).await, "Ok");
    // The permanent key keeps working alongside.
    assert_eq!(Req::new(&fake, &body()).code(&c).await, "Ok");

    // A second fetch gives a fresh credential; both stay valid.
    let (_, doc2) = get(&c, &format!("{base}mna-reader")).await;
    let doc2: Value = serde_json::from_str(&doc2).expect("json");
    assert_ne!(doc2["TmpSecretId"], doc["TmpSecretId"]);
    assert_eq!(r.code(&c).await, "Ok");
}

#[tokio::test]
async fn expired_role_credentials_are_refused() {
    let fake = start(FakeConfig {
        cvm_role: Some("r".into()),
        cvm_ttl: Duration::ZERO,
        ..FakeConfig::default()
    })
    .await;
    let c = client();
    let (_, doc) = get(
        &c,
        &format!("{}cam/security-credentials/r", fake.metadata_endpoint()),
    )
    .await;
    let doc: Value = serde_json::from_str(&doc).expect("json");
    let mut r = Req::new(&fake, &body());
    r.secret_id = doc["TmpSecretId"].as_str().expect("id").to_owned();
    r.secret_key = doc["TmpSecretKey"].as_str().expect("key").to_owned();
    r.token = doc["Token"].as_str().map(str::to_owned);
    assert_eq!(r.code(&c).await, "AuthFailure.TokenFailure");
}

#[tokio::test]
async fn metadata_is_off_without_a_role() {
    let fake = start(FakeConfig::default()).await;
    let c = client();
    let url = format!("{}cam/security-credentials/", fake.metadata_endpoint());
    assert_eq!(get(&c, &url).await.0, 404);
    assert_eq!(fake.metadata_requests(), 1);
}
