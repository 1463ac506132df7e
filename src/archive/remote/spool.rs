//! Scratch files in the state directory for snapshots and restores: a copy
//! of the history and its compressed form. Each is named after the process
//! that makes it (`.snapshot.<boot id>.<pid>.<start>.<n>.db`), removed when
//! its [`Spool`] drops (on every path: success, error, a panic unwinding),
//! and one a killed process left is removed by the next spool of its kind
//! once its process is gone ([`crate::archive::holder`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Spools made by this process, to tell two at once apart.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The scratch files of one snapshot or restore.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    stem: String,
}

impl Spool {
    /// A spool of kind `kind` (`snapshot`, `restore`) in `dir`, after the
    /// stale ones of that kind are removed.
    pub(crate) fn new(dir: &Path, kind: &str) -> std::io::Result<Spool> {
        crate::archive::files::create_dirs(dir)?;
        sweep(dir, kind);
        let holder = crate::archive::holder::current().map_err(std::io::Error::other)?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Ok(Spool {
            dir: dir.to_path_buf(),
            stem: format!(".{kind}.{}.{n}", holder.replace(':', ".")),
        })
    }

    /// The scratch file ending in `suffix` (`.db`, `.db.gz`).
    pub(crate) fn file(&self, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}{suffix}", self.stem))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // Every suffix starts with a dot: spool 1 is not spool 10.
        let mine = format!("{}.", self.stem);
        remove_all(&self.dir, |name| name.starts_with(&mine));
    }
}

/// The process (holder) of a spool file name of kind `kind`, if it is one.
fn holder_of(name: &str, kind: &str) -> Option<String> {
    let rest = name.strip_prefix(&format!(".{kind}."))?;
    let parts: Vec<&str> = rest.splitn(4, '.').collect();
    match parts.as_slice() {
        [boot, pid, start, _] if !boot.is_empty() => Some(format!("{boot}:{pid}:{start}")),
        _ => None,
    }
}

/// Remove the spool files of kind `kind` whose process is gone.
fn sweep(dir: &Path, kind: &str) {
    remove_all(dir, |name| {
        holder_of(name, kind).is_some_and(|h| !crate::archive::holder::is_alive(&h))
    });
}

/// Remove the files of `dir` whose names `pick` picks (best effort: a file
/// that cannot be removed now is removed by a later sweep).
fn remove_all(dir: &Path, pick: impl Fn(&str) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if pick(name) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a scratch file")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_leaves_nothing_and_sweeps_what_a_dead_process_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Left by a process of another boot, and a file of another kind.
        let stale = dir.path().join(".snapshot.0000-dead.12.34.0.db.gz");
        let other = dir.path().join(".restore.0000-dead.12.34.0.db");
        let kept = dir.path().join("history.db");
        for f in [&stale, &other, &kept] {
            std::fs::write(f, "x").expect("write");
        }
        {
            let spool = Spool::new(dir.path(), "snapshot").expect("spool");
            assert!(!stale.exists(), "swept");
            assert!(other.exists() && kept.exists());
            for suffix in [".db", ".db-journal", ".db.gz"] {
                std::fs::write(spool.file(suffix), "y").expect("write");
            }
            let again = Spool::new(dir.path(), "snapshot").expect("second");
            assert_ne!(again.file(".db"), spool.file(".db"));
            assert!(spool.file(".db").exists(), "a live process's files stay");
        }
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let mut left = left;
        left.sort();
        assert_eq!(left, vec![".restore.0000-dead.12.34.0.db", "history.db"]);
        assert_eq!(
            holder_of(".snapshot.b-1.7.9.3.db", "snapshot").as_deref(),
            Some("b-1:7:9")
        );
        assert_eq!(holder_of(".snapshot..db", "snapshot"), None);
    }
}
