//! The MNA API action `GetStatisticData`: its request body, its answer, its
//! errors; [`listing`] has the device listings. [`client`] sends them;
//! everything else here is pure.

pub(crate) use crate::domain::code;
pub(crate) mod client;
pub(crate) mod listing;

use crate::domain::target::{Gateway, Granularity, Region, Selection, Target};
use crate::domain::text;
use crate::domain::window::Window;
use crate::tencent::credentials::CredentialError;
use serde::{Deserialize, Serialize};

pub(crate) use client::Client;

/// API version of the action.
pub(crate) const VERSION: &str = "2021-01-19";
/// The action.
pub(crate) const ACTION: &str = "GetStatisticData";
/// Service name in the credential scope.
pub(crate) const SERVICE: &str = "mna";
/// Content type sent, and signed, byte for byte.
pub(crate) const CONTENT_TYPE: &str = "application/json";

/// The JSON body of `GetStatisticData`, as the official model names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StatisticRequest {
    pub(crate) device_id: String,
    pub(crate) begin_time: i64,
    pub(crate) end_time: i64,
    pub(crate) time_granularity: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) access_region: Option<Region>,
    pub(crate) gateway_type: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) device_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) group_id: Option<String>,
}

impl StatisticRequest {
    /// The request for one report: a target in one region over one window.
    pub(crate) fn new(
        target: &Target,
        region: Option<Region>,
        window: Window,
        granularity: Granularity,
        gateway: Gateway,
    ) -> Self {
        let (device_id, device_list, group_id) = match &target.selection {
            Selection::All => ("-1".to_string(), None, None),
            Selection::Device(d) => (d.clone(), None, None),
            // One device alone is asked for as the API's example does.
            Selection::Devices(list) if list.len() == 1 => (list[0].clone(), None, None),
            Selection::Devices(list) => ("-1".to_string(), Some(list.clone()), None),
            Selection::Group(g) => ("-1".to_string(), None, Some(g.clone())),
        };
        StatisticRequest {
            device_id,
            begin_time: window.start,
            end_time: window.end,
            time_granularity: granularity.code(),
            access_region: region,
            gateway_type: gateway.code(),
            device_list,
            group_id,
        }
    }

    /// The body bytes exactly as sent and signed.
    pub(crate) fn to_body(&self) -> Vec<u8> {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A successful answer: where the file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Success {
    pub(crate) file_path: String,
    pub(crate) request_id: String,
}

/// An error the API answered with (HTTP 200 and `Response.Error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message} (request id {request_id})")]
pub(crate) struct ApiError {
    pub(crate) code: code::ApiCode,
    pub(crate) message: String,
    pub(crate) request_id: String,
}

/// The largest API answer body read; a larger one fails the try.
pub(crate) const MAX_ANSWER: usize = 1024 * 1024;

fn request_id_text(request_id: &Option<String>) -> String {
    request_id
        .as_deref()
        .map(|r| format!(" (request id {r})"))
        .unwrap_or_default()
}

/// Why one API call did not give a file URL.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("API error {0}")]
    Api(ApiError),
    #[error("HTTP {status} from the API endpoint (a gateway or proxy in the way?)")]
    HttpStatus { status: u16 },
    #[error("no answer within the timeout")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    /// The endpoint cannot be reached, and no retry changes that.
    #[error("the API endpoint {}: {detail}", why.what())]
    Unreachable {
        why: crate::tencent::reach::Unreachable,
        detail: String,
    },
    #[error("transport error: {0}")]
    Transport(String),
    /// A 200 that is not a usable answer; the request id when it carried one.
    #[error(
        "unexpected answer from the API: {detail}{}",
        request_id_text(request_id)
    )]
    BadResponse {
        detail: String,
        request_id: Option<String>,
    },
    /// An answer body above [`MAX_ANSWER`] (real ones are under 1 KiB).
    #[error(
        "the API answer is larger than {} (real answers are under 1 KiB): a proxy or server in the way is misbehaving; check api.endpoint and any proxy",
        crate::config::human_size(MAX_ANSWER as u64)
    )]
    ResponseTooLarge { status: u16 },
    #[error("credentials: {0}")]
    Credentials(#[from] CredentialError),
}

impl CallError {
    /// The code recorded in the history: the API's own code, or a local one.
    pub(crate) fn code(&self) -> String {
        match self {
            CallError::Api(e) => e.code.to_string(),
            CallError::HttpStatus { status } => format!("HTTP{status}"),
            CallError::Timeout => "Timeout".to_string(),
            CallError::Connect(_) => "ConnectionError".to_string(),
            CallError::Unreachable { why, .. } => why.code().to_string(),
            CallError::Transport(_) => "TransportError".to_string(),
            CallError::BadResponse { .. } => "BadResponse".to_string(),
            CallError::ResponseTooLarge { .. } => "ResponseTooLarge".to_string(),
            CallError::Credentials(_) => "CredentialError".to_string(),
        }
    }

    pub(crate) fn http_status(&self) -> Option<u16> {
        match self {
            CallError::Api(_) | CallError::BadResponse { .. } => Some(200),
            CallError::HttpStatus { status } | CallError::ResponseTooLarge { status } => {
                Some(*status)
            }
            _ => None,
        }
    }

    pub(crate) fn request_id(&self) -> Option<&str> {
        match self {
            CallError::Api(e) => Some(&e.request_id),
            CallError::BadResponse { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Response")]
    response: Body,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Body {
    file_path: Option<String>,
    request_id: Option<String>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// Interpret an answer: HTTP status and body. Server text (code, message,
/// request id) comes out escaped and capped ([`crate::domain::text`]).
pub(crate) fn parse_response(status: u16, body: &[u8]) -> Result<Success, CallError> {
    if status != 200 {
        return Err(CallError::HttpStatus { status });
    }
    let env: Envelope = match serde_json::from_slice(body) {
        Ok(env) => env,
        Err(e) => {
            return Err(CallError::BadResponse {
                detail: text::clean(
                    &format!("not the API's JSON envelope: {e}"),
                    text::MAX_MESSAGE,
                ),
                request_id: loose_request_id(body),
            });
        }
    };
    let request_id = text::clean(
        &env.response.request_id.unwrap_or_default(),
        text::MAX_FIELD,
    );
    if let Some(err) = env.response.error {
        return Err(CallError::Api(ApiError {
            code: code::ApiCode::new(text::clean(&err.code, text::MAX_FIELD)),
            message: text::clean(&err.message, text::MAX_MESSAGE),
            request_id,
        }));
    }
    match env.response.file_path {
        Some(file_path) if !file_path.is_empty() => Ok(Success {
            file_path,
            request_id,
        }),
        _ => Err(CallError::BadResponse {
            detail: "no FilePath in the answer".to_string(),
            request_id: Some(request_id).filter(|r| !r.is_empty()),
        }),
    }
}

/// `Response.RequestId` of an answer that is JSON but not the expected
/// envelope, so that the failure still names it.
fn loose_request_id(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let id = v.get("Response")?.get("RequestId")?.as_str()?;
    Some(text::clean(id, text::MAX_FIELD)).filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w() -> Window {
        Window {
            start: 1_700_000_000,
            end: 1_700_003_600,
        }
    }

    #[test]
    fn bodies_follow_the_official_model() {
        let all = StatisticRequest::new(
            &Target::new(Selection::All),
            None,
            w(),
            Granularity::Hourly,
            Gateway::Public,
        );
        assert_eq!(
            String::from_utf8(all.to_body()).expect("utf8"),
            r#"{"DeviceId":"-1","BeginTime":1700000000,"EndTime":1700003600,"TimeGranularity":1,"GatewayType":0}"#
        );
        let list = StatisticRequest::new(
            &Target::new(Selection::Devices(vec!["a".into(), "b".into()])),
            Some(Region::EU),
            w(),
            Granularity::Daily,
            Gateway::Private,
        );
        assert_eq!(
            String::from_utf8(list.to_body()).expect("utf8"),
            r#"{"DeviceId":"-1","BeginTime":1700000000,"EndTime":1700003600,"TimeGranularity":2,"AccessRegion":"EU","GatewayType":1,"DeviceList":["a","b"]}"#
        );
        let group = StatisticRequest::new(
            &Target::new(Selection::Group("g1".into())),
            None,
            w(),
            Granularity::FiveMin,
            Gateway::Public,
        );
        assert_eq!(group.group_id.as_deref(), Some("g1"));
        assert_eq!(group.device_id, "-1");
        assert_eq!(group.time_granularity, 4);
        let one = StatisticRequest::new(
            &Target::new(Selection::Device("mna-1".into())),
            Some(Region::MC),
            w(),
            Granularity::Minute,
            Gateway::Public,
        );
        assert_eq!(one.device_id, "mna-1");
        assert_eq!(one.device_list, None);
        let single = StatisticRequest::new(
            &Target::new(Selection::Devices(vec!["mna-9".into()])),
            None,
            w(),
            Granularity::Hourly,
            Gateway::Public,
        );
        assert_eq!(
            String::from_utf8(single.to_body()).expect("utf8"),
            r#"{"DeviceId":"mna-9","BeginTime":1700000000,"EndTime":1700003600,"TimeGranularity":1,"GatewayType":0}"#
        );
    }

    #[test]
    fn parses_success() {
        let ok = parse_response(
            200,
            br#"{"Response": {"RequestId": "r1", "FilePath": "http://x/y.xlsx"}}"#,
        )
        .expect("success");
        assert_eq!(ok.request_id, "r1");
        assert_eq!(ok.file_path, "http://x/y.xlsx");
    }

    #[test]
    fn parses_errors() {
        let e = parse_response(200, br#"{"Response": {"Error": {"Code": "InternalError.FileIOError", "Message": "m"}, "RequestId": "r2"}}"#);
        match e {
            Err(CallError::Api(a)) => {
                assert_eq!(a.code, "InternalError.FileIOError");
                assert_eq!(a.request_id, "r2");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse_response(502, b"<html>bad gateway</html>"),
            Err(CallError::HttpStatus { status: 502 })
        ));
        assert!(matches!(
            parse_response(200, b"not json"),
            Err(CallError::BadResponse {
                request_id: None,
                ..
            })
        ));
        assert!(matches!(
            parse_response(200, br#"{"Response": {"RequestId": "r"}}"#),
            Err(CallError::BadResponse { .. })
        ));
    }

    #[test]
    fn unusable_answers_keep_their_request_id() {
        for body in [
            &br#"{"Response": {"RequestId": "r-3"}}"#[..],
            br#"{"Response": {"RequestId": "r-3", "FilePath": 5}}"#,
            br#"{"Response": {"RequestId": "r-3", "Error": "not an object"}}"#,
        ] {
            let e = parse_response(200, body).expect_err("unusable");
            assert_eq!(e.code(), "BadResponse");
            assert_eq!(e.request_id(), Some("r-3"), "{e}");
            assert!(e.to_string().contains("request id r-3"), "{e}");
        }
    }

    #[test]
    fn server_text_is_escaped_and_capped() {
        let body = serde_json::json!({"Response": {
            "Error": {"Code": "Internal\u{1b}[31mError\n failed: forged", "Message": "x".repeat(200_000) + "\u{1b}[0m"},
            "RequestId": "r\n failed: forged"
        }});
        let body = serde_json::to_vec(&body).expect("json");
        let Err(CallError::Api(e)) = parse_response(200, &body) else {
            panic!("an API error");
        };
        for s in [e.code.as_str(), &e.message, &e.request_id] {
            assert!(!s.contains('\x1b') && !s.contains('\n'), "{s:?}");
        }
        assert!(
            e.code.as_str().starts_with("Internal\\u{1b}[31mError\\n"),
            "{}",
            e.code
        );
        assert!(e.message.len() <= text::MAX_MESSAGE);
        assert!(e.to_string().lines().count() == 1);
    }
}
