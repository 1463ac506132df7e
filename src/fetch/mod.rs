//! The fetch service ([`service`]): one pipeline for `fetch` and the
//! daemon's fires. The plan (the windows a run asks for, made once), device
//! listings into the inventory ([`discovery`]), fetching reports ([`engine`]:
//! claims, calls, downloads, retries; the claim and the seal are the
//! store's), the record of a run and how it ended, the progress sink shown
//! meanwhile, and the assembly of a process from its config.
//!
//! The plan and the retry classes are pure, but they are about the config's
//! jobs and the edges' errors, so they sit here, above the edges.

pub(crate) mod discovery;
pub(crate) mod download;
pub(crate) mod end;
pub(crate) mod engine;
pub(crate) mod estimate;
pub(crate) mod plan;
pub(crate) mod progress;
pub(crate) mod record;
pub(crate) mod retry;
pub(crate) mod service;
pub(crate) mod setup;
