//! The man pages beyond `--help`: the CONFIGURATION, ENVIRONMENT, FILES and
//! EXAMPLES sections of the section-1 pages, and `mna-reportd.toml(5)`,
//! every key of the job file with its default and meaning, printed from
//! [`crate::config::keys`] so that it cannot drift from what the file takes.

use crate::config::keys;
use std::io::Write;

/// Roff text for `s`: backslashes and hyphens escaped, a line never
/// starting with a control character.
pub(crate) fn escape(s: &str) -> String {
    let body = s.replace('\\', "\\e").replace('-', "\\-");
    body.lines()
        .map(|l| {
            if l.starts_with(['.', '\'']) {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn section(out: &mut String, title: &str) {
    out.push_str(&format!(".SH {title}\n"));
}

fn para(out: &mut String, text: &str) {
    out.push_str(".PP\n");
    out.push_str(&escape(text));
    out.push('\n');
}

/// A tagged paragraph: `tag` in bold, `text` indented under it.
fn item(out: &mut String, tag: &str, text: &str) {
    out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", escape(tag), escape(text)));
}

/// A literal block.
fn example(out: &mut String, what: &str, lines: &[&str]) {
    para(out, what);
    out.push_str(".nf\n.RS 4\n");
    for l in lines {
        out.push_str(&escape(l));
        out.push('\n');
    }
    out.push_str(".RE\n.fi\n");
}

/// The examples of each page: the command (`None`: the program's page),
/// what the example does, and its command lines.
const EXAMPLES: &[(Option<&str>, &str, &[&str])] = &[
    (
        None,
        "Check a job file, then fetch the reports that are due for every job:",
        &[
            "mna-reportd --config ./config.toml check",
            "mna-reportd --config ./config.toml fetch --all",
        ],
    ),
    (
        None,
        "Run as the packaged service and read its log:",
        &[
            "systemctl enable --now mna-reportd",
            "journalctl -u mna-reportd -f",
        ],
    ),
    (
        Some("run"),
        "Run in the foreground with debug logs:",
        &["mna-reportd --config ./config.toml -v run"],
    ),
    (
        Some("check"),
        "Validate the packaged config after an edit, then reload the daemon:",
        &[
            "sudo -u mna-reportd mna-reportd check",
            "systemctl reload mna-reportd",
        ],
    ),
    (
        Some("fetch"),
        "Fetch what is due for one job:",
        &["mna-reportd fetch --job hourly-all"],
    ),
    (
        Some("fetch"),
        "Backfill November (local dates in the job's zone), showing the plan first:",
        &[
            "mna-reportd fetch --job hourly-all --from 2026-11-01 --to 2026-12-01 --dry-run",
            "mna-reportd fetch --job hourly-all --from 2026-11-01 --to 2026-12-01",
        ],
    ),
    (
        Some("history"),
        "The failures of the last two hours:",
        &["mna-reportd history --status failed --since 2h"],
    ),
    (
        Some("history"),
        "One job's reports as CSV:",
        &["mna-reportd history --job hourly-all --format csv > hourly.csv"],
    ),
    (
        Some("status"),
        "Per job, as JSON:",
        &["mna-reportd status --format json"],
    ),
    (
        Some("runs"),
        "Did last night's runs happen, and how did they end?",
        &["mna-reportd runs --limit 10"],
    ),
    (
        Some("runs"),
        "One job's fires as JSON:",
        &["mna-reportd runs --job hourly-all --format json"],
    ),
    (
        Some("devices"),
        "List the devices from the API, then show the inventory:",
        &["mna-reportd devices --refresh"],
    ),
    (
        Some("prune"),
        "What [storage] retention would delete now:",
        &["mna-reportd prune --dry-run"],
    ),
    (
        Some("prune"),
        "Delete the files of reports older than 400 days:",
        &["mna-reportd prune --older-than 400d"],
    ),
    (
        Some("export"),
        "Export the rows not yet exported to a directory DuckDB reads:",
        &["mna-reportd export --to /srv/warehouse/mna"],
    ),
    (
        Some("export"),
        "Export one job's November to a bucket:",
        &[
            "mna-reportd export --to s3://analytics-bucket/mna --job hourly-all --since 2026-11-01 --until 2026-12-01",
        ],
    ),
    (
        Some("snapshot"),
        "Write a history snapshot to the bucket now, as the packaged service's user:",
        &["sudo -u mna-reportd mna-reportd snapshot"],
    ),
    (
        Some("restore"),
        "On a new machine with the same config: rebuild the state directory from the bucket, then start:",
        &[
            "sudo -u mna-reportd mna-reportd restore",
            "sudo -u mna-reportd mna-reportd check",
            "systemctl enable --now mna-reportd",
        ],
    ),
    (
        Some("restore"),
        "Restore a given snapshot over what is there (the history there is moved aside):",
        &[
            "mna-reportd restore --force --from s3://mna-reports-1250000000/account-a/_history/history-20261201T000000Z.db.gz",
        ],
    ),
    (
        Some("serve"),
        "Serve the page on another port:",
        &["mna-reportd serve --listen 127.0.0.1:8080"],
    ),
    (
        Some("completions"),
        "Install the bash completion for this user:",
        &["mna-reportd completions bash > ~/.local/share/bash-completion/completions/mna-reportd"],
    ),
];

/// The examples of `command` (`None`: the program's page).
fn examples(command: Option<&str>) -> Vec<(&'static str, Vec<&'static str>)> {
    EXAMPLES
        .iter()
        .filter(|(c, _, _)| *c == command)
        .map(|(_, title, lines)| (*title, lines.to_vec()))
        .collect()
}

/// CONFIGURATION, ENVIRONMENT, FILES and EXAMPLES of a section-1 page
/// (`command`: `None` for the program's page).
pub(crate) fn sections(command: Option<&str>) -> String {
    let mut out = String::new();
    section(&mut out, "CONFIGURATION");
    para(
        &mut out,
        "The job file is TOML: [api], [credentials], [storage], [retry], [metrics], [web], [defaults] and one [[jobs]] table per job. Unknown keys are errors. mna-reportd.toml(5) lists every key with its default and meaning; `mna-reportd check` validates a file without calling the API.",
    );
    section(&mut out, "ENVIRONMENT");
    for (name, meaning) in [
        (
            "MNA_REPORTD_CONFIG",
            "The config file when --config is not given.",
        ),
        (
            "STATE_DIRECTORY",
            "The state directory when [storage] state_dir is not set (systemd's StateDirectory= sets it).",
        ),
        (
            "CREDENTIALS_DIRECTORY",
            "Holds secret_id, secret_key (and token) when systemd's LoadCredential= passes them.",
        ),
        (
            "TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY, TENCENTCLOUD_TOKEN",
            "API keys, when no key files are configured.",
        ),
        (
            "TENCENTCLOUD_CREDENTIALS_FILE",
            "The INI credentials file (default ~/.tencentcloud/credentials).",
        ),
    ] {
        item(&mut out, name, meaning);
    }
    section(&mut out, "FILES");
    for (path, meaning) in [
        ("/etc/mna-reportd/config.toml", "The default job file."),
        (
            "/var/lib/mna-reportd/history.db",
            "The SQLite history of every report, attempt and device.",
        ),
        (
            "/var/lib/mna-reportd/reports/",
            "The report files, one directory per job.",
        ),
        (
            "/usr/share/doc/mna-reportd/examples/config.example.toml",
            "Every key, commented.",
        ),
    ] {
        item(&mut out, path, meaning);
    }
    let list = examples(command);
    if !list.is_empty() {
        section(&mut out, "EXAMPLES");
        for (what, lines) in list {
            example(&mut out, what, &lines);
        }
    }
    section(&mut out, "SEE ALSO");
    para(&mut out, "mna-reportd.toml(5), mna-reportd(1)");
    out
}

/// Render `man` (a clap page) with [`sections`] before VERSION.
pub(crate) fn render_page(
    man: &clap_mangen::Man,
    cmd: &clap::Command,
    command: Option<&str>,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    if cmd.get_after_long_help().is_some() || cmd.get_after_help().is_some() {
        man.render_extra_section(&mut out)?;
    }
    out.write_all(sections(command).as_bytes())?;
    if cmd.get_version().is_some() || cmd.get_long_version().is_some() {
        man.render_version_section(&mut out)?;
    }
    Ok(out)
}

/// `mna-reportd.toml(5)`: every table and key of the job file.
pub(crate) fn config_page(version: &str) -> Vec<u8> {
    let mut out = format!(
        ".TH mna-reportd.toml 5 \"\" \"mna-reportd {}\" \"File Formats\"\n",
        escape(version)
    );
    section(&mut out, "NAME");
    out.push_str("mna\\-reportd.toml \\- the job file of mna\\-reportd\n");
    section(&mut out, "SYNOPSIS");
    para(
        &mut out,
        "/etc/mna-reportd/config.toml, or the file given by --config or $MNA_REPORTD_CONFIG",
    );
    section(&mut out, "DESCRIPTION");
    para(
        &mut out,
        "A TOML file. Every key is optional but a job's name and granularity; a key left out takes the default shown. Durations are written as \"30s\", \"5m\", \"1h\", \"7d\"; sizes as \"1GiB\", \"500MiB\". Relative paths are taken from the file's directory. An unknown key is an error, named with its line and the key meant. `mna-reportd check` validates a file.",
    );
    for (table, about) in keys::TABLES {
        section(&mut out, &escape(&keys::header(table)));
        para(&mut out, about);
        if table == "defaults" {
            continue;
        }
        for k in keys::of(table) {
            item(
                &mut out,
                k.name,
                &format!("{} Default: {}.", k.meaning, k.default),
            );
        }
    }
    section(&mut out, "EXAMPLE");
    example(
        &mut out,
        "An hourly report of all devices, in China's zone:",
        &[
            "[[jobs]]",
            "name = \"hourly-all\"",
            "granularity = \"hourly\"",
            "timezone = \"Asia/Shanghai\"",
        ],
    );
    section(&mut out, "SEE ALSO");
    para(
        &mut out,
        "mna-reportd(1), mna-reportd-check(1); config.example.toml in /usr/share/doc/mna-reportd/examples/",
    );
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_page_lists_every_key_with_its_default() {
        let page = String::from_utf8(config_page("0.1.0")).expect("utf-8");
        assert!(page.starts_with(".TH mna-reportd.toml 5"), "{page}");
        for k in keys::KEYS {
            let tag = format!(".TP\n\\fB{}\\fR\n", escape(k.name));
            assert!(page.contains(&tag), "{} missing", k.name);
            assert!(
                page.contains(&escape(&format!("Default: {}.", k.default))),
                "{k:?}"
            );
        }
        for (t, _) in keys::TABLES {
            assert!(
                page.contains(&format!(".SH {}", escape(&keys::header(t)))),
                "{t}"
            );
        }
        // no line starts with a roff control character by accident
        for l in page.lines() {
            assert!(!l.starts_with('\''), "{l}");
        }
    }

    #[test]
    fn escaping_keeps_text_from_being_read_as_requests() {
        assert_eq!(escape("--from"), "\\-\\-from");
        assert_eq!(escape(".hidden"), "\\&.hidden");
        assert_eq!(escape("a\\b"), "a\\eb");
    }
}
