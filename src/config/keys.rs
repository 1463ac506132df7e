//! Every key of the job file, with its table, default and meaning: the one
//! list that the unknown-key check ([`super::unknown`]) accepts and the
//! `mna-reportd.toml(5)` man page prints. A test holds it equal to the keys
//! the raw serde structs take, so neither can drift from the other.

/// One key of the job file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    /// The table it belongs in (`jobs` for `[[jobs]]`).
    pub(crate) table: &'static str,
    pub(crate) name: &'static str,
    /// The value used when it is left out, as a reader writes or reads it.
    pub(crate) default: &'static str,
    pub(crate) meaning: &'static str,
}

/// The tables of the file, in the order the man page lists them, with what
/// each holds. `[[jobs]]` is an array of tables; `[defaults]` takes every
/// job key but `name`.
pub(crate) const TABLES: [(&str, &str); 10] = [
    ("api", "How the Tencent Cloud MNA API is called."),
    (
        "credentials",
        "Where the API keys come from; the first complete source wins: secret_id_file and \
         secret_key_file; $CREDENTIALS_DIRECTORY/secret_id and secret_key (systemd LoadCredential=); \
         TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY; the INI credentials file; the CVM role.",
    ),
    (
        "storage",
        "Where the history and the report files are kept, and for how long.",
    ),
    (
        "retry",
        "Tries of the API call and of the download of one report, inside one fetch.",
    ),
    ("metrics", "Prometheus /metrics and /healthz."),
    (
        "web",
        "The read-only page and its JSON API (also `mna-reportd serve`).",
    ),
    (
        "storage.remote",
        "An S3-compatible bucket (Tencent COS, AWS S3, MinIO). The Parquet export to an s3:// \
         destination takes its endpoint, region, path style and key files when [export] does not \
         give them.",
    ),
    (
        "export",
        "The Parquet export of report_rows: where the daemon exports on its own, how often, and the \
         bucket an s3:// destination is reached with. Bucket keys, first complete source wins: \
         access_key_id_file and secret_access_key_file; $CREDENTIALS_DIRECTORY/s3_access_key_id and \
         s3_secret_access_key; AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN).",
    ),
    (
        "defaults",
        "Any job key but name, for every job that leaves it out.",
    ),
    (
        "jobs",
        "One table per job: which reports, of which devices, when.",
    ),
];

const fn key(
    table: &'static str,
    name: &'static str,
    default: &'static str,
    meaning: &'static str,
) -> Key {
    Key {
        table,
        name,
        default,
        meaning,
    }
}

/// Every key, table by table.
pub(crate) const KEYS: &[Key] = &[
    key(
        "api",
        "endpoint",
        "\"https://mna.tencentcloudapi.com\"",
        "The API's address; the international site is https://mna.intl.tencentcloudapi.com. http:// only for a loopback test server.",
    ),
    key(
        "api",
        "rate_limit",
        "20",
        "API calls per second, all jobs and retries together (GetStatisticData allows 20).",
    ),
    key(
        "api",
        "timeout",
        "\"30s\"",
        "Per API call; a download waits this long at most for its headers and each next bytes, and must bring 1 KiB/s over twice this.",
    ),
    key(
        "api",
        "concurrency",
        "64",
        "Most reports in flight at once (1 to 256).",
    ),
    key(
        "api",
        "language",
        "none",
        "X-TC-Language: \"en-US\" or \"zh-CN\".",
    ),
    key(
        "api",
        "region",
        "none",
        "X-TC-Region; GetStatisticData needs none.",
    ),
    key(
        "api",
        "max_devices",
        "100000",
        "Most devices a listing (devices = \"all\", or a group with per_device) may bring; past it the listing stops with an error naming this key (1 to 100,000,000).",
    ),
    key(
        "credentials",
        "secret_id_file",
        "none",
        "File holding the SecretId.",
    ),
    key(
        "credentials",
        "secret_key_file",
        "none",
        "File holding the SecretKey (mode 600 or 640).",
    ),
    key(
        "credentials",
        "token_file",
        "none",
        "File holding the session token of temporary keys.",
    ),
    key(
        "credentials",
        "profile",
        "\"default\"",
        "Section of the INI credentials file ($TENCENTCLOUD_CREDENTIALS_FILE, ~/.tencentcloud/credentials, /etc/tencentcloud/credentials).",
    ),
    key(
        "credentials",
        "cvm_role",
        "false",
        "true: take the CVM instance role's keys from the metadata service.",
    ),
    key(
        "credentials",
        "metadata_endpoint",
        "\"http://metadata.tencentyun.com/latest/meta-data/\"",
        "The metadata service asked for the CVM role.",
    ),
    key(
        "storage",
        "state_dir",
        "$STATE_DIRECTORY, else \"/var/lib/mna-reportd\"",
        "Holds history.db and reports/; relative paths are taken from the config file's directory.",
    ),
    key(
        "storage",
        "reports_dir",
        "state_dir + \"/reports\"",
        "Where the report files are written.",
    ),
    key(
        "storage",
        "retention",
        "none (files kept)",
        "The daemon deletes report files whose window ended longer ago than this, once a day (at least 1d); `prune` uses it when --older-than is not given.",
    ),
    key(
        "storage",
        "max_report_size",
        "\"1GiB\"",
        "The largest report file taken (at least 1KiB); a larger one fails with DownloadTooLarge.",
    ),
    key(
        "retry",
        "max_attempts",
        "8",
        "Tries per report of the API call and of the download (1 to 100).",
    ),
    key(
        "retry",
        "initial_delay",
        "\"1s\"",
        "Shortest wait before a retry (exponential backoff with full jitter).",
    ),
    key(
        "retry",
        "max_delay",
        "\"60s\"",
        "Longest wait before a retry.",
    ),
    key(
        "metrics",
        "listen",
        "none (no listener)",
        "Address of the /metrics and /healthz listener, e.g. \"127.0.0.1:9464\".",
    ),
    key(
        "web",
        "listen",
        "\"127.0.0.1:9465\"",
        "Address of the page; may equal [metrics] listen (one listener serves both).",
    ),
    key(
        "web",
        "token_file",
        "none",
        "File holding the page's login token; needed for any address but loopback (mode 600 or 640).",
    ),
    key(
        "web",
        "allowed_hosts",
        "[]",
        "Host names the listeners answer to besides IP addresses and localhost; any other gets 421.",
    ),
    key(
        "storage",
        "remote",
        "none",
        "The [storage.remote] table: an S3-compatible bucket.",
    ),
    key(
        "storage.remote",
        "url",
        "required",
        "The bucket and key prefix, s3://bucket/prefix.",
    ),
    key(
        "storage.remote",
        "endpoint",
        "none (AWS S3)",
        "The bucket's endpoint, e.g. \"https://cos.ap-guangzhou.myqcloud.com\"; http:// only for loopback.",
    ),
    key(
        "storage.remote",
        "region",
        "\"us-east-1\"",
        "The bucket's region, e.g. \"ap-guangzhou\".",
    ),
    key(
        "storage.remote",
        "path_style",
        "true for an IP or localhost endpoint, else false",
        "Path-style requests (MinIO, local servers) instead of virtual-hosted style (COS, AWS).",
    ),
    key(
        "storage.remote",
        "access_key_id_file",
        "none",
        "File holding the bucket's access key id (mode 600 or 640); with secret_access_key_file.",
    ),
    key(
        "storage.remote",
        "secret_access_key_file",
        "none",
        "File holding the bucket's secret access key (mode 600 or 640).",
    ),
    key(
        "storage.remote",
        "keep_local",
        "none (kept until retention prunes it)",
        "How long a report's local file stays after its upload is verified; \"0s\" deletes it at once.",
    ),
    key(
        "storage.remote",
        "snapshot_interval",
        "none (no periodic snapshot)",
        "How often the daemon writes a compressed history.db snapshot to <prefix>/_history/.",
    ),
    key(
        "storage.remote",
        "snapshot_keep",
        "14",
        "How many snapshots stay in the bucket (the newest; older ones are deleted).",
    ),
    key(
        "export",
        "to",
        "none (the daemon does not export)",
        "A directory or s3://bucket/prefix the daemon exports report_rows to as Hive-partitioned Parquet.",
    ),
    key(
        "export",
        "interval",
        "\"1h\"",
        "How often the daemon exports what was sealed since (at least 1s).",
    ),
    key(
        "export",
        "endpoint",
        "none (AWS S3)",
        "The bucket's endpoint for an s3:// destination, e.g. \"https://cos.ap-guangzhou.myqcloud.com\"; http:// only for loopback.",
    ),
    key(
        "export",
        "region",
        "\"us-east-1\"",
        "The bucket's region, e.g. \"ap-guangzhou\".",
    ),
    key(
        "export",
        "path_style",
        "true for an IP or localhost endpoint, else false",
        "Path-style requests (MinIO, local servers) instead of virtual-hosted style (COS, AWS).",
    ),
    key(
        "export",
        "access_key_id_file",
        "none",
        "File holding the bucket's access key id (mode 600 or 640); with secret_access_key_file.",
    ),
    key(
        "export",
        "secret_access_key_file",
        "none",
        "File holding the bucket's secret access key (mode 600 or 640).",
    ),
    key(
        "jobs",
        "name",
        "required",
        "[A-Za-z0-9_-], 1 to 64 characters, unique; names the directory of the job's files.",
    ),
    key(
        "jobs",
        "granularity",
        "required",
        "hourly | daily | minute | 5min (TimeGranularity 1 | 2 | 3 | 4).",
    ),
    key(
        "jobs",
        "window",
        "one granularity unit",
        "Length of one report, a whole multiple of the granularity; whole days are calendar days of the zone.",
    ),
    key(
        "jobs",
        "step",
        "the window",
        "Distance between successive window ends; shorter than the window gives rolling windows.",
    ),
    key(
        "jobs",
        "timezone",
        "\"UTC\"",
        "IANA zone for window alignment and the schedule; \"localtime\" stands for this machine's zone.",
    ),
    key(
        "jobs",
        "lag",
        "\"5m\"",
        "A window is due once its end is this far in the past.",
    ),
    key(
        "jobs",
        "catch_up",
        "\"1d\", or two steps plus lag when longer",
        "Horizon: due windows ending within it are fetched if not done yet, at start and at every fire.",
    ),
    key(
        "jobs",
        "schedule",
        "every step, plus lag",
        "Cron, 5 fields (or 6 with seconds first), in the job's zone.",
    ),
    key(
        "jobs",
        "devices",
        "none (all devices summed)",
        "1 to 10 device ids (one report of their sum), or \"all\" with per_device = true (every device of the account, listed from the API).",
    ),
    key(
        "jobs",
        "per_device",
        "false",
        "true: one report per device instead of their sum.",
    ),
    key(
        "jobs",
        "group",
        "none",
        "GroupId: the group's total; with per_device = true, one report per device of the group.",
    ),
    key(
        "jobs",
        "device_type",
        "none (both)",
        "With devices = \"all\": 1 own devices, 2 third-party.",
    ),
    key(
        "jobs",
        "exclude",
        "[]",
        "Devices a listing finds that get no report.",
    ),
    key(
        "jobs",
        "discovery_interval",
        "\"1h\"",
        "A discovering job lists its devices at most this often.",
    ),
    key(
        "jobs",
        "regions",
        "none (all regions)",
        "One report per access region: MC, AP, EU, AM.",
    ),
    key(
        "jobs",
        "gateway",
        "\"public\"",
        "public | private (GatewayType 0 | 1).",
    ),
    key(
        "jobs",
        "enabled",
        "true",
        "false: the daemon and fetch --all leave the job out.",
    ),
];

/// The keys a table takes (`defaults` takes every job key but `name`).
pub(crate) fn of(table: &str) -> impl Iterator<Item = &'static Key> + '_ {
    let (table, skip_name) = match table {
        "defaults" => ("jobs", true),
        t => (t, false),
    };
    KEYS.iter()
        .filter(move |k| k.table == table && !(skip_name && k.name == "name"))
}

/// Whether `table` is one of the file's tables.
pub(crate) fn is_table(table: &str) -> bool {
    TABLES.iter().any(|(t, _)| *t == table)
}

/// The tables other than `table` that take `name`, as written in the file
/// (`[storage]`, `[[jobs]]`).
pub(crate) fn tables_with(name: &str, table: &str) -> Vec<String> {
    TABLES
        .iter()
        .filter(|(t, _)| *t != table && !(table == "jobs" && *t == "defaults"))
        .filter(|(t, _)| of(t).any(|k| k.name == name))
        .map(|(t, _)| header(t))
        .collect()
}

/// A table's header as written: `[api]`, `[[jobs]]`.
pub(crate) fn header(table: &str) -> String {
    if table == "jobs" {
        "[[jobs]]".to_string()
    } else {
        format!("[{table}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The fields serde expects in `table`, read from its unknown-field error.
    fn serde_fields(table: &str) -> BTreeSet<String> {
        let header = header(table);
        let text = format!("{header}\nzz_not_a_key = 1\n");
        let err = match toml::from_str::<super::super::raw::RawConfig>(&text) {
            Ok(_) => panic!("{table}: an unknown key was taken"),
            Err(e) => e.message().to_string(),
        };
        let expected = err
            .split("expected one of")
            .nth(1)
            .unwrap_or_else(|| err.split("expected").nth(1).unwrap_or_default());
        expected
            .split(',')
            .map(|f| f.trim().trim_matches('`').to_string())
            .filter(|f| !f.is_empty())
            .collect()
    }

    #[test]
    fn the_table_lists_exactly_the_keys_serde_takes() {
        for (table, _) in TABLES {
            let ours: BTreeSet<String> = of(table).map(|k| k.name.to_string()).collect();
            let mut theirs = serde_fields(table);
            if table == "defaults" {
                theirs.remove("name");
            }
            assert_eq!(ours, theirs, "[{table}]");
        }
        // (a sub-table such as [storage.remote] is a key of its table)
        let top: BTreeSet<String> = TABLES
            .iter()
            .filter(|(t, _)| !t.contains('.'))
            .map(|(t, _)| t.to_string())
            .collect();
        let err = toml::from_str::<super::super::raw::RawConfig>("zz_not_a_table = 1\n")
            .err()
            .map(|e| e.message().to_string())
            .unwrap_or_default();
        for t in &top {
            assert!(err.contains(&format!("`{t}`")), "{t} in {err}");
        }
    }

    #[test]
    fn every_key_has_a_default_and_a_meaning() {
        for k in KEYS {
            assert!(!k.default.is_empty() && !k.meaning.is_empty(), "{k:?}");
            assert!(is_table(k.table), "{k:?}");
        }
        assert_eq!(tables_with("state_dir", "api"), vec!["[storage]"]);
        assert_eq!(tables_with("listen", "web"), vec!["[metrics]"]);
        assert_eq!(tables_with("timezone", "jobs"), Vec::<String>::new());
    }
}
