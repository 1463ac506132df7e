//! End-to-end tests over HTTP with a reqwest client, and their helpers.

mod api;
mod download;
mod faults;
mod metadata;

use serde_json::{Value, json};

use crate::sign::{canonical_request, sha256_hex, sign_canonical};
use crate::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, FakeConfig, FakeMna, unix_now};

pub(crate) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// The kind of the first `io::Error` in an error's source chain.
pub(crate) fn io_kind(err: &reqwest::Error) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = e.source();
    }
    None
}

pub(crate) fn body() -> Value {
    json!({"DeviceId": "dev-1", "BeginTime": 1_700_000_000, "EndTime": 1_700_086_400, "TimeGranularity": 1})
}

pub(crate) async fn start(cfg: FakeConfig) -> FakeMna {
    FakeMna::start(cfg).await.expect("fake starts")
}

/// A hand-built, signed `POST /`, every part of which a test may spoil.
#[derive(Clone)]
pub(crate) struct Req {
    pub url: String,
    pub host: String,
    pub body: Vec<u8>,
    pub secret_id: String,
    pub secret_key: String,
    pub token: Option<String>,
    pub timestamp: i64,
    pub date: Option<String>,
    pub service: String,
    pub action: String,
    pub version: String,
    pub content_type: String,
    pub signed_headers: Vec<String>,
    /// Extra headers, sent (and signable).
    pub extra: Vec<(String, String)>,
    /// Replaces the computed Authorization header.
    pub authorization: Option<String>,
    /// Sent instead of `body` (after signing `body`).
    pub sent_body: Option<Vec<u8>>,
}

impl Req {
    pub fn new(fake: &FakeMna, body: &Value) -> Req {
        Req {
            url: format!("{}/", fake.endpoint()),
            host: fake.host(),
            body: serde_json::to_vec(body).expect("json"),
            secret_id: DEFAULT_SECRET_ID.into(),
            secret_key: DEFAULT_SECRET_KEY.into(),
            token: None,
            timestamp: unix_now(),
            date: None,
            service: "mna".into(),
            action: "GetStatisticData".into(),
            version: "2021-01-19".into(),
            content_type: "application/json".into(),
            signed_headers: vec!["content-type".into(), "host".into()],
            extra: Vec::new(),
            authorization: None,
            sent_body: None,
        }
    }

    fn header_value(&self, name: &str) -> String {
        match name {
            "content-type" => self.content_type.clone(),
            "host" => self.host.clone(),
            "x-tc-action" => self.action.clone(),
            "x-tc-version" => self.version.clone(),
            "x-tc-timestamp" => self.timestamp.to_string(),
            other => self
                .extra
                .iter()
                .find(|(n, _)| n == other)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        }
    }

    pub fn auth(&self) -> String {
        if let Some(a) = &self.authorization {
            return a.clone();
        }
        let date = self
            .date
            .clone()
            .unwrap_or_else(|| crate::clock::utc_date(self.timestamp));
        let values: Vec<(String, String)> = self
            .signed_headers
            .iter()
            .map(|n| (n.clone(), self.header_value(n)))
            .collect();
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let canonical = canonical_request("POST", &pairs, &sha256_hex(&self.body));
        let sig = sign_canonical(
            &self.secret_key,
            &self.service,
            &date,
            self.timestamp,
            &canonical,
        );
        format!(
            "TC3-HMAC-SHA256 Credential={}/{date}/{}/tc3_request, SignedHeaders={}, Signature={sig}",
            self.secret_id,
            self.service,
            self.signed_headers.join(";")
        )
    }

    pub fn build(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        let mut rb = client
            .post(&self.url)
            .header("Content-Type", &self.content_type)
            .header("X-TC-Action", &self.action)
            .header("X-TC-Version", &self.version)
            .header("X-TC-Timestamp", self.timestamp.to_string())
            .header("Authorization", self.auth())
            .body(self.sent_body.clone().unwrap_or_else(|| self.body.clone()));
        if let Some(t) = &self.token {
            rb = rb.header("X-TC-Token", t);
        }
        for (n, v) in &self.extra {
            rb = rb.header(n, v);
        }
        rb
    }

    pub async fn send(&self, client: &reqwest::Client) -> reqwest::Result<reqwest::Response> {
        self.build(client).send().await
    }

    /// Sends and parses the JSON answer (asserting HTTP 200).
    pub async fn call(&self, client: &reqwest::Client) -> Value {
        let resp = self.send(client).await.expect("answer");
        assert_eq!(resp.status(), 200);
        let bytes = resp.bytes().await.expect("body");
        serde_json::from_slice(&bytes).expect("json answer")
    }

    /// The error code of the answer, or "Ok".
    pub async fn code(&self, client: &reqwest::Client) -> String {
        let v = self.call(client).await;
        assert!(v["Response"]["RequestId"].is_string(), "{v}");
        match v["Response"]["Error"]["Code"].as_str() {
            Some(c) => c.to_owned(),
            None => {
                assert!(v["Response"]["FilePath"].is_string(), "{v}");
                "Ok".into()
            }
        }
    }

    /// Calls and returns (FilePath, RequestId) of a successful answer.
    pub async fn ok(&self, client: &reqwest::Client) -> (String, String) {
        let v = self.call(client).await;
        let path = v["Response"]["FilePath"].as_str();
        let id = v["Response"]["RequestId"].as_str();
        match (path, id) {
            (Some(p), Some(i)) => (p.to_owned(), i.to_owned()),
            _ => panic!("not a success: {v}"),
        }
    }
}
