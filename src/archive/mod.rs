//! The local state: the SQLite history (migrations, claims, attempts,
//! queries), the archive root (every report file, reached only through
//! directory handles) and durable renames, report file names, streaming downloads
//! to disk, the workbook limits and ingestion, the processes that hold
//! claims, pruning.
//!
//! May import [`crate::domain`], [`crate::config`] and [`crate::tencent`];
//! not what drives work ([`crate::fetch`]) or the command line.

pub mod files;
pub mod holder;
pub mod ingest;
pub mod missing;
pub mod prune;
pub mod resolved;
pub mod root;
pub mod status;
pub mod store;
pub mod workbook;
