//! Whether the archive holds anything: the first regular file below the
//! root, found through [`ArchiveRoot`]'s handles without entering a link
//! (`restore` refuses a reports directory that holds files).

use super::sweep::Walk;
use super::{ArchiveRoot, RelPath};
use rustix::fs::FileType;
use std::io;

impl ArchiveRoot {
    /// A regular file somewhere below the root, if there is one (none when
    /// the root does not exist).
    pub(crate) fn any_file(&self) -> io::Result<Option<RelPath>> {
        let mut found = None;
        self.walk(|_, _, rel, kind, _| {
            if kind == FileType::RegularFile {
                found = Some(rel);
                return Ok(Walk::Stop);
            }
            Ok(Walk::On)
        })?;
        Ok(found)
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
