//! mna-reportd: keeps Tencent Cloud MNA traffic reports on your own disk.
//!
//! The library holds the whole program; `main.rs` only parses the command
//! line and maps results to exit codes. The folders are the layers, listed
//! here from the bottom up; a folder imports only the folders below it, and
//! `core/` imports nothing of the crate but itself (`tests/layers.rs`
//! checks it):
//!
//! - `core/`: the pure logic (windows, schedules, targets, time arguments,
//!   server text, the report's vocabulary);
//! - `config/`: the job file, read and validated into a model;
//! - `tencent/`: the remote service (signing, the request and answer, the
//!   client, the rate limiter, credentials);
//! - `archive/`: the local state (the history database, files and durable
//!   renames, downloads, workbooks and their ingestion, claims, pruning);
//! - `run/`: what drives work (the plan, retry classes, the engine, the
//!   daemon, monitoring, status, process assembly, signals, exit codes);
//! - `web/`: the read-only page and its JSON API (served by `run` and `serve`);
//! - `commands/`: the command line.
//!
//! The layers are private to the crate, so the compiler finds dead code;
//! the binary uses the three items exported below, the integration tests and
//! the benches what [`testing`] exports.

pub(crate) mod archive;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod core;
pub(crate) mod run;
pub(crate) mod tencent;
pub(crate) mod web;

pub mod testing;

// What the binary needs.
pub use commands::cli::Cli;
pub use commands::dispatch;
pub use commands::logging::init as init_logging;
