//! The local state: the SQLite history (migrations, claims, attempts,
//! queries), the archive root (every report file, reached only through
//! directory handles) and durable renames, report file names, streaming downloads
//! to disk, the workbook limits and ingestion, the processes that hold
//! claims, pruning.
//!
//! May import [`crate::domain`], [`crate::config`] and [`crate::tencent`];
//! not what drives work ([`crate::fetch`]) or the command line.

pub(crate) mod export;
pub(crate) mod files;
pub(crate) mod holder;
pub(crate) mod ingest;
pub(crate) mod missing;
pub(crate) mod prune;
pub(crate) mod remote;
pub(crate) mod resolved;
pub(crate) mod root;
pub(crate) mod status;
pub(crate) mod store;
pub(crate) mod workbook;
