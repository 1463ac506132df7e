//! The daemon's fire supervision: a fire's end always reaches the loop.

use super::*;

#[tokio::test]
async fn a_fire_that_panics_is_reported_so_its_entry_is_cleared() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn_fire("j".to_string(), Instant::now(), tx, async {
        if std::hint::black_box(true) {
            panic!("boom in a fire");
        }
        (Summary::default(), 0)
    });
    let done = rx.recv().await.expect("the loop hears of the fire's end");
    assert_eq!(done.job, "j");
    assert_eq!(done.panicked.as_deref(), Some("boom in a fire"));
    handle.await.expect("the supervising task ends");
}

#[tokio::test]
async fn a_fire_that_ends_reports_its_summary() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let summary = Summary {
        ok: 3,
        ..Summary::default()
    };
    spawn_fire(
        "j".to_string(),
        Instant::now(),
        tx,
        async move { (summary, 2) },
    );
    let done = rx.recv().await.expect("finished");
    assert_eq!((done.summary.ok, done.missing), (3, 2));
    assert!(done.panicked.is_none());
}
