use super::*;
use crate::domain::report::RegionScope;
use crate::domain::target::{Region, Selection};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn path(job: &str, t: &Target, r: RegionScope, w: Window, tz: &TimeZone) -> PathBuf {
    report_path(job, t, r, w, tz).to_path()
}

#[test]
fn report_paths_are_readable_deterministic_and_below_the_root() {
    let tz = TimeZone::get("Asia/Shanghai").expect("zone");
    let w = Window {
        start: 1_793_462_400, // 2026-11-01T00:00:00+08:00
        end: 1_793_466_000,
    };
    let p = path(
        "hourly-all",
        &Target::new(Selection::All),
        RegionScope::All,
        w,
        &tz,
    );
    assert_eq!(
        p,
        Path::new(
            "hourly-all/2026/11/hourly-all_all_ALL_20261101T0000+0800_20261101T0100+0800.xlsx"
        )
    );
    let hostile = Target::new(Selection::Device("../../../etc/passwd".into()));
    let p = path("j", &hostile, RegionScope::Only(Region::EU), w, &tz);
    assert_eq!(
        p,
        Path::new(
            "j/2026/11/j_device-%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd_EU_20261101T0000+0800_20261101T0100+0800.xlsx"
        )
    );
    // a job name with `_` keeps its directory; its field is escaped
    let p = path(
        "a_b",
        &Target::new(Selection::All),
        RegionScope::All,
        w,
        &tz,
    );
    let p = p.to_string_lossy();
    assert!(p.starts_with("a_b/2026/11/a%5Fb_all_ALL_"), "{p}");
    // the longest names stay within NAME_MAX with a suffix
    let long = Target::new(Selection::Device("é".repeat(200)));
    let p = report_path(&"_".repeat(64), &long, RegionScope::All, w, &tz).part();
    assert!(p.file_name().len() <= 237, "{}", p.file_name().len());
}

#[test]
fn fold_hours_get_distinct_names() {
    let tz = TimeZone::get("Europe/Berlin").expect("zone");
    // 2026-10-25 02:00 CEST and 02:00 CET
    let a = Window {
        start: 1_792_886_400,
        end: 1_792_890_000,
    };
    let b = Window {
        start: 1_792_890_000,
        end: 1_792_893_600,
    };
    let t = Target::new(Selection::All);
    assert_ne!(
        path("j", &t, RegionScope::All, a, &tz),
        path("j", &t, RegionScope::All, b, &tz)
    );
}

/// The names the old encoding gave one file: `x.y` and `x_y_<its hash>`.
#[test]
fn the_old_collision_gives_two_names() {
    let tz = TimeZone::UTC;
    let w = Window {
        start: 1_793_462_400,
        end: 1_793_466_000,
    };
    let hex = &crate::domain::digest::sha256_hex(b"x.y")[..12];
    let a = Target::new(Selection::Device("x.y".into()));
    let b = Target::new(Selection::Device(format!("x_y_{hex}")));
    assert_ne!(
        path("j", &a, RegionScope::All, w, &tz),
        path("j", &b, RegionScope::All, w, &tz)
    );
}

/// Ids from a small alphabet rich in the characters that collided, long
/// ones among them.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[xy._%~+-]{0,6}",
        "[x_]{100,130}",
        "[a-f0-9_.]{0,20}",
        "\\PC{0,4}",
    ]
}

fn selection() -> impl Strategy<Value = Selection> {
    prop_oneof![
        Just(Selection::All),
        id().prop_map(Selection::Device),
        proptest::collection::vec(id(), 1..3).prop_map(Selection::Devices),
        id().prop_map(Selection::Group),
    ]
}

fn region() -> impl Strategy<Value = RegionScope> {
    prop_oneof![
        Just(RegionScope::All),
        Just(RegionScope::Only(Region::EU)),
        Just(RegionScope::Only(Region::AP)),
    ]
}

type Report = (String, Selection, RegionScope, i64, i64);

fn report() -> impl Strategy<Value = Report> {
    (
        "[a_-]{1,4}|[a_]{60,64}",
        selection(),
        region(),
        0i64..4,
        1i64..4,
    )
        .prop_map(|(job, sel, region, start, len)| {
            let start = 1_793_462_400 + start * 3_600;
            (job, sel, region, start, start + len * 3_600)
        })
}

/// The key the history records for a report: reports with the same key are one.
fn key(r: &Report) -> (String, String, &'static str, i64, i64) {
    (
        r.0.clone(),
        Target::new(r.1.clone()).label(),
        r.2.stored(),
        r.3,
        r.4,
    )
}

fn name_of(r: &Report) -> PathBuf {
    let w = Window {
        start: r.3,
        end: r.4,
    };
    path(&r.0, &Target::new(r.1.clone()), r.2, w, &TimeZone::UTC)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn distinct_reports_get_distinct_file_names(a in report(), b in report()) {
        if key(&a) != key(&b) {
            prop_assert_ne!(name_of(&a), name_of(&b));
            // and not only their paths: their file names
            let (na, nb) = (name_of(&a), name_of(&b));
            prop_assert_ne!(na.file_name(), nb.file_name());
        }
    }

    /// The same report side by side with a near twin: one character changed.
    #[test]
    fn near_twins_get_distinct_file_names(a in report(), at in 0usize..8, with in "[xy._%~+-]") {
        let mut b = a.clone();
        if let Selection::Device(d) = &mut b.1 {
            let at = d.char_indices().nth(at).map_or(d.len(), |(i, _)| i);
            d.insert_str(at, &with);
        }
        if key(&a) != key(&b) {
            prop_assert_ne!(name_of(&a), name_of(&b));
        }
    }
}
