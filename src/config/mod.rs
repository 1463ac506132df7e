//! The job file: read in two stages, [`raw`] (serde, spans, unknown keys
//! refused) then [`validate`] into the [`model`] the program uses. Every
//! problem found names the key, its line and, where one exists, the fix; all
//! problems of a file are reported at once. Nothing is written while loading.
//! Also owns the rule for the files that hold secrets ([`private_file`]).
//!
//! May import [`crate::domain`] only; not the remote service, the local state,
//! what drives work or the command line.

mod export;
mod job;
pub(crate) mod keys;
mod model;
pub(crate) mod private_file;
mod raw;
mod size;
mod unknown;
mod validate;
mod web;
mod zone;

pub(crate) use model::{
    Api, Config, CredentialSettings, DEFAULT_WEB_LISTEN, Discovery, Job, Remote, RetrySettings,
    Scope,
};
pub(crate) use size::{DEFAULT_MAX_SIZE, human_size};

/// Reports in flight at most by default (`api.concurrency`): enough that
/// the rate limit alone sets the pace up to 3 s per report (a 2 s answer
/// and a 1 s download at 20 calls/s need 60), while a report waiting in
/// flight costs a claim and a small task (downloads stream to disk).
pub(crate) const DEFAULT_CONCURRENCY: usize = 64;
/// `api.max_devices` when left out: the most devices one listing reads.
pub(crate) const DEFAULT_MAX_DEVICES: u64 = 100_000;
/// The largest `api.max_devices`.
pub(crate) const MAX_MAX_DEVICES: u64 = 100_000_000;

use std::fmt;
use std::path::{Path, PathBuf};

/// The default config path when neither `--config` nor `$MNA_REPORTD_CONFIG` is given.
pub(crate) const DEFAULT_PATH: &str = "/etc/mna-reportd/config.toml";

/// One thing wrong with the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, e.g. `jobs[2].timezone` or `api.rate_limit`.
    pub key: String,
    /// 1-based line, when known.
    pub(crate) line: Option<usize>,
    pub message: String,
    /// What to do about it.
    pub(crate) hint: Option<String>,
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The OS error is told once, in words (not as a source, which a
    /// caller printing the chain would repeat).
    #[error(
        "cannot read config file {}: {}\n  fix: {}",
        path.display(),
        read_error_text(error),
        read_error_fix(error)
    )]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("config file {} is larger than {MAX_CONFIG_BYTES} bytes (1 MiB); it cannot be a job file\n  fix: pass --config with the path of the TOML job file", path.display())]
    TooLarge { path: PathBuf },
    #[error("{}", render(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems found, empty for a read error.
    #[cfg(test)]
    pub(crate) fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Read { .. } | ConfigError::TooLarge { .. } => &[],
            ConfigError::Invalid { problems, .. } => problems,
        }
    }
}

/// What went wrong reading the file, without the OS error number.
fn read_error_text(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "no such file".to_string(),
        ErrorKind::PermissionDenied => "permission denied".to_string(),
        ErrorKind::IsADirectory => "it is a directory".to_string(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error ") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

/// The fix for a file that cannot be read.
fn read_error_fix(e: &std::io::Error) -> String {
    let paths =
        format!("the config is --config PATH, else $MNA_REPORTD_CONFIG, else {DEFAULT_PATH}");
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => format!(
            "run as a user who may read it (the service user, via sudo -u mna-reportd) or pass another; {paths}"
        ),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory => {
            format!("pass the job file's path; {paths}")
        }
        _ => format!("check the file; {paths}"),
    }
}

fn render(path: &Path, problems: &[Problem]) -> String {
    let mut out = format!(
        "{} is not a valid config ({} problem{}):",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str(&format!("\n{p}"));
    }
    out
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "  line {line}: {}: {}", self.key, self.message)?,
            None => write!(f, "  {}: {}", self.key, self.message)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n    fix: {hint}")?;
        }
        Ok(())
    }
}

/// Read and validate the config file at `path`.
pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
    // Relative paths in the file are taken from its directory, wherever we run.
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let path = absolute.as_path();
    let text = read_capped(path)?;
    // systemd's StateDirectory= tells where state belongs when the file does not say.
    let default_state = std::env::var_os("STATE_DIRECTORY")
        .and_then(|v| {
            v.to_str()
                .and_then(|s| s.split(':').next())
                .map(PathBuf::from)
        })
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
    parse_with(&text, path, &default_state)
}

/// The largest config file read: a job file is a few kilobytes; this stops
/// `--config /dev/zero` or a log file passed by mistake from filling memory.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The text of the file at `path`, read with a limit of [`MAX_CONFIG_BYTES`].
fn read_capped(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let read_err = |error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text ({e})"),
        ))
    })
}

/// The state directory when neither the file nor `$STATE_DIRECTORY` gives one.
pub(crate) const DEFAULT_STATE_DIR: &str = "/var/lib/mna-reportd";

/// Validate config `text`, read from `path` (relative paths in it are taken
/// relative to the file's directory).
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    parse_with(text, path, Path::new(DEFAULT_STATE_DIR))
}

/// [`parse`], with `default_state` as the state directory when the file sets none.
pub(crate) fn parse_with(
    text: &str,
    path: &Path,
    default_state: &Path,
) -> Result<Config, ConfigError> {
    // Every unknown key at once, each with what was meant; serde's
    // `deny_unknown_fields` below stops at the first.
    if let Ok(doc) = toml::from_str::<toml::Table>(text) {
        let unknown = unknown::problems(&doc, text);
        if !unknown.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: unknown,
            });
        }
    }
    let raw: raw::RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: vec![syntax_problem(text, &e)],
            });
        }
    };
    validate::validate(raw, text, path, default_state).map_err(|problems| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

/// 1-based line of byte offset `at` in `text`.
pub(crate) fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The `[table]` or `[[table]]` header in force at `line` (1-based), with the
/// index of the entry for arrays of tables.
fn table_at(text: &str, line: usize) -> Option<String> {
    let mut current: Option<String> = None;
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, l) in text.lines().enumerate() {
        if i + 1 > line {
            break;
        }
        let t = l.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = counts.entry(name.clone()).or_insert(0);
            current = Some(format!("{name}[{}]", *n));
            *n += 1;
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            current = Some(name.trim().to_string());
        }
    }
    current
}

fn syntax_problem(text: &str, e: &toml::de::Error) -> Problem {
    let line = e.span().map(|s| line_of(text, s.start));
    let message = e.message().trim().to_string();
    let spanned = e
        .span()
        .and_then(|s| text.get(s))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && !s.contains('\n') && s.len() <= 64);
    let table = line.and_then(|l| table_at(text, l));
    let unknown = message.starts_with("unknown field");
    let key = match (table, &spanned) {
        (Some(t), Some(k)) if unknown => format!("{t}.{k}"),
        (None, Some(k)) if unknown => k.clone(),
        (Some(t), _) => t,
        (None, _) => "(file)".to_string(),
    };
    let hint = if unknown {
        Some(
            "remove the key or correct its spelling; config.example.toml lists every key"
                .to_string(),
        )
    } else {
        Some("fix the TOML at that line; config.example.toml shows the expected form".to_string())
    };
    Problem {
        key,
        line,
        message,
        hint,
    }
}

#[cfg(test)]
mod tests;
