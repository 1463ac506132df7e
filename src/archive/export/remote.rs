//! An export destination in a bucket: `s3://bucket/prefix`.

use super::ExportError;
use std::path::Path;

/// A bucket and key prefix an export uploads to.
#[derive(Debug, Clone)]
pub struct RemoteDest {
    bucket: String,
    prefix: String,
}

impl RemoteDest {
    /// `s3://bucket[/prefix]`.
    pub fn parse(url: &str) -> Result<RemoteDest, ExportError> {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(ExportError::Destination(format!(
                "{url:?} names no bucket\n  fix: give s3://bucket/prefix"
            )));
        }
        Ok(RemoteDest {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// The URL, without a trailing slash.
    pub fn key(&self) -> String {
        match self.prefix.as_str() {
            "" => format!("s3://{}", self.bucket),
            p => format!("s3://{}/{p}", self.bucket),
        }
    }

    /// Upload the file at `path` as `<prefix>/<rel>`.
    pub fn upload(&self, _path: &Path, _rel: &str) -> Result<(), ExportError> {
        Err(ExportError::Remote(format!(
            "export to {} is not available in this build\n  fix: export to a local directory",
            self.key()
        )))
    }
}
