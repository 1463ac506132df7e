//! What the traffic charts read from `report_rows`: a sample of a job's
//! latest done rows (to find the numeric columns), the sums of named
//! columns per window and device, and the devices' names from the
//! inventory. Done reports count (`ok` and `pruned`: pruning keeps the rows).

use super::{Reader, StoreError};
use rusqlite::{OptionalExtension, params};

/// How many of the latest reports are looked at to find the columns.
const SAMPLE_REPORTS: i64 = 5;
/// How many of their rows.
const SAMPLE_ROWS: i64 = 2_000;

/// One column's two figures for one window and device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ColumnSum {
    /// The sum of its numbers; `None` when it has none.
    pub(crate) sum: Option<f64>,
    /// How many of its cells are not numbers (text, left out).
    pub(crate) skipped: i64,
}

/// The sums of one window and device.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WindowSums {
    pub(crate) window_start: i64,
    /// The row's device (its `device` column when given and set, else the
    /// report's target).
    pub(crate) who: String,
    /// One per column asked for, in order.
    pub(crate) columns: Vec<ColumnSum>,
}

/// The JSON path of key `k` inside an SQL string literal.
fn json_path(k: &str) -> String {
    format!("'$.\"{}\"'", k.replace('\'', "''"))
}

/// The SQL of column `c`'s two figures per group: the sum of its numbers,
/// and how many of its cells are not numbers.
fn sums_of(c: &str) -> String {
    let path = json_path(c);
    format!(
        "sum(CASE WHEN json_type(rr.data, {path}) IN ('integer', 'real') \
         THEN json_extract(rr.data, {path}) END), \
         sum(json_type(rr.data, {path}) NOT IN ('integer', 'real', 'null'))"
    )
}

impl Reader {
    /// A sample of the rows of `job`'s latest done reports: (sheet, JSON object).
    pub(crate) fn traffic_samples(&self, job: &str) -> Result<Vec<(String, String)>, StoreError> {
        let read = || -> rusqlite::Result<Vec<(String, String)>> {
            let mut st = self.conn().prepare_cached(
                "SELECT rr.sheet, rr.data FROM report_rows rr
                 WHERE rr.report_id IN (SELECT r.id FROM reports r WHERE r.job = ?1 AND r.status IN ('ok', 'pruned')
                                          AND EXISTS (SELECT 1 FROM report_rows x WHERE x.report_id = r.id)
                                        ORDER BY r.window_end DESC LIMIT ?2)
                 LIMIT ?3",
            )?;
            st.query_map(params![job, SAMPLE_REPORTS, SAMPLE_ROWS], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect()
        };
        self.answer(read())
    }

    /// The sums of `columns` of `sheet` in `job`'s done reports whose window
    /// lies inside `[from, to)`, per window and device: the rows' own
    /// `device` column when given (`-1`, the API's "all devices", and empty
    /// count as none), else the report's target. Keys holding a quote or a
    /// backslash are the caller's to refuse.
    pub(crate) fn traffic_sums(
        &self,
        job: &str,
        sheet: &str,
        device: Option<&str>,
        columns: &[&str],
        (from, to): (i64, i64),
    ) -> Result<Vec<WindowSums>, StoreError> {
        let sums: Vec<String> = columns.iter().map(|c| sums_of(c)).collect();
        let who = match device {
            Some(k) => format!(
                "coalesce(nullif(nullif(json_extract(rr.data, {}), '-1'), ''), r.target)",
                json_path(k)
            ),
            None => "r.target".to_string(),
        };
        let sql = format!(
            "SELECT r.window_start, {who}, {} FROM reports r
             JOIN report_rows rr ON rr.report_id = r.id AND rr.sheet = ?5
             WHERE r.job = ?1 AND r.window_end > ?2 AND r.window_end <= ?3 AND r.window_start >= ?2
               AND r.status IN ('ok', ?4)
             GROUP BY 1, 2",
            sums.join(", ")
        );
        let read = || -> rusqlite::Result<Vec<WindowSums>> {
            let mut st = self.conn().prepare(&sql)?;
            let mut rows = st.query(params![job, from, to, "pruned", sheet])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let mut sums = Vec::with_capacity(columns.len());
                for c in 0..columns.len() {
                    sums.push(ColumnSum {
                        sum: r.get(2 + 2 * c)?,
                        skipped: r.get::<_, Option<i64>>(3 + 2 * c)?.unwrap_or(0),
                    });
                }
                out.push(WindowSums {
                    window_start: r.get(0)?,
                    who: r.get(1)?,
                    columns: sums,
                });
            }
            Ok(out)
        };
        self.answer(read())
    }

    /// The inventory's name of device `id`, when it has one (none in a
    /// history without an inventory).
    pub(crate) fn device_name(&self, id: &str) -> Result<Option<String>, StoreError> {
        let read = || -> rusqlite::Result<Option<String>> {
            let inventory: bool = self.conn().query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'devices')",
                [],
                |r| r.get(0),
            )?;
            if !inventory {
                return Ok(None);
            }
            self.conn()
                .prepare_cached(
                    "SELECT name FROM devices WHERE device_id = ?1 AND name IS NOT NULL AND name != ''",
                )?
                .query_row(params![id], |r| r.get(0))
                .optional()
        };
        self.answer(read())
    }
}

/// Histories for the tests of the readers above and of their callers.
#[cfg(test)]
pub(crate) mod seed {
    use rusqlite::{Connection, params};
    use std::path::Path;

    /// Record an `ok` report of `job` for `[start, end)` holding `rows`
    /// (JSON objects) in sheet `sheet`, in the history at `db`.
    pub(crate) fn report_with_rows(
        db: &Path,
        job: &str,
        (start, end): (i64, i64),
        sheet: &str,
        rows: &[&str],
    ) {
        let c = Connection::open(db).expect("open");
        c.execute(
            "INSERT INTO reports (job, target, region, granularity, window_start, window_end, status, \"trigger\", created_at, updated_at)
             VALUES (?1, 'all', '', 1, ?2, ?3, 'ok', 'schedule', 0, 0)",
            params![job, start, end],
        )
        .expect("report");
        let id = c.last_insert_rowid();
        for (n, data) in rows.iter().enumerate() {
            c.execute(
                "INSERT INTO report_rows (report_id, sheet, row_number, data) VALUES (?1, ?2, ?3, ?4)",
                params![id, sheet, n as i64, data],
            )
            .expect("row");
        }
    }

    /// Name device `id` `name` in the inventory of the history at `db`.
    pub(crate) fn device(db: &Path, id: &str, name: &str) {
        let c = Connection::open(db).expect("open");
        c.execute(
            "INSERT INTO devices (device_id, name, first_seen, last_seen, raw) VALUES (?1, ?2, 0, 0, '{}')",
            params![id, name],
        )
        .expect("device");
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Reader, Store, open_readonly};

    #[test]
    fn a_history_without_an_inventory_names_no_device() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = d.path().join("h.db");
        rusqlite::Connection::open(&db)
            .and_then(|c| c.execute_batch("CREATE TABLE reports (id INTEGER PRIMARY KEY)"))
            .expect("a bare history");
        let r = open_readonly(&db).expect("read");
        assert_eq!(r.device_name("d1").expect("no inventory is fine"), None);
        let r = Reader::empty().expect("empty");
        assert_eq!(r.device_name("d1").expect("empty inventory"), None);
        Store::open(&d.path().join("s.db")).expect("open");
        super::seed::device(&d.path().join("s.db"), "d1", "Shop <1>");
        let r = open_readonly(&d.path().join("s.db")).expect("read");
        assert_eq!(
            r.device_name("d1").expect("named").as_deref(),
            Some("Shop <1>")
        );
        assert_eq!(r.device_name("d2").expect("unnamed"), None);
    }
}
