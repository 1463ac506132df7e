//! The remote service: TC3 signing, the `GetStatisticData` request and its
//! answer, the HTTP client, the process-wide rate limiter, the credential
//! chain.
//!
//! May import [`crate::domain`] and [`crate::config`]; not the local state
//! ([`crate::archive`]), what drives work ([`crate::fetch`]) or the command
//! line.

pub(crate) mod api;
pub(crate) mod credentials;
pub(crate) mod ratelimit;
pub(crate) mod reach;
pub(crate) mod sign;
