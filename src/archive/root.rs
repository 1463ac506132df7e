//! The archive root: the one way to the report files. Every report file
//! the program creates, writes, renames, reads, serves, stats or deletes
//! (and every `.part` and `.prev` beside one) is reached through
//! [`ArchiveRoot`], by a [`RelPath`] below `reports_dir`.
//!
//! An operation opens the root (which may be a link the operator chose),
//! then each directory below it with `openat(O_DIRECTORY | O_NOFOLLOW)`,
//! and acts on the last name relative to that directory handle
//! (`openat` with `O_NOFOLLOW`, `renameat`, `unlinkat`, `linkat`,
//! `mkdirat`): a symbolic link at any level below the root is never
//! followed, however deep, and nothing outside the tree is reached. The
//! root is opened anew by each operation, so a reports directory the
//! operator moves or re-creates is the one used from then on.
//!
//! A path string read from the history is never followed as a path:
//! [`ArchiveRoot::locate`] turns it lexically into a [`RelPath`] (it must
//! start with `reports_dir`, every remaining component a plain name, no
//! `..`, bounded length), and anything else is [`OutsideArchive`].
//!
//! Durability: a file gets its final name as `<final>.part` in the same
//! directory, fsynced, renamed, and the directory fsynced. Files are
//! created 0600, directories 0750. A forced refetch keeps the good file as
//! `<final>.prev` until its commit ([`prev`]).

use rustix::fs::{AtFlags, Mode, OFlags};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

mod prev;
mod survey;
mod sweep;

pub(crate) use prev::Resolved;

/// Suffix of a file being written.
pub(crate) const PART_SUFFIX: &str = ".part";
/// Suffix of the good copy a forced refetch keeps until its commit.
pub(crate) const PREV_SUFFIX: &str = ".prev";
/// Mode of report files.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of directories we create.
pub(crate) const DIR_MODE: u32 = 0o750;

/// Most components of a path below the root.
const MAX_DEPTH: usize = 16;
/// Most bytes of one component (`NAME_MAX`).
const MAX_NAME: usize = 255;
/// Most bytes of a path below the root.
const MAX_PATH: usize = 4096;

/// A path below the archive root: one or more plain names (no `..`, no
/// `.`, no root, no NUL), each at most 255 bytes, bounded in depth and length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(Vec<OsString>);

impl RelPath {
    /// `path` as a relative path below the root, if it is one (lexically).
    pub fn new(path: &Path) -> Option<RelPath> {
        use std::os::unix::ffi::OsStrExt;
        let mut parts = Vec::new();
        for c in path.components() {
            let Component::Normal(name) = c else {
                return None;
            };
            let bytes = name.as_bytes();
            if bytes.is_empty() || bytes.len() > MAX_NAME || bytes.contains(&0) {
                return None;
            }
            parts.push(name.to_os_string());
        }
        let len: usize = parts.iter().map(|p| p.len() + 1).sum();
        if parts.is_empty() || parts.len() > MAX_DEPTH || len > MAX_PATH {
            return None;
        }
        Some(RelPath(parts))
    }

    /// A path of names made by the program ([`crate::archive::files::report_path`]):
    /// plain, non-empty and short by construction. A name that is not is
    /// replaced by its escaped form, never taken as a path.
    pub(crate) fn of_names<const N: usize>(names: [String; N]) -> RelPath {
        let parts = names
            .into_iter()
            .map(|n| {
                let plain = !n.is_empty()
                    && n.len() <= MAX_NAME
                    && n != "."
                    && n != ".."
                    && !n.contains(['/', '\0']);
                if plain {
                    OsString::from(n)
                } else {
                    OsString::from(crate::domain::filename::component(&n, 64) + "%")
                }
            })
            .collect::<Vec<_>>();
        if parts.is_empty() {
            return RelPath(vec![OsString::from("%")]);
        }
        RelPath(parts)
    }

    /// The path, relative to the root.
    pub(crate) fn to_path(&self) -> PathBuf {
        self.0.iter().collect()
    }

    /// The directories above the file, from the root down.
    fn dirs(&self) -> &[OsString] {
        &self.0[..self.0.len() - 1]
    }

    /// The last name.
    pub(crate) fn file_name(&self) -> &OsStr {
        &self.0[self.0.len() - 1]
    }

    /// The same path with `suffix` added to the last name (`.part`, `.prev`).
    pub(crate) fn with_suffix(&self, suffix: &str) -> RelPath {
        let mut parts = self.0.clone();
        let last = parts.len() - 1;
        parts[last].push(suffix);
        RelPath(parts)
    }

    /// The last name without `suffix`, if it ends with it and keeps a name.
    pub(crate) fn strip_suffix(&self, suffix: &str) -> Option<RelPath> {
        let name = self.file_name().to_str()?.strip_suffix(suffix)?;
        if name.is_empty() {
            return None;
        }
        let mut parts = self.0.clone();
        let last = parts.len() - 1;
        parts[last] = OsString::from(name);
        Some(RelPath(parts))
    }

    /// `<final>.part`.
    pub fn part(&self) -> RelPath {
        self.with_suffix(PART_SUFFIX)
    }

    /// `<final>.prev`.
    pub(crate) fn prev(&self) -> RelPath {
        self.with_suffix(PREV_SUFFIX)
    }

    fn child(&self, name: OsString) -> RelPath {
        let mut parts = self.0.clone();
        parts.push(name);
        RelPath(parts)
    }
}

/// A path the history records that does not lie inside the archive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the history records the file {recorded:?}, which is not inside the reports directory {}; it is never opened, served or deleted\n  fix: if the file belongs to the archive, move it under storage.reports_dir and correct reports.file_path, or fetch the report again with `mna-reportd fetch --force`",
    root.display()
)]
pub(crate) struct OutsideArchive {
    pub(crate) recorded: String,
    pub(crate) root: PathBuf,
}

/// Why a report's directory cannot be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReportDirError {
    #[error("{} is a symbolic link inside the reports directory; mna-reportd never writes through links there\n  fix: replace the link with a real directory (move what it points to into its place), or set storage.reports_dir to where the files should go", path.display())]
    Link { path: PathBuf },
    #[error("{} is in the way of a report directory and is not a directory\n  fix: move it out of the reports directory", path.display())]
    NotDir { path: PathBuf },
    #[error("cannot create {}: {source}\n  fix: check that this user may write there and that the disk has room", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The archive: the reports directory and every file below it.
#[derive(Debug, Clone)]
pub struct ArchiveRoot {
    path: PathBuf,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl ArchiveRoot {
    pub fn new(path: impl Into<PathBuf>) -> ArchiveRoot {
        ArchiveRoot { path: path.into() }
    }

    /// The reports directory, as configured.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The path the history records for `rel` (and logs show).
    pub fn absolute(&self, rel: &RelPath) -> PathBuf {
        self.path.join(rel.to_path())
    }

    /// The prefix every recorded path inside the archive starts with: the
    /// reports directory as configured, with one `/` after it.
    pub(crate) fn prefix(&self) -> String {
        format!("{}/", self.path.to_string_lossy().trim_end_matches('/'))
    }

    /// A recorded path as a path below the root, checked lexically: it must
    /// start with [`ArchiveRoot::prefix`], and the rest be at most 4096
    /// bytes, no name empty, `.`, `..` or holding a NUL. Nothing on
    /// the disk is looked at. (The same rule, in SQL, counts such rows:
    /// [`crate::archive::store::outside::outside_sql`].)
    pub(crate) fn locate(&self, recorded: &str) -> Result<RelPath, OutsideArchive> {
        let outside = || OutsideArchive {
            recorded: crate::domain::text::cap(recorded, 512).into_owned(),
            root: self.path.clone(),
        };
        let rest = recorded.strip_prefix(&self.prefix()).ok_or_else(outside)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let bad = |p: &&str| p.is_empty() || *p == "." || *p == ".." || p.contains('\0');
        if rest.len() > MAX_PATH || parts.iter().any(bad) {
            return Err(outside());
        }
        Ok(RelPath(parts.into_iter().map(OsString::from).collect()))
    }

    /// A handle on the root itself (a link there is followed: the operator chose it).
    fn open_root(&self) -> io::Result<OwnedFd> {
        Ok(rustix::fs::open(
            &self.path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// A handle on the directory holding `rel`, walked down from the root
    /// one name at a time, never through a link.
    fn parent_of(&self, rel: &RelPath) -> io::Result<OwnedFd> {
        let mut dir = self.open_root()?;
        for name in rel.dirs() {
            dir = rustix::fs::openat(&dir, name.as_os_str(), DIR_FLAGS, Mode::empty())?;
        }
        Ok(dir)
    }

    /// Make the directories above `file` (and the root) with [`DIR_MODE`],
    /// fsyncing the parent of every directory made. A link or a
    /// non-directory in the way is an error, never followed.
    pub(crate) fn create_dirs(&self, file: &RelPath) -> Result<(), ReportDirError> {
        let io_err = |path: PathBuf| move |source| ReportDirError::Io { path, source };
        crate::archive::files::create_dirs(&self.path).map_err(io_err(self.path.clone()))?;
        let mut dir = self.open_root().map_err(io_err(self.path.clone()))?;
        let mut at = self.path.clone();
        for name in file.dirs() {
            at.push(name);
            dir = loop {
                match rustix::fs::openat(&dir, name.as_os_str(), DIR_FLAGS, Mode::empty()) {
                    Ok(next) => break next,
                    Err(rustix::io::Errno::NOENT) => {}
                    Err(e) => return Err(in_the_way(&dir, name, &at, e.into())),
                }
                match rustix::fs::mkdirat(&dir, name.as_os_str(), Mode::from_raw_mode(DIR_MODE)) {
                    Ok(()) => rustix::fs::fsync(&dir).map_err(|e| io_err(at.clone())(e.into()))?,
                    // Made by another process meanwhile: open it.
                    Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(io_err(at.clone())(e.into())),
                }
            };
        }
        Ok(())
    }

    /// Create `part` for writing from scratch, mode [`FILE_MODE`]: whatever
    /// is at that name (a stale file, a link) is unlinked, never followed,
    /// and the file is created exclusively. Opened for reading too.
    pub fn create_part(&self, part: &RelPath) -> io::Result<File> {
        let dir = self.parent_of(part)?;
        unlink_if_exists(&dir, part.file_name())?;
        let fd = rustix::fs::openat(
            &dir,
            part.file_name(),
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(FILE_MODE),
        )?;
        Ok(File::from(fd))
    }

    /// Open the regular file `rel` for reading; a link, a directory, a
    /// FIFO or a device there is refused (never blocks on one).
    pub(crate) fn open_file(&self, rel: &RelPath) -> io::Result<File> {
        let dir = self.parent_of(rel)?;
        let fd = rustix::fs::openat(
            &dir,
            rel.file_name(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let file = File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(file)
    }

    /// Whether a regular file is at `rel` (a link there is not one).
    pub(crate) fn is_file(&self, rel: &RelPath) -> io::Result<bool> {
        let dir = match self.parent_of(rel) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        match rustix::fs::statat(&dir, rel.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(rustix::fs::FileType::from_raw_mode(st.st_mode)
                == rustix::fs::FileType::RegularFile),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove the file (or link) at `rel`, never what a link points to.
    /// Returns whether something was there; a missing directory on the
    /// way means nothing was.
    pub(crate) fn remove(&self, rel: &RelPath) -> io::Result<bool> {
        let dir = match self.parent_of(rel) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        unlink_if_exists(&dir, rel.file_name())
    }

    /// Give a complete, fsynced `from` the name `to` durably: rename, then
    /// fsync the directory.
    pub fn commit(&self, from: &RelPath, to: &RelPath) -> io::Result<()> {
        let from_dir = self.parent_of(from)?;
        let to_dir = self.parent_of(to)?;
        rustix::fs::renameat(&from_dir, from.file_name(), &to_dir, to.file_name())?;
        rustix::fs::fsync(&to_dir)?;
        Ok(())
    }
}

/// Why `name` in `dir` is not a directory we may enter.
fn in_the_way(dir: &OwnedFd, name: &OsStr, at: &Path, e: io::Error) -> ReportDirError {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match rustix::fs::FileType::from_raw_mode(st.st_mode) {
            rustix::fs::FileType::Symlink => ReportDirError::Link {
                path: at.to_path_buf(),
            },
            rustix::fs::FileType::Directory => ReportDirError::Io {
                path: at.to_path_buf(),
                source: e,
            },
            _ => ReportDirError::NotDir {
                path: at.to_path_buf(),
            },
        },
        Err(_) => ReportDirError::Io {
            path: at.to_path_buf(),
            source: e,
        },
    }
}

/// Unlink `name` in `dir` if it is there (a file or a link, never a
/// directory). Returns whether it was.
fn unlink_if_exists(dir: &OwnedFd, name: &OsStr) -> io::Result<bool> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
