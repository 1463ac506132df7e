//! What the window calendar reads: a job's reports inside a range, one row
//! per window and status (one indexed range scan however many reports a
//! window holds).

use super::{Reader, StoreError};
use rusqlite::params;

/// How many reports of one window have one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WindowCount {
    pub(crate) window_start: i64,
    pub(crate) window_end: i64,
    pub(crate) status: String,
    pub(crate) count: u64,
    /// The smallest report id among them.
    pub(crate) first_id: i64,
}

impl Reader {
    /// The reports of `job` whose window lies inside `[from, to)` (ends in
    /// `(from, to]` and starts at or after `from`), of `target` and
    /// `region` when given, counted per window and status.
    pub(crate) fn window_counts(
        &self,
        job: &str,
        from: i64,
        to: i64,
        target: Option<&str>,
        region: Option<&str>,
    ) -> Result<Vec<WindowCount>, StoreError> {
        let read = || -> rusqlite::Result<Vec<WindowCount>> {
            let mut st = self.conn().prepare_cached(
                "SELECT window_start, window_end, status, count(*), min(id) FROM reports
                 WHERE job = ?1 AND window_end > ?2 AND window_end <= ?3 AND window_start >= ?2
                   AND (?4 IS NULL OR target = ?4) AND (?5 IS NULL OR region = ?5)
                 GROUP BY window_start, window_end, status",
            )?;
            st.query_map(params![job, from, to, target, region], |r| {
                Ok(WindowCount {
                    window_start: r.get(0)?,
                    window_end: r.get(1)?,
                    status: r.get(2)?,
                    count: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                    first_id: r.get(4)?,
                })
            })?
            .collect()
        };
        self.answer(read())
    }
}
