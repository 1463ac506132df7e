//! Fault injection: the faults, their two FIFO queues, and the rate limiter.
//!
//! This module owns which queue a fault belongs to and the order in which
//! faults are consumed. Where a consumed fault takes effect on the wire is up
//! to the API handler (`api.rs`) and the download handler (`download.rs`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A fault to inject into the next request of its kind.
///
/// API faults are consumed by the next `POST /` that passed the header,
/// signature, rate-limit and parameter checks; download faults by the next
/// `GET /files/...` for a known, correctly signed, unexpired URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// API: answer this error envelope (HTTP 200).
    ApiError { code: String, message: String },
    /// API: answer this HTTP status with a small HTML body.
    HttpStatus(u16),
    /// API: read the request, then reset the TCP connection without a response.
    Reset,
    /// API: answer normally after this delay.
    Delay(Duration),
    /// API: answer normally once the gate is open (the call is recorded
    /// when it arrives).
    Hold(Gate),
    /// API: answer normally, but the issued URL is already expired (403).
    ExpireUrl,
    /// Download: answer this status (403/404 with COS-like XML bodies).
    DownloadStatus(u16),
    /// Download: headers with the full `Content-Length`, half the body, then
    /// a TCP reset.
    DownloadReset,
    /// Download: headers with the full `Content-Length`, half the body, then
    /// a clean close (the client sees a short body).
    DownloadTruncated,
    /// Download: 200 with garbage bytes (not a zip) and a matching length.
    DownloadCorrupt,
    /// Download: 200 with a valid zip that is not an xlsx workbook.
    DownloadNotXlsx,
    /// Download: answer normally after this delay.
    DownloadDelay(Duration),
    /// Download: answer normally once the gate is open.
    DownloadHold(Gate),
    /// API: answer HTTP 200 with exactly this body (hostile or unusable JSON).
    ApiAnswer(String),
    /// API: HTTP 200 with a body of `bytes` bytes that starts like an
    /// envelope; `chunked` sends it without `Content-Length` (a stand-in for
    /// an answer that never ends).
    ApiHugeAnswer { bytes: u64, chunked: bool },
    /// Download: the normal file with its `Content-Length`, one byte every
    /// this long.
    DownloadDrip(Duration),
    /// Download: 200 with `bytes` filler bytes (not a workbook); `chunked`
    /// sends them without `Content-Length`.
    DownloadHuge { bytes: u64, chunked: bool },
    /// Download: 200 with exactly these bytes (e.g. a crafted workbook from
    /// [`crate::hostile`]); [`crate::FakeMna::served_file`] then gives them.
    DownloadBody(Arc<Vec<u8>>),
}

impl Fault {
    /// An [`Fault::ApiError`] with a generic message.
    pub fn api_error(code: impl Into<String>) -> Fault {
        let code = code.into();
        let message = format!("Injected error {code}.");
        Fault::ApiError { code, message }
    }

    /// Whether the fault goes to the download queue.
    pub fn is_download(&self) -> bool {
        matches!(
            self,
            Fault::DownloadStatus(_)
                | Fault::DownloadReset
                | Fault::DownloadTruncated
                | Fault::DownloadCorrupt
                | Fault::DownloadNotXlsx
                | Fault::DownloadDelay(_)
                | Fault::DownloadHold(_)
                | Fault::DownloadDrip(_)
                | Fault::DownloadHuge { .. }
                | Fault::DownloadBody(_)
        )
    }

    /// A short label for records, e.g. `ApiError(InternalError)`.
    pub fn label(&self) -> String {
        match self {
            Fault::ApiError { code, .. } => format!("ApiError({code})"),
            Fault::HttpStatus(s) => format!("HttpStatus({s})"),
            Fault::Reset => "Reset".into(),
            Fault::Delay(d) => format!("Delay({d:?})"),
            Fault::Hold(_) => "Hold".into(),
            Fault::ExpireUrl => "ExpireUrl".into(),
            Fault::DownloadStatus(s) => format!("DownloadStatus({s})"),
            Fault::DownloadReset => "DownloadReset".into(),
            Fault::DownloadTruncated => "DownloadTruncated".into(),
            Fault::DownloadCorrupt => "DownloadCorrupt".into(),
            Fault::DownloadNotXlsx => "DownloadNotXlsx".into(),
            Fault::DownloadDelay(d) => format!("DownloadDelay({d:?})"),
            Fault::DownloadHold(_) => "DownloadHold".into(),
            Fault::ApiAnswer(_) => "ApiAnswer".into(),
            Fault::ApiHugeAnswer { bytes, chunked } => {
                format!("ApiHugeAnswer({bytes}, chunked: {chunked})")
            }
            Fault::DownloadDrip(d) => format!("DownloadDrip({d:?})"),
            Fault::DownloadHuge { bytes, chunked } => {
                format!("DownloadHuge({bytes}, chunked: {chunked})")
            }
            Fault::DownloadBody(b) => format!("DownloadBody({} bytes)", b.len()),
        }
    }
}

/// Where held answers ([`Fault::Hold`], [`Fault::DownloadHold`]) wait
/// until a test opens it: an answer then comes at a moment the test
/// chooses, not after a delay it hopes is long enough. Clones share the gate.
#[derive(Clone, Debug)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate(Arc::new(tokio::sync::watch::Sender::new(false)))
    }

    /// Open it: every answer held there goes on, and later ones pass.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    /// Wait until it is open.
    pub(crate) async fn passed(&self) {
        let mut open = self.0.subscribe();
        let _ = open.wait_for(|open| *open).await;
    }
}

impl Default for Gate {
    fn default() -> Gate {
        Gate::new()
    }
}

/// Two gates are equal when they are the same gate.
impl PartialEq for Gate {
    fn eq(&self, other: &Gate) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Gate {}

/// Locks a mutex, ignoring poisoning (a panicked holder leaves plain data).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The two FIFO queues.
#[derive(Default)]
pub(crate) struct FaultQueues {
    api: Mutex<VecDeque<Fault>>,
    download: Mutex<VecDeque<Fault>>,
}

impl FaultQueues {
    pub fn push(&self, f: Fault) {
        let q = if f.is_download() {
            &self.download
        } else {
            &self.api
        };
        lock(q).push_back(f);
    }

    pub fn next_api(&self) -> Option<Fault> {
        lock(&self.api).pop_front()
    }

    pub fn next_download(&self) -> Option<Fault> {
        lock(&self.download).pop_front()
    }

    pub fn pending(&self) -> (usize, usize) {
        (lock(&self.api).len(), lock(&self.download).len())
    }

    pub fn clear(&self) {
        lock(&self.api).clear();
        lock(&self.download).clear();
    }
}

/// A sliding one-second window over the arrival instants of every call that
/// reached the limiter, refused calls included.
pub(crate) struct RateLimiter {
    limit: usize,
    window: Duration,
    arrivals: VecDeque<Instant>,
}

impl RateLimiter {
    pub fn new(limit: u32) -> RateLimiter {
        RateLimiter {
            limit: limit as usize,
            window: Duration::from_secs(1),
            arrivals: VecDeque::new(),
        }
    }

    /// Records an arrival at `now`; `false` when it makes more than `limit`
    /// arrivals within the last second (the call is to be refused).
    pub fn admit(&mut self, now: Instant) -> bool {
        while let Some(&first) = self.arrivals.front() {
            if now.saturating_duration_since(first) >= self.window {
                self.arrivals.pop_front();
            } else {
                break;
            }
        }
        self.arrivals.push_back(now);
        self.arrivals.len() <= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_faults_to_queues() {
        let q = FaultQueues::default();
        q.push(Fault::Reset);
        q.push(Fault::DownloadCorrupt);
        q.push(Fault::api_error("InternalError"));
        assert_eq!(q.pending(), (2, 1));
        assert_eq!(q.next_api(), Some(Fault::Reset));
        assert_eq!(
            q.next_api().map(|f| f.label()),
            Some("ApiError(InternalError)".to_owned())
        );
        assert_eq!(q.next_api(), None);
        assert_eq!(q.next_download(), Some(Fault::DownloadCorrupt));
        assert_eq!(q.next_download(), None);
    }

    #[test]
    fn sliding_window() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(3);
        let ms = Duration::from_millis;
        assert!(rl.admit(t0));
        assert!(rl.admit(t0 + ms(100)));
        assert!(rl.admit(t0 + ms(200)));
        assert!(!rl.admit(t0 + ms(300)), "4th within a second");
        // Refused calls count: at 1.05 s the window still holds 0.1, 0.2 and
        // the refused 0.3, so this is the 4th.
        assert!(!rl.admit(t0 + ms(1050)));
        // At 2.5 s everything has left the window.
        assert!(rl.admit(t0 + ms(2500)));
    }
}
