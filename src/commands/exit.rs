//! The documented exit codes as data: how a command ended ([`Exit`]), the
//! one error a command can end with ([`Error`], whose [`Error::code`] is
//! its exit code), and the operator's mistakes on the command line
//! ([`Usage`], one variant per cause). The typed errors of the layers below
//! (config, credentials, history, start-up) come in through `From`.

use crate::archive::store::{HistoryDamaged, StoreError};
use crate::config::ConfigError;
use crate::daemon::StartError;
use crate::domain::timearg::TimeArgError;
use crate::fetch::plan::TooLarge;
use crate::fetch::setup::NoSuchJob;
use crate::serve::auth::AccessError;
use crate::tencent::credentials::CredentialError;
use std::path::PathBuf;
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
    pub(crate) fn code(self) -> u8 {
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

/// A mistake of the operator's on the command line, found before anything
/// was written: exit 2. Each says what is wrong and, where it helps, ends
/// with a `fix:` line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Usage {
    #[error(
        "--older-than {given} is less than a day: it would delete reports as they arrive\n  fix: give at least 1d (as for storage.retention), e.g. --older-than 400d"
    )]
    PruneTooSoon { given: String },
    #[error(
        "prune needs an age: no --older-than was given and [storage] retention is not set\n  fix: give --older-than, e.g. --older-than 400d, or set retention = \"400d\" under [storage]"
    )]
    PruneNoAge,
    #[error("--older-than is too long")]
    PruneTooLong,
    #[error("no man page for {command:?}; the commands are: {known}")]
    NoManPage { command: String, known: String },
    #[error("no history at {}\n  fix: check storage.state_dir in {}, or fetch first (mna-reportd fetch --all)", db.display(), config.display())]
    NoHistory { db: PathBuf, config: PathBuf },
    #[error(
        "probe: no enabled job has a report to ask for\n  fix: enable a job (a discovering one needs its devices: `mna-reportd devices --refresh`)"
    )]
    NothingToProbe,
    #[error("--from {from} must be before --to {to}\n  fix: give the earlier time as --from")]
    RangeBackwards { from: String, to: String },
    /// A range of more reports than one fetch plans.
    #[error("{0}")]
    RangeTooLarge(TooLarge),
    /// A time argument (`--since`, `--from`, `--to`) that does not read.
    #[error("{0}")]
    Time(TimeArgError),
    /// A job name the config does not have.
    #[error("{0}")]
    NoSuchJob(NoSuchJob),
    /// The page cannot be served as asked (its token, or no token off loopback).
    #[error("{0}")]
    Access(AccessError),
    /// An export destination that cannot be used (no bucket, no keys).
    #[error("{0}")]
    ExportTo(crate::archive::export::ExportError),
    /// `snapshot` or `restore` without a bucket to use.
    #[error("{command} needs a bucket, and {} has no [storage.remote]\n  fix: add [storage.remote] with url = \"s3://bucket/prefix\" (see config.example.toml){alternative}", config.display())]
    NoRemote {
        command: &'static str,
        config: PathBuf,
        /// Another way, if the command has one (`, or ...`).
        alternative: &'static str,
    },
    /// The bucket of `[storage.remote]` cannot be used (no keys, a bad endpoint).
    #[error("{0}")]
    Bucket(crate::archive::remote::client::ClientError),
    /// `restore` into a state directory that holds a history or reports.
    #[error("the state directory {} is not empty: {what}\n  fix: stop mna-reportd and restore into an empty state directory (move {} aside, or set storage.state_dir to a new one); or give --force to restore over it (its history.db is moved aside, its report files are kept)", state_dir.display(), state_dir.display())]
    RestoreOccupied { state_dir: PathBuf, what: String },
    /// `restore --from` names neither a file nor an object.
    #[error(
        "--from {given}: {why}\n  fix: give a snapshot file (history-<time>.db.gz, or a database file), or s3://bucket/prefix/_history/history-<time>.db.gz"
    )]
    RestoreFrom { given: String, why: String },
}

impl From<TimeArgError> for Usage {
    fn from(e: TimeArgError) -> Usage {
        Usage::Time(e)
    }
}

impl From<TooLarge> for Usage {
    fn from(e: TooLarge) -> Usage {
        Usage::RangeTooLarge(e)
    }
}

impl From<NoSuchJob> for Usage {
    fn from(e: NoSuchJob) -> Usage {
        Usage::NoSuchJob(e)
    }
}

impl From<AccessError> for Usage {
    fn from(e: AccessError) -> Usage {
        Usage::Access(e)
    }
}

/// The error a command ended with; [`Error::code`] is its exit code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Usage(#[from] Usage),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Damaged(#[from] HistoryDamaged),
    #[error(transparent)]
    Start(#[from] StartError),
    /// `[storage.remote]`'s keys are missing or its endpoint is unusable.
    #[error(transparent)]
    Bucket(#[from] crate::archive::remote::client::ClientError),
    /// Anything else: the work failed (a report, the network, a file).
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl Error {
    /// The exit code: 2 for what the operator must fix before anything can
    /// be written (arguments, config, credentials, a damaged history), else 1.
    pub(crate) fn code(&self) -> Exit {
        let usage = match self {
            Error::Usage(_)
            | Error::Config(_)
            | Error::Credentials(_)
            | Error::Damaged(_)
            | Error::Bucket(_) => true,
            Error::Store(e) => e.damaged().is_some(),
            Error::Start(e) => e.is_usage(),
            Error::Failed(_) => false,
        };
        if usage { Exit::Usage } else { Exit::Failed }
    }

    /// The error as the operator reads it: a usage mistake by its message,
    /// anything else with the chain of its causes.
    pub(crate) fn report(self) -> String {
        match self {
            Error::Usage(u) => u.to_string(),
            Error::Failed(e) => format!("{e:#}"),
            e => format!("{:#}", anyhow::Error::from(e)),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Failed(e.into())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::Failed(e.into())
    }
}

impl From<NoSuchJob> for Error {
    fn from(e: NoSuchJob) -> Error {
        Error::Usage(e.into())
    }
}

impl From<TimeArgError> for Error {
    fn from(e: TimeArgError) -> Error {
        Error::Usage(e.into())
    }
}

impl From<AccessError> for Error {
    fn from(e: AccessError) -> Error {
        Error::Usage(e.into())
    }
}

impl From<crate::archive::export::ExportError> for Error {
    /// A failed export: its history's damage as such, anything else as a
    /// failure of the work.
    fn from(e: crate::archive::export::ExportError) -> Error {
        match e {
            crate::archive::export::ExportError::Store(s) => Error::Store(s),
            e => Error::Failed(e.into()),
        }
    }
}

/// What a command returns.
pub(crate) type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::StartError;

    fn damaged() -> HistoryDamaged {
        HistoryDamaged {
            path: PathBuf::from("/s/history.db"),
            detail: "file is not a database".into(),
        }
    }

    /// Each typed error of the layers below keeps the exit code the
    /// downcasts gave it: 2 for what the operator must fix first, else 1.
    #[test]
    fn each_error_has_its_documented_code() {
        let config = crate::config::parse("[[jobs]]\n", std::path::Path::new("/c.toml"))
            .expect_err("a job without a name");
        let usage: [Error; 6] = [
            Usage::PruneNoAge.into(),
            config.into(),
            CredentialError::NotFound { tried: Vec::new() }.into(),
            damaged().into(),
            StoreError::Damaged(damaged()).into(),
            StartError::Store(StoreError::Damaged(damaged())).into(),
        ];
        for e in &usage {
            assert_eq!(e.code(), Exit::Usage, "{e}");
        }
        let failed: [Error; 4] = [
            anyhow::anyhow!("the network went away").into(),
            StoreError::CreateDir {
                path: PathBuf::from("/s"),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            }
            .into(),
            StartError::Failed(anyhow::anyhow!("cannot listen")).into(),
            std::io::Error::from(std::io::ErrorKind::BrokenPipe).into(),
        ];
        for e in &failed {
            assert_eq!(e.code(), Exit::Failed, "{e}");
        }
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::Signal(15).code(), 143);
    }

    /// A usage mistake reads as its message, with its fix, and nothing else.
    #[test]
    fn a_usage_mistake_reads_as_its_message() {
        let e: Error = Usage::RangeBackwards {
            from: "2026-11-02".into(),
            to: "2026-11-01".into(),
        }
        .into();
        assert_eq!(
            e.report(),
            "--from 2026-11-02 must be before --to 2026-11-01\n  fix: give the earlier time as --from"
        );
    }
}
