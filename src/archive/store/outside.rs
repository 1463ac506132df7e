//! Rows whose recorded file is outside the archive: the SQL form of
//! [`crate::archive::root::ArchiveRoot::locate`]'s rule, for `prune` to
//! skip them and for `check` and `status` to count them as damage.

use rusqlite::Connection;

/// The condition of the partial index `reports_odd_file` (migration 05),
/// word for word: a superset of the rows whose path has an empty, `.` or
/// `..` name, a NUL or more than 4096 bytes below any root.
const ODD: &str = "file_path IS NOT NULL
    AND (instr(file_path, '/./') > 0 OR instr(file_path, '/../') > 0
         OR substr(file_path, -2) = '/.' OR substr(file_path, -3) = '/..'
         OR instr(file_path, '//') > 0 OR substr(file_path, -1) = '/'
         OR length(CAST(file_path AS BLOB)) > 4096 OR instr(CAST(file_path AS BLOB), x'00') > 0)";

/// An SQL condition true when `file_path` is not a path inside the archive
/// whose prefix ([`crate::archive::root::ArchiveRoot::prefix`]) is bound
/// to the parameter `param` (e.g. `"?7"`): it does not start with the
/// prefix, or the rest is longer than 4096 bytes, or has an empty, `.` or
/// `..` name, or a NUL. `file_path` must not be NULL. Row by row: for a
/// few rows; [`outside_ids`] finds them in a whole history.
pub(crate) fn outside_sql(param: &str) -> String {
    let rest = format!("substr(file_path, length({param}) + 1)");
    let wrapped = format!("('/' || {rest} || '/')");
    format!(
        "(substr(file_path, 1, length({param})) IS NOT {param}
          OR length(CAST({rest} AS BLOB)) > 4096
          OR instr({wrapped}, '//') > 0
          OR instr({wrapped}, '/./') > 0
          OR instr({wrapped}, '/../') > 0
          OR instr(CAST(file_path AS BLOB), x'00') > 0)"
    )
}

/// A query of the ids of the reports recording a file outside the archive,
/// the prefix bound to `prefix` and the prefix's end (see [`prefix_end`])
/// to `end`: the paths before or after the prefix's range (a range of the
/// index `reports_by_file`), and, inside it, the rows of the index
/// `reports_odd_file` that [`outside_sql`] refuses. Reads only those rows.
pub(crate) fn outside_ids(prefix: &str, end: &str) -> String {
    format!(
        "SELECT id FROM reports INDEXED BY reports_by_file
           WHERE file_path IS NOT NULL AND (file_path < {prefix} OR file_path >= {end})
         UNION ALL
         SELECT id FROM reports INDEXED BY reports_odd_file
           WHERE {ODD} AND file_path >= {prefix} AND file_path < {end} AND {}",
        outside_sql(prefix)
    )
}

/// The first string after every string that starts with `prefix` (which
/// ends with `/`): the same with the `/` made `0`, the next byte.
pub(crate) fn prefix_end(prefix: &str) -> String {
    match prefix.strip_suffix('/') {
        Some(head) => format!("{head}0"),
        None => format!("{prefix}\u{10FFFF}"),
    }
}

/// How many reports of each job record a file outside the archive whose
/// prefix is `prefix` (jobs with none left out). Through two indexes: it
/// reads only the rows outside, one row per job back.
pub(crate) fn files_outside(
    conn: &Connection,
    prefix: &str,
) -> rusqlite::Result<std::collections::BTreeMap<String, u64>> {
    conn.prepare_cached(&format!(
        "SELECT job, count(*) FROM reports WHERE id IN ({}) GROUP BY job",
        outside_ids("?1", "?2")
    ))?
    .query_map([prefix, &prefix_end(prefix)], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })?
    .collect()
}

/// What the operator reads about `n` reports recording a file outside the
/// archive at `root` (history at `db`): one line, and what to do.
pub(crate) fn damage_text(
    n: u64,
    root: &crate::archive::root::ArchiveRoot,
    db: &std::path::Path,
) -> String {
    format!(
        "damage: {n} report(s) record a file outside the reports directory {}; such a file is never opened, served or deleted, and prune skips these reports\n  \
         fix: if the reports directory moved, set storage.reports_dir back to it; otherwise find them with \
         sqlite3 {} \"SELECT id, file_path FROM reports WHERE file_path NOT LIKE '{}%'\", \
         move each file under the reports directory and correct its file_path, or set file_path = NULL and fetch the report again with `mna-reportd fetch --force`",
        root.path().display(),
        db.display(),
        root.prefix().replace('\'', "''")
    )
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
            assert_eq!(
                outside_in_sql(&conn, &root.prefix(), path),
                outside,
                "{path}"
            );
        }
    }

    #[test]
    fn rows_outside_are_counted_per_job() {
        let mut conn = Connection::open_in_memory().expect("db");
        crate::archive::store::migrate(&mut conn).expect("schema");
        for (i, (job, path)) in [
            ("a", Some("/r/a/2026/11/x.xlsx")),
            ("a", Some("/home/op/notes.txt")),
            ("a", None),
            ("b", Some("/r/../etc/passwd")),
            ("b", Some("/r/b/../../etc/passwd")),
        ]
        .into_iter()
        .enumerate()
        {
            conn.execute(
                "INSERT INTO reports (job, target, region, granularity, window_start, window_end, status, attempts, \"trigger\", file_path, created_at, updated_at)
                 VALUES (?1, 'all', '', 1, ?2, ?2 + 1, 'ok', 1, 'manual', ?3, 0, 0)",
                rusqlite::params![job, i as i64, path],
            )
            .expect("row");
        }
        let n = files_outside(&conn, &ArchiveRoot::new("/r").prefix()).expect("count");
        assert_eq!(
            n.into_iter().collect::<Vec<_>>(),
            vec![("a".to_string(), 1), ("b".to_string(), 2)]
        );
        assert!(
            damage_text(3, &ArchiveRoot::new("/r"), std::path::Path::new("/h.db")).contains("fix:")
        );
    }

    /// A root below a hidden directory (`~/.local/state`, a `/tmp/.tmpXYZ`)
    /// puts none of its rows into the index of odd paths: the count stays
    /// a read of the rows outside, not of the whole history.
    #[test]
    fn a_hidden_directory_above_the_root_keeps_its_rows_out_of_the_odd_index() {
        let mut conn = Connection::open_in_memory().expect("db");
        crate::archive::store::migrate(&mut conn).expect("schema");
        let root = ArchiveRoot::new("/home/op/.local/state/mna/reports");
        for i in 0..50i64 {
            conn.execute(
                "INSERT INTO reports (job, target, region, granularity, window_start, window_end, status, attempts, \"trigger\", file_path, created_at, updated_at)
                 VALUES ('j', 'all', '', 1, ?1, ?1 + 1, 'ok', 1, 'manual', ?2, 0, 0)",
                rusqlite::params![i, format!("{}j/2026/11/.r{i}.xlsx", root.prefix())],
            )
            .expect("row");
        }
        let odd: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM reports INDEXED BY reports_odd_file WHERE {ODD}"),
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(odd, 0);
        assert!(
            files_outside(&conn, &root.prefix())
                .expect("count")
                .is_empty()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// The row-by-row rule, the indexed count and the archive's own
        /// rule agree, roots with a `/.` in them included.
        #[test]
        fn sql_and_rust_agree(
            rest in "[a./\\x00é]{0,12}|(a/){14,18}a",
            root in prop_oneof![Just("/r"), Just("/r/"), Just("r/x"), Just("/home/op/.local/r")],
        ) {
            let mut conn = Connection::open_in_memory().expect("db");
            crate::archive::store::migrate(&mut conn).expect("schema");
            let archive = ArchiveRoot::new(root);
            let paths = [format!("{}{rest}", archive.prefix()), format!("/r{rest}"), rest.clone()];
            let mut want = 0;
            for (i, path) in paths.iter().enumerate() {
                let outside = archive.locate(path).is_err();
                prop_assert_eq!(outside, outside_in_sql(&conn, &archive.prefix(), path), "{:?}", path);
                want += u64::from(outside);
                conn.execute(
                    "INSERT INTO reports (job, target, region, granularity, window_start, window_end, status, attempts, \"trigger\", file_path, created_at, updated_at)
                     VALUES ('j', 'all', '', 1, ?1, ?1 + 1, 'ok', 1, 'manual', ?2, 0, 0)",
                    rusqlite::params![i as i64, path],
                ).expect("row");
            }
            let got: u64 = files_outside(&conn, &archive.prefix()).expect("count").values().sum();
            prop_assert_eq!(got, want, "{:?}", paths);
        }
    }
}
