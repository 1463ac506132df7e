//! Logs: to stderr (journald under systemd), text or JSON, level from
//! `-v`/`-q` unless `RUST_LOG` says otherwise. A closed stderr loses the
//! lines, never the process. A progress bar on the terminal is lifted
//! while a line is written.

use crate::commands::cli::LogFormat;
use tracing_subscriber::EnvFilter;

/// Install the process's log subscriber.
pub fn init(verbose: u8, quiet: bool, format: LogFormat) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    // Our own crate at the chosen level; dependencies one notch quieter.
    let default = if verbose >= 2 {
        level.to_string()
    } else {
        format!("warn,mna_reportd={level}")
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::fetch::progress::LogWriter)
        // A log line that cannot be written (stderr closed: `2>&1 | head`)
        // is dropped; the default would report it with `eprintln!`, which
        // panics on the same closed stderr.
        .log_internal_errors(false)
        .with_target(false);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    // A subscriber already installed (tests) is fine.
    let _ = result;
}
