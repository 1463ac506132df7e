//! Peak memory of the real binary against an API answer that never ends
//! (the child's own high-water mark, see `common::rss`).

use crate::common;

use common::rss::run_measured;
use common::*;
use fake_mna::{FakeConfig, Fault};

/// A world with `max_attempts` tries per report (and the default concurrency).
fn world(cfg: FakeConfig, max_attempts: u32) -> World {
    let w = World::with(cfg, "", HOURLY);
    let settings = Settings {
        concurrency: None,
        max_attempts,
        ..Settings::default()
    };
    w.write_config_with(&settings, "", HOURLY);
    w
}

/// Error codes of every attempt, in order.
fn codes(w: &World) -> Vec<String> {
    let db = w.db();
    let mut st = db
        .prepare("SELECT kind || ':' || coalesce(error_code, 'ok') FROM attempts ORDER BY attempt")
        .expect("query");
    st.query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn an_endless_api_answer_fails_the_try_with_flat_memory() {
    let w = world(FakeConfig::default(), 2);
    // A chunked answer far beyond any real one (a stand-in for one that never ends).
    for _ in 0..2 {
        w.fake.push_fault(Fault::ApiHugeAnswer {
            bytes: 192 << 20,
            chunked: true,
        });
    }
    let m = run_measured(w.cmd().args(FETCH_ONE_HOUR));
    eprintln!(
        "peak RSS against an endless answer: {:.1} MiB",
        m.peak_mib()
    );
    assert_exit(&m.output, 1);
    assert!(
        m.peak_rss < 64 << 20,
        "peak RSS {:.1} MiB against an endless answer",
        m.peak_mib()
    );
    // Retried like a 5xx, with a code of its own.
    assert_eq!(
        codes(&w),
        ["call:ResponseTooLarge", "call:ResponseTooLarge"],
        "{}",
        stderr(&m.output)
    );
    let err = stderr(&m.output);
    assert!(err.contains("ResponseTooLarge"), "{err}");
    assert!(err.contains("larger than 1 MiB"), "{err}");
}
