//! The life of a report row: planned (`pending`), claimed by one process
//! (`running`), its tries recorded in `attempts`, ended `ok` or `failed`.
//!
//! A claim is taken in an `IMMEDIATE` transaction, so two processes on one
//! database never both win it; a claim whose owner process is gone (see
//! `archive::owner`) is taken over. `ok` is written only once the file is
//! durable, in the same transaction that drops the claim.

use crate::domain::report::{ReportKey, Status, Trigger};
use crate::domain::text;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Record (if new) the report as `pending`, and return its id and status.
pub fn record_planned(
    conn: &Connection,
    key: &ReportKey,
    granularity: u8,
    trigger: Trigger,
    now: i64,
) -> rusqlite::Result<(i64, Status)> {
    conn.prepare_cached(
        r#"INSERT INTO reports (job, target, region, granularity, window_start, window_end, status, "trigger", created_at, updated_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?9, ?7, ?8, ?8)
           ON CONFLICT (job, target, region, window_start, window_end) DO NOTHING"#,
    )?
    .execute(params![key.job, key.target, key.region, granularity, key.window_start, key.window_end, trigger.as_str(), now, Status::Pending])?;
    conn.prepare_cached("SELECT id, status FROM reports WHERE job = ?1 AND target = ?2 AND region = ?3 AND window_start = ?4 AND window_end = ?5")?.query_row(params![key.job, key.target, key.region, key.window_start, key.window_end],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Status>(1)?)),
    )
}

/// A status is stored as its name.
impl rusqlite::types::ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

/// A status this version does not know is an error, never a guess.
impl rusqlite::types::FromSql for Status {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let s = v.as_str()?;
        Status::parse(s).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(
                format!(
                    "unknown report status {s:?} in the history (written by a newer mna-reportd?)"
                )
                .into(),
            )
        })
    }
}

/// A trigger this version does not know is an error, never a guess.
impl rusqlite::types::FromSql for Trigger {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let s = v.as_str()?;
        Trigger::parse(s).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(
                format!(
                    "unknown report trigger {s:?} in the history (written by a newer mna-reportd?)"
                )
                .into(),
            )
        })
    }
}

/// The outcome of trying to claim a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours now; `attempts` tries were recorded before.
    Claimed { attempts: u32 },
    /// Already `ok` or `pruned`.
    Done,
    /// Another live process (or another task of ours) is fetching it.
    Busy { owner: String },
}

/// Who claims a report, and for what.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    pub owner: &'a str,
    /// Claim a done report too (`fetch --force`).
    pub force: bool,
    pub trigger: Trigger,
    /// The file the report will get.
    pub file_path: &'a str,
    pub now: i64,
}

/// Claim report `id`, taking over a claim whose holder no longer runs
/// ([`crate::archive::holder::is_alive`]).
#[cfg(test)]
pub(crate) fn claim(
    conn: &mut Connection,
    id: i64,
    req: &ClaimRequest<'_>,
) -> rusqlite::Result<Claim> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let claim = claim_in(&tx, id, req, crate::archive::holder::is_alive)?;
    tx.commit()?;
    Ok(claim)
}

/// Claim report `id` inside the caller's `IMMEDIATE` transaction, taking
/// over a claim whose holder no longer works on it (`holder_alive` says).
pub fn claim_in(
    tx: &Connection,
    id: i64,
    req: &ClaimRequest<'_>,
    holder_alive: impl Fn(&str) -> bool,
) -> rusqlite::Result<Claim> {
    let (status, attempts): (Status, u32) = tx
        .prepare_cached("SELECT status, attempts FROM reports WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if status.is_done() && !req.force {
        return Ok(Claim::Done);
    }
    let held: Option<(String, String)> = tx
        .prepare_cached("SELECT owner, previous_status FROM claims WHERE report_id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    // Taking over a stale claim keeps the status from before it.
    let previous = match held {
        Some((holder, _)) if holder_alive(&holder) => return Ok(Claim::Busy { owner: holder }),
        Some((_, previous)) => {
            tx.prepare_cached("DELETE FROM claims WHERE report_id = ?1")?
                .execute([id])?;
            previous
        }
        None => status.as_str().to_string(),
    };
    // The row keeps the path of a file it has (a forced fetch); the claim
    // carries the path it writes.
    tx.prepare_cached("INSERT INTO claims (report_id, owner, claimed_at, previous_status, file_path) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![id, req.owner, req.now, previous, req.file_path])?;
    tx.prepare_cached(
        r#"UPDATE reports SET status = ?4, "trigger" = ?2, updated_at = ?3 WHERE id = ?1"#,
    )?
    .execute(params![id, req.trigger.as_str(), req.now, Status::Running])?;
    Ok(Claim::Claimed { attempts })
}

/// One API call or download try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub kind: AttemptKind,
    pub started_at: i64,
    pub duration_ms: i64,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptKind {
    Call,
    Download,
}

impl AttemptKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Call => "call",
            AttemptKind::Download => "download",
        }
    }
}

/// Stored text is capped ([`text::cap`]): a server cannot grow every row.
fn capped(s: &Option<String>, max: usize) -> Option<std::borrow::Cow<'_, str>> {
    s.as_deref().map(|s| text::cap(s, max))
}

/// Append one try of report `id` (an API call and its download, or
/// either alone) to its `attempts` rows, numbered on across fetches, and
/// count it once in `reports.attempts`. Returns the report's tries so far.
/// Several statements: run it inside a transaction.
pub fn record_try(
    conn: &Connection,
    id: i64,
    records: &[AttemptRecord],
    now: i64,
) -> rusqlite::Result<u32> {
    let tries: u32 = conn
        .prepare_cached("UPDATE reports SET attempts = attempts + 1, updated_at = ?2 WHERE id = ?1 RETURNING attempts")?
        .query_row(params![id, now], |r| r.get(0))?;
    let mut n: u32 = conn
        .prepare_cached("SELECT coalesce(max(attempt), 0) FROM attempts WHERE report_id = ?1")?
        .query_row([id], |r| r.get(0))?;
    for a in records {
        n += 1;
        conn.prepare_cached("INSERT INTO attempts (report_id, attempt, kind, started_at, duration_ms, http_status, error_code, error_message, request_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?.execute(params![id, n, a.kind.as_str(), a.started_at, a.duration_ms, a.http_status,
                capped(&a.error_code, text::MAX_FIELD), capped(&a.error_message, text::MAX_MESSAGE), capped(&a.request_id, text::MAX_FIELD)])?;
    }
    Ok(tries)
}

/// [`record_try`] of a single call or download.
#[cfg(test)]
pub(crate) fn record_attempt(
    conn: &Connection,
    id: i64,
    a: &AttemptRecord,
    now: i64,
) -> rusqlite::Result<u32> {
    record_try(conn, id, std::slice::from_ref(a), now)
}

/// [`record_attempt`] in a transaction of its own.
#[cfg(test)]
pub(crate) fn record_attempt_now(
    conn: &mut Connection,
    id: i64,
    a: &AttemptRecord,
    now: i64,
) -> rusqlite::Result<u32> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let n = record_attempt(&tx, id, a, now)?;
    tx.commit()?;
    Ok(n)
}

/// What a fetched report ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub request_id: String,
    pub file_path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Mark report `id` `ok` (its file is durable) and drop the claim, inside
/// the caller's transaction. A new file is not in the bucket yet: the
/// report goes (back) into the upload outbox.
pub fn mark_ok(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    f: &Fetched,
    now: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE reports SET status = ?7, request_id = ?2, file_path = ?3, bytes = ?4, sha256 = ?5,
                error_code = NULL, error_message = NULL, updated_at = ?6,
                remote_key = NULL, uploaded_at = NULL WHERE id = ?1",
    )?
    .execute(params![
        id,
        f.request_id,
        f.file_path,
        f.bytes as i64,
        f.sha256,
        now,
        Status::Ok
    ])?;
    tx.prepare_cached("DELETE FROM claims WHERE report_id = ?1")?
        .execute([id])?;
    Ok(())
}

/// The status a report goes back to when its claim ends without `ok`:
/// a done report (fetched again with `--force`) stays done, any other
/// becomes `otherwise`.
fn status_after_claim(tx: &Connection, id: i64, otherwise: Status) -> rusqlite::Result<Status> {
    let previous: Option<String> = tx
        .prepare_cached("SELECT previous_status FROM claims WHERE report_id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(match previous.as_deref().and_then(Status::parse) {
        Some(done) if done.is_done() => done,
        _ => otherwise,
    })
}

/// Mark report `id` `failed` with the last error, and drop the claim. A
/// report that was done before (a forced fetch) stays done, with its file;
/// the failure is in `attempts`.
pub(crate) fn mark_failed(
    conn: &mut Connection,
    id: i64,
    code: &str,
    message: &str,
    request_id: Option<&str>,
    now: i64,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    match status_after_claim(&tx, id, Status::Failed)? {
        Status::Failed => tx.execute(
            "UPDATE reports SET status = ?6, error_code = ?2, error_message = ?3,
                    request_id = COALESCE(?4, request_id), file_path = NULL, updated_at = ?5 WHERE id = ?1",
            params![
                id,
                text::cap(code, text::MAX_FIELD),
                text::cap(message, text::MAX_MESSAGE),
                request_id.map(|r| text::cap(r, text::MAX_FIELD)),
                now,
                Status::Failed
            ],
        )?,
        done => tx.execute(
            "UPDATE reports SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, done, now],
        )?,
    };
    tx.execute("DELETE FROM claims WHERE report_id = ?1", [id])?;
    tx.commit()
}

/// Give back an unfinished claim (shutdown): the report is `pending` again
/// (or done, if it was before).
pub(crate) fn release(
    conn: &mut Connection,
    id: i64,
    owner: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let back = status_after_claim(&tx, id, Status::Pending)?;
    let n = tx.execute(
        "DELETE FROM claims WHERE report_id = ?1 AND owner = ?2",
        params![id, owner],
    )?;
    if n > 0 {
        tx.execute(
            "UPDATE reports SET status = ?3, updated_at = ?2 WHERE id = ?1 AND status = ?4",
            params![id, now, back, Status::Running],
        )?;
    }
    tx.commit()
}

/// Drop the claims of processes that no longer run, putting their reports
/// back to `pending` (or done, if they were); also `running` rows without
/// any claim. Returns how
/// many reports were released.
pub(crate) fn release_dead_claims(conn: &mut Connection, now: i64) -> rusqlite::Result<usize> {
    release_stale_claims(conn, now, |_, owner| {
        crate::archive::holder::is_alive(owner)
    })
}

/// [`release_dead_claims`], with `holder_alive(report, owner)` saying
/// whether a claim's holder still works on it (see
/// [`crate::archive::store::Store::holder_alive`]).
pub(crate) fn release_stale_claims(
    conn: &mut Connection,
    now: i64,
    holder_alive: impl Fn(i64, &str) -> bool,
) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let claims: Vec<(i64, String)> = {
        let mut stmt = tx.prepare("SELECT report_id, owner FROM claims")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut released = 0;
    for (id, owner) in claims {
        if !holder_alive(id, &owner) {
            let back = status_after_claim(&tx, id, Status::Pending)?;
            tx.execute("DELETE FROM claims WHERE report_id = ?1", [id])?;
            released += tx.execute(
                "UPDATE reports SET status = ?3, updated_at = ?2 WHERE id = ?1 AND status = ?4",
                params![id, now, back, Status::Running],
            )?;
        }
    }
    released += tx.execute(
        "UPDATE reports SET status = ?2, updated_at = ?1
         WHERE status = ?3 AND id NOT IN (SELECT report_id FROM claims)",
        params![now, Status::Pending, Status::Running],
    )?;
    tx.commit()?;
    Ok(released)
}

/// The files that live claims will get (as the claims record them): their
/// `.part` files may be being written right now.
pub(crate) fn claimed_file_paths(conn: &mut Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT file_path, owner FROM claims WHERE file_path IS NOT NULL")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (path, owner) = row?;
        if crate::archive::holder::is_alive(&owner) {
            out.push(path);
        }
    }
    Ok(out)
}

impl super::Store {
    /// Take back the claims of processes that are gone (at start-up);
    /// how many.
    pub(crate) fn release_dead_claims(&self) -> Result<usize, super::StoreError> {
        self.on_thread(|c| release_dead_claims(c, super::now()))
    }

    /// The files that live claims are writing (kept by the `.part` sweep).
    pub(crate) fn claimed_file_paths(&self) -> Result<Vec<String>, super::StoreError> {
        self.on_thread(claimed_file_paths)
    }
}
