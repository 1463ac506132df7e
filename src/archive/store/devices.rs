//! The device inventory (`devices`) and each discovering job's last listing
//! (`discoveries`): recording what a listing returned, and reading which
//! devices a job has now.
//!
//! A device missing from a complete listing whose scope should have held it
//! (every device, those of the listed type, or the group's) is marked
//! `removed_at`; it comes back when a later listing has it again. Nothing
//! is ever deleted: reports keep their device's name.

use crate::config::{Discovery, Scope};
use crate::domain::device::DeviceInfo;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::HashSet;

/// How many ids of the devices added or removed a [`Change`] names (the
/// counts are whole): a fleet of millions costs no more memory or log.
pub(crate) const CHANGE_IDS_SHOWN: usize = 100;

/// What recording a listing changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Change {
    /// Ids seen for the first time, or back after being removed (the
    /// first [`CHANGE_IDS_SHOWN`]).
    pub(crate) added: Vec<String>,
    /// Ids marked removed by this listing (the first [`CHANGE_IDS_SHOWN`]).
    pub(crate) removed: Vec<String>,
    /// How many were added, and removed.
    pub(crate) added_count: u64,
    pub(crate) removed_count: u64,
}

impl Change {
    fn add(&mut self, id: &str) {
        self.added_count += 1;
        if self.added.len() < CHANGE_IDS_SHOWN {
            self.added.push(id.to_string());
        }
    }

    /// This change and `other`'s together.
    pub(crate) fn merge(&mut self, other: Change) {
        for id in other
            .added
            .into_iter()
            .take(CHANGE_IDS_SHOWN - self.added.len().min(CHANGE_IDS_SHOWN))
        {
            self.added.push(id);
        }
        self.added_count += other.added_count;
        for id in other
            .removed
            .into_iter()
            .take(CHANGE_IDS_SHOWN - self.removed.len().min(CHANGE_IDS_SHOWN))
        {
            self.removed.push(id);
        }
        self.removed_count += other.removed_count;
    }
}

/// What one page of a listing did to the inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageRecorded {
    pub(crate) change: Change,
    /// Devices of the page not seen earlier in this listing (a device on
    /// two pages, the list having moved, counts once).
    pub(crate) fresh: u64,
}

/// One device a job reports on: its id and when it came to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Known {
    pub(crate) device_id: String,
    pub(crate) created_at: Option<i64>,
}

/// One `devices` row, as the `devices` command shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DeviceRow {
    pub(crate) device_id: String,
    pub(crate) name: Option<String>,
    pub(crate) group_id: Option<String>,
    pub(crate) group_name: Option<String>,
    pub(crate) remark: Option<String>,
    pub(crate) device_type: Option<i64>,
    pub(crate) created_at: Option<i64>,
    pub(crate) first_seen: i64,
    pub(crate) last_seen: i64,
    pub(crate) removed_at: Option<i64>,
}

/// The last listing of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Listing {
    pub(crate) job: String,
    pub(crate) scope: String,
    /// When the last complete listing ended.
    pub(crate) listed_at: Option<i64>,
    /// How many devices it had.
    pub(crate) devices: Option<i64>,
    pub(crate) calls: Option<i64>,
    /// When the last failed listing ended, and why.
    pub(crate) failed_at: Option<i64>,
    pub(crate) error_code: Option<String>,
}

/// Start a listing at `now`: its stamp, which every device it lists gets
/// as `last_seen`. Later than any `last_seen` recorded, so that a device
/// not seen by this listing is told by `last_seen < stamp` alone, with no
/// list of ids kept in memory.
pub(crate) fn begin_listing(conn: &Connection, now: i64) -> rusqlite::Result<i64> {
    let latest: Option<i64> =
        conn.query_row("SELECT max(last_seen) FROM devices", [], |r| r.get(0))?;
    Ok(latest.map_or(now, |l| now.max(l + 1)))
}

/// Record one page `devices` of a listing of `d` stamped `stamp`, in one
/// transaction.
pub(crate) fn record_page(
    conn: &mut Connection,
    d: &Discovery,
    devices: &[DeviceInfo],
    stamp: i64,
) -> rusqlite::Result<PageRecorded> {
    let tx = conn.transaction()?;
    let mut out = PageRecorded::default();
    let fallback_group = match &d.scope {
        Scope::Group(g) => Some(g.as_str()),
        Scope::All => None,
    };
    {
        let mut before = tx.prepare_cached(
            "SELECT removed_at IS NULL, last_seen >= ?2 FROM devices WHERE device_id = ?1",
        )?;
        let mut upsert = tx.prepare_cached(
            "INSERT INTO devices (device_id, name, group_id, group_name, remark, device_type,
                                  created_at, first_seen, last_seen, removed_at, raw)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, NULL, ?9)
             ON CONFLICT (device_id) DO UPDATE SET
                 name = excluded.name, group_id = excluded.group_id,
                 group_name = excluded.group_name, remark = excluded.remark,
                 device_type = coalesce(excluded.device_type, devices.device_type),
                 created_at = excluded.created_at, last_seen = excluded.last_seen,
                 removed_at = NULL, raw = excluded.raw",
        )?;
        for dev in devices {
            let was: Option<(bool, bool)> = before
                .query_row(params![dev.device_id, stamp], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            if was.is_none_or(|(present, _)| !present) {
                out.change.add(&dev.device_id);
            }
            if was.is_none_or(|(_, seen)| !seen) {
                out.fresh += 1;
            }
            upsert.execute(params![
                dev.device_id,
                dev.name,
                dev.group_id.as_deref().or(fallback_group),
                dev.group_name,
                dev.remark,
                d.device_type,
                dev.created,
                stamp,
                dev.raw.to_string(),
            ])?;
        }
    }
    tx.commit()?;
    Ok(out)
}

/// End the listing of `job` stamped `stamp` at `now`: it read `listed`
/// devices with `calls` calls. Only a `complete` one (every page, as many
/// devices as it said) marks removed the devices of its scope it did not
/// see (`last_seen` before its stamp).
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish_listing(
    conn: &mut Connection,
    job: &str,
    d: &Discovery,
    stamp: i64,
    listed: u64,
    calls: u32,
    complete: bool,
    now: i64,
) -> rusqlite::Result<Change> {
    let tx = conn.transaction()?;
    let mut change = Change::default();
    if complete {
        let group = match &d.scope {
            Scope::Group(g) => Some(g.as_str()),
            Scope::All => None,
        };
        let mut mark = tx.prepare_cached(
            "UPDATE devices SET removed_at = ?4
             WHERE removed_at IS NULL AND last_seen < ?3
               AND (?1 IS NULL OR group_id = ?1)
               AND (?2 IS NULL OR device_type = ?2 OR device_type IS NULL)
             RETURNING device_id",
        )?;
        let mut rows = mark.query(params![group, d.device_type, stamp, now])?;
        while let Some(r) = rows.next()? {
            change.removed_count += 1;
            if change.removed.len() < CHANGE_IDS_SHOWN {
                change.removed.push(r.get(0)?);
            }
        }
        change.removed.sort();
    }
    tx.execute(
        "INSERT INTO discoveries (job, scope, listed_at, devices, calls) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (job) DO UPDATE SET scope = excluded.scope, listed_at = excluded.listed_at,
             devices = excluded.devices, calls = excluded.calls",
        params![job, d.scope.label(), now, i64::try_from(listed).unwrap_or(i64::MAX), calls],
    )?;
    tx.commit()?;
    Ok(change)
}

/// Record the whole listing `devices` of `job` at `now` in one go (a
/// listing of one page): [`begin_listing`], [`record_page`], [`finish_listing`].
#[cfg(test)]
pub(crate) fn record_listing(
    conn: &mut Connection,
    job: &str,
    d: &Discovery,
    devices: &[DeviceInfo],
    calls: u32,
    complete: bool,
    now: i64,
) -> rusqlite::Result<Change> {
    let stamp = begin_listing(conn, now)?;
    let page = record_page(conn, d, devices, stamp)?;
    let mut change = page.change;
    change.merge(finish_listing(
        conn,
        job,
        d,
        stamp,
        devices.len() as u64,
        calls,
        complete,
        now,
    )?);
    Ok(change)
}

/// Record a failed listing of `job` at `now`: the inventory stays as it was.
pub(crate) fn record_failure(
    conn: &Connection,
    job: &str,
    d: &Discovery,
    code: &str,
    message: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO discoveries (job, scope, failed_at, error_code, error_message) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (job) DO UPDATE SET scope = excluded.scope, failed_at = excluded.failed_at,
             error_code = excluded.error_code, error_message = excluded.error_message",
        params![job, d.scope.label(), now, code, message],
    )?;
    Ok(())
}

/// The devices `d` reports on now: in its scope, not removed, not excluded;
/// ordered by id.
pub(crate) fn known(conn: &Connection, d: &Discovery) -> rusqlite::Result<Vec<Known>> {
    if !has_inventory(conn)? {
        return Ok(Vec::new());
    }
    let exclude: HashSet<&str> = d.exclude.iter().map(String::as_str).collect();
    Ok(in_scope(conn, d, true)?
        .into_iter()
        .filter(|k| !exclude.contains(k.device_id.as_str()))
        .collect())
}

/// How many devices not removed are in `d`'s scope, excluded ones counted.
pub(crate) fn in_scope_count(conn: &Connection, d: &Discovery) -> rusqlite::Result<usize> {
    if !has_inventory(conn)? {
        return Ok(0);
    }
    Ok(in_scope(conn, d, true)?.len())
}

/// The devices not removed in the scope of `d` (of its type, when it has one;
/// with `typed_only`, a device of unknown type is left out of a typed scope).
fn in_scope(conn: &Connection, d: &Discovery, typed_only: bool) -> rusqlite::Result<Vec<Known>> {
    let group = match &d.scope {
        Scope::Group(g) => Some(g.as_str()),
        Scope::All => None,
    };
    let mut st = conn.prepare_cached(
        "SELECT device_id, created_at FROM devices
         WHERE removed_at IS NULL
           AND (?1 IS NULL OR group_id = ?1)
           AND (?2 IS NULL OR device_type = ?2 OR (?3 = 0 AND device_type IS NULL))
         ORDER BY device_id",
    )?;
    st.query_map(params![group, d.device_type, typed_only as i64], |r| {
        Ok(Known {
            device_id: r.get(0)?,
            created_at: r.get(1)?,
        })
    })?
    .collect()
}

/// Whether the history has the inventory tables (a history opened
/// read-only may predate them: it has no device then).
fn has_inventory(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'discoveries'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Every device of the inventory, by id.
pub(crate) fn all(conn: &Connection) -> rusqlite::Result<Vec<DeviceRow>> {
    page_after(conn, "", i64::MAX)
}

/// At most `limit` devices of the inventory whose ids sort after `after`,
/// by id: the whole inventory a page at a time, each page a query of its own.
pub(crate) fn page_after(
    conn: &Connection,
    after: &str,
    limit: i64,
) -> rusqlite::Result<Vec<DeviceRow>> {
    if !has_inventory(conn)? {
        return Ok(Vec::new());
    }
    let mut st = conn.prepare_cached(
        "SELECT device_id, name, group_id, group_name, remark, device_type, created_at,
                first_seen, last_seen, removed_at FROM devices WHERE device_id > ?1
         ORDER BY device_id LIMIT ?2",
    )?;
    st.query_map(params![after, limit], |r| {
        Ok(DeviceRow {
            device_id: r.get(0)?,
            name: r.get(1)?,
            group_id: r.get(2)?,
            group_name: r.get(3)?,
            remark: r.get(4)?,
            device_type: r.get(5)?,
            created_at: r.get(6)?,
            first_seen: r.get(7)?,
            last_seen: r.get(8)?,
            removed_at: r.get(9)?,
        })
    })?
    .collect()
}

/// The last listing of `job`, if it ever listed.
pub(crate) fn listing(conn: &Connection, job: &str) -> rusqlite::Result<Option<Listing>> {
    if !has_inventory(conn)? {
        return Ok(None);
    }
    conn.query_row(
        "SELECT job, scope, listed_at, devices, calls, failed_at, error_code FROM discoveries WHERE job = ?1",
        [job],
        |r| {
            Ok(Listing {
                job: r.get(0)?,
                scope: r.get(1)?,
                listed_at: r.get(2)?,
                devices: r.get(3)?,
                calls: r.get(4)?,
                failed_at: r.get(5)?,
                error_code: r.get(6)?,
            })
        },
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn dev(id: &str, group: &str, created: i64) -> DeviceInfo {
        DeviceInfo {
            device_id: id.to_string(),
            name: Some(format!("name-{id}")),
            group_id: Some(group.to_string()),
            group_name: None,
            remark: None,
            created: Some(created),
            raw: serde_json::json!({"DeviceId": id}),
        }
    }

    fn disc(scope: Scope, device_type: Option<u8>, exclude: &[&str]) -> Discovery {
        Discovery {
            scope,
            device_type,
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            interval: Duration::from_secs(3600),
            max_devices: 1_000,
        }
    }

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().expect("db");
        super::super::migrate(&mut c).expect("migrate");
        c
    }

    fn ids(k: &[Known]) -> Vec<&str> {
        k.iter().map(|k| k.device_id.as_str()).collect()
    }

    #[test]
    fn a_complete_listing_adds_and_removes_and_a_failure_keeps_the_list() {
        let mut c = db();
        let all = disc(Scope::All, None, &["x"]);
        let ch = record_listing(
            &mut c,
            "j",
            &all,
            &[dev("a", "g", 10), dev("b", "g", 20), dev("x", "h", 5)],
            1,
            true,
            100,
        )
        .expect("list");
        assert_eq!(ch.added, ["a", "b", "x"]);
        assert_eq!(ids(&known(&c, &all).expect("known")), ["a", "b"]);
        let ch = record_listing(
            &mut c,
            "j",
            &all,
            &[dev("a", "g", 10), dev("c", "h", 30)],
            1,
            true,
            200,
        )
        .expect("list");
        assert_eq!(ch.added, ["c"]);
        assert_eq!(ch.removed, ["b", "x"]);
        assert_eq!(ids(&known(&c, &all).expect("known")), ["a", "c"]);
        record_failure(&c, "j", &all, "AuthFailure", "no", 300).expect("failure");
        assert_eq!(ids(&known(&c, &all).expect("known")), ["a", "c"]);
        let l = listing(&c, "j").expect("read").expect("listed");
        assert_eq!(
            (l.listed_at, l.devices, l.failed_at),
            (Some(200), Some(2), Some(300))
        );
        // b keeps its row, marked removed; it comes back when listed again
        let rows = all_rows(&c);
        assert_eq!(
            rows.iter()
                .find(|r| r.device_id == "b")
                .and_then(|r| r.removed_at),
            Some(200)
        );
        let ch = record_listing(
            &mut c,
            "j",
            &all,
            &[dev("a", "g", 10), dev("b", "g", 20), dev("c", "h", 30)],
            1,
            true,
            400,
        )
        .expect("list");
        assert_eq!(ch.added, ["b"]);
        let b = all_rows(&c)
            .into_iter()
            .find(|r| r.device_id == "b")
            .expect("b");
        assert_eq!((b.first_seen, b.last_seen, b.removed_at), (100, 400, None));
    }

    fn all_rows(c: &Connection) -> Vec<DeviceRow> {
        all(c).expect("rows")
    }

    #[test]
    fn a_group_listing_only_touches_its_group() {
        let mut c = db();
        let every = disc(Scope::All, None, &[]);
        record_listing(
            &mut c,
            "all",
            &every,
            &[dev("a", "g", 1), dev("b", "h", 1)],
            1,
            true,
            100,
        )
        .expect("list");
        let g = disc(Scope::Group("g".into()), None, &[]);
        assert_eq!(ids(&known(&c, &g).expect("known")), ["a"]);
        let ch = record_listing(&mut c, "grp", &g, &[], 1, true, 200).expect("list");
        assert_eq!(ch.removed, ["a"]);
        assert_eq!(ids(&known(&c, &every).expect("known")), ["b"]);
    }

    #[test]
    fn a_typed_listing_records_the_type_and_removes_only_its_type() {
        let mut c = db();
        let own = disc(Scope::All, Some(1), &[]);
        let third = disc(Scope::All, Some(2), &[]);
        record_listing(&mut c, "own", &own, &[dev("a", "g", 1)], 1, true, 100).expect("list");
        record_listing(&mut c, "third", &third, &[dev("t", "g", 1)], 1, true, 100).expect("list");
        assert_eq!(ids(&known(&c, &own).expect("known")), ["a"]);
        assert_eq!(ids(&known(&c, &third).expect("known")), ["t"]);
        let ch = record_listing(&mut c, "own", &own, &[], 1, true, 200).expect("list");
        assert_eq!(ch.removed, ["a"]);
        assert_eq!(ids(&known(&c, &third).expect("known")), ["t"]);
    }

    #[test]
    fn a_listing_that_changed_between_pages_removes_nothing() {
        let mut c = db();
        let all = disc(Scope::All, None, &[]);
        record_listing(
            &mut c,
            "j",
            &all,
            &[dev("a", "g", 1), dev("b", "g", 1)],
            1,
            true,
            100,
        )
        .expect("list");
        let ch = record_listing(
            &mut c,
            "j",
            &all,
            &[dev("a", "g", 1), dev("c", "g", 1)],
            2,
            false,
            200,
        )
        .expect("list");
        assert_eq!(ch.added, ["c"]);
        assert!(ch.removed.is_empty());
        assert_eq!(ids(&known(&c, &all).expect("known")), ["a", "b", "c"]);
    }
}
