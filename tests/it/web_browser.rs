//! The page in a real browser: headless Chromium, driven through
//! chromedriver (WebDriver), over a history the real binary built against
//! the fake. Needs Debian's `chromium` and `chromium-driver` (`.ci/run`
//! installs them). Screenshots go to `target/web-screenshots/`.

mod page_checks;

use crate::web_support;

use fantoccini::{Client, ClientBuilder, Locator};
use page_checks::{assert_ticks_and_colours, assert_zones_named, day_view_points, traffic_sum};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use web_support::{HOSTILE, HOUR, History, get};

const WAIT: Duration = Duration::from_secs(60);

/// chromedriver on the port it reported; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// What to do when the browser or its driver is missing: the README's
/// test command installs both.
const INSTALL: &str = "these tests drive headless Chromium through chromedriver; \
     `.ci/run` (as root) installs both when missing and runs the README's test command, \
     or install them by hand: `apt-get install chromium chromium-driver`; \
     to run the other tests without them: `cargo test --workspace -- --skip the_page_shows_the_history_as_it_is`";

fn start_driver() -> Driver {
    let program = find_program("chromedriver")
        .unwrap_or_else(|| panic!("chromedriver is not on PATH: {INSTALL}"));
    if find_program("chromium").is_none() {
        panic!("chromium is not on PATH: {INSTALL}");
    }
    // Port 0: chromedriver takes one the system gives and prints it.
    let child = Command::new(program)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("chromedriver does not start ({e}): {INSTALL}"));
    // Killed even when no port comes.
    let mut driver = Driver { child, port: 0 };
    driver.port = driver_port(&mut driver.child);
    driver
}

/// The port chromedriver says it listens on: its line `… started
/// successfully on port N.`, printed once it listens. Its output is read to
/// the end on a thread so that it never blocks on a full pipe.
fn driver_port(child: &mut Child) -> u16 {
    use std::io::{BufRead, BufReader};
    let out = child.stdout.take().expect("chromedriver's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("chromedriver says no port ({e}): {seen:?}; {INSTALL}"));
        let port = line
            .split_once("started successfully on port ")
            .and_then(|(_, p)| p.trim_end_matches('.').trim().parse().ok());
        if let Some(port) = port {
            return port;
        }
        seen.push(line);
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut args = vec![
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,2200",
        "--no-first-run",
    ];
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } == 0 {
        args.push("--no-sandbox");
    }
    let mut caps = serde_json::Map::new();
    let mut opts = json!({ "args": args });
    if let Some(bin) = find_program("chromium") {
        opts["binary"] = json!(bin);
    }
    caps.insert("goog:chromeOptions".into(), opts);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap_or_else(|e| panic!("chromedriver opens no browser session ({e}): {INSTALL}"))
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("web-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// A PNG of the element `css`, scrolled into view first.
async fn shot(c: &Client, css: &str) -> Vec<u8> {
    let e = c.find(Locator::Css(css)).await.expect(css);
    c.execute(
        "arguments[0].scrollIntoView({block: 'start'});",
        vec![serde_json::to_value(&e).expect("element")],
    )
    .await
    .expect("scroll");
    e.screenshot().await.expect("screenshot")
}

/// Run `script` (a function body) and return its value.
async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("script runs")
}

/// Wait until `script` returns true.
async fn until(c: &Client, what: &str, script: &str) {
    let start = std::time::Instant::now();
    loop {
        if js(c, script).await == json!(true) {
            return;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn month_of(t: i64) -> String {
    jiff::Timestamp::from_second(t).expect("t").to_string()[..7].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_history_as_it_is() {
    let h = History::build("");
    let served = h.serve("127.0.0.1:0");
    let driver = start_driver();
    let c = browser(&driver).await;
    let origin = format!("http://{}", served.addr);
    c.goto(&format!("{origin}/")).await.expect("open the page");
    until(
        &c,
        "the overview",
        "return document.querySelector('#cards .card') !== null",
    )
    .await;
    until(
        &c,
        "the calendar",
        "return document.querySelector('#cal-grid table') !== null",
    )
    .await;
    let month = month_of(h.d0);
    js(
        &c,
        &format!(
            "const m = document.getElementById('cal-month'); m.value = '{month}'; m.dispatchEvent(new Event('change'));
             const t = document.getElementById('tr-month'); t.value = '{month}'; t.dispatchEvent(new Event('change'));"
        ),
    )
    .await;
    until(
        &c,
        "the calendar of the history's month",
        &format!(
            "return document.querySelector('#cal-grid td.cell[data-start=\"{}\"]') !== null",
            h.d0
        ),
    )
    .await;

    assert_zones_named(&c).await;

    // Every cell's state and colour are the history's.
    let cells = js(
        &c,
        "const sw = {};
         for (const s of ['ok','failed','missing','running','pruned','not-due','old','empty'])
           sw[s] = getComputedStyle(document.querySelector('.legend .s-' + s)).backgroundColor;
         return Array.from(document.querySelectorAll('#cal-grid td.cell')).map(td => [
           Number(td.dataset.start), Number(td.dataset.end), td.dataset.state,
           getComputedStyle(td).backgroundColor === sw[td.dataset.state]]);",
    )
    .await;
    let cells = cells.as_array().expect("cells");
    assert!(cells.len() >= 28 * 24, "a month of hours: {}", cells.len());
    let now = jiff::Timestamp::now().as_second();
    let lag = 300;
    let mut seen = std::collections::HashSet::new();
    for cell in cells {
        let (start, end, shown, coloured) = (
            cell[0].as_i64().expect("start"),
            cell[1].as_i64().expect("end"),
            cell[2].as_str().expect("state"),
            cell[3].as_bool().expect("colour"),
        );
        let want = match h.status_at(start) {
            Some(s) => s,
            // before the job's horizon (its catch_up, 7 days): not missing
            None if end <= now - 7 * 24 * HOUR => "old".to_string(),
            None if end <= now - lag => "missing".to_string(),
            None => "not-due".to_string(),
        };
        // A window ending within the test's own minute may turn due meanwhile,
        // or leave the horizon meanwhile.
        if want == "not-due" || (want == "missing" && end > now - lag - 120) {
            assert!(shown == "not-due" || shown == "missing", "{start}: {shown}");
        } else if (want == "old" || want == "missing") && (end - (now - 7 * 24 * HOUR)).abs() < 120
        {
            assert!(shown == "old" || shown == "missing", "{start}: {shown}");
        } else {
            assert_eq!(shown, want, "the cell of {start}");
        }
        assert!(coloured, "the cell of {start} has its state's colour");
        seen.insert(shown.to_string());
    }
    for s in ["ok", "failed", "missing", "running", "pruned"] {
        assert!(seen.contains(s), "a {s} cell: {seen:?}");
    }

    // A failed cell: its code, hint and request id; the hostile message is text.
    let failed = c
        .find(Locator::Css(&format!(
            "#cal-grid td.cell[data-start=\"{}\"]",
            h.d0 + 4 * HOUR
        )))
        .await
        .expect("the failed cell");
    assert_eq!(
        failed.attr("data-state").await.expect("attr").as_deref(),
        Some("failed")
    );
    failed.click().await.expect("click");
    let code = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#detail .error-code"))
        .await
        .expect("detail");
    assert_eq!(code.text().await.expect("code"), "InvalidParameter");
    let (request_id, message): (String, String) =
        h.w.db()
            .query_row(
                "SELECT request_id, error_message FROM reports WHERE window_start = ?1",
                [h.d0 + 4 * HOUR],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("failed row");
    let text = |sel: &'static str| {
        let c = c.clone();
        async move {
            c.find(Locator::Css(sel))
                .await
                .expect(sel)
                .text()
                .await
                .expect("text")
        }
    };
    assert_eq!(text("#detail .request-id").await, request_id);
    assert!(text("#detail .hint").await.contains("parameters"));
    assert_eq!(text("#detail .error-message").await, message);
    let cal_shot = shot(&c, "#calendar").await;
    assert!(message.contains(HOSTILE));
    let ran = js(
        &c,
        "return [typeof window.__pwned, document.querySelectorAll('#detail script, #detail img, #failures script, #cards script').length];",
    )
    .await;
    assert_eq!(ran, json!(["undefined", 0]), "the message ran nothing");
    until(
        &c,
        "the failures list",
        "return document.querySelector('#fail-rows tr[data-status=\"failed\"]') !== null",
    )
    .await;
    let listed = text("#fail-rows tr[data-status=\"failed\"] td:nth-child(7)").await;
    assert_eq!(listed, message);
    let window = text("#fail-rows tr[data-status=\"failed\"] td.window").await;
    assert!(window.ends_with(" (UTC)"), "{window}");
    assert!(text("#detail .window").await.ends_with(" (UTC)"));

    // An ok cell's download link gives the exact file.
    c.find(Locator::Css(&format!(
        "#cal-grid td.cell[data-start=\"{}\"]",
        h.d0 + 2 * HOUR
    )))
    .await
    .expect("ok cell")
    .click()
    .await
    .expect("click");
    let link = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#detail a.download"))
        .await
        .expect("link");
    let href = link.prop("href").await.expect("href").expect("a link");
    let path = href
        .strip_prefix(&origin)
        .expect("a link on the page's origin")
        .to_string();
    let (file_path, rid): (String, String) =
        h.w.db()
            .query_row(
                "SELECT file_path, request_id FROM reports WHERE window_start = ?1",
                [h.d0 + 2 * HOUR],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("ok row");
    let got = get(served.addr, &path, &[]);
    assert_eq!(got.status, 200);
    assert_eq!(got.body, std::fs::read(&file_path).expect("file"));
    assert_eq!(Some(got.body), h.w.fake.served_file(&rid));

    // The chart: one point per window of the month, values the SQL sums.
    until(
        &c,
        "the TotalBytes chart",
        &format!(
            "const s = document.querySelector('#charts svg[data-column=\"TotalBytes\"]');
             return s !== null && document.getElementById('charts').dataset.windows === String(s.querySelectorAll('circle.pt').length)
               && s.querySelector('circle.pt[data-start=\"{}\"]') !== null;",
            h.d0
        ),
    )
    .await;
    let points = js(
        &c,
        "return Array.from(document.querySelectorAll('#charts svg[data-column=\"TotalBytes\"] circle.pt')).map(p => [Number(p.dataset.start), p.dataset.value]);",
    )
    .await;
    let points = points.as_array().expect("points");
    assert_eq!(points.len(), cells.len(), "one point per window");
    let db = h.w.db();
    let mut valued = 0;
    for p in points {
        let start = p[0].as_i64().expect("start");
        let sum: Option<f64> = db
            .query_row(
                "SELECT sum(json_extract(rr.data, '$.TotalBytes')) FROM reports r JOIN report_rows rr ON rr.report_id = r.id
                 WHERE r.job = 'hourly-all' AND r.window_start = ?1 AND r.status IN ('ok', 'pruned') AND rr.sheet = 'Traffic'",
                [start],
                |r| r.get(0),
            )
            .expect("sum");
        let shown: Option<f64> = p[1]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().expect("a number"));
        assert_eq!(shown, sum, "the point of {start}");
        valued += usize::from(shown.is_some());
    }
    assert!(
        valued >= 4,
        "the done windows of the month have points: {valued}"
    );
    assert_ticks_and_colours(&c, 86_400).await;
    let chart_shot = shot(&c, "#charts figure[data-column=\"TotalBytes\"]").await;

    // The day view: one point per window of the day, the SQL's sums; the
    // previous and next days a click away.
    let day = jiff::Timestamp::from_second(h.d0 + 30 * HOUR)
        .expect("t")
        .to_string()[..10]
        .to_string();
    c.find(Locator::Css("#tr-view-day"))
        .await
        .expect("the day switch")
        .click()
        .await
        .expect("click");
    js(
        &c,
        &format!(
            "const d = document.getElementById('tr-day'); d.value = '{day}'; d.dispatchEvent(new Event('change'));"
        ),
    )
    .await;
    let day_start = jiff::civil::Date::strptime("%Y-%m-%d", &day)
        .expect("day")
        .to_zoned(jiff::tz::TimeZone::UTC)
        .expect("zoned")
        .timestamp()
        .as_second();
    let day_points = day_view_points(&c, &day, day_start).await;
    assert_eq!(day_points.len(), 24, "one point per hour of {day}");
    let mut valued = 0;
    for (k, (start, shown)) in day_points.iter().enumerate() {
        assert_eq!(*start, day_start + k as i64 * HOUR, "the windows of {day}");
        assert_eq!(
            *shown,
            traffic_sum(&h, *start),
            "the day's point of {start}"
        );
        valued += usize::from(shown.is_some());
    }
    assert!(valued >= 6, "the day has done windows: {valued}");
    assert_ticks_and_colours(&c, 3 * HOUR).await;
    let day_shot = shot(&c, "#charts figure[data-column=\"TotalBytes\"]").await;
    c.find(Locator::Css("#tr-prev"))
        .await
        .expect("prev")
        .click()
        .await
        .expect("click");
    let before = jiff::Timestamp::from_second(day_start - 86_400)
        .expect("t")
        .to_string()[..10]
        .to_string();
    assert_eq!(
        day_view_points(&c, &before, day_start - 86_400).await.len(),
        24,
        "the day before"
    );
    c.find(Locator::Css("#tr-next"))
        .await
        .expect("next")
        .click()
        .await
        .expect("click");
    assert_eq!(
        day_view_points(&c, &day, day_start).await.len(),
        24,
        "back to {day}"
    );
    // Windows shorter than an hour: a day at a time, the month switch off.
    js(
        &c,
        "const s = document.getElementById('tr-job'); s.value = 'five-min-all'; s.dispatchEvent(new Event('change'));",
    )
    .await;
    until(
        &c,
        "the 5-minute job's traffic, by day",
        "const b = document.getElementById('charts');
         return b.dataset.view === 'day' && b.dataset.windows === '288' && document.getElementById('tr-view-month').disabled;",
    )
    .await;

    // Nothing was asked of another origin.
    let names = js(
        &c,
        "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);",
    )
    .await;
    for n in names.as_array().expect("names") {
        let n = n.as_str().expect("a name");
        assert!(
            n.starts_with(&format!("{origin}/")),
            "a request off the origin: {n}"
        );
    }

    let overview_shot = shot(&c, "#overview").await;
    let dir = shots();
    for (name, png) in [
        ("overview.png", overview_shot),
        ("calendar.png", cal_shot),
        ("traffic-month.png", chart_shot),
        ("traffic-day.png", day_shot),
    ] {
        assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
        std::fs::write(dir.join(name), png).expect("save a screenshot");
    }

    // A daily job: a month calendar of weeks; a 5-minute job: a day of hours x minutes.
    let pick = |job: &str| {
        format!(
            "const s = document.getElementById('cal-job'); s.value = '{job}'; s.dispatchEvent(new Event('change'));"
        )
    };
    js(&c, &pick("daily-all")).await;
    until(
        &c,
        "the daily job's month",
        "const t = document.querySelector('#cal-grid table[data-job=\"daily-all\"]');
         return t !== null && t.querySelector('thead th').textContent === 'Mon';",
    )
    .await;
    let days = js(&c, "return [document.querySelectorAll('#cal-grid td.cell').length, new Date(Number(document.querySelector('#cal-grid table').dataset.to) * 1000 - 1).getUTCDate()];").await;
    assert!(
        days[0].as_u64().is_some_and(|n| (28..=31).contains(&n)),
        "{days}"
    );
    js(&c, &pick("five-min-all")).await;
    until(
        &c,
        "the 5-minute job's day",
        "const t = document.querySelector('#cal-grid table[data-job=\"five-min-all\"]');
         return t !== null && t.querySelectorAll('td.cell').length === 288 && t.querySelectorAll('tbody tr').length === 24;",
    )
    .await;

    // Live: the overview follows the history without a reload.
    js(&c, "window.__same_page = true;").await;
    h.w.db()
        .execute(
            "UPDATE reports SET status = 'failed', error_code = 'AuthFailure', error_message = 'refused', file_path = NULL
             WHERE window_start = ?1",
            [h.d0 + 3 * HOUR],
        )
        .expect("another failure");
    until(
        &c,
        "the overview to show two failures",
        "return document.querySelector('#cards .card dd.failed')?.textContent === '2';",
    )
    .await;
    assert_eq!(
        js(&c, "return window.__same_page === true;").await,
        json!(true),
        "no reload"
    );
    c.close().await.expect("close the browser");
}
