//! The documented exit codes, and which errors map to which.

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for is done.
    Ok,
    /// Some report failed; the rest is kept.
    Failed,
    /// Usage or config error; nothing was written.
    Usage,
    /// Stopped by a signal before finishing (128 + signal number).
    Signal(i32),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Signal(n) => u8::try_from(128 + n).unwrap_or(1),
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// An error of the operator's making (config, credentials, arguments),
/// found before anything was written: exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code for an error that ended a command.
pub fn for_error(e: &anyhow::Error) -> Exit {
    if e.downcast_ref::<UsageError>().is_some()
        || e.downcast_ref::<crate::config::ConfigError>().is_some()
        || e.downcast_ref::<crate::tencent::credentials::CredentialError>()
            .is_some()
        || e.downcast_ref::<crate::archive::store::HistoryDamaged>()
            .is_some()
        || e.downcast_ref::<crate::archive::store::StoreError>()
            .is_some_and(|s| s.damaged().is_some())
    {
        Exit::Usage
    } else {
        Exit::Failed
    }
}
