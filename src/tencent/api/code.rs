//! An API error code as the answer gives it, read once into the kind of
//! code it is. What a kind means for retrying and for the operator is
//! `run::retry`'s business.

/// What an API error code means to us: its retry class and the operator's hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
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
    pub fn parse(code: &str) -> CodeKind {
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

/// An API error code as the answer gave it (its text, recorded in the
/// history as is) and what it means, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCode {
    text: String,
    kind: CodeKind,
}

impl ApiCode {
    pub fn new(text: String) -> ApiCode {
        ApiCode {
            kind: CodeKind::parse(&text),
            text,
        }
    }

    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn kind(&self) -> CodeKind {
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
