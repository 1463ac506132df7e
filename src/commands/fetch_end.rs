//! The end of a manual fetch, for the operator: the counts, the failures
//! grouped by code (a count and one example each, with the fix), the one
//! message of a run stopped by an error no retry mends, and the command
//! that resumes an interrupted fetch.

use crate::domain::report::RegionScope;
use crate::fetch::end::{self, Outcome, RunEnd};
use crate::fetch::engine::Summary;
use std::io::Write;

/// Say how the fetch ended: counts on stdout, failures and what to do on stderr.
pub(crate) fn print(s: &Summary, skipped: usize, end: &RunEnd) {
    let mut out = std::io::stdout().lock();
    let untouched = match s.untouched {
        0 => String::new(),
        n => format!(", {n} not tried"),
    };
    let _ = writeln!(
        out,
        "{} ok, {} failed, {} already done, {} busy elsewhere, {} interrupted{untouched}; {} received",
        s.ok,
        s.failed.len(),
        s.already_done + skipped,
        s.busy,
        s.interrupted,
        crate::domain::human::bytes(s.bytes)
    );
    drop(out);
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(failures_text(s).as_bytes());
    if let Some(stop) = &s.fail_fast {
        let _ = writeln!(err, "{}", stop.text());
    }
    if end.outcome == Outcome::Interrupted {
        let args: Vec<String> = std::env::args().collect();
        let _ = writeln!(err, "{}", resume_text(&args));
    }
}

/// The failures grouped by code: `failed: 2 × CODE, e.g. job target
/// region window: message (request id …)` and the fix of the code.
pub(crate) fn failures_text(s: &Summary) -> String {
    let mut text = String::new();
    // The failure that stopped the run is told once, by the stop's message.
    let stop = s.fail_fast.as_ref().map(|f| f.code.as_str());
    for g in end::group(&s.failed) {
        if stop == Some(g.code) && g.count == 1 {
            continue;
        }
        let f = g.example;
        let region = RegionScope::show_stored(&f.key.region);
        let request = f
            .request_id
            .as_deref()
            .map(|r| format!(" (request id {})", super::shown(r)))
            .unwrap_or_default();
        let message = end::without_code(&f.message, g.code, f.request_id.as_deref());
        text.push_str(&format!(
            "failed: {} × {}, e.g. {} {} {} {}: {}{request}\n",
            g.count,
            super::shown(g.code),
            f.key.job,
            f.key.target,
            region,
            f.window,
            super::shown(message),
        ));
        if let Some(h) = f.hint {
            text.push_str(&format!("  fix: {h}\n"));
        }
    }
    text
}

/// What an interrupted fetch says: the command that takes it up again
/// (the same, without `--force`: what is done is not fetched again).
pub(crate) fn resume_text(args: &[String]) -> String {
    let forced = args.iter().any(|a| a == "--force");
    let command: Vec<String> = args
        .iter()
        .filter(|a| *a != "--force")
        .map(|a| quote(a))
        .collect();
    let mut text = format!(
        "interrupted: what is not done stays to do; to resume, run:\n  {}",
        command.join(" ")
    );
    if forced {
        text.push_str(
            "\n  (without --force: the reports this fetch already did are not fetched again)",
        );
    }
    text
}

/// `a` as a POSIX shell word.
fn quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_command_is_the_same_without_force() {
        let args: Vec<String> = [
            "mna-reportd",
            "--config",
            "/etc/my config.toml",
            "fetch",
            "--job",
            "h",
            "--from",
            "2026-11-01T00:00:00+08:00",
            "--to",
            "2026-11-02",
            "--force",
        ]
        .map(String::from)
        .to_vec();
        let t = resume_text(&args);
        assert!(
            t.contains("\n  mna-reportd --config '/etc/my config.toml' fetch --job h --from 2026-11-01T00:00:00+08:00 --to 2026-11-02\n"),
            "{t}"
        );
        assert!(t.contains("without --force"), "{t}");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
