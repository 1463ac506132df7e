//! The good copy a forced refetch keeps: before a new file replaces
//! `<final>`, the current one is kept as `<final>.prev` (a hard link, made
//! durable) until the history records the new one, so that a failure
//! between the rename and the commit can put it back ([`ArchiveRoot::resolve_previous`];
//! at start-up for a process that died there). All through [`ArchiveRoot`]'s
//! directory handles.

use super::{ArchiveRoot, RelPath, unlink_if_exists};
use rustix::fs::{AtFlags, FileType};
use std::io;

/// What [`ArchiveRoot::resolve_previous`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// No `.prev` copy.
    Nothing,
    /// The final file is the recorded one: the copy was removed.
    Dropped,
    /// The copy was the recorded file: it is back under the final name.
    Restored,
    /// Neither matches what is recorded: both left for the operator.
    Unresolved,
}

impl ArchiveRoot {
    /// Before a new file replaces `fin`, keep the current one as
    /// `<final>.prev` (a hard link, made durable). An existing `.prev` is
    /// kept as it is: it is the copy the history records (see
    /// [`ArchiveRoot::resolve_previous`]). Returns whether a copy is kept.
    pub(crate) fn keep_previous(&self, fin: &RelPath) -> io::Result<bool> {
        let dir = match self.parent_of(fin) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let prev = fin.prev();
        if rustix::fs::statat(&dir, prev.file_name(), AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            return Ok(true);
        }
        match rustix::fs::statat(&dir, fin.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {}
            Ok(_) | Err(rustix::io::Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        rustix::fs::linkat(
            &dir,
            fin.file_name(),
            &dir,
            prev.file_name(),
            AtFlags::empty(),
        )?;
        rustix::fs::fsync(&dir)?;
        Ok(true)
    }

    /// Put the kept copy back under `fin`, durably.
    pub(crate) fn restore_previous(&self, fin: &RelPath) -> io::Result<()> {
        let prev = fin.prev();
        self.commit(&prev, fin)?;
        // A rename between two links of one file does nothing.
        self.remove(&prev).map(drop)
    }

    /// The history records the new file: the kept copy goes.
    pub(crate) fn drop_previous(&self, fin: &RelPath) -> io::Result<()> {
        self.remove(&fin.prev()).map(drop)
    }

    /// Settle a `<final>.prev` left by a forced refetch that did not
    /// finish, against what the history `recorded` for the report (sha256,
    /// size): whichever of the two files is that one stays under the final name.
    pub(crate) fn resolve_previous(
        &self,
        fin: &RelPath,
        recorded: (&str, u64),
    ) -> io::Result<Resolved> {
        let prev = fin.prev();
        let dir = match self.parent_of(fin) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Resolved::Nothing),
            Err(e) => return Err(e),
        };
        if rustix::fs::statat(&dir, prev.file_name(), AtFlags::SYMLINK_NOFOLLOW).is_err() {
            return Ok(Resolved::Nothing);
        }
        if self.matches_recorded(fin, recorded)? {
            unlink_if_exists(&dir, prev.file_name())?;
            return Ok(Resolved::Dropped);
        }
        if self.matches_recorded(&prev, recorded)? {
            self.restore_previous(fin)?;
            return Ok(Resolved::Restored);
        }
        Ok(Resolved::Unresolved)
    }

    /// Whether the regular file at `rel` has the recorded sha256 and size.
    pub(crate) fn matches_recorded(
        &self,
        rel: &RelPath,
        (sha256, bytes): (&str, u64),
    ) -> io::Result<bool> {
        use sha2::Digest;
        let mut file = match self.open_file(rel) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(false),
            Err(e) => return Err(e),
        };
        if file.metadata()?.len() != bytes {
            return Ok(false);
        }
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match io::Read::read(&mut file, &mut buf)? {
                0 => break,
                n => hasher.update(&buf[..n]),
            }
        }
        Ok(hex::encode(hasher.finalize()) == sha256)
    }
}
