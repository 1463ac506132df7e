//! `completions <SHELL>` and the hidden `manpage`: the shell completion
//! scripts and the man page, generated from the clap definitions in
//! [`crate::cli`], so that they never disagree with `--help`. The Debian
//! package ships copies of both (`packaging/generated/`); a test keeps those
//! copies equal to what this module prints.

use crate::commands::cli::Cli;
use crate::commands::exit::{Exit, Usage};
use crate::commands::manual;
use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;

/// The shells a completion script can be printed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl From<CompletionShell> for Shell {
    fn from(s: CompletionShell) -> Shell {
        match s {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
            CompletionShell::Elvish => Shell::Elvish,
            CompletionShell::Powershell => Shell::PowerShell,
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "Install by hand, e.g.:\n  \
    mna-reportd completions bash > ~/.local/share/bash-completion/completions/mna-reportd\n  \
    mna-reportd completions zsh > ~/.zfunc/_mna-reportd   (with fpath+=~/.zfunc)\n  \
    mna-reportd completions fish > ~/.config/fish/completions/mna-reportd.fish\n\
    The Debian package installs the bash, zsh and fish scripts.")]
pub(crate) struct CompletionsArgs {
    /// The shell to print the script for
    #[arg(value_enum)]
    pub(crate) shell: CompletionShell,
}

/// The completion script for `shell`.
pub fn script(shell: CompletionShell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(Shell::from(shell), &mut cmd, name, &mut out);
    out
}

#[derive(Debug, Args)]
pub(crate) struct ManpageArgs {
    /// The command whose page to print (e.g. fetch; mna-reportd.toml: the job file's keys); none: the main page
    #[arg(value_name = "COMMAND")]
    pub(crate) command: Option<String>,
}

/// Every man page, in roff, by file name: `mna-reportd.1` for the program,
/// `mna-reportd-<command>.1` for each command (as git does), with the
/// sections of [`manual::sections`], and `mna-reportd.toml.5` for the job
/// file ([`manual::config_page`]).
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    let main = clap_mangen::Man::new(cmd.clone());
    pages.push((
        format!("{}.1", cmd.get_name()),
        manual::render_page(&main, &cmd, None)?,
    ));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = clap_mangen::Man::new(sub.clone());
        let out = manual::render_page(&man, sub, Some(sub.get_name()))?;
        pages.push((man.get_filename(), out));
    }
    pages.push((
        "mna-reportd.toml.5".to_string(),
        manual::config_page(env!("CARGO_PKG_VERSION")),
    ));
    Ok(pages)
}

/// `completions <SHELL>`: the script on stdout.
pub(crate) fn run(args: &CompletionsArgs) -> super::exit::Result<Exit> {
    super::print(&String::from_utf8_lossy(&script(args.shell)))?;
    Ok(Exit::Ok)
}

/// `manpage [COMMAND]`: that page on stdout; exit 2 for an unknown command.
pub(crate) fn manpage(args: &ManpageArgs) -> super::exit::Result<Exit> {
    let want = match args.command.as_deref() {
        None => "mna-reportd.1".to_string(),
        Some("mna-reportd.toml" | "toml" | "config") => "mna-reportd.toml.5".to_string(),
        Some(c) => format!("mna-reportd-{c}.1"),
    };
    let pages = man_pages()?;
    match pages.iter().find(|(name, _)| *name == want) {
        Some((_, roff)) => {
            super::print(&String::from_utf8_lossy(roff))?;
            Ok(Exit::Ok)
        }
        None => {
            let known: Vec<&str> = pages
                .iter()
                .filter_map(|(n, _)| n.strip_prefix("mna-reportd-")?.strip_suffix(".1"))
                .collect();
            Err(Usage::NoManPage {
                command: args.command.clone().unwrap_or_default(),
                known: known.join(", "),
            }
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_every_command() {
        for shell in CompletionShell::value_variants() {
            let text = String::from_utf8(script(*shell)).expect("utf-8");
            for command in [
                "run", "check", "fetch", "history", "status", "runs", "prune",
            ] {
                assert!(text.contains(command), "{shell:?} script lacks {command}");
            }
        }
    }

    #[test]
    fn a_man_page_per_command_and_the_main_one_lists_the_exit_codes() {
        let pages = man_pages().expect("render");
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.first(), Some(&"mna-reportd.1"));
        for command in [
            "run",
            "check",
            "fetch",
            "history",
            "status",
            "runs",
            "prune",
            "completions",
        ] {
            let page = format!("mna-reportd-{command}.1");
            assert!(names.contains(&page.as_str()), "no {page} in {names:?}");
        }
        assert!(!names.contains(&"mna-reportd-manpage.1"), "{names:?}");
        assert!(!names.contains(&"mna-reportd-help.1"), "{names:?}");
        let main = String::from_utf8(pages[0].1.clone()).expect("utf-8");
        assert!(main.contains(".TH mna-reportd 1"), "{main}");
        for command in [
            "run", "check", "fetch", "history", "status", "runs", "prune",
        ] {
            assert!(
                main.contains(&format!("mna\\-reportd\\-{command}(1)")),
                "{main}"
            );
        }
        assert!(main.contains("128+n"), "{main}");
        let fetch = pages
            .iter()
            .find(|(n, _)| n == "mna-reportd-fetch.1")
            .map(|(_, roff)| String::from_utf8(roff.clone()).expect("utf-8"))
            .expect("fetch page");
        assert!(fetch.contains(".TH mna-reportd-fetch 1"), "{fetch}");
        assert!(fetch.contains("\\-\\-from"), "{fetch}");
        for (name, roff) in pages.iter().filter(|(n, _)| n.ends_with(".1")) {
            let text = String::from_utf8_lossy(roff);
            for section in ["CONFIGURATION", "ENVIRONMENT", "FILES", "EXAMPLES"] {
                assert!(
                    text.contains(&format!(".SH {section}\n")),
                    "{name}: no {section}"
                );
            }
            assert!(text.contains("mna\\-reportd.toml(5)"), "{name}");
        }
        assert!(names.contains(&"mna-reportd.toml.5"), "{names:?}");
    }
}
