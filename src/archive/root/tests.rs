use super::*;
use std::collections::HashSet;
use std::os::unix::fs::{PermissionsExt, symlink};

fn rel(p: &str) -> RelPath {
    RelPath::new(Path::new(p)).expect("a relative path")
}

#[test]
fn recorded_paths_are_located_lexically() {
    let root = ArchiveRoot::new("/var/lib/mna-reportd/reports");
    assert_eq!(
        root.locate("/var/lib/mna-reportd/reports/j/2026/11/a.xlsx"),
        Ok(rel("j/2026/11/a.xlsx"))
    );
    for outside in [
        "/home/op/notes.txt",
        "/var/lib/mna-reportd/reports",
        "/var/lib/mna-reportd/reports/",
        "/var/lib/mna-reportd/reports/j/../../../../home/op/notes.txt",
        "/var/lib/mna-reportd/reports/../reports/j/a.xlsx",
        "/var/lib/mna-reportd/reportsX/j/a.xlsx",
        "j/2026/11/a.xlsx",
        "",
        "/var/lib/mna-reportd/reports/j/a\0b",
    ] {
        let e = root.locate(outside).expect_err(outside);
        assert!(e.to_string().contains("fix:"), "{e}");
    }
    let long = format!("/var/lib/mna-reportd/reports/{}", "n".repeat(4097));
    assert!(root.locate(&long).is_err());
    for odd in ["j//a.xlsx", "j/./a.xlsx", "j/a.xlsx/", "/j/a.xlsx"] {
        let p = format!("/var/lib/mna-reportd/reports/{odd}");
        assert!(root.locate(&p).is_err(), "{p}");
    }
    // the configured root may end with a slash
    let slash = ArchiveRoot::new("/r/");
    assert_eq!(slash.locate("/r/j/a.xlsx"), Ok(rel("j/a.xlsx")));
}

#[test]
fn sweep_removes_only_unkept_parts_and_commit_is_private() {
    let d = tempfile::tempdir().expect("tempdir");
    let root = ArchiveRoot::new(d.path());
    let keep = rel("j/2026/11/a.xlsx.part");
    root.create_dirs(&keep).expect("mkdir");
    let dir = d.path().join("j/2026/11");
    assert_eq!(
        std::fs::metadata(&dir).expect("meta").permissions().mode() & 0o777,
        DIR_MODE
    );
    let stale = rel("j/2026/11/b.xlsx.part");
    let done = rel("j/2026/11/c.xlsx");
    for p in [&keep, &stale, &done] {
        root.create_part(p).expect("create");
    }
    // too young: kept whatever the list says
    let swept = root
        .sweep_parts(&HashSet::new(), std::time::Duration::from_secs(3600))
        .expect("sweep");
    assert_eq!(swept.removed, 0);
    let swept = root
        .sweep_parts(&HashSet::from([keep.clone()]), std::time::Duration::ZERO)
        .expect("sweep");
    assert_eq!(swept.removed, 1);
    assert!(dir.join("a.xlsx.part").exists() && !dir.join("b.xlsx.part").exists());
    let fin = rel("j/2026/11/a.xlsx");
    root.commit(&keep, &fin).expect("commit");
    assert!(dir.join("a.xlsx").exists() && !dir.join("a.xlsx.part").exists());
    assert_eq!(
        std::fs::metadata(dir.join("a.xlsx"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        FILE_MODE
    );
}

#[test]
fn a_link_at_a_part_name_is_replaced_not_followed() {
    let d = tempfile::tempdir().expect("tempdir");
    let victim = d.path().join("history.db");
    std::fs::write(&victim, b"precious").expect("victim");
    let root = ArchiveRoot::new(d.path().join("reports"));
    std::fs::create_dir(root.path()).expect("root");
    symlink(&victim, root.path().join("r.xlsx.part")).expect("link");
    io::Write::write_all(
        &mut root.create_part(&rel("r.xlsx.part")).expect("create"),
        b"report",
    )
    .expect("write");
    assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
    let part = root.path().join("r.xlsx.part");
    assert!(std::fs::symlink_metadata(&part).expect("part").is_file());
    assert_eq!(std::fs::read(&part).expect("part"), b"report");
}

/// A tree `j/2026/11/...` with a link `at` levels above the file, pointing
/// at a directory outside holding `secret` under the same names below.
fn linked_tree(d: &Path, depth: usize, at: usize) -> (ArchiveRoot, RelPath, PathBuf) {
    let root = d.join("reports");
    let outside = d.join("outside");
    let dirs: Vec<String> = (0..depth).map(|i| format!("d{i}")).collect();
    let file = format!("{}/r.xlsx", dirs.join("/"));
    // the link replaces directory number depth - at (counted from the root)
    let linked = depth - at;
    std::fs::create_dir_all(root.join(dirs[..linked].join("/"))).expect("tree");
    let below = dirs[linked + 1..].join("/");
    std::fs::create_dir_all(outside.join(&below)).expect("outside");
    let secret = outside.join(&below).join("r.xlsx");
    std::fs::write(&secret, b"id_ed25519").expect("secret");
    symlink(&outside, root.join(dirs[..=linked].join("/"))).expect("link");
    (ArchiveRoot::new(root), rel(&file), secret)
}

#[test]
fn a_link_at_any_level_is_never_followed() {
    for (depth, at) in [(3, 1), (3, 3), (4, 4), (6, 5), (8, 8)] {
        let d = tempfile::tempdir().expect("tempdir");
        let (root, file, secret) = linked_tree(d.path(), depth, at);
        assert!(
            root.open_file(&file).is_err(),
            "read through a link {at} up"
        );
        assert!(!matches!(root.is_file(&file), Ok(true)), "{at} up");
        assert!(root.remove(&file).is_err(), "delete through a link {at} up");
        assert!(root.create_part(&file.part()).is_err(), "{at} up");
        assert!(
            root.matches_recorded(&file, ("x", 1)).is_err()
                || !root.matches_recorded(&file, ("x", 1)).expect("match")
        );
        let err = root.create_dirs(&file).expect_err("a link is refused");
        assert!(matches!(err, ReportDirError::Link { .. }), "{err}");
        assert!(err.to_string().contains("fix:"));
        assert_eq!(std::fs::read(&secret).expect("secret"), b"id_ed25519");
    }
}

#[test]
fn links_below_the_root_are_never_swept_through() {
    let d = tempfile::tempdir().expect("tempdir");
    let root = d.path().join("reports");
    let outside = d.path().join("outside");
    std::fs::create_dir_all(root.join("j/2026")).expect("tree");
    std::fs::create_dir(&outside).expect("outside");
    let stale = outside.join("x.xlsx.part");
    std::fs::write(&stale, b"x").expect("stale");
    symlink(&outside, root.join("j/2026/11")).expect("link");
    let a = ArchiveRoot::new(&root);
    // a dangling link at a part name goes; the linked directory is not entered
    symlink(d.path().join("gone"), root.join("j/a.xlsx.part")).expect("dangling");
    let swept = a
        .sweep_parts(&HashSet::new(), std::time::Duration::ZERO)
        .expect("sweep");
    assert_eq!(swept.removed, 1);
    assert!(stale.exists(), "nothing outside the tree was touched");
    // a real directory is made as usual
    a.create_dirs(&rel("k/2026/12/f.xlsx")).expect("mkdir");
    assert!(root.join("k/2026/12").is_dir());
}

#[test]
fn the_root_itself_may_be_a_link() {
    let d = tempfile::tempdir().expect("tempdir");
    let real = d.path().join("real");
    std::fs::create_dir(&real).expect("real");
    symlink(&real, d.path().join("reports")).expect("link");
    let root = ArchiveRoot::new(d.path().join("reports"));
    let f = rel("j/2026/11/a.xlsx");
    root.create_dirs(&f).expect("mkdir");
    io::Write::write_all(&mut root.create_part(&f.part()).expect("part"), b"x").expect("write");
    root.commit(&f.part(), &f).expect("commit");
    assert!(real.join("j/2026/11/a.xlsx").is_file());
    assert!(root.open_file(&f).is_ok());
}

#[test]
fn a_kept_copy_is_settled_against_what_is_recorded() {
    let d = tempfile::tempdir().expect("tempdir");
    let root = ArchiveRoot::new(d.path());
    let fin = rel("r.xlsx");
    std::fs::write(d.path().join("r.xlsx"), b"good").expect("good");
    let good = (
        "770e607624d689265ca6c44884d0807d9b054d23c473c106c72be9de08b7376c",
        4,
    );
    let prev_exists = || d.path().join("r.xlsx.prev").exists();
    assert!(root.keep_previous(&fin).expect("keep"));
    // the new file took the name, the commit never came: the good one goes back
    std::fs::write(d.path().join("new"), b"newer").expect("new");
    root.commit(&rel("new"), &fin).expect("rename");
    assert_eq!(
        root.resolve_previous(&fin, good).expect("resolve"),
        Resolved::Restored
    );
    assert_eq!(
        std::fs::read(d.path().join("r.xlsx")).expect("fin"),
        b"good"
    );
    assert!(!prev_exists());
    // the commit came: the copy goes
    assert!(root.keep_previous(&fin).expect("keep"));
    assert_eq!(
        root.resolve_previous(&fin, good).expect("resolve"),
        Resolved::Dropped
    );
    assert!(!prev_exists());
    assert_eq!(
        root.resolve_previous(&fin, good).expect("resolve"),
        Resolved::Nothing
    );
    // neither is recorded: both stay
    assert!(root.keep_previous(&fin).expect("keep"));
    assert_eq!(
        root.resolve_previous(&fin, ("00", 4)).expect("resolve"),
        Resolved::Unresolved
    );
    assert!(prev_exists() && d.path().join("r.xlsx").exists());
    // restoring over the same file leaves no copy
    root.restore_previous(&fin).expect("restore");
    assert!(!prev_exists());
}
