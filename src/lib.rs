//! mna-reportd: keeps Tencent Cloud MNA traffic reports on your own disk.
//!
//! The library holds the whole program; `main.rs` only parses the command
//! line and maps results to exit codes. Pure core (windows, schedules,
//! signing, retry classes, config validation) and thin edges (HTTP, disk,
//! SQLite, clock, signals) live in separate modules, each owning one job.

pub mod api;
pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod daemon;
pub mod download;
pub mod engine;
pub mod exit;
pub mod files;
pub mod ingest;
pub mod logging;
pub mod monitor;
pub mod owner;
pub mod plan;
pub mod prune;
pub mod ratelimit;
pub mod retry;
pub mod schedule;
pub mod sign;
pub mod signals;
pub mod status;
pub mod store;
pub mod target;
pub mod text;
pub mod timearg;
pub mod window;
pub mod workbook;
