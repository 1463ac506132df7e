//! The integration tests, one binary: each module drives the real
//! `mna-reportd` binary (see [`common`]) against the fake MNA API.
//! One module: `cargo test --test it fetch::`.

mod common;
mod web_support;

mod catch_up_order;
mod config_errors;
mod contrib;
mod crash;
mod credentials;
mod daemon;
mod daemon_progress;
mod demo;
mod devices;
mod devices_bounds;
mod discovery_offline;
mod export;
mod failfast;
mod fetch;
mod horizon_bounds;
mod hostile_archive;
mod hostile_cli;
mod hostile_config;
mod hostile_net;
mod hostile_net_memory;
mod hostile_state;
mod hostile_workbook;
mod listeners;
mod papercuts;
mod progress;
mod query;
mod rate_latency;
mod readme_sql;
mod remote;
mod remote_read;
mod runs;
mod secrets;
mod snapshot_restore;
mod status_last_error;
mod systemd_units;
mod web_api;
mod web_browser;
mod web_rows;
