//! The bucket side of the archive: an S3-compatible object store (Tencent
//! COS, AWS S3, MinIO, ...). [`client`] builds the client and finds its
//! credentials (the Parquet export uploads through it); [`bucket`] is the
//! remote archive's bucket and every operation on it; [`meta`] the
//! identity an object carries; [`outbox`] the task that uploads each
//! sealed report ([`upload`]) and removes local copies after `keep_local`;
//! [`reach`] the bucket as its readers hold it (or why they cannot), and
//! the keys they may touch; [`snapshot`] the history's snapshots in `_history/` (and the daemon's
//! timer of them), [`restore`] a state directory rebuilt from one and the
//! bucket's listing, both with their scratch files in a [`spool`].

pub(crate) mod bucket;
pub(crate) mod client;
pub(crate) mod listing;
pub(crate) mod meta;
pub(crate) mod outbox;
pub(crate) mod reach;
pub(crate) mod restore;
pub(crate) mod snapshot;
mod spool;
pub(crate) mod upload;
