//! An in-process fake of the Tencent Cloud MNA API action `GetStatisticData`
//! (and the device listings `GetDevices`, `GetGroupList`, `GetGroupDetail`),
//! for mna-reportd's integration tests and benchmarks.
//!
//! [`FakeMna::start`] binds a plain-HTTP server on `127.0.0.1:0` that
//!
//! - answers `POST /` like the real API: it checks the headers, verifies the
//!   TC3-HMAC-SHA256 signature against the bytes received, applies an
//!   optional rate limit, validates the body, and returns a `FilePath` URL;
//! - serves that URL (`GET /files/<id>.xlsx?sign=...`) as a real, deterministic
//!   xlsx workbook, until it expires;
//! - optionally serves CVM role credentials under `/latest/meta-data/`;
//! - injects faults from two FIFO queues ([`Fault`]), and records every call
//!   and download for assertions.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fake_mna::{FakeConfig, FakeMna, Fault};
//!
//! let fake = FakeMna::start(FakeConfig::default()).await?;
//! fake.push_fault(Fault::api_error("InternalError")); // the next valid call fails
//! fake.push_fault(Fault::DownloadTruncated); // the next valid download is cut short
//! // ... point the client at fake.endpoint() with AKIDfake / fake-secret-key-0123456789 ...
//! for call in fake.calls() {
//!     println!("{:?} {:?}", call.params, call.outcome);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Modules: `sign` (signing and verification), `params` (the request body),
//! `faults` (faults and the rate limiter), `xlsx` (report files), `devices`
//! (the account's devices and the listing actions), `api`,
//! `download` and `metadata` (the handlers), `conn` (connection aborts and
//! early-stopping bodies), `server` (accept loop and routing), `state`
//! (shared state), `records` (what tests inspect), `config`, `clock`, and
//! `hostile` (crafted workbooks for tests of a reader's limits).

mod api;
mod clock;
mod config;
mod conn;
mod devices;
mod download;
mod faults;
pub mod hostile;
mod metadata;
mod params;
mod records;
mod server;
pub mod sign;
mod state;
mod xlsx;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use api::{ACTION, MAX_SKEW, SERVICE, VERSION};
pub use config::{Credential, DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Delay, FakeConfig};
pub use devices::{
    FakeDevice, GET_DEVICES, GET_GROUP_DETAIL, GET_GROUP_LIST, SYNTHETIC_CREATED,
    SYNTHETIC_GROUP_NAME,
};
pub use faults::{Fault, Gate};
pub use params::{ParamError, Params, parse_body};
pub use records::{CallRecord, DownloadRecord, Outcome};
pub use sign::{authorization, sign_tc3};
pub use xlsx::{
    HEADER, MAX_ROWS, PADDING_ENTRY, SUMMARY_SHEET, TRAFFIC_SHEET, XLSX_CONTENT_TYPE, row_bytes,
    try_workbook_for, window_rows, workbook_for,
};

use faults::lock;
use state::Shared;

/// Stops the server when the last handle is dropped.
struct Guard {
    stop: watch::Sender<bool>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// A running fake. Cheap to clone; the server stops when the last clone is
/// dropped or [`FakeMna::shutdown`] is called.
#[derive(Clone)]
pub struct FakeMna {
    shared: Arc<Shared>,
    guard: Arc<Guard>,
    addr: SocketAddr,
}

impl std::fmt::Debug for FakeMna {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeMna").field("addr", &self.addr).finish()
    }
}

impl FakeMna {
    /// Starts on `127.0.0.1:0` on the current tokio runtime.
    pub async fn start(cfg: FakeConfig) -> std::io::Result<FakeMna> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), cfg).await
    }

    /// Starts on `addr` on the current tokio runtime. In large-file mode the
    /// file is written to a temp file before this returns.
    pub async fn start_on(addr: SocketAddr, cfg: FakeConfig) -> std::io::Result<FakeMna> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let host = if addr.ip().is_unspecified() {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        let endpoint = format!("http://{host}");
        let large = match cfg.file_bytes {
            None => None,
            Some(target) => {
                let (rows, summary) = (cfg.rows_per_report, cfg.with_summary_sheet);
                let built = tokio::task::spawn_blocking(move || {
                    let params = Params::new("-1", 1_700_000_000, 1_700_086_400, 1);
                    let rows = rows.unwrap_or_else(|| window_rows(&params));
                    xlsx::build_large_file(&workbook_for(&params, rows, summary), target)
                })
                .await
                .map_err(std::io::Error::other)??;
                Some(built)
            }
        };
        let shared = Arc::new(Shared::new(cfg, endpoint, large));
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(server::serve(listener, shared.clone(), stop_rx));
        Ok(FakeMna {
            shared,
            guard: Arc::new(Guard { stop }),
            addr,
        })
    }

    /// Starts on a runtime of its own, in a background thread, for callers
    /// without one (synchronous tests). The thread ends with the server.
    pub fn start_background(addr: SocketAddr, cfg: FakeConfig) -> std::io::Result<FakeMna> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("fake-mna".into())
            .spawn(move || {
                rt.block_on(async move {
                    let started = FakeMna::start_on(addr, cfg).await;
                    let mut stopped = started.as_ref().ok().map(|f| f.guard.stop.subscribe());
                    let _ = tx.send(started);
                    if let Some(rx) = stopped.as_mut() {
                        let _ = rx.wait_for(|s| *s).await;
                    }
                });
            })?;
        rx.recv().map_err(std::io::Error::other)?
    }

    /// Stops accepting and drops open connections (all clones).
    pub fn shutdown(&self) {
        self.guard.stop.send_replace(true);
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the API endpoint, and the base of file URLs.
    pub fn endpoint(&self) -> String {
        self.shared.endpoint.clone()
    }

    /// `127.0.0.1:PORT`, as an SDK's `HttpProfile.endpoint` wants it.
    pub fn host(&self) -> String {
        self.shared
            .endpoint
            .trim_start_matches("http://")
            .to_owned()
    }

    /// `http://127.0.0.1:PORT/latest/meta-data/`.
    pub fn metadata_endpoint(&self) -> String {
        format!("{}{}", self.shared.endpoint, metadata::PREFIX)
    }

    /// The configuration in force.
    pub fn config(&self) -> &FakeConfig {
        &self.shared.cfg
    }

    /// Queues a fault; download faults go to the download queue, the others
    /// to the API queue.
    pub fn push_fault(&self, f: Fault) {
        self.shared.faults.push(f);
    }

    /// Queues `n` copies of an API (or download) fault.
    pub fn push_api_faults(&self, n: usize, f: Fault) {
        for _ in 0..n {
            self.shared.faults.push(f.clone());
        }
    }

    /// Faults not yet consumed: (API, download).
    pub fn pending_faults(&self) -> (usize, usize) {
        self.shared.faults.pending()
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Every `POST /` in arrival order.
    pub fn calls(&self) -> Vec<CallRecord> {
        lock(&self.shared.calls).clone()
    }

    /// Replace the account's devices (their groups are remembered: a group
    /// emptied still exists for `GetGroupDetail`).
    pub fn set_devices(&self, devices: Vec<FakeDevice>) {
        let mut fleet = lock(&self.shared.fleet);
        for d in &devices {
            if let Some((id, name)) = &d.group {
                fleet.1.insert(id.clone(), name.clone());
            }
        }
        fleet.0 = devices;
    }

    /// Add a device to the account (replacing one with the same id).
    pub fn add_device(&self, device: FakeDevice) {
        let mut devices = self.devices();
        devices.retain(|d| d.id != device.id);
        devices.push(device);
        self.set_devices(devices);
    }

    /// Make up `n` more own devices, in no group, for `GetDevices` (after
    /// the fleet's own): `syn-000000000`, `syn-000000001`, ..., created at
    /// [`devices::SYNTHETIC_CREATED`]. Each page is made when asked for, so
    /// a fleet of millions costs the fake nothing.
    pub fn set_synthetic_devices(&self, n: u64) {
        lock(&self.shared.synthetic).count = n;
    }

    /// Put the synthetic devices in group `id` (listed by `GetGroupList`,
    /// paged by `GetGroupDetail`, named [`SYNTHETIC_GROUP_NAME`]),
    /// or in none.
    pub fn set_synthetic_group(&self, id: Option<String>) {
        lock(&self.shared.synthetic).group = id;
    }

    /// Remove device `id` from the account.
    pub fn remove_device(&self, id: &str) {
        lock(&self.shared.fleet).0.retain(|d| d.id != id);
    }

    /// The account's devices now.
    pub fn devices(&self) -> Vec<FakeDevice> {
        lock(&self.shared.fleet).0.clone()
    }

    /// The calls of one action (`X-TC-Action`), in arrival order.
    pub fn calls_of(&self, action: &str) -> Vec<CallRecord> {
        lock(&self.shared.calls)
            .iter()
            .filter(|c| c.action == action)
            .cloned()
            .collect()
    }

    /// Number of calls answered with a `FilePath`.
    pub fn ok_calls(&self) -> usize {
        lock(&self.shared.calls)
            .iter()
            .filter(|c| c.outcome.is_ok())
            .count()
    }

    /// Every `GET /files/...` in arrival order.
    pub fn downloads(&self) -> Vec<DownloadRecord> {
        lock(&self.shared.downloads)
            .iter()
            .map(|d| d.snapshot())
            .collect()
    }

    /// The exact bytes the URL of the API answer `request_id` serves when not
    /// faulted. `None` for an unknown request id, in large-file mode (see
    /// [`FakeMna::served_sha256`]), or if the workbook cannot be written.
    /// May generate the workbook (blocking).
    pub fn served_file(&self, request_id: &str) -> Option<Vec<u8>> {
        if self.shared.large.is_some() {
            return None;
        }
        let params = self.params_of(request_id)?;
        let bytes = self.shared.cache.get(&params).ok()?;
        Some(bytes.as_ref().clone())
    }

    /// Build the workbooks of `params` now, so that requests for them are
    /// served from the cache: a benchmark then measures its client, not the
    /// fake's workbook writer competing for the same cores (a real server
    /// does that work on its own machines).
    pub fn prewarm(
        &self,
        params: impl IntoIterator<Item = Params>,
    ) -> Result<(), rust_xlsxwriter::XlsxError> {
        for p in params {
            self.shared.cache.get(&p)?;
        }
        Ok(())
    }

    /// Hex SHA-256 of what [`FakeMna::served_file`] would return; also works
    /// in large-file mode (hashing the file once).
    pub fn served_sha256(&self, request_id: &str) -> Option<String> {
        if let Some(body) = lock(&self.shared.served).get(request_id) {
            return Some(sign::sha256_hex(body));
        }
        let params = self.params_of(request_id)?;
        match &self.shared.large {
            Some(large) => large.sha256(),
            None => Some(sign::sha256_hex(&self.shared.cache.get(&params).ok()?)),
        }
    }

    fn params_of(&self, request_id: &str) -> Option<Params> {
        let files = lock(&self.shared.files);
        let id = files.by_request.get(request_id)?;
        files.by_id.get(id).map(|f| f.params.clone())
    }

    /// Size of the large-file mode file, if that mode is on.
    pub fn large_file_len(&self) -> Option<u64> {
        self.shared.large.as_ref().map(|l| l.len)
    }

    /// Calls refused by the rate limiter.
    pub fn rate_limited_count(&self) -> usize {
        self.shared.rate_limited.load(Ordering::SeqCst)
    }

    /// The most `GetStatisticData` calls that were being answered at once
    /// (from the arrival of the request to the end of its answer's delay).
    pub fn max_calls_in_flight(&self) -> usize {
        self.shared.calls_in_flight.max()
    }

    /// Requests under `/latest/meta-data/`.
    pub fn metadata_requests(&self) -> usize {
        self.shared.metadata_requests.load(Ordering::SeqCst)
    }

    /// Every temporary credential the metadata endpoint issued, oldest first.
    pub fn issued_temp_credentials(&self) -> Vec<Credential> {
        lock(&self.shared.temp)
            .iter()
            .map(|t| t.cred.clone())
            .collect()
    }

    /// The `Authorization` header (and token) for a `POST /` of `body` at
    /// `timestamp`, signed with the first configured credential.
    pub fn sign_request(&self, body: &[u8], timestamp: i64) -> Option<(String, Option<String>)> {
        let c = self.shared.cfg.credentials.first()?;
        let auth = authorization(
            &c.secret_id,
            &c.secret_key,
            SERVICE,
            &self.host(),
            "application/json",
            body,
            timestamp,
        );
        Some((auth, c.token.clone()))
    }
}

/// The fake's idea of "now" without the offset: Unix seconds.
pub fn unix_now() -> i64 {
    clock::unix_now()
}

#[cfg(test)]
mod tests;
