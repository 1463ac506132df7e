//! The part sweep: every `.part` file (or link at a part name) below the
//! root that no live claim is writing and that has not been written to for
//! a while is removed, and every `.prev` copy is found. The walk opens each
//! directory through [`ArchiveRoot`]'s handles and never enters a link.

use super::{ArchiveRoot, DIR_FLAGS, MAX_DEPTH, PART_SUFFIX, PREV_SUFFIX, RelPath};
use rustix::fs::{AtFlags, FileType, Mode};
use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

/// Whether a walk goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Walk {
    On,
    Stop,
}

/// What [`ArchiveRoot::sweep_parts`] did and found.
#[derive(Debug, Default)]
pub(crate) struct Swept {
    /// Part files removed.
    pub(crate) removed: usize,
    /// `.prev` copies left by a forced refetch that did not finish.
    pub(crate) previous: Vec<RelPath>,
}

impl ArchiveRoot {
    /// A handle on the directory `rel` (the root for `None`), never through a link.
    pub(super) fn open_dir(&self, rel: Option<&RelPath>) -> io::Result<OwnedFd> {
        let mut dir = self.open_root()?;
        for name in rel.map(|r| r.0.as_slice()).unwrap_or_default() {
            dir = rustix::fs::openat(&dir, name.as_os_str(), DIR_FLAGS, Mode::empty())?;
        }
        Ok(dir)
    }

    /// Every `.part` file (or link at a part name) below the root that is
    /// not in `keep` and was last written more than `idle` ago, deleted
    /// without following links; and every `.prev` copy found. (A part file
    /// being written is younger: another process may have claimed its
    /// report after `keep` was read.) Links to directories are not entered.
    pub(crate) fn sweep_parts(
        &self,
        keep: &HashSet<RelPath>,
        idle: std::time::Duration,
    ) -> io::Result<Swept> {
        let mut swept = Swept::default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.walk(|dir, name, rel, kind, st| {
            // A time in the future counts as stale, as an unreadable one did.
            let age = now.saturating_sub(st.st_mtime);
            let stale = age < 0 || age >= idle.as_secs() as i64;
            let is_file = kind == FileType::RegularFile;
            if (is_file || kind == FileType::Symlink)
                && name.as_bytes().ends_with(PART_SUFFIX.as_bytes())
                && !keep.contains(&rel)
                && stale
            {
                if super::unlink_if_exists(dir, name)? {
                    swept.removed += 1;
                }
            } else if is_file && name.as_bytes().ends_with(PREV_SUFFIX.as_bytes()) {
                swept.previous.push(rel);
            }
            Ok(Walk::On)
        })?;
        Ok(swept)
    }

    /// Visit every entry below the root that is not a directory, depth
    /// first, opening each directory through a handle and never entering a
    /// link (nor going deeper than [`MAX_DEPTH`]); `visit` gets the entry's
    /// directory, name, path, type and `lstat`, and may stop the walk.
    pub(super) fn walk(
        &self,
        mut visit: impl FnMut(
            &OwnedFd,
            &OsString,
            RelPath,
            FileType,
            &rustix::fs::Stat,
        ) -> io::Result<Walk>,
    ) -> io::Result<()> {
        let mut stack: Vec<Option<RelPath>> = vec![None];
        while let Some(at) = stack.pop() {
            let dir = match self.open_dir(at.as_ref()) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in rustix::fs::Dir::read_from(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_bytes();
                if name == b"." || name == b".." {
                    continue;
                }
                let name = OsString::from(std::ffi::OsStr::from_bytes(name));
                let rel = match &at {
                    Some(parent) => parent.child(name.clone()),
                    None => RelPath(vec![name.clone()]),
                };
                let st = match rustix::fs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(rustix::io::Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                };
                let kind = FileType::from_raw_mode(st.st_mode);
                if kind == FileType::Directory {
                    if rel.0.len() < MAX_DEPTH {
                        stack.push(Some(rel));
                    }
                    continue;
                }
                if visit(&dir, &name, rel, kind, &st)? == Walk::Stop {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
