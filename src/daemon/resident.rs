//! What an idle daemon keeps in memory. Once its fires are done it waits,
//! often for an hour; what the fires used need not stay resident:
//!
//! - the memory they freed: glibc keeps it for reuse and returns only the
//!   top of its heap by itself; `malloc_trim` returns the rest;
//! - the pages of the program's code they ran (parsing workbooks, SQLite,
//!   TLS, HTTP), and of its read-only data: most of the resident set of an
//!   idle daemon is the mapped executable, not its heap. Those mappings are
//!   dropped (`MADV_DONTNEED` on the executable's own code mapping and the
//!   read-only mappings before it, which are never written; not on the
//!   relocated data after the code); the file stays in the page cache,
//!   so the few pages a wake-up runs are mapped again from there, without
//!   reading the disk.

/// Give back what the fires left resident.
pub(crate) fn shrink() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of malloc's own.
    unsafe {
        libc::malloc_trim(0);
    }
    for (start, len) in own_code() {
        // SAFETY: each range is a read-only file mapping of this executable
        // that lies before its relocated data: its code, and its read-only
        // data (headers, constants, unwind tables), which no process writes.
        // Dropping their pages loses nothing: they are read again from the
        // file on use.
        unsafe {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
}

/// The mappings of `/proc/self/maps` that hold this executable's code and
/// the read-only data before it (start address and length).
fn own_code() -> Vec<(usize, usize)> {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return Vec::new();
    };
    let here = own_code as fn() -> Vec<(usize, usize)> as usize;
    code_mappings(&maps, here)
}

/// One line of `/proc/self/maps`: start, end, permissions, path.
fn parse(line: &str) -> Option<(usize, usize, &str, &str)> {
    let mut fields = line.split_whitespace();
    let (from, to) = fields.next()?.split_once('-')?;
    let perms = fields.next()?;
    let path = fields.nth(3)?;
    let from = usize::from_str_radix(from, 16).ok()?;
    let to = usize::from_str_radix(to, 16).ok()?;
    Some((from, to, perms, path))
}

/// The `r-xp` file mapping of `maps` (the text of `/proc/self/maps`) that
/// holds the address `at`, and the `r--p` mappings of the same file that
/// end before it (the read-only data the linker puts first; the relocated
/// data, written at start, comes after the code and is never taken).
fn code_mappings(maps: &str, at: usize) -> Vec<(usize, usize)> {
    let lines: Vec<_> = maps.lines().filter_map(parse).collect();
    let Some(&(text, _, _, path)) = lines.iter().find(|(from, to, perms, path)| {
        *perms == "r-xp" && path.starts_with('/') && (*from..*to).contains(&at)
    }) else {
        return Vec::new();
    };
    lines
        .iter()
        .filter(|(from, to, perms, p)| {
            *p == path && ((*perms == "r--p" && *to <= text) || (*perms == "r-xp" && *from == text))
        })
        .map(|(from, to, _, _)| (*from, to - from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 08:01 123 /usr/bin/mna-reportd
55d0a0100000-55d0a0900000 r-xp 00100000 08:01 123 /usr/bin/mna-reportd
55d0a0900000-55d0a0980000 r--p 00900000 08:01 123 /usr/bin/mna-reportd
55d0a0980000-55d0a0a00000 rw-p 00980000 08:01 123 /usr/bin/mna-reportd
7f0000000000-7f0000100000 r-xp 00000000 00:00 0 
7f0000100000-7f0000200000 rwxp 00000000 08:01 9 /tmp/jit
7f0000200000-7f0000300000 r--p 00000000 08:01 7 /usr/lib/libc.so.6
";

    #[test]
    fn the_code_and_the_read_only_data_before_it_are_taken_never_the_relocated_data() {
        let text = 0x55d0_a010_0000;
        assert_eq!(
            code_mappings(MAPS, text + 42),
            vec![(0x55d0_a000_0000, 0x10_0000), (text, 0x80_0000)]
        );
        // an address outside the executable's code: nothing
        assert!(code_mappings(MAPS, 0x55d0_a000_0010).is_empty());
        assert!(code_mappings(MAPS, 0x55d0_a090_0010).is_empty());
        assert!(code_mappings(MAPS, 0x7f00_0000_0010).is_empty());
        assert!(code_mappings(MAPS, 0x7f00_0010_0010).is_empty());
    }

    #[test]
    fn shrinking_leaves_the_code_running() {
        assert!(!own_code().is_empty(), "the test binary's code is found");
        shrink();
        // the code and its constants are read again after their pages were dropped
        assert_eq!(code_mappings(MAPS, 0x55d0_a010_0001).len(), 2);
        shrink();
    }
}
