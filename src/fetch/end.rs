//! How a run (a manual fetch or a daemon fire) ended, as a small value:
//! the outcome, the code that stopped it, the counts; and the failures of a
//! run grouped by code for the operator. Pure.

use crate::fetch::engine::{ReportFailure, Summary};
use serde::Serialize;

/// An error no retry mends, met by one report: the whole run stopped there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FailFast {
    /// The error code (the API's, or a local one such as `ConnectionRefused`).
    pub(crate) code: String,
    pub(crate) message: String,
    /// What the operator should do.
    pub(crate) fix: String,
    pub(crate) request_id: Option<String>,
}

impl FailFast {
    /// The message for the operator: what stopped the run, then the fix.
    pub(crate) fn text(&self) -> String {
        let request = self
            .request_id
            .as_deref()
            .map(|r| format!(" (request id {r})"))
            .unwrap_or_default();
        let message = without_code(&self.message, &self.code, self.request_id.as_deref());
        let message = crate::domain::text::escape_controls(message);
        format!(
            "stopped: {}: {message}{request}; no further report was tried\n  fix: {}",
            self.code, self.fix
        )
    }
}

/// `message` without the code and request id a line says already
/// (`API error CODE: text (request id R)` is `text`).
pub(crate) fn without_code<'a>(message: &'a str, code: &str, request_id: Option<&str>) -> &'a str {
    let m = message.strip_prefix("API error ").unwrap_or(message);
    let m = m
        .strip_prefix(code)
        .map(|m| m.trim_start_matches([':', ' ']))
        .unwrap_or(m);
    match request_id {
        Some(r) => m.strip_suffix(&format!(" (request id {r})")).unwrap_or(m),
        None => m,
    }
}

/// How a run ended (the `runs` table's `outcome`, but `running`/`crashed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    /// Everything planned was tried (some may have failed).
    Done,
    /// A signal stopped it; what was not fetched stays to do.
    Interrupted,
    /// An error no retry mends (or a damaged history) stopped it.
    Stopped,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Interrupted => "interrupted",
            Outcome::Stopped => "stopped",
        }
    }
}

/// The end of a run: what a record of it keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RunEnd {
    pub(crate) outcome: Outcome,
    /// The code that stopped it (`None` when done or interrupted).
    pub(crate) reason: Option<String>,
    pub(crate) planned: usize,
    pub(crate) ok: usize,
    pub(crate) failed: usize,
    /// Already done, busy elsewhere, interrupted or left untouched by a stop.
    pub(crate) skipped: usize,
}

impl RunEnd {
    /// The end of a run that planned `planned` reports and did `s`;
    /// `signalled` when a signal stopped it.
    pub(crate) fn of(s: &Summary, planned: usize, signalled: bool) -> RunEnd {
        let (outcome, reason) = if let Some(f) = &s.fail_fast {
            (Outcome::Stopped, Some(f.code.clone()))
        } else if s.damaged.is_some() {
            (Outcome::Stopped, Some("HistoryDatabaseDamaged".to_string()))
        } else if signalled && s.interrupted > 0 {
            (Outcome::Interrupted, None)
        } else {
            (Outcome::Done, None)
        };
        let failed = s.failed.len();
        RunEnd {
            outcome,
            reason,
            planned,
            ok: s.ok,
            failed,
            skipped: planned.saturating_sub(s.ok + failed),
        }
    }
}

/// The failures of one code.
#[derive(Debug)]
pub(crate) struct Group<'a> {
    pub(crate) code: &'a str,
    pub(crate) count: usize,
    /// The first failure of the code.
    pub(crate) example: &'a ReportFailure,
}

/// `failures` grouped by code, most frequent first (then by code).
pub(crate) fn group(failures: &[ReportFailure]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for f in failures {
        match groups.iter_mut().find(|g| g.code == f.code) {
            Some(g) => g.count += 1,
            None => groups.push(Group {
                code: &f.code,
                count: 1,
                example: f,
            }),
        }
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(b.code)));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::ReportKey;

    fn failure(code: &str, window: &str) -> ReportFailure {
        ReportFailure {
            key: ReportKey {
                job: "j".into(),
                target: "all".into(),
                region: String::new(),
                window_start: 0,
                window_end: 3600,
            },
            window: window.into(),
            code: code.into(),
            message: format!("{code} happened"),
            request_id: None,
            hint: None,
            attempts: 1,
        }
    }

    #[test]
    fn failures_are_grouped_by_code_with_one_example() {
        let all = [
            failure("DownloadShort", "a"),
            failure("InvalidParameter", "b"),
            failure("InvalidParameter", "c"),
        ];
        let g = group(&all);
        assert_eq!(g.len(), 2);
        assert_eq!(
            (g[0].code, g[0].count, g[0].example.window.as_str()),
            ("InvalidParameter", 2, "b")
        );
        assert_eq!((g[1].code, g[1].count), ("DownloadShort", 1));
    }

    #[test]
    fn a_line_says_the_code_and_request_id_once() {
        let m = "API error AuthFailure.SignatureFailure: bad signature (request id r-1)";
        assert_eq!(
            without_code(m, "AuthFailure.SignatureFailure", Some("r-1")),
            "bad signature"
        );
        let plain = "short download: 1 of 2 bytes";
        assert_eq!(without_code(plain, "DownloadShort", None), plain);
        let stop = FailFast {
            code: "AuthFailure.SignatureFailure".into(),
            message: m.into(),
            fix: "check both".into(),
            request_id: Some("r-1".into()),
        };
        assert_eq!(
            stop.text(),
            "stopped: AuthFailure.SignatureFailure: bad signature (request id r-1); no further report was tried\n  fix: check both"
        );
    }

    #[test]
    fn the_end_names_what_stopped_it() {
        let stopped = Summary {
            fail_fast: Some(FailFast {
                code: "AuthFailure.SignatureFailure".into(),
                message: "m".into(),
                fix: "f".into(),
                request_id: None,
            }),
            failed: vec![failure("AuthFailure.SignatureFailure", "a")],
            untouched: 99,
            ..Summary::default()
        };
        let end = RunEnd::of(&stopped, 100, false);
        assert_eq!(end.outcome, Outcome::Stopped);
        assert_eq!(end.reason.as_deref(), Some("AuthFailure.SignatureFailure"));
        assert_eq!(
            (end.planned, end.ok, end.failed, end.skipped),
            (100, 0, 1, 99)
        );
        let interrupted = Summary {
            ok: 3,
            interrupted: 7,
            ..Summary::default()
        };
        let end = RunEnd::of(&interrupted, 10, true);
        assert_eq!((end.outcome, end.reason), (Outcome::Interrupted, None));
        assert_eq!(
            RunEnd::of(&Summary::default(), 0, false).outcome,
            Outcome::Done
        );
    }
}
