//! The local state: the SQLite history (migrations, claims, attempts,
//! queries), the reports directory and durable renames, streaming downloads
//! to disk, the workbook limits and ingestion, the processes that hold
//! claims, pruning.
//!
//! May import [`crate::core`], [`crate::config`] and [`crate::tencent`];
//! not what drives work ([`crate::run`]) or the command line.

pub mod download;
pub mod files;
pub mod holder;
pub mod ingest;
pub mod prune;
pub mod store;
pub mod workbook;
