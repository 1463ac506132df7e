//! The reports in flight across every run of an engine, and across the
//! engines a reload builds: one semaphore whose size follows
//! `api.concurrency`.

use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Shared permits: clones count against one limit.
#[derive(Clone, Debug)]
pub(crate) struct Permits {
    sem: Arc<Semaphore>,
    /// The limit the permits are (or, shrinking, will be) worth.
    size: Arc<Mutex<usize>>,
}

impl Permits {
    pub(crate) fn new(size: usize) -> Permits {
        let size = size.max(1);
        Permits {
            sem: Arc::new(Semaphore::new(size)),
            size: Arc::new(Mutex::new(size)),
        }
    }

    /// Wait for a permit.
    pub(crate) async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.sem.clone().acquire_owned().await.ok()
    }

    /// Make the limit `size`: more permits at once, or fewer as the reports
    /// in flight end (never taken from one that runs). Needs a tokio runtime
    /// when shrinking below the permits in use.
    pub(crate) fn resize(&self, size: usize) {
        let size = size.max(1);
        let mut now = self.size.lock().unwrap_or_else(|p| p.into_inner());
        if size > *now {
            self.sem.add_permits(size - *now);
        } else if size < *now {
            let surplus = *now - size;
            let rest = surplus - self.sem.forget_permits(surplus);
            if rest > 0 {
                let sem = self.sem.clone();
                // Taken as reports in flight end, then forgotten.
                tokio::spawn(async move {
                    if let Ok(p) = sem.acquire_many_owned(rest as u32).await {
                        p.forget();
                    }
                });
            }
        }
        *now = size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_resized_clone_counts_against_the_same_limit() {
        let before = Permits::new(2);
        let held = [
            before.acquire().await.expect("permit"),
            before.acquire().await.expect("permit"),
        ];
        // a reload keeping the limit: the reports in flight still count
        let after = before.clone();
        after.resize(2);
        assert_eq!(after.sem.available_permits(), 0);
        // growing gives the difference at once
        after.resize(3);
        assert_eq!(after.sem.available_permits(), 1);
        // shrinking below what runs takes permits back as they end
        after.resize(1);
        assert_eq!(after.sem.available_permits(), 0);
        drop(held);
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(after.sem.available_permits(), 1);
    }
}
