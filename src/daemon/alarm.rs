//! The loop's one timer. A tokio sleep of a minute is an entry in tokio's
//! hierarchical timer wheel, which wakes the process at the boundary of each
//! level the deadline crosses (about 3 wake-ups for one minute's sleep); a
//! `timerfd` is one kernel timer that wakes the loop once, at its deadline.
//! It counts on `CLOCK_BOOTTIME`, which goes on during a suspend, so the loop
//! wakes right after a resume whose sleep has run out. Where no timerfd can
//! be had, tokio's sleep does the job.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// A timer the loop sleeps on; re-armed by each [`Alarm::sleep`].
pub(crate) enum Alarm {
    Timerfd(AsyncFd<OwnedFd>),
    Tokio,
}

impl Alarm {
    /// A timerfd-backed alarm, or tokio's sleep if the kernel has none.
    pub(crate) fn new() -> Alarm {
        match timerfd() {
            Ok(fd) => Alarm::Timerfd(fd),
            Err(e) => {
                tracing::debug!(error = %e, "no timerfd; the loop sleeps on tokio's timer");
                Alarm::Tokio
            }
        }
    }

    /// Sleep `d`. Dropping the future leaves the timer armed; the next
    /// call sets it anew.
    pub(crate) async fn sleep(&self, d: Duration) {
        let fd = match self {
            Alarm::Timerfd(fd) if !d.is_zero() => fd,
            _ => return tokio::time::sleep(d).await,
        };
        if arm(fd.get_ref(), d).is_err() {
            return tokio::time::sleep(d).await;
        }
        loop {
            let Ok(mut ready) = fd.readable().await else {
                return tokio::time::sleep(d).await;
            };
            match ready.try_io(|fd| expirations(fd.get_ref())) {
                Ok(_) => return,
                // read would block: readiness was stale (a re-armed timer)
                Err(_) => continue,
            }
        }
    }
}

fn timerfd() -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: timerfd_create takes no pointers; a valid fd is owned below.
    let fd = unsafe {
        libc::timerfd_create(libc::CLOCK_BOOTTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and nothing else owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: the AsyncFd owns the fd, which nothing else closes or replaces.
    Ok(unsafe { AsyncFd::register(owned)? })
}

/// Arm the timer to expire once, `d` from now (`d` is not zero: a zero
/// value would disarm it).
fn arm(fd: &OwnedFd, d: Duration) -> std::io::Result<()> {
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(d.subsec_nanos()).max(1),
        },
    };
    // SAFETY: `spec` is a valid itimerspec; the old value is not asked for.
    let r = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Read the expiration count (which clears the readiness).
fn expirations(fd: &OwnedFd) -> std::io::Result<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is 8 writable bytes, as a timerfd read needs.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(u64::from_ne_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn the_alarm_is_a_kernel_timer_and_wakes_at_its_deadline() {
        let alarm = Alarm::new();
        assert!(matches!(alarm, Alarm::Timerfd(_)), "Linux has timerfd");
        tokio::time::timeout(DEADLINE, alarm.sleep(Duration::from_millis(5)))
            .await
            .expect("the alarm rang");
    }

    #[tokio::test]
    async fn a_sleep_given_up_leaves_no_stale_ring_and_a_new_one_is_armed_anew() {
        let alarm = Alarm::new();
        // given up before its deadline: the next sleep is set anew
        let long = tokio::time::timeout(Duration::from_millis(20), alarm.sleep(DEADLINE * 100));
        assert!(long.await.is_err(), "a long sleep ended early");
        tokio::time::timeout(DEADLINE, alarm.sleep(Duration::from_millis(5)))
            .await
            .expect("the re-armed alarm rang");
        // rung but not read, then re-armed for long: the old ring does not end the new sleep
        if let Alarm::Timerfd(fd) = &alarm {
            arm(fd.get_ref(), Duration::from_millis(1)).expect("arm");
            let mut pfd = libc::pollfd {
                fd: fd.get_ref().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; waits until the timer has rung.
            let n = unsafe { libc::poll(&mut pfd, 1, 30_000) };
            assert_eq!(n, 1, "the 1 ms timer rang");
        }
        let stale = tokio::time::timeout(Duration::from_millis(50), alarm.sleep(DEADLINE * 100));
        assert!(stale.await.is_err(), "a stale ring ended a new sleep");
        assert!(
            tokio::time::timeout(DEADLINE, alarm.sleep(Duration::ZERO))
                .await
                .is_ok()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_time_passing_does_not_ring_it() {
        // the loop's sleep is not an entry in tokio's timer wheel
        let alarm = Alarm::new();
        let sleep = alarm.sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        let raced = tokio::time::timeout(Duration::from_secs(7200), &mut sleep).await;
        assert!(raced.is_err(), "an hour's alarm rang before the hour");
    }
}
