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
async fn uses_at_least_95_percent_of_the_limit() {
    let at = run(limiter(20), 64, 200).await;
    let rate = 199.0 / (at[199] as f64 / 1e6);
    assert!((19.0..=20.0).contains(&rate), "{rate} calls/s");
}

#[tokio::test(start_paused = true)]
async fn calls_are_evenly_spaced_never_in_a_burst() {
    let l = limiter(20);
    let at = run(l.clone(), 32, 40).await;
    let interval = Duration::from_secs_f64(1.04 / 20.0).as_micros();
    assert!(at.windows(2).all(|w| w[1] - w[0] >= interval), "{at:?}");
    // an idle spell banks nothing: after it, the calls are spaced as before
    tokio::time::sleep(Duration::from_secs(10)).await;
    let at = run(l, 32, 3).await;
    assert_eq!(at[0], 0);
    assert!(at.windows(2).all(|w| w[1] - w[0] >= interval), "{at:?}");
}

#[test]
fn a_refusal_halves_the_pace_once_a_second_and_it_recovers_gradually() {
    let t0 = Instant::now();
    let s = Duration::from_secs_f64;
    let mut p = Pace::default();
    assert_eq!(p.share(t0), 1.0);
    assert!(p.refused(t0));
    assert_eq!(p.share(t0), 0.5);
    // refusals of calls sent before the slowdown do not slow down again
    assert!(!p.refused(t0 + s(0.5)));
    assert_eq!(p.share(t0 + s(0.5)), 0.5 + 0.5 * RECOVERY_PER_SECOND);
    // additive increase: back to the full limit after 10 s
    assert!((p.share(t0 + s(5.0)) - 0.75).abs() < 1e-9);
    assert_eq!(p.share(t0 + s(10.0)), 1.0);
    assert_eq!(p.share(t0 + s(100.0)), 1.0);
    // a run of refusals goes no lower than the floor
    for i in 1..20 {
        p.refused(t0 + s(1.01 * f64::from(i)));
    }
    assert!(p.share(t0 + s(20.0)) >= FLOOR);
    assert!(p.share(t0 + s(19.2)) < 0.2);
    // the interval follows the share
    let q = Pace::default();
    assert_eq!(q.interval(20, t0), s(1.04 / 20.0));
    assert_eq!(
        p.interval(20, t0 + s(19.2)),
        s(1.04 / (20.0 * p.share(t0 + s(19.2))))
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_slows_the_whole_process_down_for_a_while() {
    let l = limiter(20);
    let before = l.rate();
    assert!((before - 20.0 / 1.04).abs() < 1e-6, "{before}");
    l.refused();
    l.refused();
    assert!((l.rate() - before / 2.0).abs() < 1e-6, "{}", l.rate());
    let t0 = Instant::now();
    let at = run(l.clone(), 8, 20).await;
    // 20 calls at half the pace: about 2 s, not 1
    assert!(at[19] > 1_800_000, "{at:?}");
    tokio::time::sleep_until(t0 + Duration::from_secs(12)).await;
    assert!((l.rate() - before).abs() < 1e-6);
}

#[tokio::test(start_paused = true)]
async fn a_new_limit_changes_the_spacing() {
    let l = limiter(4);
    let t0 = Instant::now();
    l.acquire().await;
    l.acquire().await;
    assert_eq!(t0.elapsed(), Duration::from_secs_f64(1.04 / 4.0));
    l.set_limit(NonZeroU32::new(2).expect("nonzero"));
    l.acquire().await;
    l.acquire().await;
    assert_eq!(
        t0.elapsed(),
        Duration::from_secs_f64(1.04 / 4.0)
            + Duration::from_secs_f64(1.04 / 4.0)
            + Duration::from_secs_f64(1.04 / 2.0)
    );
    assert_eq!(l.limit(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_woken_late_keeps_the_pace_but_a_pause_banks_nothing() {
    let l = limiter(20);
    let t0 = Instant::now();
    let interval = Duration::from_secs_f64(1.04 / 20.0);
    assert!(l.try_take(t0).is_ok());
    // woken 3 ms after its slot: the next slot still follows the one due
    assert!(l.try_take(t0 + interval + Duration::from_millis(3)).is_ok());
    assert_eq!(
        l.try_take(t0 + interval + Duration::from_millis(4)),
        Err(t0 + interval * 2)
    );
    // 40 calls each woken 5 ms late: 40 slots in 40 intervals, not 40 x 5 ms more
    for i in 2..42 {
        assert!(
            l.try_take(t0 + interval * i + Duration::from_millis(5))
                .is_ok()
        );
    }
    assert_eq!(l.try_take(t0 + interval * 42), Ok(()));
    // after a pause longer than the lateness allowed, the grid starts again from now
    let later = t0 + interval * 100;
    assert!(l.try_take(later).is_ok());
    assert_eq!(
        l.try_take(later + Duration::from_millis(1)),
        Err(later + interval)
    );
}
