//! The fetch service: what is due (the plan), which targets a job has now
//! (discovery), and fetching reports: claims, calls, downloads, retries,
//! the record of a run and how it ended, the progress shown meanwhile, and
//! the assembly of a process from its config.
//!
//! The plan and the retry classes are pure, but they are about the config's
//! jobs and the edges' errors, so they sit here, above the edges.

pub mod discovery;
pub mod download;
pub mod end;
pub mod engine;
pub mod estimate;
pub mod plan;
pub mod progress;
pub mod record;
pub mod retry;
pub mod setup;
