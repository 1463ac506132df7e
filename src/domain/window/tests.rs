use super::*;
use std::time::Duration;

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).expect("zone in tzdb")
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp literal")
}

fn cad(step: u64, window: u64, zone: &str) -> Cadence {
    Cadence::new(
        Length::from_secs(step).expect("step"),
        Length::from_secs(window).expect("window"),
        tz(zone),
    )
    .expect("cadence")
}

#[test]
fn length_classifies_days() {
    assert_eq!(Length::from_secs(86_400), Some(Length::Days(1)));
    assert_eq!(Length::from_secs(7 * 86_400), Some(Length::Days(7)));
    assert_eq!(Length::from_secs(3_600), Some(Length::Seconds(3_600)));
    assert_eq!(Length::from_secs(0), None);
}

#[test]
fn sub_day_step_must_divide_a_day() {
    let err = Cadence::new(
        Length::Seconds(7 * 3600),
        Length::Seconds(3600),
        TimeZone::UTC,
    );
    assert_eq!(err, Err(CadenceError::StepDoesNotDivideDay));
    assert!(
        Cadence::new(
            Length::Seconds(6 * 3600),
            Length::Seconds(3600),
            TimeZone::UTC
        )
        .is_ok()
    );
}

#[test]
fn hourly_windows_in_utc() {
    let c = cad(3600, 3600, "UTC");
    let w = c.windows_within(ts("2026-11-01T00:00:00Z"), ts("2026-11-02T00:00:00Z"));
    assert_eq!(w.len(), 24);
    assert_eq!(w[0].start, ts("2026-11-01T00:00:00Z").as_second());
    assert_eq!(w[23].end, ts("2026-11-02T00:00:00Z").as_second());
    assert!(w.iter().all(|w| w.secs() == 3600));
    assert!(w.windows(2).all(|p| p[0].end == p[1].start));
}

#[test]
fn daily_windows_in_shanghai_end_on_local_midnight() {
    let c = cad(86_400, 86_400, "Asia/Shanghai");
    let w = c.windows_within(
        ts("2026-11-01T00:00:00+08:00"),
        ts("2026-11-04T00:00:00+08:00"),
    );
    assert_eq!(w.len(), 3);
    assert_eq!(w[0].start, ts("2026-10-31T16:00:00Z").as_second());
    assert_eq!(w[0].end, ts("2026-11-01T16:00:00Z").as_second());
    assert!(w.iter().all(|w| w.secs() == 86_400));
}

#[test]
fn berlin_spring_forward_day_is_23_hours() {
    // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST.
    let c = cad(86_400, 86_400, "Europe/Berlin");
    let w = c.windows_within(
        ts("2026-03-28T00:00:00+01:00"),
        ts("2026-03-31T00:00:00+02:00"),
    );
    let lens: Vec<i64> = w.iter().map(Window::secs).collect();
    assert_eq!(lens, vec![86_400, 82_800, 86_400]);
    assert_eq!(w[1].start, ts("2026-03-28T23:00:00Z").as_second());
    assert_eq!(w[1].end, ts("2026-03-29T22:00:00Z").as_second());
}

#[test]
fn berlin_fall_back_day_is_25_hours() {
    // 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET.
    let c = cad(86_400, 86_400, "Europe/Berlin");
    let w = c.windows_within(
        ts("2026-10-25T00:00:00+02:00"),
        ts("2026-10-26T00:00:00+01:00"),
    );
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].secs(), 90_000);
}

#[test]
fn hourly_step_across_berlin_fold_has_no_gap_or_repeat() {
    let c = cad(3600, 3600, "Europe/Berlin");
    let w = c.windows_within(
        ts("2026-10-25T00:00:00+02:00"),
        ts("2026-10-26T00:00:00+01:00"),
    );
    assert_eq!(w.len(), 25);
    assert!(w.windows(2).all(|p| p[0].end == p[1].start));
    let w = c.windows_within(
        ts("2026-03-29T00:00:00+01:00"),
        ts("2026-03-30T00:00:00+02:00"),
    );
    assert_eq!(w.len(), 23);
    assert!(w.windows(2).all(|p| p[0].end == p[1].start));
}

#[test]
fn half_hour_zone_aligns_hours_on_local_wall_time() {
    let c = cad(3600, 3600, "Asia/Kolkata");
    let ends = c.ends_between(ts("2026-11-01T00:00:00Z"), ts("2026-11-01T03:00:00Z"));
    // Local hours of +05:30 fall on :30 UTC.
    assert_eq!(
        ends,
        vec![
            ts("2026-11-01T00:30:00Z"),
            ts("2026-11-01T01:30:00Z"),
            ts("2026-11-01T02:30:00Z")
        ]
    );
}

#[test]
fn rolling_windows_overlap() {
    // last 24 h, every hour
    let c = cad(3600, 86_400, "UTC");
    let w = c.windows_ending_between(ts("2026-11-01T00:00:00Z"), ts("2026-11-01T03:00:00Z"));
    assert_eq!(w.len(), 3);
    assert_eq!(w[0].end - w[0].start, 86_400);
    assert_eq!(w[1].start - w[0].start, 3600);
}

#[test]
fn multi_day_step_aligns_on_unix_days() {
    let c = cad(7 * 86_400, 7 * 86_400, "UTC");
    let ends = c.ends_between(ts("2026-01-01T00:00:00Z"), ts("2026-02-01T00:00:00Z"));
    assert_eq!(ends.len(), 4);
    assert!(ends.iter().all(|e| (e.as_second() / 86_400) % 7 == 0));
    assert!(
        ends.windows(2)
            .all(|p| p[1].as_second() - p[0].as_second() == 7 * 86_400)
    );
}

#[test]
fn due_respects_lag_and_horizon() {
    let c = cad(3600, 3600, "UTC");
    let now = ts("2026-11-01T12:03:00Z");
    let due = c.due(
        now,
        Duration::from_secs(300),
        Duration::from_secs(6 * 3600),
        None,
    );
    // horizon: ends after 06:03; lag: ends at or before 11:58
    let ends: Vec<i64> = due.iter().map(|w| w.end).collect();
    assert_eq!(ends.first(), Some(&ts("2026-11-01T07:00:00Z").as_second()));
    // 12:00 ends less than 5 minutes ago: not due yet
    assert_eq!(ends.last(), Some(&ts("2026-11-01T11:00:00Z").as_second()));
    assert_eq!(ends.len(), 5);
    let later = c.due(
        ts("2026-11-01T12:05:00Z"),
        Duration::from_secs(300),
        Duration::from_secs(6 * 3600),
        None,
    );
    assert_eq!(
        later.last().map(|w| w.end),
        Some(ts("2026-11-01T12:00:00Z").as_second())
    );
}

#[test]
fn windows_within_is_half_open_and_whole() {
    let c = cad(3600, 3600, "UTC");
    let w = c.windows_within(ts("2026-11-01T00:30:00Z"), ts("2026-11-01T03:00:00Z"));
    // 00:00-01:00 starts before from: excluded
    assert_eq!(w.len(), 2);
    let w = c.windows_within(ts("2026-11-01T03:00:00Z"), ts("2026-11-01T03:00:00Z"));
    assert!(w.is_empty());
}

#[test]
fn next_end_and_ends() {
    let c = cad(86_400, 86_400, "Europe/Berlin");
    let n = c.next_end_after(ts("2026-03-29T12:00:00Z"));
    assert_eq!(n, Some(ts("2026-03-29T22:00:00Z")));
    let around = c.ends_between(ts("2026-03-29T20:59:59Z"), ts("2026-03-29T22:00:00Z"));
    assert_eq!(
        around,
        vec![ts("2026-03-29T22:00:00Z")],
        "22:00Z is an end, 21:00Z is not"
    );
}

/// Zones with ordinary, half-hour, 45-minute and midnight DST changes.
const ZONES: &[&str] = &[
    "UTC",
    "Asia/Shanghai",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "Africa/Cairo",
];

fn assert_tiles(c: &Cadence, from: &str, to: &str, what: &str) {
    let w = c.windows_within(ts(from), ts(to));
    assert!(!w.is_empty(), "{what}: no windows");
    for pair in w.windows(2) {
        assert_eq!(
            pair[0].end, pair[1].start,
            "{what}: {:?} then {:?}",
            pair[0], pair[1]
        );
    }
    assert!(w.iter().all(|w| w.secs() > 0), "{what}: an empty window");
}

#[test]
fn tumbling_windows_tile_a_whole_year_in_every_zone() {
    for zone in ZONES {
        for step in [
            3_600,
            2 * 3_600,
            3 * 3_600,
            6 * 3_600,
            12 * 3_600,
            86_400,
            7 * 86_400,
        ] {
            let c = cad(step, step, zone);
            assert_tiles(
                &c,
                "2026-01-01T00:00:00Z",
                "2027-01-01T00:00:00Z",
                &format!("{zone} step {step}"),
            );
        }
        // minute steps: the months with DST changes
        for step in [300, 900] {
            let c = cad(step, step, zone);
            for (from, to) in [
                ("2026-03-01T00:00:00Z", "2026-04-15T00:00:00Z"),
                ("2026-09-01T00:00:00Z", "2026-11-15T00:00:00Z"),
            ] {
                assert_tiles(&c, from, to, &format!("{zone} step {step} from {from}"));
            }
        }
    }
}

#[test]
fn rolling_windows_start_a_fixed_number_of_ends_back() {
    for zone in ZONES {
        let c = cad(3_600, 3 * 3_600, zone);
        let w = c.windows_within(ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"));
        for i in 3..w.len() {
            assert_eq!(w[i].start, w[i - 3].end, "{zone}: {:?}", w[i]);
        }
    }
}

#[test]
fn a_skipped_midnight_still_tiles_daily_windows() {
    // Santiago skips 2026-09-06 00:00 (clocks go to 01:00): the day starts at 01:00.
    let c = cad(86_400, 86_400, "America/Santiago");
    let w = c.windows_within(
        ts("2026-09-04T00:00:00-04:00"),
        ts("2026-09-08T00:00:00-03:00"),
    );
    assert!(w.windows(2).all(|p| p[0].end == p[1].start));
    let short = w
        .iter()
        .find(|w| w.secs() == 82_800)
        .expect("a 23-hour day");
    assert_eq!(short.start, ts("2026-09-06T01:00:00-03:00").as_second());
}

#[test]
fn two_hour_windows_over_berlin_dst_are_3_and_1_hours() {
    let c = cad(7_200, 7_200, "Europe/Berlin");
    let spring = c.windows_within(
        ts("2026-03-29T00:00:00+01:00"),
        ts("2026-03-29T06:00:00+02:00"),
    );
    let lens: Vec<i64> = spring.iter().map(Window::secs).collect();
    assert_eq!(
        lens,
        vec![10_800, 7_200],
        "00:00-04:00 holds the skipped hour"
    );
    let fall = c.windows_within(
        ts("2026-10-25T00:00:00+02:00"),
        ts("2026-10-25T04:00:00+01:00"),
    );
    let lens: Vec<i64> = fall.iter().map(Window::secs).collect();
    assert_eq!(lens, vec![7_200, 3_600, 7_200]);
}
