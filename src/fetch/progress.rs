//! Progress of long work, for people, shown on a [`ProgressSink`]: a live
//! bar on a terminal ([`Bar`]: reports done of total, ok, failed, calls/s,
//! elapsed, ETA), kept on the last line (`-q` silences the logs, not the
//! bar; the per-report log lines show only with `-v`), a plain line every
//! [`LINE_EVERY`] off a terminal ([`Lines`]: a pipe, journald; none with
//! `-q`, [`Silent`]). The daemon brings its own sink (a log line and
//! systemd's `STATUS=` at the same pace).
//!
//! The figures ([`Snapshot`]) and their text are pure; the task that
//! samples the tally and shows it ([`ProgressTask`]) is the thin edge.

use crate::fetch::engine::Tally;
use crate::fetch::estimate::{coarse, thousands};
use crate::tencent::ratelimit::Limiter;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often a progress line is written off a terminal.
pub(crate) const LINE_EVERY: Duration = Duration::from_secs(10);

/// Overrides [`LINE_EVERY`] (a duration, e.g. `500ms`): for tests, or a
/// journal that wants more or fewer lines.
pub(crate) const LINE_EVERY_ENV: &str = "MNA_REPORTD_PROGRESS_EVERY";

/// Whether each report's end (and each retry) is a log line at its level:
/// not under a bar without `-v` (the bar and the closing summary say it).
static PER_REPORT_LINES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether the per-report lines are logged at their level (else at debug).
pub(crate) fn per_report_lines() -> bool {
    PER_REPORT_LINES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Log each report's end at its level (`true`), or at debug under a bar.
pub(crate) fn set_per_report_lines(on: bool) {
    PER_REPORT_LINES.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// The bar being drawn, if any: log lines are written around it.
static BAR: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

/// Stderr for log lines: while a bar is drawn, each line is written with
/// the bar lifted and drawn again below it, so the two never mix.
pub(crate) struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// How often the bar is redrawn.
const BAR_EVERY: Duration = Duration::from_millis(200);

/// Where progress goes.
pub(crate) trait ProgressSink: Send + Sync {
    /// How often the figures are shown; `None`: never.
    fn every(&self) -> Option<Duration>;
    /// The run starts with these figures.
    fn begin(&self, _s: &Snapshot) {}
    /// The figures now.
    fn show(&self, s: &Snapshot);
    /// The run ended with these figures.
    fn end(&self, _s: &Snapshot) {}
    /// `n` reports wait for another process to let go of them.
    fn waiting_for(&self, n: usize) {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "waiting for {n} report(s) another mna-reportd process is fetching; \
             those it does not finish are fetched here (Ctrl-C to stop)"
        );
    }
}

/// Which sink a command shows progress on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A live bar on stderr, a terminal.
    Bar,
    /// A line on stderr now and then.
    Lines,
    Off,
}

impl Mode {
    /// For a command: a bar when stderr is a terminal that can draw one
    /// (`TERM` set, not `dumb`), even when `quiet`; else lines, none when
    /// `quiet`.
    pub(crate) fn pick(quiet: bool) -> Mode {
        let drawable = std::env::var("TERM").is_ok_and(|t| !t.is_empty() && t != "dumb");
        if drawable && std::io::stderr().is_terminal() {
            Mode::Bar
        } else if quiet {
            Mode::Off
        } else {
            Mode::Lines
        }
    }

    /// The sink of this mode.
    pub(crate) fn sink(self) -> Arc<dyn ProgressSink> {
        match self {
            Mode::Bar => Arc::new(Bar::default()),
            Mode::Lines => Arc::new(Lines),
            Mode::Off => Arc::new(Silent),
        }
    }
}

/// The figures of a moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) total: u64,
    /// Ended in any way.
    pub(crate) done: u64,
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) calls_per_second: f64,
    pub(crate) elapsed: Duration,
}

impl Snapshot {
    /// Time left at the pace so far (`None` before anything ended).
    pub(crate) fn eta(&self) -> Option<Duration> {
        if self.done == 0 || self.elapsed.is_zero() {
            return None;
        }
        let left = self.total.saturating_sub(self.done) as f64;
        let per_second = self.done as f64 / self.elapsed.as_secs_f64();
        Some(Duration::from_secs_f64(left / per_second))
    }

    /// `1,234 of 438,000 reports (ok 1,230, failed 4), 19.2 calls/s, 1 min elapsed, about 6 h 18 min left`.
    pub(crate) fn line(&self) -> String {
        let eta = match self.eta() {
            Some(d) if self.done < self.total => format!(", about {} left", coarse(d)),
            _ => String::new(),
        };
        format!(
            "{} of {} reports (ok {}, failed {}), {:.1} calls/s, {} elapsed{eta}",
            thousands(self.done),
            thousands(self.total),
            thousands(self.ok),
            thousands(self.failed),
            self.calls_per_second,
            coarse(self.elapsed)
        )
    }
}

/// Samples a tally and the limiter's calls.
struct Sampler {
    total: u64,
    tally: Arc<Tally>,
    limiter: Arc<Limiter>,
    started: Instant,
    sent_at_start: u64,
}

impl Sampler {
    fn sample(&self) -> Snapshot {
        let (ok, failed, done) = self.tally.get();
        let elapsed = self.started.elapsed();
        let calls = self.limiter.sent().saturating_sub(self.sent_at_start);
        Snapshot {
            total: self.total,
            done: (done as u64).min(self.total),
            ok: ok as u64,
            failed: failed as u64,
            calls_per_second: calls as f64 / elapsed.as_secs_f64().max(1e-3),
            elapsed,
        }
    }
}

/// Progress being shown; [`ProgressTask::finish`] ends it.
pub(crate) struct ProgressTask {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressTask {
    /// Show on `sink` the progress of `total` reports counted in `tally`,
    /// calls counted by `limiter`.
    pub(crate) fn start(
        sink: Arc<dyn ProgressSink>,
        total: u64,
        tally: Arc<Tally>,
        limiter: Arc<Limiter>,
    ) -> ProgressTask {
        let stop = CancellationToken::new();
        let sampler = Sampler {
            total,
            tally,
            sent_at_start: limiter.sent(),
            limiter,
            started: Instant::now(),
        };
        let task = sink
            .every()
            .map(|every| tokio::spawn(show(sink, every, sampler, stop.clone())));
        ProgressTask { stop, task }
    }

    /// Stop showing (a bar is left drawn at its end).
    pub(crate) async fn finish(self) {
        self.stop.cancel();
        if let Some(t) = self.task {
            let _ = t.await;
        }
    }
}

async fn show(
    sink: Arc<dyn ProgressSink>,
    every: Duration,
    sampler: Sampler,
    stop: CancellationToken,
) {
    sink.begin(&sampler.sample());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => break,
        }
        sink.show(&sampler.sample());
    }
    sink.end(&sampler.sample());
}

/// A live bar on stderr.
#[derive(Default)]
pub(crate) struct Bar {
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Bar {
    fn draw(&self, s: &Snapshot) {
        let mut held = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        let bar = held.get_or_insert_with(|| {
            let style = indicatif::ProgressStyle::with_template(
                "{bar:20} {pos}/{len} reports, {msg}, {elapsed} elapsed, ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(s.total),
                indicatif::ProgressDrawTarget::stderr(),
            )
            .with_style(style);
            *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
            bar
        });
        bar.set_message(format!(
            "ok {}, failed {}, {:.1} calls/s",
            s.ok, s.failed, s.calls_per_second
        ));
        bar.set_position(s.done);
    }
}

impl ProgressSink for Bar {
    fn every(&self) -> Option<Duration> {
        Some(BAR_EVERY)
    }

    fn begin(&self, s: &Snapshot) {
        self.draw(s);
    }

    fn show(&self, s: &Snapshot) {
        self.draw(s);
    }

    fn end(&self, s: &Snapshot) {
        self.draw(s);
        BAR.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        bar.abandon();
        // The bar stays; what follows starts on a line of its own.
        if !bar.is_hidden() {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock());
        }
    }
}

/// How often a line of progress is written (or sent): [`LINE_EVERY`], or
/// what [`LINE_EVERY_ENV`] says.
pub(crate) fn line_every() -> Duration {
    std::env::var(LINE_EVERY_ENV)
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(LINE_EVERY)
}

/// A line on stderr every [`line_every`].
pub(crate) struct Lines;

impl ProgressSink for Lines {
    fn every(&self) -> Option<Duration> {
        Some(line_every())
    }

    fn show(&self, s: &Snapshot) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "progress: {}", s.line());
    }
}

/// No progress shown.
pub(crate) struct Silent;

impl ProgressSink for Silent {
    fn every(&self) -> Option<Duration> {
        None
    }

    fn show(&self, _: &Snapshot) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(done: u64, elapsed: u64) -> Snapshot {
        Snapshot {
            total: 438_000,
            done,
            ok: done.saturating_sub(4),
            failed: 4.min(done),
            calls_per_second: 19.23,
            elapsed: Duration::from_secs(elapsed),
        }
    }

    #[test]
    fn a_line_says_done_of_total_ok_failed_pace_elapsed_and_time_left() {
        assert_eq!(
            snap(1234, 64).line(),
            "1,234 of 438,000 reports (ok 1,230, failed 4), 19.2 calls/s, 1 min elapsed, about 6 h 17 min left"
        );
        // nothing ended yet: no estimate of the time left
        assert_eq!(
            snap(0, 3).line(),
            "0 of 438,000 reports (ok 0, failed 0), 19.2 calls/s, 3 s elapsed"
        );
        // all ended: nothing left
        assert!(!snap(438_000, 22_000).line().contains("left"));
    }

    #[test]
    fn the_eta_follows_the_pace_so_far() {
        assert_eq!(snap(100, 10).eta(), Some(Duration::from_secs(43_790)));
        assert_eq!(snap(0, 10).eta(), None);
    }

    #[test]
    fn quiet_shows_nothing() {
        assert_eq!(Mode::pick(true), Mode::Off);
    }
}
