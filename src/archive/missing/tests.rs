use super::*;
use crate::archive::resolved::ResolvedJob;
use crate::archive::store::{self, query};
use crate::config::Job;
use crate::domain::report::Keyed;
use crate::domain::report::ReportKey;
use crate::domain::target::Target;
use rusqlite::params;
use std::path::Path;
use std::sync::Arc;

fn job(extra: &str) -> Arc<Job> {
    let text = format!("[storage]\nstate_dir = \"/tmp/x\"\n[[jobs]]\nname = \"j\"\n{extra}\n");
    let c = crate::config::parse(&text, Path::new("/tmp/c.toml")).expect("config");
    Arc::new(c.jobs[0].clone())
}

/// One report the planner makes.
struct Report {
    key: ReportKey,
    window: Window,
}

impl Keyed for Report {
    fn key(&self) -> ReportKey {
        self.key.clone()
    }
}

/// Every report of `job` due at `now`, as the fetch planner makes them
/// (`fetch::plan::due`: the job's due windows, oldest first, and each
/// window's targets and regions in order).
fn planner_due(job: &Arc<Job>, now: Timestamp) -> Vec<Report> {
    let resolved = ResolvedJob::from_config(job.clone());
    let windows = job.cadence.due(now, job.lag, job.catch_up, None);
    let mut out = Vec::new();
    for w in windows {
        for (target, region) in resolved.targets_in(w) {
            let key = ReportKey {
                job: job.name.clone(),
                target: target.label(),
                region: region.stored().to_string(),
                window_start: w.start,
                window_end: w.end,
            };
            out.push(Report { key, window: w });
        }
    }
    out
}

fn db() -> Connection {
    let mut c = Connection::open_in_memory().expect("db");
    store::migrate(&mut c).expect("migrate");
    c
}

fn insert(c: &Connection, job: &str, target: &str, region: &str, w: Window, status: &str) {
    c.execute(
        "INSERT OR IGNORE INTO reports (job, target, region, granularity, window_start, window_end, status, attempts,
                              \"trigger\", error_code, created_at, updated_at)
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, 1, 'schedule', 'E', 0, 0)",
        params![job, target, region, w.start, w.end, status],
    )
    .expect("insert");
}

/// A deterministic scramble of `i`.
fn mix(i: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 32
}

/// A history over `job`'s horizon at `now`: most reports done, some failed,
/// running or pending, some never recorded, and rows that are not the
/// horizon's (a second off, another length, another target or region).
fn history(c: &Connection, job: &Arc<Job>, now: Timestamp, seed: u64) {
    for (i, p) in planner_due(job, now).into_iter().enumerate() {
        let k = p.key();
        let w = p.window;
        let status = match mix(i as u64 + seed) % 10 {
            0 => None,
            1 => Some("failed"),
            2 => Some("running"),
            3 => Some("pending"),
            4 => Some("pruned"),
            _ => Some("ok"),
        };
        if let Some(s) = status {
            insert(c, &k.job, &k.target, &k.region, w, s);
        }
        if mix(i as u64 * 7 + seed).is_multiple_of(5) {
            let off = Window {
                start: w.start + 1,
                end: w.end + 1,
            };
            insert(c, &k.job, &k.target, &k.region, off, "ok");
            let longer = Window {
                start: w.start - 60,
                end: w.end,
            };
            insert(c, &k.job, &k.target, &k.region, longer, "ok");
            insert(c, &k.job, "device:gone", &k.region, w, "ok");
            insert(c, &k.job, &k.target, "XX", w, "failed");
        }
    }
}

/// The old way: every report planned, the done ones taken out, newest first.
fn planned(c: &Connection, job: &Arc<Job>, now: Timestamp) -> Vec<(ReportKey, Option<String>)> {
    let mut todo = query::not_done(c, planner_due(job, now)).expect("not done");
    todo.sort_by(|a, b| {
        b.window
            .end
            .cmp(&a.window.end)
            .then_with(|| a.key.job.cmp(&b.key.job))
            .then_with(|| a.key.target.cmp(&b.key.target))
    });
    todo.iter()
        .map(|p| {
            let k = p.key();
            let s: Option<String> = c
                .query_row(
                    "SELECT status FROM reports WHERE job = ?1 AND target = ?2 AND region = ?3 AND window_start = ?4 AND window_end = ?5",
                    params![k.job, k.target, k.region, k.window_start, k.window_end],
                    |r| r.get(0),
                )
                .ok();
            (k, s)
        })
        .collect()
}

fn keys(page: &Page) -> Vec<(ReportKey, Option<String>)> {
    page.items
        .iter()
        .map(|n| {
            (
                ReportKey {
                    job: n.job.clone(),
                    target: n.target.clone(),
                    region: n.region.clone(),
                    window_start: n.window.start,
                    window_end: n.window.end,
                },
                n.row.as_ref().map(|r| r.status.clone()),
            )
        })
        .collect()
}

fn same_as_planning(job: &Arc<Job>, now: Timestamp, seed: u64) {
    let c = db();
    history(&c, job, now, seed);
    let want = planned(&c, job, now);
    let due = Due::new(&ResolvedJob::from_config(job.clone()), now);
    let count = due.total(&c).expect("count");
    let what = format!("{} {:?} at {now}", job.timezone, job.cadence);
    assert_eq!(count.expected, planner_due(job, now).len() as u64, "{what}");
    assert_eq!(count.missing(), want.len() as u64, "{what}");
    let of = |s: &str| want.iter().filter(|(_, x)| x.as_deref() == Some(s)).count() as u64;
    assert_eq!(count.tally.failed, of("failed"), "{what}");
    assert_eq!(count.tally.running, of("running"), "{what}");
    let dues = [due];
    for (offset, limit) in [(0, 7), (3, 50), (want.len() / 2, 40), (want.len() - 1, 5)] {
        let p = page(&c, &dues, offset as u64, limit).expect("page");
        assert_eq!(p.total, want.len() as u64);
        let slice: Vec<_> = want.iter().skip(offset).take(limit).cloned().collect();
        assert_eq!(keys(&p), slice, "{what} offset {offset}");
    }
    let all = page(&c, &dues, 0, usize::MAX).expect("page");
    assert_eq!(keys(&all), want, "{what}");
    let (n, newest, oldest) = newest_and_oldest(&c, &dues).expect("ends");
    assert_eq!(n, want.len() as u64);
    let first = |x: Option<NotDone>| x.map(|x| x.window);
    let window = |k: &ReportKey| Window {
        start: k.window_start,
        end: k.window_end,
    };
    assert_eq!(first(newest), want.first().map(|w| window(&w.0)), "{what}");
    assert_eq!(first(oldest), want.last().map(|w| window(&w.0)), "{what}");
}

#[test]
fn counting_and_paging_equal_planning_across_dst_in_several_zones() {
    let cadences = [
        "granularity = \"hourly\"\ncatch_up = \"12d\"",
        "granularity = \"hourly\"\nwindow = \"2h\"\ncatch_up = \"4d\"",
        "granularity = \"5min\"\nstep = \"15m\"\nwindow = \"15m\"\ncatch_up = \"3d\"",
        "granularity = \"daily\"\ncatch_up = \"30d\"",
        "granularity = \"hourly\"\nwindow = \"1d\"\ncatch_up = \"3d\"",
    ];
    // Days of a spring-forward and a fall-back in the zones below.
    let moments = [
        "2026-03-09T06:30:00Z",
        "2026-11-02T12:00:00Z",
        "2026-04-06T03:00:00Z",
    ];
    let zones = [
        "UTC",
        "America/New_York",
        "Europe/London",
        "Australia/Lord_Howe",
    ];
    for (z, zone) in zones.iter().enumerate() {
        for (i, cad) in cadences.iter().enumerate() {
            let j = job(&format!(
                "{cad}\ntimezone = \"{zone}\"\ndevices = [\"a\", \"b\"]\nper_device = true\nregions = [\"MC\", \"EU\"]\nlag = \"10m\""
            ));
            for (m, now) in moments.iter().enumerate() {
                let now: Timestamp = now.parse().expect("now");
                same_as_planning(&j, now, (z * 100 + i * 10 + m) as u64);
            }
        }
    }
}

#[test]
fn a_device_counts_only_the_windows_ending_after_it_came() {
    let mut j =
        (*job("granularity = \"hourly\"\ncatch_up = \"2d\"\ntimezone = \"Europe/London\"")).clone();
    let now: Timestamp = "2026-03-30T10:00:00Z".parse().expect("now");
    j.targets = vec![
        Target::device_since("old".into(), None),
        Target::device_since("new".into(), Some(now.as_second() - 7 * 3600 - 1800)),
    ];
    let j = Arc::new(j);
    same_as_planning(&j, now, 5);
    let c = db();
    let count = Due::new(&ResolvedJob::from_config(j.clone()), now)
        .total(&c)
        .expect("count");
    assert_eq!(count.expected, 47 + 7);
    assert_eq!(count.missing(), 54);
}

#[test]
fn pages_of_several_jobs_merge_newest_first() {
    let now: Timestamp = "2026-11-01T12:00:00Z".parse().expect("now");
    let a = job("granularity = \"hourly\"\ncatch_up = \"1d\"\nlag = \"0s\"");
    let mut b = (*job("granularity = \"5min\"\ncatch_up = \"3h\"\nlag = \"0s\"")).clone();
    b.name = "b".into();
    let b = Arc::new(b);
    let c = db();
    history(&c, &a, now, 1);
    history(&c, &b, now, 2);
    let mut want = planned(&c, &a, now);
    want.extend(planned(&c, &b, now));
    want.sort_by(|x, y| {
        y.0.window_end
            .cmp(&x.0.window_end)
            .then_with(|| x.0.job.cmp(&y.0.job))
            .then_with(|| x.0.target.cmp(&y.0.target))
    });
    let dues = [
        Due::new(&ResolvedJob::from_config(a.clone()), now),
        Due::new(&ResolvedJob::from_config(b.clone()), now),
    ];
    let p = page(&c, &dues, 0, usize::MAX).expect("page");
    assert_eq!(p.total, want.len() as u64);
    assert_eq!(keys(&p), want);
    let p = page(&c, &dues, 5, 10).expect("page");
    assert_eq!(keys(&p), want[5..15].to_vec());
}

#[test]
fn a_horizon_of_minutes_over_400_days_is_counted_not_listed() {
    let j = job(
        "granularity = \"minute\"\ncatch_up = \"400d\"\ndevices = [\"a\", \"b\"]\nper_device = true",
    );
    let now: Timestamp = "2026-11-01T12:00:00Z".parse().expect("now");
    let c = db();
    let due = Due::new(&ResolvedJob::from_config(j.clone()), now);
    let count = due.total(&c).expect("count");
    assert_eq!(count.missing(), count.expected);
    assert!(count.expected > 2 * 400 * 1440 - 20, "{}", count.expected);
    let p = page(&c, &[due], 1_000_000, 3).expect("page");
    assert_eq!(p.items.len(), 3);
    assert!(
        p.items
            .windows(2)
            .all(|w| w[0].window.end >= w[1].window.end)
    );
}
