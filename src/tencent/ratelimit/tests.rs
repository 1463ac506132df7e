use super::*;
use std::sync::Arc;

/// Let `tasks` callers race for `calls` slots of `limit` per second on a
/// paused clock; return the send instants, in µs since the start.
async fn run(l: Arc<Limiter>, tasks: usize, calls: usize) -> Vec<u128> {
    let start = Instant::now();
    let out = Arc::new(Mutex::new(Vec::new()));
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(calls));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (l, out, left) = (l.clone(), out.clone(), left.clone());
        handles.push(tokio::spawn(async move {
            while left
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |n| n.checked_sub(1),
                )
                .is_ok()
            {
                l.acquire().await;
                out.lock().expect("lock").push(start.elapsed().as_micros());
                // a call takes a little while
                tokio::time::sleep(Duration::from_millis(7)).await;
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let mut v = out.lock().expect("lock").clone();
    v.sort();
    v
}

fn limiter(limit: u32) -> Arc<Limiter> {
    Arc::new(Limiter::new(NonZeroU32::new(limit).expect("nonzero")))
}

fn max_in_any_second(at: &[u128]) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..at.len() {
        while at[hi] - at[lo] >= 1_000_000 {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// Each send arriving up to `jitter_ms` late, in arrival order.
fn arrivals(sent: &[u128], jitter_ms: u64, seed: u64) -> Vec<u128> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut at: Vec<u128> = sent
        .iter()
        .map(|t| t + u128::from(rng.u64(0..=jitter_ms * 1000)))
        .collect();
    at.sort();
    at
}

const WINDOW_US: u128 = 1_040_000;

#[tokio::test(start_paused = true)]
async fn never_more_than_the_limit_in_any_second_even_with_arrival_jitter() {
    for (limit, tasks) in [(1, 1), (5, 3), (20, 8), (20, 64), (100, 16)] {
        let sent = run(limiter(limit), tasks, 10 * limit as usize).await;
        assert!(
            max_in_any_second(&sent) <= limit as usize,
            "limit {limit}, {tasks} tasks"
        );
        for seed in 0..20 {
            let at = arrivals(&sent, 35, seed);
            assert!(
                max_in_any_second(&at) <= limit as usize,
                "limit {limit}, {tasks} tasks, seed {seed}: {} arrivals in a second",
                max_in_any_second(&at)
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn uses_the_whole_limit_the_200th_call_goes_after_9_windows() {
    // the even spacing of one call every 1.04 / 20 s sent the 200th call
    // at 10.35 s; 200 calls need only 9 windows past the first run of 20
    let at = run(limiter(20), 64, 200).await;
    assert!(
        (9 * WINDOW_US..9 * WINDOW_US + 20_000).contains(&at[199]),
        "the 200th call at {} µs",
        at[199]
    );
}

#[tokio::test(start_paused = true)]
async fn each_call_goes_a_window_after_the_one_limit_calls_before() {
    let l = limiter(20);
    let at = run(l.clone(), 32, 60).await;
    assert!(at[..20].iter().all(|t| *t == 0), "{at:?}");
    assert!(at.windows(21).all(|w| w[20] - w[0] >= WINDOW_US), "{at:?}");
    // an idle spell banks nothing beyond the limit: after it, a run of 20
    // at most, then the window again
    tokio::time::sleep(Duration::from_secs(10)).await;
    let at = run(l, 32, 25).await;
    assert!(at[..20].iter().all(|t| *t == 0), "{at:?}");
    assert!(at[20..].iter().all(|t| *t >= WINDOW_US), "{at:?}");
}

#[test]
fn a_refusal_halves_the_pace_widens_the_margin_and_both_recover_gradually() {
    let t0 = Instant::now();
    let s = Duration::from_secs_f64;
    let ms = Duration::from_millis;
    let mut p = Pace::default();
    assert_eq!(p.share(t0), 1.0);
    assert_eq!(p.margin(t0), BASE_MARGIN);
    assert_eq!(p.window(t0), ms(1040));
    assert!(p.refused(t0));
    assert_eq!(p.share(t0), 0.5);
    assert_eq!(p.margin(t0), BASE_MARGIN * 2);
    assert_eq!(p.window(t0), ms(1080).div_f64(0.5));
    // refusals of calls sent before the slowdown do not slow down again
    assert!(!p.refused(t0 + s(0.5)));
    assert_eq!(p.share(t0 + s(0.5)), 0.5 + 0.5 * RECOVERY_PER_SECOND);
    // additive increase: back to the full limit after 10 s
    assert!((p.share(t0 + s(5.0)) - 0.75).abs() < 1e-9);
    assert_eq!(p.share(t0 + s(10.0)), 1.0);
    assert_eq!(p.share(t0 + s(100.0)), 1.0);
    // the learned margin halves each clean minute
    assert_eq!(
        p.margin(t0 + MARGIN_HALF_LIFE),
        BASE_MARGIN + BASE_MARGIN / 2
    );
    assert!(p.margin(t0 + MARGIN_HALF_LIFE * 20) < BASE_MARGIN + ms(1));
    // a run of refusals goes no lower than the floor, no wider than the cap
    for i in 1..20 {
        p.refused(t0 + s(1.01 * f64::from(i)));
    }
    assert!(p.share(t0 + s(20.0)) >= FLOOR);
    assert!(p.share(t0 + s(19.2)) < 0.2);
    assert_eq!(p.margin(t0 + s(19.19)), MAX_MARGIN);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_slows_the_whole_process_down_for_a_while() {
    let l = limiter(20);
    let before = l.rate();
    assert!((before - 20.0 / 1.04).abs() < 1e-6, "{before}");
    l.refused();
    l.refused();
    assert!((l.rate() - 20.0 / 2.16).abs() < 1e-6, "{}", l.rate());
    let t0 = Instant::now();
    let at = run(l.clone(), 8, 40).await;
    // 20 calls at once, the next 20 a slowed window (2.16 s) later, not 1.04 s
    assert!(at[20] >= 2_000_000, "{at:?}");
    tokio::time::sleep_until(t0 + Duration::from_secs(600)).await;
    assert!(l.margin() < BASE_MARGIN + Duration::from_millis(1));
    assert!((l.rate() - before).abs() < 0.01, "{}", l.rate());
}

#[tokio::test(start_paused = true)]
async fn a_new_limit_changes_the_calls_per_window() {
    let l = limiter(4);
    let t0 = Instant::now();
    for _ in 0..5 {
        l.acquire().await;
    }
    assert_eq!(t0.elapsed(), Duration::from_millis(1040));
    l.set_limit(NonZeroU32::new(2).expect("nonzero"));
    // the last 2 sends count: one at 0, one at 1.04 s
    l.acquire().await;
    assert_eq!(t0.elapsed(), Duration::from_millis(1040));
    l.acquire().await;
    assert_eq!(t0.elapsed(), Duration::from_millis(2080));
    assert_eq!(l.limit(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_woken_late_keeps_the_grid_but_a_pause_banks_nothing() {
    let l = limiter(2);
    let t0 = Instant::now();
    let w = Duration::from_millis(1040);
    assert!(l.try_take(t0).is_ok());
    assert!(l.try_take(t0).is_ok());
    assert_eq!(l.try_take(t0 + Duration::from_millis(1)), Err(t0 + w));
    // woken 3 ms late: the slot counts from when it was due
    let late = t0 + w + Duration::from_millis(3);
    assert!(l.try_take(late).is_ok());
    assert!(l.try_take(late).is_ok());
    assert_eq!(l.try_take(late), Err(t0 + w * 2));
    // after a pause longer than the lateness allowed, the window starts
    // from the call itself
    let later = t0 + w * 10;
    assert!(l.try_take(later).is_ok());
    assert!(l.try_take(later).is_ok());
    assert_eq!(l.try_take(later), Err(later + w));
}
