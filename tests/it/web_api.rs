//! The page's JSON API and its access rules, driven over HTTP against
//! `serve` on a history the real binary built.

use crate::common;
use crate::web_support;

use web_support::{HOSTILE, HOUR, History, get, get_as, post_form};

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

    let day_of = |t: i64| jiff::Timestamp::from_second(t).expect("t").to_string()[..10].to_string();
    let day = day_of(h.d0);
    // The six hours from d0 lie on one UTC day or, at some times of day,
    // run into the next: both days' cells.
    let mut cells = Vec::new();
    for d in [day.clone(), day_of(h.d0 + 5 * HOUR)] {
        if cells.len() == 24 && d == day {
            continue;
        }
        let cal = get(
            s.addr,
            &format!("/api/jobs/hourly-all/calendar?day={d}"),
            &[],
        )
        .json();
        let day_cells = cal["cells"].as_array().expect("cells").clone();
        assert_eq!(day_cells.len(), 24);
        cells.extend(day_cells);
    }
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
        cells[..24]
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

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// `serve` on all addresses with [`TOKEN`] in `web-token`; the address to reach it.
fn served_with_token() -> (History, web_support::Served, std::net::SocketAddr) {
    let h = History::build("[web]\nlisten = \"0.0.0.0:9465\"\ntoken_file = \"web-token\"\n");
    common::write_secret(&h.w.dir.path().join("web-token"), &format!("{TOKEN}\n"));
    let s = h.serve("0.0.0.0:0");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], s.addr.port()));
    (h, s, addr)
}

#[test]
fn a_non_loopback_listener_needs_the_token() {
    let (_h, s, addr) = served_with_token();
    for (path, headers) in [
        ("/api/jobs", vec![]),
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
    let bearer = format!("Bearer {TOKEN}");
    let a = get(addr, "/api/jobs", &[("Authorization", &bearer)]);
    assert_eq!(a.status, 200);
    assert!(a.text().contains("hourly-all"));
    // What it prints (the journal, under systemd) names the form, no secret.
    let printed = s
        .printed
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the login line");
    assert!(printed.contains("/login"), "{printed}");
    assert!(
        !printed.contains("token=") && !printed.contains(TOKEN),
        "nothing to log in with is printed: {printed}"
    );
    // The page without a session goes to the form, which sets the cookie.
    let page = get(addr, "/", &[]);
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login?next=%2F"));
    let form = get(addr, "/login?next=%2F", &[]);
    assert_eq!(form.status, 200);
    assert!(form.text().contains("name=\"token\""), "{}", form.text());
    let wrong = post_form(addr, "/login", "token=wrong&next=%2F");
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());
    let login = post_form(addr, "/login", &format!("token={TOKEN}&next=%2Fapi%2Fjobs"));
    assert_eq!(login.status, 303, "{}", login.text());
    assert_eq!(login.header("location"), Some("/api/jobs"));
    let cookie = login.header("set-cookie").expect("a cookie").to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_string();
    assert_eq!(get(addr, "/api/jobs", &[("Cookie", &pair)]).status, 200);
    // The token in a link still logs in.
    assert_eq!(get(addr, &format!("/?token={TOKEN}"), &[]).status, 303);
    // A form larger than a login is refused.
    let big = format!("token={}", "x".repeat(64 * 1024));
    assert_eq!(post_form(addr, "/login", &big).status, 413);
}

#[test]
fn the_login_sends_a_browser_only_to_a_path_of_this_origin() {
    let (_h, _s, addr) = served_with_token();
    for next in [
        "%2F%2Fattacker.example%2F",
        "https%3A%2F%2Fattacker.example%2F",
        "%2F%5Cattacker.example%2F",
        "%2F%09%2Fattacker.example",
    ] {
        let login = post_form(addr, "/login", &format!("token={TOKEN}&next={next}"));
        assert_eq!(login.status, 303, "{next}");
        assert_eq!(login.header("location"), Some("/"), "{next}");
        assert!(login.header("set-cookie").is_some());
    }
    // The link login redirects to its own path: one that starts with `//`
    // would be another host.
    for path in [
        "//attacker.example/",
        "//attacker.example/api/jobs",
        "/\\attacker.example/",
    ] {
        let link = get(addr, &format!("{path}?token={TOKEN}"), &[]);
        let to = link.header("location");
        assert!(to.is_none_or(|l| l == "/"), "{path}: {to:?}");
    }
}

#[test]
fn a_token_file_that_cannot_be_read_or_that_others_may_read_fails_check_and_run_with_exit_2() {
    use std::os::unix::fs::PermissionsExt;
    let w = common::World::new(web_support::JOB);
    w.write_config(
        "[web]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"web-token\"\n",
        web_support::JOB,
    );
    let token = w.dir.path().join("web-token");
    // Absent (a directory stands for unreadable: root reads any mode).
    std::fs::create_dir(&token).expect("mkdir");
    for (args, what) in [(&["check"][..], "check"), (&["run"][..], "run")] {
        let o = w.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains("web token") && err.contains("fix: "),
            "{what}: {err}"
        );
    }
    assert!(!w.db_path().exists(), "run stopped before anything");
    std::fs::remove_dir(&token).expect("rmdir");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("write");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let fix = format!("fix: chmod 600 {}", token.display());
    for (args, what) in [(&["check"][..], "check"), (&["run"][..], "run")] {
        let o = w.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(&fix), "{what}: {err}");
    }
    assert!(!w.db_path().exists(), "run stopped before anything");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let o = w.run(&["check"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
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
    let extra = "[metrics]\nlisten = \"127.0.0.1:0\"\n\n[web]\nlisten = \"127.0.0.1:0\"\nallowed_hosts = [\"reports.example.net\"]\n";
    h.w.write_config_with(
        &common::Settings {
            max_attempts: 2,
            ..Default::default()
        },
        extra,
        web_support::JOB,
    );
    let mut d = h.w.start_daemon(&[]);
    // Both ask for port 0: one listener, the one the metrics line names.
    let addr = d.metrics_addr();
    let port = addr.port();
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
    // A name rebound to 127.0.0.1 reads nothing, page or metrics; a name
    // the config allows does.
    for path in ["/api/jobs", "/metrics", "/"] {
        let a = get_as(addr, &format!("attacker.example:{port}"), path);
        assert_eq!(a.status, 421, "{path}: {}", a.text());
        assert!(a.text().contains("allowed_hosts"), "{}", a.text());
        assert!(
            !a.text().contains("hourly-all") && !a.text().contains("mna_reportd"),
            "no data: {}",
            a.text()
        );
        let ok = get_as(addr, &format!("reports.example.net:{port}"), path);
        assert_eq!(ok.status, 200, "{path}: {}", ok.text());
        assert_eq!(get_as(addr, &format!("localhost:{port}"), path).status, 200);
    }
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
