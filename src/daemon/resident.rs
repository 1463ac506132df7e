//! What an idle daemon keeps in memory. Once its fires are done it waits,
//! often for an hour; what the fires used need not stay resident:
//!
//! - the memory they freed: glibc keeps it for reuse and returns only the
//!   top of its heap by itself; `malloc_trim` returns the rest;
//! - the pages of the program's code they ran (parsing workbooks, SQLite,
//!   TLS, HTTP): most of the resident set of an idle daemon is the mapped
//!   executable, not its data. The mappings of the code are dropped
//!   (`MADV_DONTNEED` on the executable's own read-only, executable
//!   mapping, which is never written); the file stays in the page cache,
//!   so the few pages a wake-up runs are mapped again from there, without
//!   reading the disk.

/// Give back what the fires left resident.
pub(crate) fn shrink() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of malloc's own.
    unsafe {
        libc::malloc_trim(0);
    }
    if let Some((start, len)) = own_code() {
        // SAFETY: the range is this executable's read-only, executable file
        // mapping (its code). No process writes to it, so dropping its
        // pages loses nothing: they are read again from the file on use.
        unsafe {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
}

/// The mapping of `/proc/self/maps` that holds this function: the
/// executable's code (start address and length), if it is a private,
/// read-only, executable mapping of a file.
fn own_code() -> Option<(usize, usize)> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let here = own_code as fn() -> Option<(usize, usize)> as usize;
    code_mapping(&maps, here)
}

/// The `r-xp` file mapping of `maps` (the text of `/proc/self/maps`) that
/// holds the address `at`.
fn code_mapping(maps: &str, at: usize) -> Option<(usize, usize)> {
    maps.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let range = fields.next()?;
        let perms = fields.next()?;
        let (from, to) = range.split_once('-')?;
        let from = usize::from_str_radix(from, 16).ok()?;
        let to = usize::from_str_radix(to, 16).ok()?;
        let path = fields.nth(3)?;
        (perms == "r-xp" && path.starts_with('/') && (from..to).contains(&at))
            .then_some((from, to - from))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 08:01 123 /usr/bin/mna-reportd
55d0a0100000-55d0a0900000 r-xp 00100000 08:01 123 /usr/bin/mna-reportd
55d0a0900000-55d0a0a00000 rw-p 00900000 08:01 123 /usr/bin/mna-reportd
7f0000000000-7f0000100000 r-xp 00000000 00:00 0 
7f0000100000-7f0000200000 rwxp 00000000 08:01 9 /tmp/jit
";

    #[test]
    fn only_the_read_only_executable_file_mapping_holding_the_address_is_taken() {
        let text = 0x55d0_a010_0000;
        assert_eq!(code_mapping(MAPS, text + 42), Some((text, 0x80_0000)));
        // data, anonymous code, writable code: never
        assert_eq!(code_mapping(MAPS, 0x55d0_a000_0010), None);
        assert_eq!(code_mapping(MAPS, 0x55d0_a090_0010), None);
        assert_eq!(code_mapping(MAPS, 0x7f00_0000_0010), None);
        assert_eq!(code_mapping(MAPS, 0x7f00_0010_0010), None);
    }

    #[test]
    fn shrinking_leaves_the_code_running() {
        assert!(own_code().is_some(), "the test binary's code is found");
        shrink();
        // the code runs on after its pages were dropped
        assert_eq!(code_mapping(MAPS, 0), None);
        shrink();
    }
}
