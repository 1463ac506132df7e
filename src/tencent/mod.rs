//! The remote service: TC3 signing, the `GetStatisticData` request and its
//! answer, the HTTP client, the process-wide rate limiter, the credential
//! chain.
//!
//! May import [`crate::domain`] and [`crate::config`]; not the local state
//! ([`crate::archive`]), what drives work ([`crate::fetch`]) or the command
//! line.

pub mod api;
pub mod credentials;
pub mod ratelimit;
pub mod reach;
pub mod sign;
