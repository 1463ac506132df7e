//! Files renamed into a directory, as events (Linux inotify): a test waits
//! for the moment a file takes its final name instead of spinning on the
//! directory.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// A watch on one directory for files renamed into it.
pub struct Renames {
    fd: OwnedFd,
}

impl Renames {
    /// Watch `dir` (which must exist) from now on.
    pub fn watch(dir: &Path) -> Renames {
        // SAFETY: inotify_init1 takes flags only; the fd is checked below.
        let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        assert!(raw >= 0, "inotify: {}", std::io::Error::last_os_error());
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let path = CString::new(dir.as_os_str().as_bytes()).expect("path");
        // SAFETY: a valid descriptor and a NUL-terminated path.
        let wd =
            unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_MOVED_TO) };
        assert!(
            wd >= 0,
            "watch {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
        Renames { fd }
    }

    /// Wait until a file is renamed into the directory (`true`), at most
    /// `limit` (`false`). Renames that came together count as one.
    pub fn next(&self, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            let left = limit.saturating_sub(start.elapsed());
            let mut p = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one pollfd we own.
            let rc = unsafe { libc::poll(&mut p, 1, ms) };
            if rc == 0 {
                return false;
            }
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "poll: {e}");
                continue;
            }
            let mut buf = [0u8; 4096];
            // SAFETY: reads into a buffer we own, at most its length.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                return true;
            }
        }
    }
}
