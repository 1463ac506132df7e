//! Which failures are tried again, how long to wait between tries, and what
//! to tell the operator about a failure that is not.
//!
//! Pure: classification is a function of the error; the backoff is an
//! iterator of delays (exponential, capped, full jitter) fed to `backon`.

use crate::config::RetrySettings;
#[cfg(test)]
use crate::domain::code::ApiCode;
pub(crate) use crate::domain::code::CodeKind;
use crate::fetch::download::DownloadError;
use crate::tencent::api::CallError;
use std::time::Duration;

/// What to do after a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Try again after a backoff.
    Retry,
    /// Give up now: trying again cannot help.
    Fail,
    /// Give up now, and stop the whole run: every other report would meet
    /// the same error (wrong credentials, a wrong endpoint).
    StopRun,
}

/// What a kind of API error code means for retrying and for the operator.
impl CodeKind {
    /// Retried: `InternalError*`, `RequestLimitExceeded*`, `ServiceUnavailable*`.
    /// Stopping the run: `AuthFailure*`, `UnauthorizedOperation*`,
    /// `InvalidAction` (the key, its rights or the endpoint: the same for
    /// every report). Not retried: `InvalidParameter*` and every other code
    /// (a 4xx in spirit).
    pub(crate) fn class(self) -> Class {
        match self {
            CodeKind::InternalError
            | CodeKind::RequestLimitExceeded
            | CodeKind::ServiceUnavailable => Class::Retry,
            CodeKind::SignatureExpire
            | CodeKind::UnknownSecretId
            | CodeKind::SignatureFailure
            | CodeKind::TokenFailure
            | CodeKind::Unauthorized
            | CodeKind::MfaFailure
            | CodeKind::AuthFailure
            | CodeKind::InvalidAction => Class::StopRun,
            CodeKind::InvalidParameter | CodeKind::ResourceNotFound | CodeKind::Other => {
                Class::Fail
            }
        }
    }

    /// What the operator should do about a failure with this code, if we know.
    pub(crate) fn hint(self) -> Option<&'static str> {
        Some(match self {
            CodeKind::SignatureExpire => {
                "the local clock is more than 5 minutes off; sync it (timedatectl set-ntp true, or chronyc makestep)"
            }
            CodeKind::UnknownSecretId => {
                "the SecretId is unknown; check the key in use (mna-reportd check shows where it comes from)"
            }
            CodeKind::SignatureFailure => "the SecretKey does not match the SecretId; check both",
            CodeKind::TokenFailure => {
                "the temporary token is invalid or expired; renew the temporary credentials"
            }
            CodeKind::Unauthorized => {
                "the key's CAM policy does not allow mna:GetStatisticData; grant it"
            }
            CodeKind::MfaFailure => {
                "the key requires MFA, which an unattended daemon cannot do; use a key without MFA"
            }
            CodeKind::InvalidParameter => {
                "the API refused the request parameters; check the job's devices, group, regions and window"
            }
            CodeKind::InvalidAction => {
                "the API endpoint does not offer GetStatisticData; check api.endpoint"
            }
            CodeKind::ResourceNotFound => {
                "a device or group of the job does not exist; check its ids"
            }
            CodeKind::AuthFailure => "the API refused the credentials; check the key in use",
            CodeKind::InternalError
            | CodeKind::RequestLimitExceeded
            | CodeKind::ServiceUnavailable
            | CodeKind::Other => return None,
        })
    }
}

/// Classify a failed API call.
pub(crate) fn classify_call(e: &CallError) -> Class {
    match e {
        CallError::Api(api) => api.code.kind().class(),
        CallError::HttpStatus { status } if *status >= 500 => Class::Retry,
        CallError::HttpStatus { .. } => Class::Fail,
        CallError::Timeout | CallError::Connect(_) | CallError::Transport(_) => Class::Retry,
        // Refused, not resolved, TLS: the endpoint, the same for every report.
        CallError::Unreachable { .. } => Class::StopRun,
        // A garbled 200 is most likely a proxy or a truncated answer; an
        // oversized one is a misbehaving server or proxy, like a 5xx.
        CallError::BadResponse { .. } | CallError::ResponseTooLarge { .. } => Class::Retry,
        // The metadata service can be briefly unavailable; a missing key cannot.
        CallError::Credentials(crate::tencent::credentials::CredentialError::Metadata {
            ..
        }) => Class::Retry,
        CallError::Credentials(_) => Class::Fail,
    }
}

/// Classify a failed download. Everything the server or the network can do
/// is retried (an expired or redirected URL by asking the API again); a local
/// disk error is not, nor a file above `max_report_size` (it stays too large).
/// A file host on Tencent Cloud's internal network that cannot be reached
/// stops the run: every file is there.
pub(crate) fn classify_download(e: &DownloadError) -> Class {
    match e {
        DownloadError::InternalHost { .. } => Class::StopRun,
        // A part file that vanished under us (swept by another process) is fetched again.
        DownloadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Class::Retry
        }
        // The same report gives the same workbook: fetching it again cannot help.
        DownloadError::Io { .. }
        | DownloadError::BadUrl(_)
        | DownloadError::TooLarge { .. }
        | DownloadError::Workbook(_) => Class::Fail,
        _ => Class::Retry,
    }
}

/// The delays between tries of one report: exponential from `initial_delay`
/// doubling up to `max_delay`, each with full jitter (uniform in `[0, d]`),
/// at most `max_attempts - 1` of them.
pub(crate) fn backoff(
    settings: &RetrySettings,
) -> impl Iterator<Item = Duration> + Send + Sync + Unpin + use<> {
    let base = backon::ExponentialBuilder::default()
        .with_min_delay(settings.initial_delay)
        .with_max_delay(settings.max_delay)
        .with_factor(2.0)
        .with_max_times(settings.max_attempts.get().saturating_sub(1) as usize);
    let mut rng = fastrand::Rng::new();
    backon::BackoffBuilder::build(base).map(move |d| full_jitter(d, rng.f64()))
}

/// `d` scaled by `fraction` in `[0, 1]`.
pub(crate) fn full_jitter(d: Duration, fraction: f64) -> Duration {
    d.mul_f64(fraction.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tencent::api::ApiError;
    use std::num::NonZeroU32;

    fn api(code: &str) -> CallError {
        CallError::Api(ApiError {
            code: ApiCode::new(code.to_string()),
            message: String::new(),
            request_id: "r".to_string(),
        })
    }

    #[test]
    fn every_reference_code_is_classified() {
        let retried = [
            "InternalError",
            "InternalError.ControlRequestError",
            "InternalError.FileIOError",
            "InternalError.MonitorDataRequestError",
            "InternalError.NetworkInfoRequestError",
            "RequestLimitExceeded",
            "RequestLimitExceeded.UinLimitExceeded",
            "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
            "RequestLimitExceeded.IPLimitExceeded",
            "ServiceUnavailable",
        ];
        let failed = [
            "InvalidParameter",
            "InvalidParameterValue",
            "MissingParameter",
            "UnsupportedOperation",
            "RequestSizeLimitExceeded",
            "ResourceNotFound",
        ];
        let stop_run = [
            "AuthFailure.InvalidAuthorization",
            "AuthFailure.InvalidSecretId",
            "AuthFailure.MFAFailure",
            "AuthFailure.SecretIdNotFound",
            "AuthFailure.SignatureExpire",
            "AuthFailure.SignatureFailure",
            "AuthFailure.TokenFailure",
            "AuthFailure.UnauthorizedOperation",
            "UnauthorizedOperation",
            "UnauthorizedOperation.NoPermission",
            "InvalidAction",
            "ActionOffline",
        ];
        for c in retried {
            assert_eq!(classify_call(&api(c)), Class::Retry, "{c}");
        }
        for c in failed {
            assert_eq!(classify_call(&api(c)), Class::Fail, "{c}");
        }
        for c in stop_run {
            assert_eq!(classify_call(&api(c)), Class::StopRun, "{c}");
        }
        // the prefix must be a whole family name
        assert_eq!(CodeKind::parse("InternalErrorish").class(), Class::Fail);
    }

    #[test]
    fn transport_failures() {
        assert_eq!(
            classify_call(&CallError::HttpStatus { status: 502 }),
            Class::Retry
        );
        assert_eq!(
            classify_call(&CallError::HttpStatus { status: 503 }),
            Class::Retry
        );
        assert_eq!(
            classify_call(&CallError::HttpStatus { status: 400 }),
            Class::Fail
        );
        assert_eq!(
            classify_call(&CallError::HttpStatus { status: 404 }),
            Class::Fail
        );
        assert_eq!(classify_call(&CallError::Timeout), Class::Retry);
        assert_eq!(
            classify_call(&CallError::Connect("reset".into())),
            Class::Retry
        );
        use crate::tencent::reach::Unreachable;
        for why in [
            Unreachable::Refused,
            Unreachable::NotResolved,
            Unreachable::Tls,
        ] {
            let e = CallError::Unreachable {
                why,
                detail: String::new(),
            };
            assert_eq!(classify_call(&e), Class::StopRun, "{why:?}");
        }
        let internal = DownloadError::InternalHost {
            host: "b.cos-internal.ap-guangzhou.tencentcos.invalid".into(),
            detail: String::new(),
        };
        assert_eq!(classify_download(&internal), Class::StopRun);
    }

    #[test]
    fn downloads() {
        assert_eq!(
            classify_download(&DownloadError::Expired { status: 403 }),
            Class::Retry
        );
        assert_eq!(
            classify_download(&DownloadError::Short {
                expected: 10,
                got: 5
            }),
            Class::Retry
        );
        assert_eq!(
            classify_download(&DownloadError::NotXlsx("x".into())),
            Class::Retry
        );
        assert_eq!(
            classify_download(&DownloadError::HttpStatus { status: 500 }),
            Class::Retry
        );
        assert_eq!(
            classify_download(&DownloadError::TooLarge { limit: 1 << 30 }),
            Class::Fail
        );
        assert_eq!(
            classify_download(&DownloadError::Stalled {
                window: Duration::from_secs(60),
                min_bytes: 61_440
            }),
            Class::Retry
        );
        assert_eq!(
            classify_download(&DownloadError::Redirected { status: 302 }),
            Class::Retry
        );
        assert!(DownloadError::Redirected { status: 302 }.needs_new_url());
        assert_eq!(
            classify_call(&CallError::ResponseTooLarge { status: 200 }),
            Class::Retry
        );
        assert_eq!(
            classify_download(&DownloadError::Io {
                what: "write",
                source: std::io::Error::other("disk full")
            }),
            Class::Fail
        );
        assert_eq!(
            classify_download(&DownloadError::Io {
                what: "rename",
                source: std::io::Error::from(std::io::ErrorKind::NotFound)
            }),
            Class::Retry
        );
    }

    #[test]
    fn hints_exist_for_the_operator_fixable_codes() {
        let hint = |code: &str| CodeKind::parse(code).hint();
        assert!(hint("AuthFailure.SignatureExpire").is_some_and(|h| h.contains("clock")));
        assert!(hint("InvalidParameter").is_some());
        assert!(hint("InvalidParameter.Whatever").is_some());
        assert!(hint("InternalError").is_none());
    }

    #[test]
    fn backoff_is_capped_counted_and_jittered() {
        let s = RetrySettings {
            max_attempts: NonZeroU32::new(8).expect("nonzero"),
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        };
        let delays: Vec<Duration> = backoff(&s).collect();
        assert_eq!(delays.len(), 7);
        let caps = [1, 2, 4, 8, 16, 32, 60];
        for (d, cap) in delays.iter().zip(caps) {
            assert!(*d <= Duration::from_secs(cap), "{d:?} > {cap}s");
        }
        let one = RetrySettings {
            max_attempts: NonZeroU32::MIN,
            ..s
        };
        assert_eq!(backoff(&one).count(), 0);
    }

    #[test]
    fn full_jitter_spans_zero_to_d() {
        let d = Duration::from_secs(8);
        assert_eq!(full_jitter(d, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(d, 1.0), d);
        assert_eq!(full_jitter(d, 0.5), Duration::from_secs(4));
    }

    #[test]
    fn a_refused_workbook_is_not_retried() {
        use crate::archive::workbook::{Limit, WorkbookError};
        for e in [
            WorkbookError::too_large("xl/worksheets/sheet1.xml", Limit::Event),
            WorkbookError::Invalid("it has no sheet".into()),
        ] {
            let code = e.code();
            let d = DownloadError::Workbook(e);
            assert_eq!(d.code(), code);
            assert_eq!(classify_download(&d), Class::Fail);
        }
    }
}
