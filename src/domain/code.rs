//! An API error code as the answer gives it, read once into the kind of
//! code it is. What a kind means for retrying and for the operator is
//! `run::retry`'s business. Metrics label a code only with a value of
//! the fixed set [`METRIC_CODES`] ([`metric_label`]): a server that invents
//! codes cannot grow the series without bound.

/// What an API error code means to us: its retry class and the operator's hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeKind {
    /// `InternalError*`: retried.
    InternalError,
    /// `RequestLimitExceeded*`: retried.
    RequestLimitExceeded,
    /// `ServiceUnavailable*`: retried.
    ServiceUnavailable,
    /// `AuthFailure.SignatureExpire`: the local clock is off.
    SignatureExpire,
    /// `AuthFailure.SecretIdNotFound`, `AuthFailure.InvalidSecretId`.
    UnknownSecretId,
    /// `AuthFailure.SignatureFailure`.
    SignatureFailure,
    /// `AuthFailure.TokenFailure`.
    TokenFailure,
    /// `AuthFailure.UnauthorizedOperation`, `UnauthorizedOperation*`.
    Unauthorized,
    /// `AuthFailure.MFAFailure`.
    MfaFailure,
    /// Any other `AuthFailure*`.
    AuthFailure,
    /// `InvalidParameter*`, `MissingParameter`.
    InvalidParameter,
    /// `InvalidAction`, `ActionOffline`.
    InvalidAction,
    /// `ResourceNotFound`.
    ResourceNotFound,
    /// Every other code (a 4xx in spirit).
    Other,
}

impl CodeKind {
    /// Read an API error code.
    pub(crate) fn parse(code: &str) -> CodeKind {
        match code {
            "AuthFailure.SignatureExpire" => return CodeKind::SignatureExpire,
            "AuthFailure.SecretIdNotFound" | "AuthFailure.InvalidSecretId" => {
                return CodeKind::UnknownSecretId;
            }
            "AuthFailure.SignatureFailure" => return CodeKind::SignatureFailure,
            "AuthFailure.TokenFailure" => return CodeKind::TokenFailure,
            "AuthFailure.UnauthorizedOperation" | "UnauthorizedOperation" => {
                return CodeKind::Unauthorized;
            }
            "AuthFailure.MFAFailure" => return CodeKind::MfaFailure,
            "MissingParameter" => return CodeKind::InvalidParameter,
            "InvalidAction" | "ActionOffline" => return CodeKind::InvalidAction,
            "ResourceNotFound" => return CodeKind::ResourceNotFound,
            _ => {}
        }
        match code.split('.').next().unwrap_or(code) {
            "InternalError" => CodeKind::InternalError,
            "RequestLimitExceeded" => CodeKind::RequestLimitExceeded,
            "ServiceUnavailable" => CodeKind::ServiceUnavailable,
            _ if code.starts_with("InvalidParameter") => CodeKind::InvalidParameter,
            _ if code.starts_with("AuthFailure") => CodeKind::AuthFailure,
            "UnauthorizedOperation" => CodeKind::Unauthorized,
            _ => CodeKind::Other,
        }
    }
}

/// Every value a metric's `code` label takes: `Success`, the API's
/// documented error codes, the names this program gives failures without
/// a code (`Timeout`, `HTTP502`, ...), and `other` for anything else.
pub(crate) const METRIC_CODES: &[&str] = &[
    "Success",
    // The API's documented codes (GetStatisticData's own and the common ones).
    "ActionOffline",
    "AuthFailure",
    "AuthFailure.InvalidAuthorization",
    "AuthFailure.InvalidSecretId",
    "AuthFailure.MFAFailure",
    "AuthFailure.SecretIdNotFound",
    "AuthFailure.SignatureExpire",
    "AuthFailure.SignatureFailure",
    "AuthFailure.TokenFailure",
    "AuthFailure.UnauthorizedOperation",
    "InternalError",
    "InternalError.ControlRequestError",
    "InternalError.FileIOError",
    "InternalError.MonitorDataRequestError",
    "InternalError.NetworkInfoRequestError",
    "InvalidAction",
    "InvalidParameter",
    "InvalidParameterValue",
    "MissingParameter",
    "RequestLimitExceeded",
    "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
    "RequestLimitExceeded.IPLimitExceeded",
    "RequestLimitExceeded.UinLimitExceeded",
    "RequestSizeLimitExceeded",
    "ResourceNotFound",
    "ServiceUnavailable",
    "UnauthorizedOperation",
    "UnsupportedOperation",
    // Failures without an API code, as `CallError::code` names them.
    "BadResponse",
    "ConnectionError",
    "CredentialError",
    "HistoryError",
    "TooManyDevices",
    "ResponseTooLarge",
    "Timeout",
    "TransportError",
    "HTTP400",
    "HTTP401",
    "HTTP403",
    "HTTP404",
    "HTTP408",
    "HTTP413",
    "HTTP429",
    "HTTP500",
    "HTTP502",
    "HTTP503",
    "HTTP504",
    "other",
];

/// `code` as a metric label: itself when it is one of [`METRIC_CODES`],
/// else `other`.
pub(crate) fn metric_label(code: &str) -> &'static str {
    METRIC_CODES
        .iter()
        .find(|c| **c == code)
        .copied()
        .unwrap_or("other")
}

/// An API error code as the answer gave it (its text, recorded in the
/// history as is) and what it means, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiCode {
    text: String,
    kind: CodeKind,
}

impl ApiCode {
    pub(crate) fn new(text: String) -> ApiCode {
        ApiCode {
            kind: CodeKind::parse(&text),
            text,
        }
    }

    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn kind(&self) -> CodeKind {
        self.kind
    }
}

impl std::fmt::Display for ApiCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<&str> for ApiCode {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_come_from_the_fixed_set() {
        assert_eq!(
            metric_label("InternalError.FileIOError"),
            "InternalError.FileIOError"
        );
        assert_eq!(metric_label("HTTP502"), "HTTP502");
        assert_eq!(metric_label("Success"), "Success");
        for invented in ["InternalError.Invented1", "HTTP599", "", "x\ny", "other2"] {
            assert_eq!(metric_label(invented), "other", "{invented:?}");
        }
        let mut sorted = METRIC_CODES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), METRIC_CODES.len(), "no code twice");
    }
}
