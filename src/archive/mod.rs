//! The local state: the SQLite history (migrations, claims, attempts,
//! queries), the archive root (every report file, reached only through
//! directory handles) and durable renames, report file names, streaming downloads
//! to disk, the workbook limits and ingestion, the processes that hold
//! claims, pruning.
//!
//! May import [`crate::core`], [`crate::config`] and [`crate::tencent`];
//! not what drives work ([`crate::run`]) or the command line.

pub mod download;
pub mod export;
pub mod files;
pub mod holder;
pub mod ingest;
pub mod prune;
pub mod remote;
pub mod root;
pub mod store;
pub mod workbook;
