//! The bucket side of the archive: an S3-compatible object store (Tencent
//! COS, AWS S3, MinIO, ...). [`client`] builds the client and finds its
//! credentials; the Parquet export uploads through it.

pub(crate) mod client;
