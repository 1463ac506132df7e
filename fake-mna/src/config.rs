//! The fake's configuration and the credentials it accepts.

use std::time::Duration;

/// A key pair the API accepts, with the token it then requires.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Credential {
    pub secret_id: String,
    pub secret_key: String,
    /// When set, `X-TC-Token` must equal it; when unset none is needed.
    pub token: Option<String>,
}

impl Credential {
    /// A permanent key pair (no token).
    pub fn new(secret_id: impl Into<String>, secret_key: impl Into<String>) -> Credential {
        Credential {
            secret_id: secret_id.into(),
            secret_key: secret_key.into(),
            token: None,
        }
    }

    /// A key pair that needs `token` in `X-TC-Token`.
    pub fn with_token(mut self, token: impl Into<String>) -> Credential {
        self.token = Some(token.into());
        self
    }
}

/// The default accepted SecretId.
pub const DEFAULT_SECRET_ID: &str = "AKIDfake";
/// The default accepted SecretKey.
pub const DEFAULT_SECRET_KEY: &str = "fake-secret-key-0123456789";

/// How the fake behaves.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Accepted keys (default: `AKIDfake` / `fake-secret-key-0123456789`).
    pub credentials: Vec<Credential>,
    /// At most this many calls within any 1 s span (counted after
    /// authentication, refused calls included); `None` = unlimited.
    pub rate_limit: Option<u32>,
    /// Data rows per report; `None` (the default): one per granularity step
    /// inside the report's window (see [`crate::window_rows`]).
    pub rows_per_report: Option<usize>,
    /// Add the "Summary" sheet (default true).
    pub with_summary_sheet: bool,
    /// Large-file mode: every download is the same xlsx of about this many
    /// bytes, streamed from a temp file.
    pub file_bytes: Option<u64>,
    /// How long an issued URL stays valid (default 3600 s).
    pub url_ttl: Duration,
    /// Enables the CVM metadata endpoints with this role name.
    pub cvm_role: Option<String>,
    /// Lifetime of each temporary credential (default 3600 s).
    pub cvm_ttl: Duration,
    /// Seconds added to the fake's clock (to simulate a skewed server); it
    /// moves the `X-TC-Timestamp` window, temp credential times and `Date`.
    pub clock_offset: i64,
    /// How long each `GetStatisticData` answer takes (default none): the
    /// real service builds a workbook per call.
    pub answer_delay: Delay,
    /// How long each download waits before its first byte (default none).
    pub download_delay: Delay,
    /// Strict mode: each call is counted by the rate limit only after a
    /// random delay of up to this long (default none), like calls crossing
    /// a real network, which arrive bunched.
    pub arrival_jitter: Duration,
}

/// A delay, fixed or drawn uniformly from a range for each request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delay {
    pub min: Duration,
    pub max: Duration,
}

impl Delay {
    /// Always `d`.
    pub fn fixed(d: Duration) -> Delay {
        Delay { min: d, max: d }
    }

    /// Uniform in `[min, max]` (swapped when given the other way round).
    pub fn between(min: Duration, max: Duration) -> Delay {
        Delay {
            min: min.min(max),
            max: min.max(max),
        }
    }

    /// One draw.
    pub fn draw(&self) -> Duration {
        random_up_to(self.max.saturating_sub(self.min)) + self.min
    }

    /// Sleep one draw (nothing when zero).
    pub async fn sleep(&self) {
        let d = self.draw();
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

/// Uniform in `[0, max]`.
pub(crate) fn random_up_to(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::random_range(0..=nanos))
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            credentials: vec![Credential::new(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY)],
            rate_limit: None,
            rows_per_report: None,
            with_summary_sheet: true,
            file_bytes: None,
            url_ttl: Duration::from_secs(3600),
            cvm_role: None,
            cvm_ttl: Duration::from_secs(3600),
            clock_offset: 0,
            answer_delay: Delay::default(),
            download_delay: Delay::default(),
            arrival_jitter: Duration::ZERO,
        }
    }
}
