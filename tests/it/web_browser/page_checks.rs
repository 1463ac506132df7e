//! The page's checks of times and the traffic chart, for `web_browser.rs`:
//! every time names its zone, the chart's ticks fall on round times, each
//! line has its swatch's colour, and the points of a day view.

use super::{History, js, until};
use fantoccini::Client;

/// The sum of the `TotalBytes` of the done reports of hourly-all's window
/// starting at `start` (`None`: no done report).
pub fn traffic_sum(h: &History, start: i64) -> Option<f64> {
    h.w.db()
        .query_row(
            "SELECT sum(json_extract(rr.data, '$.TotalBytes')) FROM reports r JOIN report_rows rr ON rr.report_id = r.id
             WHERE r.job = 'hourly-all' AND r.window_start = ?1 AND r.status IN ('ok', 'pruned') AND rr.sheet = 'Traffic'",
            [start],
            |r| r.get(0),
        )
        .expect("sum")
}

/// The (start, value) points of the TotalBytes chart once the day view of
/// `day` (starting at `start`) is drawn.
pub async fn day_view_points(c: &Client, day: &str, start: i64) -> Vec<(i64, Option<f64>)> {
    until(
        c,
        &format!("the day view of {day}"),
        &format!(
            "const b = document.getElementById('charts');
             const s = b.querySelector('svg[data-column=\"TotalBytes\"]');
             return b.dataset.view === 'day' && b.dataset.range === '{day}' && s !== null
               && s.querySelector('circle.pt[data-start=\"{start}\"]') !== null;"
        ),
    )
    .await;
    let points = js(
        c,
        "return Array.from(document.querySelectorAll('#charts svg[data-column=\"TotalBytes\"] circle.pt')).map(p => [Number(p.dataset.start), p.dataset.value]);",
    )
    .await;
    points
        .as_array()
        .expect("points")
        .iter()
        .map(|p| {
            let value = p[1]
                .as_str()
                .filter(|v| !v.is_empty())
                .map(|v| v.parse().expect("a number"));
            (p[0].as_i64().expect("start"), value)
        })
        .collect()
}

/// The TotalBytes chart's ticks fall on whole multiples of `every` seconds
/// (its zone is UTC), at least three of them; each line has its swatch's
/// colour, the total's included.
pub async fn assert_ticks_and_colours(c: &Client, every: i64) {
    let ticks = js(
        c,
        "return Array.from(document.querySelectorAll('#charts svg[data-column=\"TotalBytes\"] text.x-tick')).map(t => Number(t.dataset.start));",
    )
    .await;
    let ticks: Vec<i64> = ticks
        .as_array()
        .expect("ticks")
        .iter()
        .map(|t| t.as_i64().expect("start"))
        .collect();
    assert!(ticks.len() >= 3 && ticks.len() <= 9, "{ticks:?}");
    for t in &ticks {
        assert_eq!(
            t.rem_euclid(every),
            0,
            "a tick at a round time: {t} in {ticks:?}"
        );
    }
    let colours = js(
        c,
        "const f = document.querySelector('#charts figure[data-column=\"TotalBytes\"]');
         const bg = (sel) => { const e = f.querySelector(sel); return e ? getComputedStyle(e).backgroundColor : 'no swatch'; };
         const rows = f.querySelectorAll('table.top tbody tr');
         const out = [['total', getComputedStyle(f.querySelector('polyline.total')).stroke,
           rows.length === 1 ? bg('table.top tbody tr .swatch') : bg('tr.total-row .swatch')]];
         for (const p of f.querySelectorAll('polyline.series'))
           out.push([p.dataset.target, getComputedStyle(p).stroke, bg(`tr[data-target=\"${p.dataset.target}\"] .swatch`)]);
         return out;",
    )
    .await;
    for line in colours.as_array().expect("colours") {
        assert_eq!(line[1], line[2], "the line and its swatch: {line}");
    }
}

/// Every time the page shows names its zone: a job's in the job's zone
/// (`(UTC)`, `(Asia/Shanghai, UTC+8)`), the header's in UTC.
pub async fn assert_zones_named(c: &Client) {
    let shown = js(
        c,
        "const out = [['header', 'UTC', document.getElementById('updated').textContent]];
         for (const card of document.querySelectorAll('#cards .card'))
           for (const dd of card.querySelectorAll('dd.next-fire, dd.last-done, dd.last-success'))
             out.push([card.dataset.job + ' ' + dd.className, card.dataset.job, dd.textContent]);
         out.push(['calendar', 'hourly-all', document.querySelector('#cal-grid caption').textContent]);
         return out;",
    )
    .await;
    let mut with_time = 0;
    for row in shown.as_array().expect("texts") {
        let (what, job, text) = (
            row[0].as_str().expect("what"),
            row[1].as_str().expect("job"),
            row[2].as_str().expect("text"),
        );
        let zone = match job {
            "UTC" | "hourly-all" | "five-min-all" => "(UTC)",
            "daily-all" => "(Asia/Shanghai, UTC+8)",
            other => panic!("a job {other}"),
        };
        if text.starts_with('-') {
            continue;
        }
        with_time += 1;
        if what == "calendar" {
            assert_eq!(text, "Windows in UTC");
        } else {
            assert!(text.ends_with(zone), "{what}: {text:?} names {zone}");
            assert!(
                text.as_bytes().first().is_some_and(u8::is_ascii_digit) || what == "header",
                "{what}: {text:?}"
            );
        }
    }
    // the header, the calendar, three next fires, hourly-all's last done and last success
    assert!(with_time >= 7, "{shown}");
}
