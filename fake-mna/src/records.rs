//! What the fake saw: one record per API call and per download.
//!
//! This module owns the public record types that tests inspect after the
//! fact. Handlers build them; [`crate::FakeMna`] hands out copies.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde_json::Value;

use crate::params::Params;

/// How an API call was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `{"Response": {"FilePath": file_url, "RequestId": request_id}}`.
    Ok {
        request_id: String,
        file_url: String,
    },
    /// A listing action's answer (`GetDevices`, `GetGroupList`, `GetGroupDetail`).
    Listed { request_id: String },
    /// The error envelope with this code (HTTP 200).
    ApiError { code: String, request_id: String },
    /// A non-200 HTTP status (injected).
    Http(u16),
    /// The connection was reset without an answer (injected).
    Reset,
    /// An injected raw answer (HTTP 200): [`crate::Fault::ApiAnswer`] or
    /// [`crate::Fault::ApiHugeAnswer`].
    Raw,
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }

    /// The API error code, for [`Outcome::ApiError`].
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Outcome::ApiError { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The `RequestId` sent back, when a JSON answer was sent.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Outcome::Ok { request_id, .. }
            | Outcome::ApiError { request_id, .. }
            | Outcome::Listed { request_id } => Some(request_id),
            _ => None,
        }
    }
}

/// One `POST /`, whatever became of it.
#[derive(Clone, Debug)]
pub struct CallRecord {
    /// When its headers arrived.
    pub at: SystemTime,
    /// From the `Authorization` credential, when it parsed.
    pub secret_id: Option<String>,
    /// The `X-TC-Token` header.
    pub token: Option<String>,
    /// `X-TC-Action`, as received (empty when missing).
    pub action: String,
    /// All request headers, names lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    /// The parsed body (`Null` when it is not JSON).
    pub body: Value,
    /// The typed parameters, when the body was a valid `GetStatisticData` one.
    pub params: Option<Params>,
    pub outcome: Outcome,
    /// The injected fault that answered this call (see [`crate::Fault::label`]).
    pub fault: Option<String>,
    /// Refused by the rate limiter.
    pub rate_limited: bool,
}

impl CallRecord {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One `GET /files/...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadRecord {
    pub at: SystemTime,
    /// The `RequestId` of the API answer that issued the URL (empty for an
    /// unknown file).
    pub request_id: String,
    /// The file id of the URL path.
    pub file_id: String,
    pub status: u16,
    /// The injected fault, if any (see [`crate::Fault::label`]).
    pub fault: Option<String>,
    /// Body bytes handed to the connection so far.
    pub bytes_sent: u64,
}

/// A download record whose byte count grows while the body streams.
pub(crate) struct DownloadEntry {
    pub record: DownloadRecord,
    pub sent: Arc<AtomicU64>,
}

impl DownloadEntry {
    pub fn snapshot(&self) -> DownloadRecord {
        DownloadRecord {
            bytes_sent: self.sent.load(Ordering::Relaxed),
            ..self.record.clone()
        }
    }
}
