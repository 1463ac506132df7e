//! Files that hold secrets (the page's token, the API key files, a
//! credentials file) must not be readable by every user of the machine: one
//! that is is refused, with the `chmod` that fixes it. Readable by the
//! file's group is fine (the packaged unit installs them `root:mna-reportd`
//! `0640`). Only regular files are judged: a device or a FIFO is not where a
//! secret is kept, and reading one is bounded elsewhere.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A secret file every user may read.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} holds a secret and every user of this machine may read it (mode {mode:03o})\n  fix: chmod 600 {} (or chmod 640 with the file's group set to the service's group)",
    path.display(),
    path.display()
)]
pub(crate) struct ReadableByOthers {
    pub(crate) path: PathBuf,
    pub(crate) mode: u32,
}

/// `Ok` unless `meta` (of the file at `path`) is a regular file that
/// others may read.
pub(crate) fn ensure_private(
    path: &Path,
    meta: &std::fs::Metadata,
) -> Result<(), ReadableByOthers> {
    let mode = meta.permissions().mode() & 0o7777;
    if meta.is_file() && mode & 0o004 != 0 {
        Err(ReadableByOthers {
            path: path.to_path_buf(),
            mode,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_others_may_read_is_refused_and_a_group_readable_one_taken() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("secret");
        std::fs::write(&p, "x").expect("write");
        for (mode, refused) in [(0o644, true), (0o604, true), (0o640, false), (0o600, false)] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let meta = std::fs::metadata(&p).expect("meta");
            let got = ensure_private(&p, &meta);
            assert_eq!(got.is_err(), refused, "{mode:o}");
            if let Err(e) = got {
                assert!(
                    e.to_string()
                        .contains(&format!("fix: chmod 600 {}", p.display())),
                    "{e}"
                );
            }
        }
        let dev = std::fs::metadata("/dev/null").expect("meta");
        assert!(ensure_private(Path::new("/dev/null"), &dev).is_ok());
    }
}
