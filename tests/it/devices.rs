//! Jobs that discover their devices (`devices = "all"`, a group per device)
//! against the fake's `GetDevices`/`GetGroupDetail`, the `devices` table and
//! command, the README's inventory queries, a single device asked for by its
//! id, and `check`'s demand figures.

use crate::common;

use common::daemon::*;
use common::*;
use fake_mna::{FakeConfig, FakeDevice, Fault, GET_DEVICES, GET_GROUP_DETAIL};
use std::collections::BTreeSet;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(150);

/// 2026-11-01T00:00:00Z.
const NOV1: i64 = 1_793_491_200;

/// (device id, window end) of every report the fake answered with a file.
fn fetched(w: &World) -> BTreeSet<(String, i64)> {
    w.fake
        .calls()
        .into_iter()
        .filter(|c| c.outcome.is_ok())
        .filter_map(|c| c.params)
        .map(|p| (p.device_id, p.end))
        .collect()
}

/// (target, file path) of the `ok` reports.
fn ok_targets(w: &World) -> Vec<(String, String)> {
    let db = w.db();
    let mut st = db
        .prepare("SELECT target, file_path FROM reports WHERE status = 'ok' ORDER BY id")
        .expect("query");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

/// Each device of `ids` for each window end of `ends`.
fn each(ids: &[&str], ends: &[i64]) -> BTreeSet<(String, i64)> {
    ids.iter()
        .flat_map(|d| ends.iter().map(move |e| (d.to_string(), *e)))
        .collect()
}

const FLEET: &str = r#"
[[jobs]]
name = "fleet"
granularity = "hourly"
devices = "all"
per_device = true
"#;

#[test]
fn an_all_devices_job_fetches_one_report_per_device_and_window_since_each_device_existed() {
    let w = World::new(FLEET);
    // "late" was created at 01:30: its first window is the one ending 02:00
    w.fake.set_devices(vec![
        FakeDevice::new("mna-a", NOV1 - 86_400).in_group("g-1", "Lobby"),
        FakeDevice::new("mna-b", NOV1 - 86_400),
        FakeDevice::new("late", NOV1 + 5_400).third_party(),
    ]);
    let o = w.fetch("fleet", "2026-11-01T00:00:00Z", "2026-11-01T03:00:00Z", &[]);
    assert_exit(&o, 0);
    let ends = [NOV1 + 3_600, NOV1 + 7_200, NOV1 + 10_800];
    let mut want = each(&["mna-a", "mna-b"], &ends);
    want.extend(each(&["late"], &ends[1..]));
    assert_eq!(fetched(&w), want);
    // every report asks for exactly one device by its id
    for c in w.fake.calls().into_iter().filter(|c| c.outcome.is_ok()) {
        let p = c.params.expect("params");
        assert_eq!(p.device_list, None);
        assert_eq!(p.group_id, None);
    }
    // one listing call, a page of 100
    let listings = w.fake.calls_of(GET_DEVICES);
    assert_eq!(listings.len(), 1);
    assert_eq!(listings[0].body["PageSize"], 100);
    assert_eq!(listings[0].body["PageNumber"], 1);
    // the history's targets are the devices'
    let targets: BTreeSet<String> = ok_targets(&w).into_iter().map(|r| r.0).collect();
    assert_eq!(
        targets,
        ["device:late", "device:mna-a", "device:mna-b"]
            .map(String::from)
            .into()
    );

    // the inventory is what the fake served
    let db = w.db();
    let mut st = db
        .prepare("SELECT device_id, name, group_id, group_name, created_at, removed_at, raw FROM devices ORDER BY device_id")
        .expect("query");
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        i64,
        Option<i64>,
        String,
    );
    let rows: Vec<Row> = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    let served = w.fake.devices();
    assert_eq!(rows.len(), served.len());
    for (id, name, gid, gname, created, removed, raw) in &rows {
        let d = served.iter().find(|d| &d.id == id).expect("served");
        assert_eq!(name, &d.name);
        assert_eq!(gid.clone(), d.group.as_ref().map(|g| g.0.clone()));
        assert_eq!(gname.clone(), d.group.as_ref().map(|g| g.1.clone()));
        assert_eq!(*created, d.created);
        assert_eq!(*removed, None);
        let raw: serde_json::Value = serde_json::from_str(raw).expect("json");
        assert_eq!(raw, d.info());
    }

    // the `devices` command shows it, and `check` knows the count without calling
    let o = w.run(&["devices", "--format", "json"]);
    assert_exit(&o, 0);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(shown.as_array().map(Vec::len), Some(3));
    assert_eq!(shown[0]["device_id"], "late");
    assert_eq!(shown[1]["name"], "name-mna-a");
    let o = w.run(&["devices", "--format", "csv"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).starts_with("device_id,name,group_id,group_name,remark,device_type,created_at,first_seen,last_seen,removed_at\n"), "{}", stdout(&o));
    let calls = w.fake.calls().len();
    let o = w.run(&["check"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("devices: 3 known, last listed"), "{out}");
    assert_eq!(w.fake.calls().len(), calls, "check calls nothing");

    // a dry run plans from the known inventory and says so
    let o = w.fetch(
        "fleet",
        "2026-11-01T00:00:00Z",
        "2026-11-01T04:00:00Z",
        &["--dry-run"],
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("planned from the known inventory (3 devices)"),
        "{out}"
    );
    assert!(out.contains("3 of 11 reports would be fetched"), "{out}");
    assert_eq!(w.fake.calls().len(), calls, "a dry run lists nothing");

    // the README's inventory queries run against this history and give rows
    readme_queries_give_rows(&w);
}

/// The ```sql blocks of the README's "Devices" section, each run against
/// `w`'s history: every one gives at least one row.
fn readme_queries_give_rows(w: &World) {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let start = readme
        .find("### Devices and their traffic")
        .expect("the README has the devices section");
    let section = &readme[start..];
    let end = section[4..].find("\n#").map_or(section.len(), |i| i + 4);
    let section = &section[..end];
    let blocks: Vec<&str> = section
        .split("```sql devices\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert_eq!(blocks.len(), 2, "the join and the devices without a report");
    let db = w.db();
    for sql in blocks {
        let mut st = db.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let n = st.query_map([], |_| Ok(())).expect("run").count();
        assert!(n > 0, "no rows from\n{sql}");
    }
}

#[test]
fn a_group_per_device_job_uses_only_that_groups_devices() {
    let w = World::new(
        r#"
[[jobs]]
name = "lobby"
granularity = "hourly"
group = "g-1"
per_device = true
exclude = ["mna-x"]
"#,
    );
    w.fake.set_devices(vec![
        FakeDevice::new("mna-a", NOV1 - 86_400).in_group("g-1", "Lobby"),
        FakeDevice::new("mna-x", NOV1 - 86_400).in_group("g-1", "Lobby"),
        FakeDevice::new("mna-b", NOV1 - 86_400).in_group("g-2", "Roof"),
        FakeDevice::new("mna-c", NOV1 - 86_400),
    ]);
    let o = w.fetch("lobby", "2026-11-01T00:00:00Z", "2026-11-01T02:00:00Z", &[]);
    assert_exit(&o, 0);
    assert_eq!(fetched(&w), each(&["mna-a"], &[NOV1 + 3_600, NOV1 + 7_200]));
    let listings = w.fake.calls_of(GET_GROUP_DETAIL);
    assert_eq!(listings.len(), 1);
    assert_eq!(listings[0].body["GroupId"], "g-1");
    assert!(w.fake.calls_of(GET_DEVICES).is_empty());
}

#[test]
fn a_single_device_is_asked_for_by_its_id_with_the_same_target_and_file_name() {
    let w = World::new(
        r#"
[[jobs]]
name = "one"
granularity = "hourly"
devices = ["mna-1"]
"#,
    );
    let o = w.fetch("one", "2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z", &[]);
    assert_exit(&o, 0);
    let calls = w.fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["DeviceId"], "mna-1");
    assert!(
        calls[0].body.get("DeviceList").is_none(),
        "{}",
        calls[0].body
    );
    let rows = ok_targets(&w);
    assert_eq!(rows[0].0, "devices:mna-1");
    assert!(rows[0].1.contains("devices-mna-1"), "{}", rows[0].1);
}

#[test]
fn a_failed_discovery_keeps_the_known_devices_and_their_reports_are_fetched() {
    let w = World::new("");
    let old = fleet_of_two(&w);
    let o = w.run(&["devices", "--refresh"]);
    assert_exit(&o, 0);
    assert_eq!(w.fake.calls_of(GET_DEVICES).len(), 1);
    // the account changes, but the next listing fails: retried, then refused
    w.fake.remove_device("mna-b");
    w.fake.add_device(FakeDevice::new("mna-c", old));
    w.fake.push_fault(Fault::api_error("InternalError"));
    w.fake.push_fault(Fault::api_error("AuthFailure"));
    let d = w.start_daemon(&[]);
    let addr = d.metrics_addr();
    wait_for("the reports of the known devices", LONG, || {
        count_status(&w, "ok") >= 6
    });
    wait_for("the failure counted", LONG, || {
        http_get(addr, "/metrics")
            .1
            .contains("mna_reportd_discovery_failures_total")
    });
    let metrics = http_get(addr, "/metrics").1;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("mna_reportd_discovery_failures_total{"))
        .expect("the series");
    assert!(
        line.contains("code=\"AuthFailure\"")
            && line.contains("job=\"fleet\"")
            && line.ends_with(" 1"),
        "{line}"
    );
    let log = d.log_text();
    d.stop();
    assert!(
        log.contains("device listing failed") && log.contains("AuthFailure"),
        "{log}"
    );
    // two tries of the listing: InternalError retried, AuthFailure not
    assert_eq!(w.fake.calls_of(GET_DEVICES).len(), 3);
    let devices: BTreeSet<String> = fetched(&w).into_iter().map(|(d, _)| d).collect();
    assert_eq!(devices, ["mna-a", "mna-b"].map(String::from).into());
    let db = w.db();
    let known: Vec<(String, Option<i64>)> = db
        .prepare("SELECT device_id, removed_at FROM devices ORDER BY device_id")
        .expect("q")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(
        known,
        vec![("mna-a".to_string(), None), ("mna-b".to_string(), None)]
    );
    let code: String = db
        .query_row(
            "SELECT error_code FROM discoveries WHERE job = 'fleet'",
            [],
            |r| r.get(0),
        )
        .expect("recorded");
    assert_eq!(code, "AuthFailure");
    let o = w.run(&["check"]);
    assert!(
        stdout(&o).contains("the last listing failed"),
        "{}",
        stdout(&o)
    );
}

/// (window end) of the `ok` reports of `device`.
fn ok_ends(w: &World, device: &str) -> Vec<i64> {
    if !w.db_path().exists() {
        return Vec::new();
    }
    let Ok(db) = rusqlite::Connection::open(w.db_path()) else {
        return Vec::new();
    };
    let Ok(mut st) = db.prepare(
        "SELECT window_end FROM reports WHERE target = ?1 AND status = 'ok' ORDER BY window_end",
    ) else {
        return Vec::new();
    };
    st.query_map([format!("device:{device}")], |r| r.get(0))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

fn removed_at(w: &World, device: &str) -> Option<i64> {
    let db = rusqlite::Connection::open(w.db_path()).ok()?;
    db.query_row(
        "SELECT removed_at FROM devices WHERE device_id = ?1",
        [device],
        |r| r.get(0),
    )
    .ok()
    .flatten()
}

#[test]
fn devices_added_and_removed_while_the_daemon_runs() {
    let w = World::new(
        r#"
[[jobs]]
name = "fleet"
granularity = "minute"
lag = "0s"
catch_up = "3m"
schedule = "* * * * * *"
discovery_interval = "1s"
devices = "all"
per_device = true
"#,
    );
    let old = jiff::Timestamp::now().as_second() - 86_400;
    w.fake.set_devices(vec![
        FakeDevice::new("mna-a", old),
        FakeDevice::new("mna-b", old),
    ]);
    let d = w.start_daemon(&[]);
    wait_for("the catch-up of both devices", LONG, || {
        ok_ends(&w, "mna-a").len() >= 3 && ok_ends(&w, "mna-b").len() >= 3
    });

    // a device added now gets the windows ending after its creation, without a restart.
    // Created 90 s ago: the window that ended last (less than 60 s ago) is
    // after its creation, so no minute boundary needs to pass, and the
    // 3-minute catch-up still holds a window ending before it (the one that
    // ended between 120 s and 180 s ago) that it must not get.
    let created = jiff::Timestamp::now().as_second() - 90;
    w.fake.add_device(FakeDevice::new("mna-c", created));
    wait_for("a report of the new device", LONG, || {
        !ok_ends(&w, "mna-c").is_empty()
    });
    assert!(
        ok_ends(&w, "mna-c").iter().all(|e| *e > created),
        "{:?}",
        ok_ends(&w, "mna-c")
    );

    // a device removed gets no window ending after the listing that missed it
    w.fake.remove_device("mna-b");
    wait_for("the removal recorded", LONG, || {
        removed_at(&w, "mna-b").is_some()
    });
    let gone = removed_at(&w, "mna-b").expect("removed");
    wait_for(
        "a window of a device still there after the removal",
        LONG,
        || ok_ends(&w, "mna-a").last().is_some_and(|e| *e > gone),
    );
    d.stop();
    let b = ok_ends(&w, "mna-b");
    assert!(b.len() >= 3, "its history stays: {b:?}");
    assert!(b.iter().all(|e| *e <= gone), "{b:?} after {gone}");
    let c_created: i64 = w
        .db()
        .query_row(
            "SELECT created_at FROM devices WHERE device_id = 'mna-c'",
            [],
            |r| r.get(0),
        )
        .expect("c");
    assert_eq!(c_created, created);
}

#[test]
fn two_thousand_devices_are_listed_in_twenty_calls_within_the_limit() {
    let w = World::with(
        FakeConfig {
            rate_limit: Some(20),
            ..FakeConfig::default()
        },
        "",
        FLEET,
    );
    let text = std::fs::read_to_string(&w.config).expect("config");
    std::fs::write(
        &w.config,
        text.replace("rate_limit = 200", "rate_limit = 20"),
    )
    .expect("write");
    w.fake.set_devices(
        (0..2_000)
            .map(|i| FakeDevice::new(format!("mna-{i:04}"), NOV1))
            .collect(),
    );
    let o = w.run(&["devices", "--refresh", "--format", "csv"]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o).lines().count(), 2_001);
    let calls = w.fake.calls_of(GET_DEVICES);
    assert_eq!(calls.len(), 20);
    let pages: Vec<i64> = calls
        .iter()
        .filter_map(|c| c.body["PageNumber"].as_i64())
        .collect();
    assert_eq!(pages, (1..=20).collect::<Vec<_>>());
    assert_eq!(w.fake.rate_limited_count(), 0);
}

#[test]
fn check_prints_the_demand_and_warns_near_the_rate_limit_without_calling() {
    let w = World::new("");
    let ids: Vec<String> = (1..=70_000).map(|i| format!("\"d{i}\"")).collect();
    let text = format!(
        r#"[api]
endpoint = "{}"
rate_limit = 20

[storage]
state_dir = "state"

[[jobs]]
name = "fleet"
granularity = "hourly"
per_device = true
devices = [{}]

[[jobs]]
name = "sum"
granularity = "daily"
"#,
        w.fake.endpoint(),
        ids.join(",")
    );
    std::fs::write(&w.config, text).expect("write");
    let o = w.run(&["check"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("demand: 19.44 calls/s (1680000 reports a day)"),
        "{out}"
    );
    assert!(
        out.contains("demand: 0.00 calls/s (1 reports a day)"),
        "{out}"
    );
    assert!(
        out.contains("demand: 19.44 calls/s in all against api.rate_limit 20/s (97%)"),
        "{out}"
    );
    assert!(out.contains("warning: the steady demand is above 80% of api.rate_limit (job fleet alone needs 19.44 calls/s)"), "{out}");
    assert!(out.contains("fix: use a longer step"), "{out}");
    assert!(w.fake.calls().is_empty());
    assert!(!w.state().exists(), "check writes nothing");
}

#[test]
fn fetch_fails_when_a_listing_fails_and_still_fetches_the_known_devices() {
    let w = World::new(FLEET);
    w.fake
        .set_devices(vec![FakeDevice::new("mna-a", NOV1 - 86_400)]);
    let o = w.run(&["devices", "--refresh"]);
    assert_exit(&o, 0);
    // the next listing is refused: the known device is fetched, the fetch says so
    w.fake.push_fault(Fault::api_error("AuthFailure"));
    let o = w.fetch("fleet", "2026-11-01T00:00:00Z", "2026-11-01T02:00:00Z", &[]);
    assert_exit(&o, 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failed: job fleet") && err.contains("AuthFailure") && err.contains("fix: "),
        "{err}"
    );
    assert_eq!(fetched(&w), each(&["mna-a"], &[NOV1 + 3_600, NOV1 + 7_200]));
}

#[test]
fn a_range_too_large_for_the_known_devices_is_refused_before_any_listing() {
    let w = World::new(FLEET);
    w.fake.set_devices(vec![
        FakeDevice::new("mna-a", NOV1 - 86_400),
        FakeDevice::new("mna-b", NOV1 - 86_400),
    ]);
    let o = w.run(&["devices", "--refresh"]);
    assert_exit(&o, 0);
    // 126 years of hourly windows for two devices: over a million reports
    let o = w.fetch("fleet", "1900-01-01T00:00:00Z", "2026-01-01T00:00:00Z", &[]);
    assert_exit(&o, 2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("split the range"),
        "{o:?}"
    );
    // refused before anything was sent or written
    assert_eq!(w.fake.calls_of(GET_DEVICES).len(), 1);
}

#[test]
fn a_refresh_that_finds_no_device_says_why_instead_of_to_refresh() {
    // an account without devices
    let w = World::new(FLEET);
    w.fake.set_devices(Vec::new());
    let o = w.run(&["devices", "--refresh"]);
    assert_exit(&o, 0);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(!out.contains("--refresh"), "{out}");
    assert!(out.contains("the listing found none"), "{out}");
    assert!(
        err.contains(
            "fleet: listed; 0 new, 0 removed; it reports on no device: the account has no devices"
        ),
        "{err}"
    );
    assert!(err.contains("fix: add devices in the MNA console"), "{err}");

    // every listed device excluded
    w.write_config("", &format!("{FLEET}exclude = [\"mna-a\", \"mna-b\"]\n"));
    w.fake.set_devices(vec![
        FakeDevice::new("mna-a", NOV1 - 86_400),
        FakeDevice::new("mna-b", NOV1 - 86_400),
    ]);
    let o = w.run(&["devices", "--refresh"]);
    assert_exit(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains(
            "it reports on no device: all 2 devices it would report on are in its exclude list"
        ),
        "{err}"
    );

    // an account without devices of the job's type
    w.fake
        .set_devices(vec![FakeDevice::new("mna-c", NOV1 - 86_400).third_party()]);
    w.write_config("", &format!("{FLEET}device_type = 1\n"));
    let o = w.run(&["devices", "--refresh"]);
    let err = stderr(&o);
    assert!(err.contains("the account has no own devices"), "{err}");

    // a failed listing, nothing known before
    let w = World::new(FLEET);
    w.fake.push_fault(Fault::api_error("AuthFailure"));
    let o = w.run(&["devices", "--refresh"]);
    assert_exit(&o, 1);
    assert!(stdout(&o).contains("the listing failed"), "{}", stdout(&o));
}
