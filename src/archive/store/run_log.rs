//! The `runs` rows of this process's fires and fetches, as store methods:
//! opened (closing first the rows of runs whose process is gone, as
//! `crashed`), given their plan and counts, completed, or closed `crashed`.

use super::runs::{self, RunCounts, RunOutcome, RunProcess, RunTrigger};
use super::{Store, StoreError, now};
use crate::archive::holder;

impl Store {
    /// Open a `running` row for a run of `jobs` by `process`, after closing
    /// as `crashed` the rows of processes that are gone (how many, with
    /// the new row's id).
    pub(crate) async fn open_run(
        &self,
        trigger: RunTrigger,
        jobs: Vec<String>,
        process: RunProcess,
    ) -> Result<(i64, usize), StoreError> {
        self.on_pool(move |c| {
            let now = now();
            let closed = runs::close_crashed(c, now, holder::is_alive)?;
            let id = runs::open(c, trigger, &jobs, now, &process)?;
            Ok((id, closed))
        })
        .await
    }

    /// How many reports run `id` planned.
    pub(crate) async fn set_run_planned(&self, id: i64, planned: u64) -> Result<(), StoreError> {
        self.on_pool(move |c| runs::set_planned(c, id, planned))
            .await
    }

    /// Run `id`'s `ok` and `failed` counts so far.
    pub(crate) async fn run_progress(
        &self,
        id: i64,
        ok: u64,
        failed: u64,
    ) -> Result<(), StoreError> {
        self.on_pool(move |c| runs::progress(c, id, ok, failed))
            .await
    }

    /// Complete run `id` now.
    pub(crate) async fn complete_run(
        &self,
        id: i64,
        counts: RunCounts,
        outcome: RunOutcome,
        reason: Option<String>,
    ) -> Result<(), StoreError> {
        self.on_pool(move |c| runs::complete(c, id, counts, outcome, reason.as_deref(), now()))
            .await
    }

    /// Close run `id` as `crashed` now, if it is still `running` (on the
    /// calling thread: for a drop).
    pub(crate) fn close_run_crashed(&self, id: i64) -> Result<usize, StoreError> {
        self.on_thread(|c| runs::close_as_crashed(c, id, now()))
    }
}
