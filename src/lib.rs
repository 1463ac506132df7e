//! mna-reportd: keeps Tencent Cloud MNA traffic reports on your own disk.
//!
//! The library holds the whole program; `main.rs` only parses the command
//! line and maps results to exit codes. Each folder owns one kind of thing
//! and imports only the folders `tests/layers.rs` lists for it:
//!
//! - `domain/`: the pure vocabulary (windows, schedules, targets, time
//!   arguments, server text, report keys, API codes); imports nothing;
//! - `config/`: the job file, read and validated into a model;
//! - `tencent/`: the remote service (signing, the request and answer, the
//!   client, the rate limiter, credentials);
//! - `archive/`: the local state (the history database and every SQL
//!   statement, the archive root and every file, workbooks and their
//!   ingestion, pruning, per-job status);
//! - `fetch/`: the fetch service (the plan, discovery, claims, calls,
//!   downloads, retries, how a run ended);
//! - `serve/`: HTTP (the one listener, the page and its JSON API, `/metrics`);
//! - `daemon/`: `run` (the timetable, the loop, signals, sd_notify, reload);
//! - `commands/`: the command line and exit codes.
//!
//! The layers are private to the crate, so the compiler finds dead code;
//! the binary uses the three items exported below, the integration tests and
//! the benches what [`testing`] exports.

pub(crate) mod archive;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod daemon;
pub(crate) mod domain;
pub(crate) mod fetch;
pub(crate) mod serve;
pub(crate) mod tencent;

pub mod testing;

// What the binary needs.
pub use commands::cli::Cli;
pub use commands::dispatch;
pub use commands::logging::init as init_logging;
