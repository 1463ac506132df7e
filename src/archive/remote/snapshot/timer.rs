//! The daemon's snapshots: with `[storage.remote] snapshot_interval`, a
//! snapshot is written when the newest one recorded in the history is that
//! old (at start too, so a restart neither skips one nor writes one early),
//! in the background, one at a time. The loop sleeps until the next is due
//! ([`Timer::sleep_for`]); a failed one is tried again after [`RETRY`] (or
//! the interval, if shorter). `mna_reportd_last_snapshot_timestamp_seconds`
//! is seeded from the history at start and set after each snapshot.

use super::take;
use crate::archive::remote::bucket::Bucket;
use crate::archive::remote::client::ClientError;
use crate::archive::store::{Store, outbox};
use crate::config::Config;
use futures_util::FutureExt;
use jiff::{SignedDuration, Timestamp};
use std::path::Path;
use std::time::Duration;
use tracing::{info, warn};

/// How soon a failed snapshot is tried again.
pub(crate) const RETRY: Duration = Duration::from_secs(15 * 60);

/// How long the loop may sleep when no snapshot is ever due.
const IDLE: Duration = Duration::from_secs(86_400);

/// The gauge of the newest snapshot's time.
pub(crate) const GAUGE: &str = "mna_reportd_last_snapshot_timestamp_seconds";

/// When the next snapshot is due, and the one being written.
#[derive(Default)]
pub(crate) struct Timer {
    /// `None`: as soon as the timer is ticked (none recorded yet).
    next: Option<Timestamp>,
    task: Option<tokio::task::JoinHandle<bool>>,
}

/// Opens the bucket of `[storage.remote]` (with the account's key as the
/// last source of its keys, for COS), reading key files: run on the
/// blocking pool.
pub(crate) type OpenBucket = fn(&Config) -> Result<Option<Bucket>, ClientError>;

/// What a snapshot needs from the daemon.
#[derive(Clone)]
pub(crate) struct Setup {
    pub(crate) store: Store,
    pub(crate) open_bucket: OpenBucket,
}

fn interval(config: &Config) -> Option<Duration> {
    config.storage.remote.as_ref()?.snapshot_interval
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

impl Timer {
    /// The timer as of the history: the next snapshot is due one interval
    /// after the newest recorded (now, if none); the gauge is seeded.
    pub(crate) async fn seeded(store: &Store, config: &Config) -> Timer {
        let last = match store.on_pool(|c| outbox::last_snapshot(c)).await {
            Ok(last) => last,
            Err(e) => {
                warn!(error = %e, "snapshots: cannot read the last one from the history");
                None
            }
        };
        if let Some(t) = last {
            metrics::gauge!(GAUGE).set(t as f64);
        }
        let next = match (
            last.and_then(|t| Timestamp::from_second(t).ok()),
            interval(config),
        ) {
            (Some(t), Some(every)) => Some(after(t, every)),
            _ => None,
        };
        Timer { next, task: None }
    }

    /// How long the loop may sleep before [`Timer::tick`] has work.
    pub(crate) fn sleep_for(&self, config: &Config, now: Timestamp) -> Duration {
        if interval(config).is_none() || self.task.is_some() {
            // A snapshot being written: its end is seen at the loop's next wake-up.
            return IDLE;
        }
        match self.next {
            Some(t) if t > now => Duration::try_from(t.duration_since(now)).unwrap_or(IDLE),
            _ => Duration::ZERO,
        }
    }

    /// From the daemon's loop: note a snapshot that ended, and start one
    /// when it is due.
    pub(crate) fn tick(&mut self, setup: &Setup, config: &Config, now: Timestamp) {
        if let Some(task) = self.task.as_mut() {
            let Some(ended) = task.now_or_never() else {
                return;
            };
            self.task = None;
            if !matches!(ended, Ok(true)) {
                let every = interval(config).unwrap_or(RETRY);
                let retry = after(now, RETRY.min(every));
                self.next = Some(self.next.map_or(retry, |n| n.min(retry)));
            }
        }
        let (Some(every), Some(keep)) = (
            interval(config),
            config.storage.remote.as_ref().map(|r| r.snapshot_keep),
        ) else {
            return;
        };
        if self.next.is_some_and(|t| t > now) {
            return;
        }
        self.next = Some(after(now, every));
        let (setup, config) = (setup.clone(), config.clone());
        self.task = Some(tokio::spawn(async move {
            let open = setup.open_bucket;
            let c = config.clone();
            let bucket = match tokio::task::spawn_blocking(move || open(&c)).await {
                Ok(Ok(Some(b))) => b,
                Ok(Ok(None)) => return false,
                Ok(Err(e)) => {
                    warn!(error = %e, "history snapshot: the bucket cannot be used; trying again later");
                    return false;
                }
                Err(e) => {
                    warn!(error = %e, "history snapshot: opening the bucket failed");
                    return false;
                }
            };
            let (db, state_dir) = (config.storage.database_path(), &config.storage.state_dir);
            write(&setup.store, &db, state_dir, &bucket, keep).await
        }));
    }
}

/// One snapshot, logged; whether it was written.
async fn write(store: &Store, db: &Path, state_dir: &Path, bucket: &Bucket, keep: u32) -> bool {
    match take(store, db, state_dir, bucket, keep).await {
        Ok(t) => {
            metrics::gauge!(GAUGE).set(t.taken_at as f64);
            info!(key = %t.key, bytes = t.bytes, database_bytes = t.db_bytes, deleted = t.pruned.deleted.len(), "history snapshot written");
            true
        }
        Err(e) => {
            warn!(error = %e, "history snapshot failed; trying again later");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(interval: Option<&str>) -> Config {
        let remote = match interval {
            Some(i) => {
                format!("[storage.remote]\nurl = \"s3://b/p\"\nsnapshot_interval = \"{i}\"\n")
            }
            None => String::new(),
        };
        let text = format!(
            "[storage]\nstate_dir = \"/s\"\n{remote}\n[[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\n"
        );
        crate::config::parse(&text, std::path::Path::new("/c.toml")).expect("config")
    }

    #[test]
    fn the_timer_sleeps_until_the_next_snapshot_and_not_at_all_without_one() {
        let now: Timestamp = "2026-12-07T00:00:00Z".parse().expect("now");
        let t = Timer {
            next: Some(after(now, Duration::from_secs(3600))),
            task: None,
        };
        assert_eq!(t.sleep_for(&config(None), now), IDLE);
        let hourly = config(Some("1h"));
        assert_eq!(t.sleep_for(&hourly, now), Duration::from_secs(3600));
        assert_eq!(
            t.sleep_for(&hourly, after(now, Duration::from_secs(3000))),
            Duration::from_secs(600)
        );
        assert_eq!(
            t.sleep_for(&hourly, after(now, Duration::from_secs(4000))),
            Duration::ZERO
        );
        assert_eq!(Timer::default().sleep_for(&hourly, now), Duration::ZERO);
    }
}
