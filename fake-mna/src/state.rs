//! The state one fake server shares between its connections and handles:
//! records, fault queues, the rate limiter, issued URLs and credentials.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::clock::unix_now;
use crate::config::{Credential, FakeConfig};
use crate::devices::FakeDevice;
use crate::faults::{FaultQueues, RateLimiter, lock};
use crate::params::Params;
use crate::records::{CallRecord, DownloadEntry};
use crate::xlsx::{LargeFile, WorkbookCache};

/// A URL the API handed out.
#[derive(Clone, Debug)]
pub(crate) struct IssuedFile {
    pub request_id: String,
    pub params: Params,
    pub sign: String,
    pub expires: Instant,
}

#[derive(Default)]
pub(crate) struct Files {
    pub by_id: HashMap<String, IssuedFile>,
    pub by_request: HashMap<String, String>,
}

/// A temporary credential issued by the metadata endpoint.
pub(crate) struct TempCredential {
    pub cred: Credential,
    /// On the fake's clock (offset applied).
    pub expires: SystemTime,
}

/// The result of looking up a SecretId.
pub(crate) enum Lookup {
    Found(Credential),
    Expired,
    NotFound,
}

pub(crate) struct Shared {
    pub cfg: FakeConfig,
    pub endpoint: String,
    pub calls: Mutex<Vec<CallRecord>>,
    pub downloads: Mutex<Vec<DownloadEntry>>,
    pub faults: FaultQueues,
    pub limiter: Option<Mutex<RateLimiter>>,
    pub rate_limited: AtomicUsize,
    pub files: Mutex<Files>,
    pub cache: WorkbookCache,
    pub large: Option<LargeFile>,
    pub temp: Mutex<Vec<TempCredential>>,
    pub metadata_requests: AtomicUsize,
    /// Bodies served by [`crate::Fault::DownloadBody`], by request id (the last one).
    pub served: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    /// The account's devices, and every group they were ever in (id → name).
    pub fleet: Mutex<(Vec<FakeDevice>, BTreeMap<String, String>)>,
    /// Devices made up on the fly after the fleet's own, for the listings
    /// (see [`crate::FakeMna::set_synthetic_devices`]).
    pub synthetic: Mutex<crate::devices::Synthetic>,
    /// API calls being answered now, and the most at once.
    pub calls_in_flight: InFlight,
}

/// A count of requests being served, and its peak.
#[derive(Default)]
pub(crate) struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl InFlight {
    /// Count one more until the guard drops.
    pub fn enter(&self) -> InFlightGuard<'_> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        InFlightGuard(self)
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

pub(crate) struct InFlightGuard<'a>(&'a InFlight);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    pub fn new(cfg: FakeConfig, endpoint: String, large: Option<LargeFile>) -> Shared {
        Shared {
            limiter: cfg.rate_limit.map(|n| Mutex::new(RateLimiter::new(n))),
            cache: WorkbookCache::new(cfg.rows_per_report, cfg.with_summary_sheet),
            cfg,
            endpoint,
            calls: Mutex::default(),
            downloads: Mutex::default(),
            faults: FaultQueues::default(),
            rate_limited: AtomicUsize::new(0),
            files: Mutex::default(),
            large,
            temp: Mutex::default(),
            metadata_requests: AtomicUsize::new(0),
            served: Mutex::default(),
            fleet: Mutex::default(),
            synthetic: Mutex::default(),
            calls_in_flight: InFlight::default(),
        }
    }

    /// The fake's clock, in Unix seconds.
    pub fn now_unix(&self) -> i64 {
        unix_now().saturating_add(self.cfg.clock_offset)
    }

    /// The fake's clock as a `SystemTime`.
    pub fn now_system(&self) -> SystemTime {
        let now = SystemTime::now();
        let off = Duration::from_secs(self.cfg.clock_offset.unsigned_abs());
        let shifted = if self.cfg.clock_offset >= 0 {
            now.checked_add(off)
        } else {
            now.checked_sub(off)
        };
        shifted.unwrap_or(now)
    }

    pub fn lookup(&self, secret_id: &str) -> Lookup {
        if let Some(c) = self
            .cfg
            .credentials
            .iter()
            .find(|c| c.secret_id == secret_id)
        {
            return Lookup::Found(c.clone());
        }
        let now = self.now_system();
        match lock(&self.temp)
            .iter()
            .find(|t| t.cred.secret_id == secret_id)
        {
            Some(t) if now < t.expires => Lookup::Found(t.cred.clone()),
            Some(_) => Lookup::Expired,
            None => Lookup::NotFound,
        }
    }
}
