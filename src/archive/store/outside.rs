//! Rows whose recorded file is outside the archive: the SQL form of
//! [`crate::archive::root::ArchiveRoot::locate`]'s rule, for `prune` to
//! skip them and for `check` and `status` to count them as damage.

use rusqlite::Connection;

/// An SQL condition true when `file_path` is not a path inside the archive
/// whose prefix ([`crate::archive::root::ArchiveRoot::prefix`]) is bound
/// to the parameter `param` (e.g. `"?7"`): it does not start with the
/// prefix, or the rest is longer than 4096 bytes or 16 names, or has an
/// empty, `.` or `..` name, or a NUL. `file_path` must not be NULL.
pub fn outside_sql(param: &str) -> String {
    let rest = format!("substr(file_path, length({param}) + 1)");
    let wrapped = format!("('/' || {rest} || '/')");
    format!(
        "(substr(file_path, 1, length({param})) IS NOT {param}
          OR length(CAST({rest} AS BLOB)) > 4096
          OR length({rest}) - length(replace({rest}, '/', '')) >= 16
          OR instr({wrapped}, '//') > 0
          OR instr({wrapped}, '/./') > 0
          OR instr({wrapped}, '/../') > 0
          OR instr(CAST(file_path AS BLOB), x'00') > 0)"
    )
}

/// How many reports record a file outside the archive whose prefix is
/// `prefix`. One scan of `reports`, nothing held in memory.
pub fn files_outside(conn: &Connection, prefix: &str) -> rusqlite::Result<u64> {
    let n: i64 = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM reports WHERE file_path IS NOT NULL AND {}",
            outside_sql("?1")
        ))?
        .query_row([prefix], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::root::ArchiveRoot;
    use proptest::prelude::*;

    fn outside_in_sql(conn: &Connection, prefix: &str, path: &str) -> bool {
        conn.query_row(
            &format!("SELECT {} FROM (SELECT ?2 AS file_path)", outside_sql("?1")),
            [prefix, path],
            |r| r.get(0),
        )
        .expect("query")
    }

    #[test]
    fn the_sql_rule_is_the_archive_rule() {
        let conn = Connection::open_in_memory().expect("db");
        let root = ArchiveRoot::new("/var/lib/r");
        for (path, outside) in [
            ("/var/lib/r/j/2026/11/a.xlsx", false),
            ("/home/op/notes.txt", true),
            ("/var/lib/r/j/../../../home/op/.ssh/id_ed25519", true),
            ("/var/lib/rr/j/a.xlsx", true),
            ("/var/lib/r/", true),
            ("/var/lib/r/j//a", true),
            ("/var/lib/r/./a", true),
            ("/var/lib/r/a\0b", true),
            ("/var/lib/r/%2E%2E/a", false),
        ] {
            assert_eq!(root.locate(path).is_err(), outside, "{path}");
            assert_eq!(outside_in_sql(&conn, &root.prefix(), path), outside, "{path}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn sql_and_rust_agree(rest in "[a./\\x00é]{0,12}|(a/){14,18}a", root in prop_oneof![Just("/r"), Just("/r/"), Just("r/x")]) {
            let conn = Connection::open_in_memory().expect("db");
            let archive = ArchiveRoot::new(root);
            for path in [format!("{}{rest}", archive.prefix()), format!("/r{rest}"), rest.clone()] {
                prop_assert_eq!(
                    archive.locate(&path).is_err(),
                    outside_in_sql(&conn, &archive.prefix(), &path),
                    "{:?}", path
                );
            }
        }
    }
}
