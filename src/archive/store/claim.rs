//! A fetch's hold on a report, as store methods: record it planned and
//! claim it ([`Store::claim`], one `IMMEDIATE` transaction), record each
//! try ([`Store::record_attempt`]), give it back, record it failed, and
//! give back the claims of ours a failed release left. Also the done set a
//! plan is cut by ([`Store::not_done`]). The seal is [`super::seal`].

use super::reports::{self, AttemptRecord, Claim, ClaimRequest};
use super::{InFlight, Store, StoreError, now, query};
use crate::domain::report::{Keyed, ReportKey, Trigger};

/// What claiming a report gave.
pub(crate) enum Claimed {
    /// Ours, in flight in this process while `guard` lives; `attempts`
    /// tries were recorded before.
    Ours {
        id: i64,
        guard: InFlight,
        attempts: u32,
    },
    /// Already `ok` or `pruned` (and not forced).
    Done,
    /// Another live process (or another task of ours) is fetching it.
    Busy,
}

/// A report to claim.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClaimOrder<'a> {
    pub(crate) key: &'a ReportKey,
    /// The job's granularity code.
    pub(crate) granularity: u8,
    pub(crate) trigger: Trigger,
    /// The file the report will get.
    pub(crate) file_path: &'a str,
    /// Claim a done report too (`fetch --force`).
    pub(crate) force: bool,
}

impl Store {
    /// Record the report planned (if new) and claim it for this process,
    /// in one `IMMEDIATE` transaction: two processes never both win it, and
    /// a claim whose holder no longer works on it is taken over
    /// ([`Store::holder_alive`]). Blocking: async callers call it on the
    /// blocking pool.
    pub(crate) fn claim(&self, order: &ClaimOrder<'_>) -> Result<Claimed, StoreError> {
        self.on_thread(|c| {
            let now = now();
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let (id, status) =
                reports::record_planned(&tx, order.key, order.granularity, order.trigger, now)?;
            if status.is_done() && !order.force {
                return Ok(Claimed::Done);
            }
            let req = ClaimRequest {
                owner: self.owner(),
                force: order.force,
                trigger: order.trigger,
                file_path: order.file_path,
                now,
            };
            let claim = reports::claim_in(&tx, id, &req, |holder| self.holder_alive(id, holder))?;
            tx.commit()?;
            Ok(match claim {
                // In flight from the moment the claim is ours, under the lock.
                Claim::Claimed { attempts } => Claimed::Ours {
                    id,
                    guard: self.in_flight(id),
                    attempts,
                },
                Claim::Done => Claimed::Done,
                Claim::Busy { .. } => Claimed::Busy,
            })
        })
    }

    /// Append `records`, one try, to report `id`'s attempts, in one
    /// transaction; returns the report's tries so far.
    pub(crate) async fn record_attempt(
        &self,
        id: i64,
        records: Vec<AttemptRecord>,
    ) -> Result<u32, StoreError> {
        self.on_pool(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let tries = reports::record_try(&tx, id, &records, now())?;
            tx.commit()?;
            Ok(tries)
        })
        .await
    }

    /// Give back report `id`, claimed by us but not finished: `pending`
    /// again (or done, if it was before).
    pub(crate) async fn give_back(&self, id: i64) -> Result<(), StoreError> {
        let owner = self.owner().to_string();
        self.on_pool(move |c| reports::release(c, id, &owner, now()))
            .await
    }

    /// Record report `id` `failed` with `code` and `message`, dropping our claim.
    pub(crate) async fn record_failed(
        &self,
        id: i64,
        code: String,
        message: String,
        request_id: Option<String>,
    ) -> Result<(), StoreError> {
        self.on_pool(move |c| {
            reports::mark_failed(c, id, &code, &message, request_id.as_deref(), now())
        })
        .await
    }

    /// Give back the claims of ours that no report in flight holds (a
    /// release or a failure record failed), and those of processes gone.
    /// Returns how many reports were released.
    pub(crate) async fn release_left_claims(&self) -> Result<usize, StoreError> {
        let store = self.clone();
        self.on_pool(move |c| {
            reports::release_stale_claims(c, now(), |id, owner| store.holder_alive(id, owner))
        })
        .await
    }

    /// `planned` minus the reports the history has as done, read on the
    /// blocking pool.
    pub(crate) async fn not_done<T: Keyed + Send + 'static>(
        &self,
        planned: Vec<T>,
    ) -> Result<Vec<T>, StoreError> {
        self.on_pool(move |c| query::not_done(c, planned)).await
    }

    /// [`Store::not_done`] on the calling thread.
    pub(crate) fn not_done_now<T: Keyed>(&self, planned: Vec<T>) -> Result<Vec<T>, StoreError> {
        self.on_thread(|c| query::not_done(c, planned))
    }
}
