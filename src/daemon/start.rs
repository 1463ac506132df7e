//! Why the daemon could not start, typed so that the command line gives
//! the operator's mistakes (config, credentials, the page's access, a
//! damaged history) their own exit code.

use crate::archive::remote::client::ClientError;
use crate::archive::store::StoreError;
use crate::config::ConfigError;
use crate::serve::auth::AccessError;
use crate::tencent::credentials::CredentialError;

/// Why the daemon stopped before or while starting.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `[storage.remote]`'s keys are missing or its endpoint is unusable.
    #[error(transparent)]
    Bucket(#[from] ClientError),
    /// The page of `[web]` cannot be served as configured.
    #[error("{0}")]
    Access(AccessError),
    /// Anything else (a listener, the signal handlers, the HTTP client).
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<AccessError> for StartError {
    fn from(e: AccessError) -> StartError {
        StartError::Access(e)
    }
}

impl StartError {
    /// Whether the operator must fix something before the daemon can run.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            StartError::Config(_)
            | StartError::Credentials(_)
            | StartError::Access(_)
            | StartError::Bucket(_) => true,
            StartError::Store(e) => e.damaged().is_some(),
            StartError::Failed(_) => false,
        }
    }
}
