//! The remote archive as its readers hold it (the page's downloads,
//! `prune`): the bucket of `[storage.remote]` when it could be opened, or
//! why not, said where it is needed rather than at start (a page that
//! serves local files, a prune of local files, work without the bucket);
//! and which object keys a reader may touch, whatever the history holds:
//! only a report's key, `<prefix>/<job>/<YYYY>/<MM>/<file name>`, of that
//! report's job (never a snapshot below `_history/`, nothing outside the
//! prefix).

use super::bucket::Bucket;

/// Why there is no bucket without `[storage.remote]`, with the fix (the
/// history may still name objects a former config uploaded).
pub(crate) const NOT_SET: &str = "no [storage.remote] in the config\n  fix: add the table back (its url, endpoint and keys) so the bucket can be reached";

/// The remote archive of the config.
#[derive(Debug, Clone)]
pub(crate) enum RemoteArchive {
    /// No `[storage.remote]`.
    Off,
    Open(Bucket),
    /// `[storage.remote]` is set but its bucket cannot be used: why, with
    /// the fix.
    Unusable(String),
}

impl RemoteArchive {
    /// Whether `[storage.remote]` is set.
    pub(crate) fn is_set(&self) -> bool {
        !matches!(self, RemoteArchive::Off)
    }

    /// The bucket, or why there is none to use.
    pub(crate) fn bucket(&self) -> Result<&Bucket, String> {
        match self {
            RemoteArchive::Open(b) => Ok(b),
            RemoteArchive::Unusable(why) => Err(why.clone()),
            RemoteArchive::Off => Err(NOT_SET.to_string()),
        }
    }
}

/// Whether `key` is a report key of `job` in `bucket`:
/// `<prefix>/<job>/<YYYY>/<MM>/<file name>`, no segment empty, `.` or
/// `..`, no control character.
pub(crate) fn is_report_key(bucket: &Bucket, job: &str, key: &str) -> bool {
    if job.is_empty() || job.contains('/') {
        return false;
    }
    let Some(rest) = key.strip_prefix(&bucket.key(&format!("{job}/"))) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [year, month, name] => {
            digits(year, 4)
                && digits(month, 2)
                && !name.is_empty()
                && *name != "."
                && *name != ".."
                && !name.chars().any(char::is_control)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::remote::client::S3Keys;

    fn bucket(prefix: &str) -> Bucket {
        let remote = crate::config::Remote {
            url: format!("s3://b/{prefix}"),
            endpoint: Some("http://127.0.0.1:9".into()),
            region: None,
            path_style: None,
            access_key_id_file: None,
            secret_access_key_file: None,
            keep_local: None,
            snapshot_interval: None,
            snapshot_keep: 14,
        };
        let keys = S3Keys {
            access_key_id: "a".to_string().into(),
            secret_access_key: "b".to_string().into(),
            session_token: None,
        };
        Bucket::open(&remote, Some(keys)).expect("open")
    }

    #[test]
    fn only_a_report_key_of_the_reports_job_below_the_prefix_is_touched() {
        let b = bucket("acct");
        assert!(is_report_key(&b, "j", "acct/j/2026/12/a.xlsx"));
        for hostile in [
            "acct/_history/history-1.db.zst",
            "acct/other/2026/12/a.xlsx",
            "other/j/2026/12/a.xlsx",
            "acct/j/2026/12/../../x",
            "acct/j/2026/12/",
            "acct/j/2026/12/a/b.xlsx",
            "acct/j/26/12/a.xlsx",
            "acct/j/2026/12/..",
            "acct/j/2026/12/a\n.xlsx",
            "j/2026/12/a.xlsx",
        ] {
            assert!(!is_report_key(&b, "j", hostile), "{hostile:?}");
        }
        assert!(!is_report_key(&b, "", "acct//2026/12/a.xlsx"));
        let root = bucket("");
        assert!(is_report_key(&root, "j", "j/2026/12/a.xlsx"));
        assert!(!is_report_key(&root, "j", "_history/j/2026/12/a.xlsx"));
    }
}
