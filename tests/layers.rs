//! The folders of `src/` are layers: a folder imports only the folders below
//! it, and `core/` imports nothing of the crate but itself. This reads every
//! source file's `crate::` paths (outside comments) and names each line that
//! reaches up.

use std::fs;
use std::path::{Path, PathBuf};

/// The layers, from the bottom up.
const LAYERS: [&str; 7] = [
    "core", "config", "tencent", "archive", "run", "web", "commands",
];

fn rank(folder: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == folder)
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
    let Some(own) = rank(folder) else {
        return vec![format!("{}: a folder that is not a layer", path.display())];
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for target in crate_paths(code) {
            let allowed = match rank(target) {
                Some(r) => r <= own && (own > 0 || r == 0),
                // `crate::{...}` or a module at the root: not a layer.
                None => false,
            };
            if !allowed {
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
        "imports against the layers (bottom up: {}):\n{}",
        LAYERS.join(" < "),
        found.join("\n")
    );
}

#[test]
fn the_check_sees_an_import_from_above() {
    let text = "use crate::core::window::Window;\nuse crate::run::plan::Planned;\n\
                // see [`crate::run`]\nlet n = crate::archive::files::x();\n";
    let found = offences(Path::new("core/x.rs"), "core", text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("core/x.rs:2: core/ imports run"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("core/x.rs:4: core/ imports archive"),
        "{found:?}"
    );
    assert!(offences(Path::new("run/x.rs"), "run", text).is_empty());
    assert_eq!(offences(Path::new("config/x.rs"), "config", text).len(), 2);
    assert!(crate_paths("$crate::x; my_crate::y").is_empty());
}
