//! What drives work: the plan of reports due, how long they take, the discovery of a job's devices,
//! which failures are retried,
//! the engine that fetches and how a run ended, the daemon and its timetable, sd_notify,
//! monitoring, per-job status, the assembly of a process from its config,
//! signals and exit codes.
//!
//! The plan and the retry classes are pure, but they are about the config's
//! jobs and the edges' errors, so they sit here, above the edges. May import
//! every folder but [`crate::commands`].

pub mod daemon;
pub mod discovery;
pub mod end;
pub mod engine;
pub mod estimate;
pub mod exit;
pub mod listener;
pub mod missing;
pub mod monitor;
pub mod plan;
pub mod progress;
pub mod record;
pub mod retry;
pub mod setup;
pub mod signals;
pub mod status;
