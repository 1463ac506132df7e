//! What the demo writes and prints: the job file (the repository's
//! `config.example.toml`, pointed at the fake, with the fake's keys and a
//! state directory of its own, plus one job that fires every minute) and the
//! guide of where to look. Pure text, no I/O.
//!
//! A section the demo adds (say a web page's `[web] listen`) is one more
//! [`Extra`] in [`DemoFiles::extras`] and one more [`Look`] line.

use std::path::{Path, PathBuf};

/// The example job file, as the repository ships it.
pub const EXAMPLE: &str = include_str!("../../../config.example.toml");

/// The job the demo adds so that the daemon fires while one watches.
pub const LIVE_JOB: &str = r#"
# Added by mna-demo: a job that fires every minute, so that the demo shows
# scheduled fires as well as the catch-up at start.
[[jobs]]
name = "minute-live"
granularity = "minute"
timezone = "UTC"
lag = "10s"
catch_up = "10m"
"#;

/// The job the demo adds to show discovery: one report per device the
/// fake's account lists (`mna-demo --devices N` of them).
pub const DISCOVERING_JOB: &str = r#"
# Added by mna-demo: a job that lists the account's devices (GetDevices) and
# fetches one report per device; the fake's account holds `mna-demo
# --devices N` made-up ones.
[[jobs]]
name = "discovered-per-device"
granularity = "hourly"
timezone = "UTC"
devices = "all"
per_device = true
catch_up = "3h"
"#;

/// The demo's directory and what lives in it.
#[derive(Clone, Debug)]
pub struct DemoFiles {
    pub dir: PathBuf,
    /// The fake's address, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Top-level TOML added after the jobs (whole tables), with the line of
    /// the guide that goes with it.
    pub extras: Vec<Extra>,
}

/// A table the demo adds to the job file, and what it prints about it.
#[derive(Clone, Debug)]
pub struct Extra {
    pub toml: String,
    pub look: Look,
}

/// One line of the guide: a label and what to copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Look {
    pub label: &'static str,
    pub text: String,
}

impl DemoFiles {
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn secret_id(&self) -> PathBuf {
        self.dir.join("secret_id")
    }
    pub fn secret_key(&self) -> PathBuf {
        self.dir.join("secret_key")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
    pub fn database(&self) -> PathBuf {
        self.state().join("history.db")
    }

    /// The job file: [`EXAMPLE`] with the fake's endpoint, the key files and
    /// the state directory set, then [`LIVE_JOB`], [`DISCOVERING_JOB`] and
    /// the extras. `Err`
    /// names the line of the example that was not found.
    pub fn config_text(&self, example: &str) -> Result<String, String> {
        let mut text = replace_line(
            example,
            "endpoint = ",
            &format!("endpoint = {}", toml_string(&self.endpoint)),
        )?;
        text = insert_after(
            &text,
            "[credentials]",
            &format!(
                "secret_id_file = {}\nsecret_key_file = {}",
                toml_path(&self.secret_id()),
                toml_path(&self.secret_key())
            ),
        )?;
        text = insert_after(
            &text,
            "[storage]",
            &format!("state_dir = {}", toml_path(&self.state())),
        )?;
        text.push_str(LIVE_JOB);
        text.push_str(DISCOVERING_JOB);
        for extra in &self.extras {
            text.push('\n');
            text.push_str(&extra.toml);
            text.push('\n');
        }
        Ok(text)
    }

    /// Where to look, one line each, for a daemon binary at `bin`: the
    /// extras first, then the commands, the database and the files.
    pub fn guide(&self, bin: &Path) -> Vec<Look> {
        let cli = format!(
            "{} --config {}",
            shell_word(&bin.to_string_lossy()),
            shell_word(&self.config().to_string_lossy())
        );
        let db = shell_word(&self.database().to_string_lossy());
        let mut lines = vec![
            Look {
                label: "history",
                text: format!("{cli} history --limit 20"),
            },
            Look {
                label: "status",
                text: format!("{cli} status"),
            },
            Look {
                label: "database",
                text: self.database().to_string_lossy().into_owned(),
            },
            Look {
                label: "query",
                text: format!(
                    "sqlite3 {db} \"SELECT job, status, count(*) FROM reports GROUP BY 1, 2\""
                ),
            },
            Look {
                label: "query",
                text: format!(
                    "sqlite3 {db} \"SELECT data FROM report_rows WHERE sheet = 'Traffic' LIMIT 3\""
                ),
            },
            Look {
                label: "files",
                text: self.state().join("reports").to_string_lossy().into_owned(),
            },
            Look {
                label: "devices",
                text: format!("{cli} devices"),
            },
        ];
        // The extras (the page) first: the first place to look.
        let mut all: Vec<Look> = self.extras.iter().map(|e| e.look.clone()).collect();
        all.append(&mut lines);
        all
    }
}

/// `lines` with the first line starting with `prefix` (after indentation)
/// replaced by `with`.
fn replace_line(text: &str, prefix: &str, with: &str) -> Result<String, String> {
    let mut found = false;
    let out: Vec<&str> = text
        .lines()
        .map(|line| {
            if !found && line.trim_start().starts_with(prefix) {
                found = true;
                with
            } else {
                line
            }
        })
        .collect();
    if found {
        Ok(out.join("\n") + "\n")
    } else {
        Err(format!("no line starting with `{prefix}`"))
    }
}

/// `lines` with `insert` placed right after the line that is `header`.
fn insert_after(text: &str, header: &str, insert: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + insert.len() + 1);
    let mut found = false;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if !found && line.trim() == header {
            found = true;
            out.push_str(insert);
            out.push('\n');
        }
    }
    if found {
        Ok(out)
    } else {
        Err(format!("no `{header}` table"))
    }
}

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_path(p: &Path) -> String {
    toml_string(&p.to_string_lossy())
}

/// `s` as one word of a POSIX shell: as is when it is plain, else quoted.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> DemoFiles {
        DemoFiles {
            dir: PathBuf::from("/tmp/mna-demo-x"),
            endpoint: "http://127.0.0.1:4242".into(),
            extras: Vec::new(),
        }
    }

    #[test]
    fn the_example_is_pointed_at_the_fake() {
        let text = files().config_text(EXAMPLE).expect("config");
        assert!(text.contains("endpoint = \"http://127.0.0.1:4242\"\n"));
        assert!(!text.contains("tencentcloudapi.com\"\n"), "{text}");
        assert!(text.contains("[credentials]\nsecret_id_file = \"/tmp/mna-demo-x/secret_id\"\n"));
        assert!(text.contains("[storage]\nstate_dir = \"/tmp/mna-demo-x/state\"\n"));
        assert!(text.contains("name = \"hourly-all\""), "the example's jobs");
        assert!(text.contains(LIVE_JOB));
        assert!(text.ends_with(DISCOVERING_JOB));
        assert!(DISCOVERING_JOB.contains("devices = \"all\"\nper_device = true\n"));
    }

    #[test]
    fn a_missing_anchor_is_an_error() {
        assert!(files().config_text("[storage]\n").is_err());
    }

    #[test]
    fn an_extra_table_adds_a_section_and_a_line() {
        let mut f = files();
        let before = f.guide(Path::new("/x/mna-reportd")).len();
        f.extras.push(Extra {
            toml: "[web]\nlisten = \"127.0.0.1:1\"".into(),
            look: Look {
                label: "page",
                text: "http://127.0.0.1:1/".into(),
            },
        });
        assert!(
            f.config_text(EXAMPLE)
                .expect("config")
                .ends_with("\n[web]\nlisten = \"127.0.0.1:1\"\n")
        );
        let guide = f.guide(Path::new("/x/mna-reportd"));
        assert_eq!(guide.len(), before + 1);
        assert_eq!(guide[0].label, "page");
    }

    #[test]
    fn guide_lines_are_ready_to_copy() {
        let mut f = files();
        f.dir = PathBuf::from("/tmp/my demo");
        let guide = f.guide(Path::new("/x/mna-reportd"));
        assert_eq!(
            guide[0].text,
            "/x/mna-reportd --config '/tmp/my demo/config.toml' history --limit 20"
        );
        assert!(
            guide[3]
                .text
                .starts_with("sqlite3 '/tmp/my demo/state/history.db' \"SELECT")
        );
    }

    #[test]
    fn strings_and_words_are_quoted() {
        assert_eq!(toml_string("a\"b\\c\n"), r#""a\"b\\c\u000A""#);
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("/a/b-c.d"), "/a/b-c.d");
    }
}
