//! The `runs` table: one row per daemon fire or manual fetch. A row is
//! opened `running` when the run starts, given its plan once it is known,
//! completed with its counts and outcome when it ends; a row left `running`
//! by a process that is gone (a crash, a kill -9) is closed `crashed` at the
//! next start. Listing is newest first.

use rusqlite::{Connection, params};
use serde::Serialize;

/// Why a run was started (the `trigger` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunTrigger {
    Schedule,
    CatchUp,
    Manual,
    Reload,
}

impl RunTrigger {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Schedule => "schedule",
            RunTrigger::CatchUp => "catch-up",
            RunTrigger::Manual => "manual",
            RunTrigger::Reload => "reload",
        }
    }
}

/// How a run ended (the `outcome` column; `running` until it does, and
/// `crashed`, by [`close_as_crashed`], when it never completed: its process
/// died, or its task panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunOutcome {
    /// Everything it planned was tried.
    Done,
    /// A signal stopped a manual fetch.
    Interrupted,
    /// The daemon shut down (or dropped the job) mid-fire, or an error no
    /// retry can mend stopped it (`reason` says which).
    Stopped,
}

impl RunOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Done => "done",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::Stopped => "stopped",
        }
    }
}

/// What a run came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RunCounts {
    pub(crate) planned: u64,
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    /// Already done (before it started or while it ran), or busy elsewhere.
    pub(crate) skipped: u64,
}

/// Who runs it: the process id, the claim holder string that tells a live
/// process from a gone one ([`crate::archive::holder`]) and the version.
#[derive(Debug, Clone)]
pub(crate) struct RunProcess {
    pub(crate) pid: u32,
    pub(crate) holder: String,
    pub(crate) version: &'static str,
}

/// Record the start of a run of `jobs`; its id.
pub(crate) fn open(
    conn: &Connection,
    trigger: RunTrigger,
    jobs: &[String],
    started_at: i64,
    process: &RunProcess,
) -> rusqlite::Result<i64> {
    let jobs = serde_json::to_string(jobs).unwrap_or_else(|_| "[]".to_string());
    conn.prepare_cached(
        "INSERT INTO runs (trigger, jobs, started_at, pid, version, holder)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        trigger.as_str(),
        jobs,
        started_at,
        process.pid,
        process.version,
        process.holder
    ])?;
    Ok(conn.last_insert_rowid())
}

/// How many reports run `id` planned, once it knows.
pub(crate) fn set_planned(conn: &Connection, id: i64, planned: u64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE runs SET planned = ?2 WHERE id = ?1 AND outcome = 'running'")?
        .execute(params![id, clamp(planned)])?;
    Ok(())
}

/// The reports run `id` has ended `ok` and `failed` so far (so that a run
/// that never completes still tells how far it got).
pub(crate) fn progress(conn: &Connection, id: i64, ok: u64, failed: u64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET ok = ?2, failed = ?3 WHERE id = ?1 AND outcome = 'running'",
    )?
    .execute(params![id, clamp(ok), clamp(failed)])?;
    Ok(())
}

/// Complete run `id` (a row already completed is left as it is).
pub(crate) fn complete(
    conn: &Connection,
    id: i64,
    counts: RunCounts,
    outcome: RunOutcome,
    reason: Option<&str>,
    ended_at: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET ended_at = ?2, planned = ?3, ok = ?4, failed = ?5, skipped = ?6,
             outcome = ?7, reason = ?8
         WHERE id = ?1 AND outcome = 'running'",
    )?
    .execute(params![
        id,
        ended_at,
        clamp(counts.planned),
        clamp(counts.ok),
        clamp(counts.failed),
        clamp(counts.skipped),
        outcome.as_str(),
        reason
    ])?;
    Ok(())
}

/// Close as `crashed` every `running` row whose process `alive` says is
/// gone; how many. Their end is unknown: `ended_at` is when this noticed.
pub(crate) fn close_crashed(
    conn: &Connection,
    now: i64,
    alive: impl Fn(&str) -> bool,
) -> rusqlite::Result<usize> {
    let open: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT id, holder FROM runs INDEXED BY runs_running WHERE outcome = 'running'",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut closed = 0;
    for (id, holder) in open {
        if alive(&holder) {
            continue;
        }
        closed += close_as_crashed(conn, id, now)?;
    }
    Ok(closed)
}

/// Close run `id` as `crashed` at `now` if it is still `running`; its
/// counts stay as last written. Whether it was.
pub(crate) fn close_as_crashed(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "UPDATE runs SET outcome = 'crashed', ended_at = ?2 WHERE id = ?1 AND outcome = 'running'",
    )?
    .execute(params![id, now])
}

/// One row of `runs`, as listed. JSON and CSV field names are the columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RunRow {
    pub(crate) id: i64,
    pub(crate) trigger: String,
    /// The job names (a JSON list in the table).
    pub(crate) jobs: Vec<String>,
    pub(crate) started_at: i64,
    pub(crate) ended_at: Option<i64>,
    pub(crate) planned: i64,
    pub(crate) ok: i64,
    pub(crate) failed: i64,
    pub(crate) skipped: i64,
    pub(crate) outcome: String,
    pub(crate) reason: Option<String>,
    pub(crate) pid: i64,
    pub(crate) version: String,
}

/// The listed columns, in order (the CSV header when there is no row).
pub(crate) const COLUMNS: &[&str] = &[
    "id",
    "trigger",
    "jobs",
    "started_at",
    "ended_at",
    "planned",
    "ok",
    "failed",
    "skipped",
    "outcome",
    "reason",
    "pid",
    "version",
];

/// The newest `limit` runs, newest first; only those of `job` when given.
/// None from a history not migrated yet (read by a newer command while an
/// older daemon runs): it has no `runs` table.
pub(crate) fn list(
    conn: &Connection,
    job: Option<&str>,
    limit: u32,
) -> rusqlite::Result<Vec<RunRow>> {
    let has_table: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'",
        )?
        .query_row([], |r| r.get(0))?;
    if has_table == 0 {
        return Ok(Vec::new());
    }
    conn.prepare_cached(
        "SELECT id, trigger, jobs, started_at, ended_at, planned, ok, failed, skipped,
                outcome, reason, pid, version
         FROM runs
         WHERE ?1 IS NULL OR EXISTS (SELECT 1 FROM json_each(runs.jobs) WHERE value = ?1)
         ORDER BY id DESC LIMIT ?2",
    )?
    .query_map(params![job, limit], |r| {
        let jobs: String = r.get(2)?;
        Ok(RunRow {
            id: r.get(0)?,
            trigger: r.get(1)?,
            jobs: serde_json::from_str(&jobs).unwrap_or_default(),
            started_at: r.get(3)?,
            ended_at: r.get(4)?,
            planned: r.get(5)?,
            ok: r.get(6)?,
            failed: r.get(7)?,
            skipped: r.get(8)?,
            outcome: r.get(9)?,
            reason: r.get(10)?,
            pid: r.get(11)?,
            version: r.get(12)?,
        })
    })?
    .collect()
}

/// The outcome of run `id`.
#[cfg(test)]
fn outcome(conn: &Connection, id: i64) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT outcome FROM runs WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .map(Some)
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::archive::store::migrate(&mut c).unwrap();
        c
    }

    fn me(holder: &str) -> RunProcess {
        RunProcess {
            pid: 42,
            holder: holder.to_string(),
            version: "0.1.0",
        }
    }

    #[test]
    fn a_run_is_opened_running_and_completed_with_its_counts() {
        let c = db();
        let id = open(&c, RunTrigger::Manual, &["a".into()], 100, &me("h")).unwrap();
        assert_eq!(outcome(&c, id).unwrap().as_deref(), Some("running"));
        set_planned(&c, id, 5).unwrap();
        let counts = RunCounts {
            planned: 5,
            ok: 3,
            failed: 1,
            skipped: 1,
        };
        complete(
            &c,
            id,
            counts,
            RunOutcome::Stopped,
            Some("AuthFailure"),
            160,
        )
        .unwrap();
        // A second completion does not overwrite the first.
        complete(&c, id, RunCounts::default(), RunOutcome::Done, None, 170).unwrap();
        let rows = list(&c, None, 10).unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.planned, r.ok, r.failed, r.skipped), (5, 3, 1, 1));
        assert_eq!(r.outcome, "stopped");
        assert_eq!(r.reason.as_deref(), Some("AuthFailure"));
        assert_eq!(r.ended_at, Some(160));
        assert_eq!(r.jobs, vec!["a".to_string()]);
    }

    #[test]
    fn only_the_runs_of_gone_processes_are_closed_as_crashed() {
        let c = db();
        let gone = open(&c, RunTrigger::Schedule, &["a".into()], 1, &me("gone")).unwrap();
        let live = open(&c, RunTrigger::Manual, &["b".into()], 2, &me("live")).unwrap();
        let n = close_crashed(&c, 9, |h| h == "live").unwrap();
        assert_eq!(n, 1);
        assert_eq!(outcome(&c, gone).unwrap().as_deref(), Some("crashed"));
        assert_eq!(outcome(&c, live).unwrap().as_deref(), Some("running"));
    }

    #[test]
    fn a_history_from_before_the_runs_table_lists_none() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE reports (id INTEGER PRIMARY KEY)")
            .unwrap();
        assert_eq!(list(&c, None, 10).unwrap(), Vec::new());
    }

    #[test]
    fn runs_are_listed_newest_first_and_by_job() {
        let c = db();
        for (i, jobs) in [vec!["a"], vec!["b"], vec!["a", "b"]].iter().enumerate() {
            let jobs: Vec<String> = jobs.iter().map(|s| s.to_string()).collect();
            open(&c, RunTrigger::CatchUp, &jobs, i as i64, &me("h")).unwrap();
        }
        let ids: Vec<i64> = list(&c, None, 2).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![3, 2]);
        let ids: Vec<i64> = list(&c, Some("a"), 10)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![3, 1]);
    }
}
