//! The page's JSON API and its access rules, driven over HTTP against
//! `serve` on a history the real binary built.

mod common;
mod web_support;

use common::daemon::free_port;
use web_support::{HOSTILE, HOUR, History, get};

#[test]
fn the_api_answers_states_reports_traffic_and_failures() {
    let h = History::build("");
    let s = h.serve("127.0.0.1:0");
    let page = get(s.addr, "/", &[]);
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(
        !page.text().contains("http://") && !page.text().contains("https://"),
        "the page links nothing off its origin"
    );

    let jobs = get(s.addr, "/api/jobs", &[]).json();
    let job = &jobs["jobs"][0];
    assert_eq!(job["job"], "hourly-all");
    assert_eq!(job["failed"], 1, "{job}");
    assert_eq!(job["running"], 1, "{job}");
    assert_eq!(job["last_error"]["code"], "InvalidParameter");
    assert!(
        job["last_error_hint"]
            .as_str()
            .is_some_and(|h| h.contains("parameters")),
        "{job}"
    );

    let day = jiff::Timestamp::from_second(h.d0).expect("t").to_string()[..10].to_string();
    let cal = get(
        s.addr,
        &format!("/api/jobs/hourly-all/calendar?day={day}"),
        &[],
    )
    .json();
    let cells = cal["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 24);
    let state_at = |t: i64| {
        cells
            .iter()
            .find(|c| c["start"] == t)
            .map(|c| c["state"].as_str().unwrap_or_default().to_string())
    };
    let want = ["pruned", "pruned", "ok", "ok", "failed", "running"];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(
            state_at(h.d0 + i as i64 * HOUR).as_deref(),
            Some(*w),
            "hour {i}"
        );
    }
    // One target and region: the same states (the job has one of each).
    let one = get(
        s.addr,
        &format!("/api/jobs/hourly-all/calendar?day={day}&target=all&region="),
        &[],
    )
    .json();
    assert_eq!(one["expected"], 1);
    let states = |c: &serde_json::Value| -> Vec<String> {
        c["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .map(|c| c["state"].to_string())
            .collect()
    };
    assert_eq!(
        states(&one),
        cells
            .iter()
            .map(|c| c["state"].to_string())
            .collect::<Vec<_>>()
    );
    // The calendar of a month answers too.
    let month = &day[..7];
    let cal = get(
        s.addr,
        &format!("/api/jobs/hourly-all/calendar?month={month}"),
        &[],
    )
    .json();
    assert!(
        cal["cells"].as_array().is_some_and(|c| c.len() >= 28 * 24),
        "{}",
        cal["cells"]
    );

    let failed = cells
        .iter()
        .find(|c| c["state"] == "failed")
        .expect("failed cell");
    let id = failed["report"].as_i64().expect("one report");
    let r = get(s.addr, &format!("/api/reports/{id}"), &[]).json();
    assert!(
        r["error_message"]
            .as_str()
            .is_some_and(|m| m.contains(HOSTILE)),
        "{r}"
    );
    assert!(
        r["attempts_list"].as_array().is_some_and(|a| !a.is_empty()),
        "{r}"
    );
    assert_eq!(r["has_file"], false);
    assert_eq!(
        get(s.addr, &format!("/api/reports/{id}/file"), &[]).status,
        404
    );
    assert!(r.get("file_path").is_none(), "no server path is shown");

    // The download of an ok report is its file, byte for byte.
    let ok = cells.iter().find(|c| c["state"] == "ok").expect("ok cell");
    let id = ok["report"].as_i64().expect("one report");
    let (path, rid): (String, String) =
        h.w.db()
            .query_row(
                "SELECT file_path, request_id FROM reports WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("row");
    let file = get(s.addr, &format!("/api/reports/{id}/file"), &[]);
    assert_eq!(file.status, 200);
    assert_eq!(file.body, std::fs::read(&path).expect("file"));
    assert_eq!(Some(file.body.clone()), h.w.fake.served_file(&rid));
    let csv = get(s.addr, &format!("/api/reports/{id}/rows.csv"), &[]).text();
    assert!(csv.starts_with("sheet,row,"), "{csv}");

    // Traffic: one value per window, equal to the SQL sums.
    let tr = get(
        s.addr,
        &format!("/api/jobs/hourly-all/traffic?day={day}"),
        &[],
    )
    .json();
    let windows = tr["windows"].as_array().expect("windows");
    assert_eq!(windows.len(), 24);
    let chart = tr["charts"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["column"] == "TotalBytes"))
        .expect("a TotalBytes chart");
    let db = h.w.db();
    for (i, w) in windows.iter().enumerate() {
        let start = w.as_i64().expect("start");
        let sum: Option<f64> = db
            .query_row(
                "SELECT sum(json_extract(rr.data, '$.TotalBytes')) FROM reports r JOIN report_rows rr ON rr.report_id = r.id
                 WHERE r.job = 'hourly-all' AND r.window_start = ?1 AND r.status IN ('ok', 'pruned') AND rr.sheet = 'Traffic'",
                [start],
                |r| r.get(0),
            )
            .expect("sum");
        assert_eq!(chart["total"][i].as_f64(), sum, "window {start}");
    }

    let f = get(s.addr, "/api/failures?limit=500", &[]).json();
    let items = f["items"].as_array().expect("items");
    assert!(items.iter().any(|i| {
        i["status"] == "failed"
            && i["error_message"]
                .as_str()
                .is_some_and(|m| m.contains(HOSTILE))
            && i["hint"].is_string()
    }));
    assert!(items.iter().any(|i| i["status"] == "missing"));
    let ends: Vec<i64> = items
        .iter()
        .filter_map(|i| i["window_end"].as_i64())
        .collect();
    assert!(ends.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(
        get(s.addr, "/api/failures?limit=1", &[]).json()["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Unknown things are 404, never a path on disk.
    assert_eq!(get(s.addr, "/api/reports/999999/file", &[]).status, 404);
    assert_eq!(get(s.addr, "/../../etc/passwd", &[]).status, 404);
    assert_eq!(get(s.addr, "/api/jobs/nope/calendar", &[]).status, 404);
}

#[test]
fn a_non_loopback_listener_needs_the_token() {
    let token = "0123456789abcdef0123456789abcdef";
    let h = History::build("[web]\nlisten = \"0.0.0.0:9465\"\ntoken_file = \"web-token\"\n");
    std::fs::write(h.w.dir.path().join("web-token"), format!("{token}\n")).expect("token");
    let s = h.serve("0.0.0.0:0");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], s.addr.port()));
    for (path, headers) in [
        ("/api/jobs", vec![]),
        ("/", vec![]),
        (
            "/api/jobs",
            vec![("Authorization", "Bearer wrong-token-wrong-token")],
        ),
        (
            "/api/reports/1/file",
            vec![("Cookie", "mna_reportd_session=guess")],
        ),
        ("/api/jobs?token=wrong", vec![]),
    ] {
        let a = get(addr, path, &headers);
        assert_eq!(a.status, 401, "{path} {headers:?}");
        assert!(
            !a.text().contains("hourly-all") && !a.text().contains('{'),
            "no data: {}",
            a.text()
        );
    }
    let bearer = format!("Bearer {token}");
    let a = get(addr, "/api/jobs", &[("Authorization", &bearer)]);
    assert_eq!(a.status, 200);
    assert!(a.text().contains("hourly-all"));
    // The one-time link sets a cookie, once.
    let code = s.login.clone().expect("a login link");
    let login = get(addr, &format!("/?token={code}"), &[]);
    assert_eq!(login.status, 303);
    let cookie = login.header("set-cookie").expect("a cookie").to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_string();
    assert_eq!(get(addr, "/api/jobs", &[("Cookie", &pair)]).status, 200);
    assert_eq!(
        get(addr, &format!("/?token={code}"), &[]).status,
        401,
        "the code works once"
    );
}

#[test]
fn a_non_loopback_page_without_a_token_is_refused_at_validation() {
    let w = common::World::new(web_support::JOB);
    w.write_config("[web]\nlisten = \"0.0.0.0:9465\"\n", web_support::JOB);
    let o = w.run(&["check"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("web.listen") && err.contains("token_file") && err.contains("line"),
        "{err}"
    );
}

#[test]
fn the_daemon_serves_the_page_beside_metrics_on_one_address() {
    let h = History::build("");
    let port = free_port();
    let extra = format!(
        "[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n[web]\nlisten = \"127.0.0.1:{port}\"\n"
    );
    h.w.write_config_with(
        &common::Settings {
            max_attempts: 2,
            ..Default::default()
        },
        &extra,
        web_support::JOB,
    );
    let mut d = h.w.start_daemon(&[]);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    common::daemon::wait_for("the listener", std::time::Duration::from_secs(60), || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    assert_eq!(get(addr, "/metrics", &[]).status, 200);
    assert!(
        get(addr, "/metrics", &[])
            .header("content-security-policy")
            .is_none(),
        "/metrics as it was"
    );
    let jobs = get(addr, "/api/jobs", &[]);
    assert_eq!(jobs.status, 200, "{}", jobs.text());
    assert!(jobs.text().contains("hourly-all"));
    assert_eq!(get(addr, "/", &[]).status, 200);
    let _ = d.child.kill();
    let _ = d.child.wait();
}

#[test]
fn serve_only_reads_the_history_and_runs_beside_the_daemon() {
    let h = History::build("");
    let ok = || common::daemon::count_status(&h.w, "ok");
    let before = ok();
    let mut d = h.w.start_daemon(&[]);
    common::daemon::wait_for(
        "the daemon's catch-up",
        std::time::Duration::from_secs(60),
        || ok() > before,
    );
    let s = h.serve("127.0.0.1:0");
    let jobs = get(s.addr, "/api/jobs", &[]);
    assert_eq!(jobs.status, 200, "{}", jobs.text());
    assert_eq!(get(s.addr, "/api/failures", &[]).status, 200);
    let _ = d.child.kill();
    let _ = d.child.wait();
    drop(s);

    // An older schema stays as it is: serve never migrates.
    let version = || -> i64 {
        h.w.db()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version")
    };
    h.w.db()
        .execute_batch("PRAGMA user_version = 1")
        .expect("older");
    let s = h.serve("127.0.0.1:0");
    assert_eq!(get(s.addr, "/api/jobs", &[]).status, 200);
    assert_eq!(version(), 1, "serve migrated nothing");

    // No history: said so, exit 2.
    let w = common::World::new(web_support::JOB);
    let o = w.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no history") && err.contains("fix:"), "{err}");
}

#[test]
fn traffic_is_summed_per_device() {
    let jobs = r#"
[[jobs]]
name = "per-device"
granularity = "hourly"
timezone = "UTC"
devices = ["dev-a", "dev-b"]
per_device = true
"#;
    let w = common::World::new(jobs);
    let o = w.fetch(
        "per-device",
        "2026-11-01T00:00:00Z",
        "2026-11-01T03:00:00Z",
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let h = History { w, d0: 0 };
    let s = h.serve("127.0.0.1:0");
    let tr = get(s.addr, "/api/jobs/per-device/traffic?day=2026-11-01", &[]).json();
    let chart = tr["charts"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["column"] == "UpBytes"))
        .expect("an UpBytes chart");
    let top = chart["top"].as_array().expect("top");
    assert_eq!(top.len(), 2, "{chart}");
    let db = h.w.db();
    for series in top {
        let device = series["target"].as_str().expect("target");
        let want: f64 = db
            .query_row(
                "SELECT sum(json_extract(rr.data, '$.UpBytes')) FROM reports r JOIN report_rows rr ON rr.report_id = r.id
                 WHERE r.target = 'device:' || ?1 AND rr.sheet = 'Traffic'",
                [device.trim_start_matches("device:")],
                |r| r.get(0),
            )
            .expect("sum");
        assert_eq!(series["total"].as_f64(), Some(want), "{device}");
        let points = series["values"].as_array().expect("values");
        assert_eq!(
            points.iter().filter(|v| v.is_number()).count(),
            3,
            "{device}"
        );
    }
}

#[test]
fn a_discovering_job_shows_the_devices_it_has_found() {
    let jobs = r#"
[[jobs]]
name = "fleet"
granularity = "hourly"
timezone = "UTC"
devices = "all"
per_device = true
"#;
    let w = common::World::new(jobs);
    // 2026-11-01T00:00:00Z, and the day before
    let nov1 = 1_793_491_200;
    w.fake.set_devices(vec![
        fake_mna::FakeDevice::new("mna-a", nov1 - 86_400),
        fake_mna::FakeDevice::new("mna-b", nov1 - 86_400),
        // created at 01:30: its first window is the one ending at 02:00
        fake_mna::FakeDevice::new("late", nov1 + 5_400),
    ]);
    let o = w.fetch("fleet", "2026-11-01T00:00:00Z", "2026-11-01T02:00:00Z", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let h = History { w, d0: 0 };
    let s = h.serve("127.0.0.1:0");
    // the target list holds the devices of the inventory
    let jobs = get(s.addr, "/api/jobs", &[]).json();
    let choices = jobs["jobs"][0]["choices"].to_string();
    assert!(
        choices.contains("device:mna-a") && choices.contains("device:mna-b"),
        "{choices}"
    );
    // a window with both devices' reports done is ok, one report each
    let cal = get(s.addr, "/api/jobs/fleet/calendar?day=2026-11-01", &[]).json();
    assert_eq!(cal["expected"], 3, "{cal}");
    let cells = cal["cells"].as_array().expect("cells");
    assert_eq!(cells[0]["state"], "ok", "{}", cells[0]);
    assert_eq!(cells[0]["counts"]["ok"], 2, "{}", cells[0]);
    assert_eq!(cells[1]["state"], "ok", "{}", cells[1]);
    assert_eq!(cells[1]["counts"]["ok"], 3, "{}", cells[1]);
    // the late device alone: nothing belongs to the window before it existed
    let cal = get(
        s.addr,
        "/api/jobs/fleet/calendar?day=2026-11-01&target=device:late",
        &[],
    )
    .json();
    let cells = cal["cells"].as_array().expect("cells");
    assert_eq!(cells[0]["state"], "empty", "{}", cells[0]);
    assert_eq!(cells[1]["state"], "ok", "{}", cells[1]);
    assert_eq!(cells[2]["state"], "old", "{}", cells[2]);
}
