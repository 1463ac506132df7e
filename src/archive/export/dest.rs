//! Where an export goes, and how a written file reaches its final name
//! there: a local directory (written beside its final name as a hidden
//! `.partial` file, fsynced, renamed, the directory fsynced), or a bucket
//! (written to the spool directory, uploaded whole, then removed). Either
//! way no reader ever sees a partial file under a final name.

use super::ExportError;
use crate::archive::files::{create_dirs, sync_dir};
use std::path::{Path, PathBuf};

/// An export destination.
#[derive(Debug, Clone)]
pub(crate) enum Destination {
    /// A local directory (absolute).
    Local(PathBuf),
    /// A bucket and key prefix.
    Remote(super::remote::RemoteDest),
}

impl Destination {
    /// `to` as given to `--to` or `[export] to`: an `s3://bucket/prefix`
    /// URL, else a directory (relative to the working directory).
    pub(crate) fn parse(to: &str) -> Result<Destination, ExportError> {
        if to.starts_with("s3://") {
            return super::remote::RemoteDest::parse(to).map(Destination::Remote);
        }
        if to.is_empty() {
            return Err(ExportError::Destination(
                "an empty destination\n  fix: give a directory or an s3://bucket/prefix URL".into(),
            ));
        }
        let path = std::path::absolute(to).map_err(|e| ExportError::io(Path::new(to), e))?;
        Ok(Destination::Local(path))
    }

    /// The destination as the `exports` table records it: the directory's
    /// canonical path (so two spellings of one directory, or a link to
    /// it, are one destination), or the URL without a trailing slash.
    pub(crate) fn key(&self) -> String {
        match self {
            Destination::Local(dir) => canonical(dir).to_string_lossy().into_owned(),
            Destination::Remote(r) => r.key(),
        }
    }

    /// Where to write the file that will be `<tree>/<rel>`, creating its
    /// directory; `spool` holds the files bound for a bucket.
    pub(crate) fn temp_path(
        &self,
        tree: &str,
        rel: &str,
        spool: &Path,
    ) -> Result<PathBuf, ExportError> {
        let (dir, name) = match self {
            Destination::Local(root) => {
                let full = root.join(tree).join(rel);
                let dir = full
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.clone());
                let name = full
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (dir, format!(".{name}.partial"))
            }
            Destination::Remote(_) => (
                spool.to_path_buf(),
                format!("{tree}-{}.partial", rel.replace('/', "_")),
            ),
        };
        create_dirs(&dir).map_err(|e| ExportError::io(&dir, e))?;
        Ok(dir.join(name))
    }

    /// Give the written file at `temp` its final name `<tree>/<rel>`.
    pub(crate) fn publish(&self, temp: &Path, tree: &str, rel: &str) -> Result<(), ExportError> {
        match self {
            Destination::Local(root) => {
                let full = root.join(tree).join(rel);
                std::fs::rename(temp, &full).map_err(|e| ExportError::io(&full, e))?;
                let dir = full.parent().unwrap_or(root);
                sync_dir(dir).map_err(|e| ExportError::io(dir, e))
            }
            Destination::Remote(r) => {
                r.upload(temp, &format!("{tree}/{rel}"))?;
                let _ = std::fs::remove_file(temp);
                Ok(())
            }
        }
    }
}

/// `path` with its longest existing ancestor resolved (links, `..`), so a
/// directory has one key before and after its first export creates it.
fn canonical(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(at) {
            return rest.iter().rev().fold(real, |p, name| p.join(name));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                at = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Local(dir) => write!(f, "{}", dir.display()),
            Destination::Remote(r) => write!(f, "{}", r.key()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_has_one_key_before_and_after_it_exists_and_through_a_link() {
        let d = tempfile::tempdir().expect("tempdir");
        let real = d.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        std::os::unix::fs::symlink(&real, d.path().join("link")).expect("symlink");
        let via_link =
            Destination::parse(&d.path().join("link/out").to_string_lossy()).expect("dest");
        let direct = Destination::parse(&real.join("out").to_string_lossy()).expect("dest");
        let before = via_link.key();
        assert_eq!(before, direct.key());
        std::fs::create_dir(real.join("out")).expect("mkdir");
        assert_eq!(via_link.key(), before);
        assert_eq!(
            Destination::parse("s3://b/p/").expect("dest").key(),
            "s3://b/p"
        );
    }
}
