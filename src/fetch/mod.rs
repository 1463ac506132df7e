//! The fetch service ([`service`]): one pipeline for `fetch` and the
//! daemon's fires. The plan (the windows a run asks for, made once), device
//! listings into the inventory ([`discovery`]), fetching reports ([`engine`]:
//! claims, calls, downloads, retries; the claim and the seal are the
//! store's), the record of a run and how it ended, the progress sink shown
//! meanwhile, and the assembly of a process from its config.
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
pub mod service;
pub mod setup;
