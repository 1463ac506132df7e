//! `run`: the daemon. At start it catches up every job (everything due
//! within the horizon and not done), then fires each job on its schedule,
//! one fire of a job at a time. SIGHUP reloads the job file (a broken one is
//! logged and the running jobs go on); SIGTERM/SIGINT stop new work, give
//! reports in flight [`signals::DAEMON_GRACE`] to finish, leave the rest to
//! the next start and exit 0 (see [`signals`]). The loop itself pings the
//! systemd watchdog.

mod health;
pub(crate) mod notify;
mod start;
pub(crate) use start::StartError;
pub(crate) mod signals;
pub(crate) mod timetable;

use crate::archive::remote::snapshot::timer as snapshot;
use crate::archive::resolved::ResolvedJob;
use crate::archive::status::{self, JobStatus};
use crate::archive::store;
use crate::archive::store::runs::RunTrigger;
use crate::config::{self, Config, Job};
use crate::fetch::discovery::ListingPace;
use crate::fetch::engine::{Control, Engine, Summary};
use crate::fetch::plan::{Ask, Plan};
use crate::fetch::record;
use crate::fetch::service::{self, Listing, RunRequest};
use crate::fetch::setup;
use crate::serve::auth::AccessError;
use crate::serve::listener::{Shutdown, hosts::HostPolicy};
use crate::serve::monitor::{self, Health};
use jiff::Timestamp;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timetable::{Scheduler, Tick};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// A fire in progress.
struct Running {
    ctl: Control,
    started: Instant,
    handle: tokio::task::JoinHandle<()>,
}

/// What a finished fire reports back to the loop.
struct Finished {
    job: String,
    summary: Summary,
    elapsed: Duration,
    missing: usize,
    /// The fire's task panicked with this message: it did not finish its work.
    panicked: Option<String>,
}

/// A job file and credentials read for a reload, off the loop's thread.
type Loaded = anyhow::Result<(Config, crate::tencent::credentials::Found)>;

struct Daemon {
    path: PathBuf,
    config: Config,
    engine: Engine,
    limiter: Arc<crate::tencent::ratelimit::Limiter>,
    scheduler: Scheduler,
    fires: HashMap<String, Running>,
    /// The daemon's stop and abort (from the signals); each fire's are its children.
    ctl: Control,
    done_tx: mpsc::UnboundedSender<Finished>,
    reload_tx: mpsc::UnboundedSender<Loaded>,
    /// A reload is reading the files; another SIGHUP meanwhile reads them again after it.
    reloading: bool,
    reload_again: bool,
    health: Arc<Health>,
    /// When each discovering job last listed its devices.
    pace: ListingPace,
    /// When housekeeping last ran (`None`: not yet).
    last_housekeeping: Option<Instant>,
    housekeeping_task: Option<tokio::task::JoinHandle<()>>,
    /// `[export]`: the daemon's own Parquet export.
    export: crate::archive::export::periodic::Periodic,
    /// `[storage.remote] snapshot_interval`: the history's snapshots, and what they need.
    snapshots: snapshot::Timer,
    snapshot_setup: snapshot::Setup,
}

/// How often the daemon sweeps stale `.part` files and applies `[storage] retention`.
pub(crate) const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(24 * 3600);

fn jobs_of(config: &Config) -> Vec<Arc<Job>> {
    config.jobs.iter().cloned().map(Arc::new).collect()
}

/// More routes to serve from the config (the page of `[web]`): where, and
/// what. Given by the layer above, which this one does not import.
/// The page's routes, which show what the daemon's health knows (why a fire stopped).
pub(crate) type ExtraRoutes =
    fn(&Config, Arc<Health>) -> Result<Option<(std::net::SocketAddr, axum::Router)>, AccessError>;

/// How the daemon ended, for the command to map to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// SIGTERM/SIGINT: the fires in flight finished or were given back.
    Stopped,
}

/// Run the daemon until SIGTERM/SIGINT, serving the routes `extra` makes
/// (on the metrics listener when they share its address).
pub(crate) async fn run(
    config_flag: Option<&Path>,
    extra: ExtraRoutes,
) -> Result<Ended, StartError> {
    let path = setup::config_path(config_flag);
    let config = config::load(&path)?;
    let health = Arc::new(Health::new(
        &config.storage.database_path(),
        monitor::STALE_AFTER,
    ));
    let web = extra(&config, health.clone())?;
    let (source, found) = setup::find_credentials(&config)?;
    let store = setup::open_store(&config)?;
    let limiter = setup::limiter(&config);
    let snapshot_setup = snapshot::Setup {
        store: store.clone(),
        open_bucket: setup::remote_bucket,
    };
    let outbox = setup::outbox(&config, &store)?;
    let engine = setup::engine(&config, found, store, limiter.clone())?;
    info!(config = %path.display(), credentials = %source, jobs = config.jobs.len(), "mna-reportd starting");
    let ctl = Control::default();
    let (Ok(mut hup), Ok(_)) = (
        signals::reload_requests(),
        signals::stop_on_signal(ctl.clone(), signals::DAEMON_GRACE),
    ) else {
        return Err(anyhow::anyhow!("cannot install signal handlers").into());
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (reload_tx, mut reload_rx) = mpsc::unbounded_channel();
    let stop_listener = start_listeners(&config, web, &health, ctl.abort.clone()).await?;
    if let Some(outbox) = outbox {
        info!(bucket = %outbox.bucket().url(), keys = %outbox.bucket().keys_source(), "uploading sealed reports to the bucket");
        health.watch_uploads(outbox.status());
        tokio::spawn(outbox.run(ctl.stop.clone()));
    }
    let scheduler = Scheduler::new(jobs_of(&config), Timestamp::now());
    seed_gauges(engine.store(), scheduler.jobs()).await;
    let snapshots = snapshot::Timer::seeded(engine.store(), &config).await;
    let mut d = Daemon {
        scheduler,
        path,
        config,
        engine,
        limiter,
        fires: HashMap::new(),
        ctl,
        done_tx,
        reload_tx,
        reloading: false,
        reload_again: false,
        health,
        pace: Default::default(),
        last_housekeeping: None,
        housekeeping_task: None,
        export: Default::default(),
        snapshots,
        snapshot_setup,
    };
    let catch_up = d.scheduler.start(Timestamp::now());
    d.start_fires(catch_up, RunTrigger::CatchUp);
    notify::ready(&d.status_line());
    info!(
        jobs = d.scheduler.jobs().len(),
        "ready; caught-up fires started"
    );

    d.serve(&mut hup, &mut done_rx, &mut reload_rx).await;

    notify::stopping();
    d.shutdown(&mut done_rx).await;
    stop_listener.stop.cancel();
    Ok(Ended::Stopped)
}

impl Daemon {
    /// The loop, until a stop: sleep until the next fire, watchdog ping,
    /// export or snapshot is due, a fire ends, a reload is asked for or one is loaded;
    /// then start what is due.
    async fn serve(
        &mut self,
        hup: &mut tokio::signal::unix::Signal,
        done_rx: &mut mpsc::UnboundedReceiver<Finished>,
        reload_rx: &mut mpsc::UnboundedReceiver<Loaded>,
    ) {
        let watchdog = notify::watchdog_interval();
        let mut last_observed = Instant::now();
        loop {
            let mut sleep = self.scheduler.sleep_for(Timestamp::now());
            if let Some(w) = watchdog {
                sleep = sleep.min(w);
            }
            sleep = sleep.min(self.export.sleep_for(&self.config));
            sleep = sleep.min(self.snapshots.sleep_for(&self.config, Timestamp::now()));
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                Some(done) = done_rx.recv() => self.finish(done),
                _ = hup.recv() => self.reload(),
                Some(loaded) = reload_rx.recv() => self.reloaded(loaded),
                _ = self.ctl.stop.cancelled() => break,
            }
            let tick = self
                .scheduler
                .tick(Timestamp::now(), last_observed.elapsed());
            last_observed = Instant::now();
            if let Some(jump) = tick.jump {
                warn!(by = %jump.0, "the wall clock jumped (suspend, NTP step or manual change); replanning, no window is skipped or repeated");
            }
            self.start_fires(tick, RunTrigger::Schedule);
            self.housekeeping();
            self.export.tick(self.engine.store(), &self.config);
            self.snapshots
                .tick(&self.snapshot_setup, &self.config, Timestamp::now());
            self.health.tick();
            notify::watchdog();
        }
    }
}

/// Start the `[metrics]` listener (with the page when it shares the
/// address) and the page's own. They stop when the returned `stop` is
/// cancelled (after the fires); `abort` (a second signal) drops their
/// connections at once.
async fn start_listeners(
    config: &Config,
    mut web: Option<(std::net::SocketAddr, axum::Router)>,
    health: &Arc<Health>,
    abort: CancellationToken,
) -> anyhow::Result<Shutdown> {
    let shutdown = Shutdown {
        stop: CancellationToken::new(),
        abort,
    };
    let hosts = HostPolicy::new(config.allowed_hosts());
    if let Some(listen) = config.metrics.listen {
        let handle = monitor::install().map_err(anyhow::Error::msg)?;
        let shared = web
            .take_if(|(at, _)| *at == listen)
            .map(|(_, routes)| routes)
            .unwrap_or_default();
        monitor::serve_with(
            listen,
            handle,
            health.clone(),
            shared,
            hosts.clone(),
            shutdown.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} ([metrics] listen): {e}"))?;
    }
    if let Some((listen, routes)) = web {
        let listener = crate::serve::listener::bind(listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen} ([web] listen): {e}"))?;
        // The bound address, the one to connect to when `listen` asked for port 0.
        info!(addr = %listener.local_addr()?, "serving the page");
        monitor::spawn(listener, routes, hosts, shutdown.clone());
    }
    Ok(shutdown)
}

impl Daemon {
    fn status_line(&self) -> String {
        let running: Vec<&str> = self.fires.keys().map(String::as_str).collect();
        if running.is_empty() {
            format!("{} jobs, idle", self.scheduler.jobs().len())
        } else {
            let jobs = self.scheduler.jobs().len();
            format!("{jobs} jobs, fetching: {}", running.join(", "))
        }
    }

    /// Start the fires the scheduler decided (each recorded in `runs` as
    /// `trigger`); say which it skipped.
    fn start_fires(&mut self, tick: Tick, trigger: RunTrigger) {
        for name in &tick.skipped {
            let running_for = self
                .fires
                .get(name)
                .map(|f| f.started.elapsed())
                .unwrap_or_default();
            warn!(job = %name, ?running_for, "previous fire still running; skipping this one (its windows stay due)");
        }
        if tick.fires.is_empty() {
            return;
        }
        for fire_of in tick.fires {
            let job = fire_of.job.clone();
            let ctl = Control {
                stop: self.ctl.stop.child_token(),
                abort: self.ctl.abort.child_token(),
                tally: Default::default(),
            };
            let started = Instant::now();
            let work = fire(
                self.engine.clone(),
                fire_of,
                trigger,
                self.pace.clone(),
                ctl.clone(),
            );
            let handle = spawn_fire(job.name.clone(), started, self.done_tx.clone(), work);
            self.fires.insert(
                job.name.clone(),
                Running {
                    ctl,
                    started,
                    handle,
                },
            );
        }
        notify::status(&self.status_line());
    }

    fn finish(&mut self, done: Finished) {
        self.fires.remove(&done.job);
        self.scheduler.finished(&done.job);
        if let Some(message) = &done.panicked {
            error!(job = %done.job, took = ?done.elapsed, panic = %message, "a fire crashed; its unfinished reports stay due and the next fire takes them");
        }
        let s = &done.summary;
        self.health.note_fire(&done.job, &health::of_fire(s));
        metrics::gauge!("mna_reportd_missing_windows", "job" => done.job.clone())
            .set(done.missing as f64);
        if s.total() > 0 || !s.failed.is_empty() {
            let end = crate::fetch::end::RunEnd::of(s, s.total(), s.interrupted > 0);
            info!(job = %done.job, outcome = end.outcome.as_str(), reason = end.reason.as_deref().unwrap_or("-"), ok = s.ok, failed = s.failed.len(), busy = s.busy, interrupted = s.interrupted, untouched = s.untouched, bytes = s.bytes, took = ?done.elapsed, missing = done.missing, "fire done");
        }
        if let Some(job) = self.scheduler.job(&done.job) {
            let step = Duration::from_secs(job.cadence.step().nominal_secs());
            if done.elapsed > step {
                warn!(job = %done.job, took = ?done.elapsed, step = ?step, "slow fire: it took longer than the job's step; fires in between were skipped");
            }
        }
        notify::status(&self.status_line());
    }

    /// Once a day (and at start), in the background: sweep `.part` files
    /// left by processes that are gone, and apply `[storage] retention`
    /// (to the bucket's objects too).
    fn housekeeping(&mut self) {
        if self
            .housekeeping_task
            .as_ref()
            .is_some_and(|h| !h.is_finished())
        {
            return;
        }
        if self
            .last_housekeeping
            .is_some_and(|t| t.elapsed() < HOUSEKEEPING_EVERY)
        {
            return;
        }
        self.last_housekeeping = Some(Instant::now());
        let store = self.engine.store().clone();
        let reports_dir = self.config.storage.reports_dir.clone();
        let retention = self.config.storage.retention;
        let config = self.config.clone();
        let runtime = tokio::runtime::Handle::current();
        self.housekeeping_task = Some(tokio::task::spawn_blocking(move || {
            setup::sweep_parts(&store, &reports_dir);
            let Some(retention) = retention else { return };
            let cutoff = Timestamp::now().as_second()
                - i64::try_from(retention.as_secs()).unwrap_or(i64::MAX / 2);
            let archive = crate::archive::root::ArchiveRoot::new(&reports_dir);
            // The bucket's objects too; one the bucket could not delete is
            // left for the next day's prune.
            let bucket = crate::archive::prune::InBucket {
                remote: setup::remote_archive(&config),
                runtime,
            };
            if let Err(e) =
                crate::archive::prune::prune(&store, &archive, cutoff, false, Some(&bucket))
            {
                warn!(error = %e, "retention: pruning failed; trying again tomorrow");
            }
        }));
    }

    /// SIGHUP: re-read the job file and the credentials on the blocking
    /// pool (a slow disk or a FIFO must not stall the loop, `/healthz` and
    /// the watchdog); [`Daemon::reloaded`] applies what was read.
    fn reload(&mut self) {
        if self.reloading {
            self.reload_again = true;
            return;
        }
        self.reloading = true;
        notify::reloading();
        let (path, tx) = (self.path.clone(), self.reload_tx.clone());
        tokio::task::spawn_blocking(move || {
            let loaded = config::load(&path)
                .map_err(anyhow::Error::from)
                .and_then(|c| {
                    let (_, found) = setup::find_credentials(&c)?;
                    Ok((c, found))
                });
            let _ = tx.send(loaded);
        });
    }

    /// The files of a reload are read: apply them, or keep everything if they are broken.
    fn reloaded(&mut self, loaded: Loaded) {
        self.reloading = false;
        match loaded.and_then(|(new, found)| self.try_reload(new, found)) {
            Ok((added, removed)) => {
                info!(config = %self.path.display(), ?added, ?removed, jobs = self.scheduler.jobs().len(), "reloaded the job file")
            }
            Err(e) => {
                error!(config = %self.path.display(), "reload failed, the running jobs go on unchanged: {e:#}")
            }
        }
        notify::ready(&self.status_line());
        if std::mem::take(&mut self.reload_again) {
            self.reload();
        }
    }

    fn try_reload(
        &mut self,
        mut new: Config,
        found: crate::tencent::credentials::Found,
    ) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        if new.storage.state_dir != self.config.storage.state_dir
            || new.storage.reports_dir != self.config.storage.reports_dir
        {
            warn!(
                "[storage] changes take effect at the next restart; keeping the current directories"
            );
            new.storage = self.config.storage.clone();
        }
        let engine = setup::engine(
            &new,
            found,
            self.engine.store().clone(),
            self.limiter.clone(),
        )?;
        // One limiter for the whole process: fires started before the reload and after share it.
        self.limiter.set_limit(new.api.rate_limit);
        self.engine = self.engine.reconfigured(engine);
        let replaced = self.scheduler.replace_jobs(jobs_of(&new), Timestamp::now());
        self.config = new;
        for name in &replaced.removed {
            if let Some(f) = self.fires.get(name) {
                f.ctl.stop.cancel();
            }
        }
        self.start_fires(replaced.tick, RunTrigger::Reload);
        Ok((replaced.added, replaced.removed))
    }

    /// Stop (the signals cancelled `ctl.stop`, and with it every fire's):
    /// no new reports; in-flight ones finish until the grace period ends or
    /// a second signal comes (`ctl.abort`), then are abandoned.
    async fn shutdown(mut self, done_rx: &mut mpsc::UnboundedReceiver<Finished>) {
        info!(running = self.fires.len(), grace = ?signals::DAEMON_GRACE, "stopping: waiting for the fires in flight");
        let abort = self.ctl.abort.clone();
        while !self.fires.is_empty() {
            tokio::select! {
                Some(done) = done_rx.recv() => self.finish(done),
                _ = abort.cancelled() => break,
            }
        }
        if !self.fires.is_empty() {
            warn!(
                running = self.fires.len(),
                "grace period over; abandoning the reports in flight, they are fetched at the next start"
            );
            for (_, f) in self.fires.drain() {
                let _ = f.handle.await;
            }
        }
        info!("stopped");
    }
}

/// Run `work` (a fire of `job`: its summary and missing count) as a task
/// whose end the loop always hears of, a panic included: the fire table is
/// cleared and the job fires again.
fn spawn_fire<F>(
    job: String,
    started: Instant,
    tx: mpsc::UnboundedSender<Finished>,
    work: F,
) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = (Summary, usize)> + Send + 'static,
{
    let inner = tokio::spawn(work);
    tokio::spawn(async move {
        let (summary, missing, panicked) = match inner.await {
            Ok((summary, missing)) => (summary, missing, None),
            Err(e) => (Summary::default(), 0, Some(panic_text(e))),
        };
        let _ = tx.send(Finished {
            job,
            summary,
            elapsed: started.elapsed(),
            missing,
            panicked,
        });
    })
}

/// What a task that did not finish said.
fn panic_text(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// A fire of `f.job` through the fetch service: its due reports not done
/// (a discovering job's devices listed first, at most once per
/// `discovery_interval`), recorded as `trigger`; its summary and the
/// reports still missing after it.
async fn fire(
    engine: Engine,
    f: timetable::Fire,
    trigger: RunTrigger,
    pace: ListingPace,
    ctl: Control,
) -> (Summary, usize) {
    let ask = Ask::Fire {
        at: f.at,
        covered: f.covered,
        at_start: f.at_start,
    };
    // A fire asks for no range: its plan is never too large.
    let plan = Plan::new(vec![(ResolvedJob::from_config(f.job.clone()), ask)]).unwrap_or_default();
    let req = RunRequest {
        plan,
        trigger,
        kind: record::Kind::Fire,
        force: false,
        listing: Listing::Paced(pace),
        wait_for_busy: false,
    };
    // A long catch-up tells its progress in the log and STATUS=, of the
    // reports this fire fetches.
    let sink = Arc::new(notify::FireProgress::new(&f.job.name));
    let summary = match service::run(&engine, req, sink, &ctl).await {
        Ok(ran) => {
            for e in &ran.no_devices {
                warn!(job = %e.job, reason = %e.reason(), fix = %e.fix(), "no device to fetch");
            }
            ran.summary
        }
        Err(e) => {
            error!(job = %f.job.name, error = %e, "cannot read the history; this fire does nothing");
            Summary::default()
        }
    };
    let missing = job_status(engine.store(), &f.job)
        .await
        .map_or(0, |s| s.missing);
    (summary, missing)
}

/// The job's status now, from the history (`None` if it cannot be read).
async fn job_status(store: &store::Store, job: &Arc<Job>) -> Option<JobStatus> {
    status::job_status_of(store, job, Timestamp::now())
        .await
        .ok()
}

/// Start the per-job series from the history, so that a restart does not
/// blank `last_success` (and the alert on it) until the next success.
async fn seed_gauges(store: &store::Store, jobs: &[Arc<Job>]) {
    for job in jobs {
        metrics::counter!("mna_reportd_reports_total", "job" => job.name.clone(), "outcome" => "ok").increment(0);
        metrics::counter!("mna_reportd_reports_total", "job" => job.name.clone(), "outcome" => "failed").increment(0);
        metrics::counter!("mna_reportd_retries_total", "job" => job.name.clone()).increment(0);
        let Some(st) = job_status(store, job).await else {
            continue;
        };
        if let Some(t) = st.last_success_at {
            metrics::gauge!("mna_reportd_last_success_timestamp_seconds", "job" => job.name.clone()).set(t as f64);
        }
        metrics::gauge!("mna_reportd_missing_windows", "job" => job.name.clone())
            .set(st.missing as f64);
    }
    metrics::counter!("mna_reportd_download_bytes_total").increment(0);
}

#[cfg(test)]
mod tests;
