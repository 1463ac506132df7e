//! Whether the archive holds anything: the first regular file below the
//! root, found through [`ArchiveRoot`]'s handles without entering a link
//! (`restore` refuses a reports directory that holds files).

use super::{ArchiveRoot, MAX_DEPTH, RelPath};
use rustix::fs::{AtFlags, FileType};
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;

impl ArchiveRoot {
    /// A regular file somewhere below the root, if there is one (none when
    /// the root does not exist).
    pub(crate) fn any_file(&self) -> io::Result<Option<RelPath>> {
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
                match FileType::from_raw_mode(st.st_mode) {
                    FileType::RegularFile => return Ok(Some(rel)),
                    FileType::Directory if rel.0.len() < MAX_DEPTH => stack.push(Some(rel)),
                    _ => {}
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_directories_hold_no_file_and_a_deep_file_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = ArchiveRoot::new(dir.path().join("reports"));
        assert_eq!(root.any_file().expect("missing root"), None);
        std::fs::create_dir_all(dir.path().join("reports/job/2026/11")).expect("dirs");
        assert_eq!(root.any_file().expect("empty"), None);
        std::fs::write(dir.path().join("reports/job/2026/11/a.xlsx"), "x").expect("file");
        let found = root.any_file().expect("one").expect("a file");
        assert_eq!(found.to_path(), std::path::Path::new("job/2026/11/a.xlsx"));
    }
}
