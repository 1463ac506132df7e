//! The folders of `src/` and the edges between them: each folder imports
//! only the folders [`EDGES`] lists for it (`domain/` imports nothing of the
//! crate). This reads every source file's `crate::` paths (outside comments)
//! and names each line that takes an edge not in the list, so a new edge
//! fails here until it is argued for and added.

use std::fs;
use std::path::{Path, PathBuf};

/// Each folder and the folders it may import, bottom up.
const EDGES: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("config", &["domain"]),
    ("tencent", &["domain", "config"]),
    ("archive", &["domain", "config"]),
    ("fetch", &["domain", "config", "tencent", "archive"]),
    ("serve", &["domain", "config", "archive"]),
    (
        "daemon",
        &["domain", "config", "tencent", "archive", "fetch", "serve"],
    ),
    (
        "commands",
        &[
            "domain", "config", "tencent", "archive", "fetch", "serve", "daemon",
        ],
    ),
];

/// Edges taken today by one file that the list above does not allow; each
/// is work still to do, and none may be added.
const EXCEPTIONS: &[(&str, &str)] = &[
    // `UsageError` for a job name that does not exist: goes with the typed
    // exit codes (usage errors typed by cause).
    ("fetch/setup.rs", "commands"),
    // `Health` notes a fire's `Summary`: goes when the daemon's health
    // moves to daemon/.
    ("serve/monitor.rs", "fetch"),
];

fn allowed(folder: &str) -> Option<&'static [&'static str]> {
    EDGES.iter().find(|(f, _)| *f == folder).map(|(_, to)| *to)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read a source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each `crate::<name>` on `line`, where `<name>` is a top-level module.
fn crate_paths(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "crate::".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        // `$crate::` and `some_crate::` are not this crate.
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            out.push(&after[..end]);
        }
        rest = &after[end..];
    }
    out
}

/// The lines of `text` that import a layer above `folder`'s, as
/// `path:line: text`.
fn offences(path: &Path, folder: &str, text: &str) -> Vec<String> {
    let Some(may) = allowed(folder) else {
        return vec![format!("{}: a folder not listed in EDGES", path.display())];
    };
    let excused = |target: &str| {
        EXCEPTIONS
            .iter()
            .any(|(file, to)| path == Path::new(file) && *to == target)
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for target in crate_paths(code) {
            let ok = target == folder || may.contains(&target) || excused(target);
            if !ok {
                out.push(format!(
                    "{}:{}: {folder}/ imports {target}: {}",
                    path.display(),
                    n + 1,
                    code
                ));
            }
        }
    }
    out
}

#[test]
fn a_folder_imports_only_the_folders_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    let mut checked = 0;
    for path in &files {
        let relative = path.strip_prefix(&src).expect("a file under src/");
        let mut parts = relative.components();
        let first = parts.next().expect("a path");
        if parts.next().is_none() {
            // `lib.rs` and `main.rs` join the layers.
            continue;
        }
        let folder = first.as_os_str().to_str().expect("a UTF-8 folder name");
        let text = fs::read_to_string(path).expect("read a source file");
        found.extend(offences(relative, folder, &text));
        checked += 1;
    }
    assert!(checked > 40, "only {checked} files found under src/");
    assert!(
        found.is_empty(),
        "imports along an edge that EDGES does not list:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_an_import_from_above() {
    let text = "use crate::domain::window::Window;\nuse crate::fetch::plan::Planned;\n\
                // see [`crate::fetch`]\nlet n = crate::archive::files::x();\n";
    let found = offences(Path::new("domain/x.rs"), "domain", text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("domain/x.rs:2: domain/ imports fetch"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("domain/x.rs:4: domain/ imports archive"),
        "{found:?}"
    );
    assert!(offences(Path::new("fetch/x.rs"), "fetch", text).is_empty());
    assert_eq!(offences(Path::new("config/x.rs"), "config", text).len(), 2);
    // serve/ may not import fetch/, daemon/ may
    assert_eq!(offences(Path::new("serve/x.rs"), "serve", text).len(), 1);
    assert!(offences(Path::new("daemon/x.rs"), "daemon", text).is_empty());
    // an unknown folder is named
    assert_eq!(offences(Path::new("misc/x.rs"), "misc", text).len(), 1);
    assert!(crate_paths("$crate::x; my_crate::y").is_empty());
}
