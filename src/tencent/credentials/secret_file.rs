//! Reading one secret (a key, a SecretId, a token) from a file: bounded in
//! size, refused when other users may read it, trimmed as [`super::clean`]
//! trims, and empty meaning absent where a source allows it.

use super::{CredentialError, clean};
use crate::config::private_file::ensure_private;
use secrecy::SecretString;
use std::path::Path;

/// The largest key, SecretId or token file read: a temporary token is a
/// few kilobytes; this stops a path such as `/dev/zero` from filling memory.
pub(crate) const MAX_SECRET_BYTES: u64 = 64 * 1024;

pub(super) fn read_secret(
    what: &'static str,
    path: &Path,
) -> Result<SecretString, CredentialError> {
    use std::io::Read;
    let read_err = |error| CredentialError::Read {
        what,
        path: path.to_path_buf(),
        error,
    };
    let mut text = String::new();
    let file = std::fs::File::open(path).map_err(read_err)?;
    ensure_private(path, &file.metadata().map_err(read_err)?)?;
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_SECRET_BYTES} bytes; it cannot hold one key"),
        )));
    }
    let trimmed = clean(&text);
    if trimmed.is_empty() {
        return Err(CredentialError::Empty {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(SecretString::from(trimmed.to_string()))
}

/// A secret that may be absent: a missing or empty file is none (so a unit
/// can always pass a `token` credential, empty for permanent keys).
pub(super) fn read_optional_secret(
    what: &'static str,
    path: &Path,
) -> Result<Option<SecretString>, CredentialError> {
    if !path.exists() {
        return Ok(None);
    }
    match read_secret(what, path) {
        Ok(s) => Ok(Some(s)),
        Err(CredentialError::Empty { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
