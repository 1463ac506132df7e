//! Reports are asked for oldest first: the window starts of the calls the
//! fake receives, in the order it receives them, for a catch-up and a
//! range, at the default concurrency and a real rate limit (calls in
//! flight together may arrive in either order).

use crate::common;

use common::*;

/// The window starts of the `GetStatisticData` calls, in arrival order.
fn starts(w: &World) -> Vec<i64> {
    w.fake
        .calls_of("GetStatisticData")
        .into_iter()
        .filter_map(|c| c.params)
        .map(|p| p.begin)
        .collect()
}

/// A world whose limit is a real one (20 calls a second).
fn world() -> World {
    let w = World::new(HOURLY);
    let text = std::fs::read_to_string(&w.config).expect("config");
    std::fs::write(
        &w.config,
        text.replace("rate_limit = 200", "rate_limit = 20"),
    )
    .expect("config");
    w
}

/// Reports in flight at once (`[api] concurrency`'s default).
const IN_FLIGHT: usize = 4;

/// The calls were sent oldest first: each window arrives within the
/// reports in flight of its place. (Calls sent at the same moment, up to
/// the concurrency, race on their way; arrivals in a different order than
/// that would mean a window was asked for out of turn.)
fn assert_oldest_first(w: &World, n: usize) {
    let got = starts(w);
    assert_eq!(got.len(), n);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    for (at, start) in got.iter().enumerate() {
        let place = sorted.binary_search(start).expect("a start");
        assert!(
            at.abs_diff(place) < IN_FLIGHT,
            "window {start} arrived {at}th, its place is {place}th: {got:?}"
        );
    }
    let out_of_turn = got.windows(2).filter(|p| p[0] > p[1]).count();
    assert!(
        out_of_turn < n / 2,
        "mostly in order, not shuffled: {got:?}"
    );
}

#[test]
fn a_range_is_fetched_oldest_first() {
    let w = world();
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
        &[],
    );
    assert_exit(&o, 0);
    assert_oldest_first(&w, 24);
}

#[test]
fn a_catch_up_is_fetched_oldest_first() {
    let w = world();
    // what is due: every hour of the last day (the default horizon)
    let o = w.run(&["fetch", "--job", "hourly-all"]);
    assert_exit(&o, 0);
    let n = starts(&w).len();
    assert!(n >= 23, "{n} reports due");
    assert_oldest_first(&w, n);
}
