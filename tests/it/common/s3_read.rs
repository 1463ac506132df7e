//! The remote archive's readers under test: a world whose
//! `[storage.remote]` is a bucket of the real S3 server ([`super::s3`]),
//! its keys in two files, and report objects put there as a verified
//! upload leaves them: the object at the report's key, `remote_key` and
//! `uploaded_at` recorded, the local copy kept or gone (`file_path`
//! cleared, as `keep_local` does).

use super::s3::{ACCESS_KEY_ID, S3Server, SECRET_ACCESS_KEY};
use super::{Settings, World, write_secret};
use std::path::Path;

/// The bucket and key prefix of the tests' remote archive.
pub const BUCKET: &str = "archive";
pub const PREFIX: &str = "acct";

/// The `[storage.remote]` table (it ends `[storage]`'s lines) for a bucket
/// at `endpoint`, keys in `s3_id` and `s3_secret` beside the config.
pub fn remote_table(endpoint: &str) -> String {
    format!(
        "[storage.remote]\nurl = \"s3://{BUCKET}/{PREFIX}\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\naccess_key_id_file = \"s3_id\"\nsecret_access_key_file = \"s3_secret\"\n"
    )
}

/// A world with a remote archive on a running S3 server.
pub struct RemoteWorld {
    pub w: World,
    pub s3: S3Server,
    jobs: String,
}

impl RemoteWorld {
    /// The S3 server started with the bucket made, and a world with `jobs`
    /// whose `[storage.remote]` is that bucket.
    pub fn new(jobs: &str) -> RemoteWorld {
        let s3 = S3Server::start();
        s3.create_bucket(BUCKET);
        let w = World::new(jobs);
        write_secret(&w.dir.path().join("s3_id"), ACCESS_KEY_ID);
        write_secret(&w.dir.path().join("s3_secret"), SECRET_ACCESS_KEY);
        let rw = RemoteWorld {
            w,
            s3,
            jobs: jobs.to_string(),
        };
        rw.point_at(&rw.s3.endpoint.clone());
        rw
    }

    /// Rewrite the config with the bucket at `endpoint`.
    pub fn point_at(&self, endpoint: &str) {
        let table = remote_table(endpoint);
        let settings = Settings {
            storage: &table,
            ..Settings::default()
        };
        self.w.write_config_with(&settings, "", &self.jobs);
    }

    /// The object key of a report file recorded as `file_path`: its path
    /// below the reports directory, under the prefix.
    pub fn key_of(&self, file_path: &str) -> String {
        let reports = self.w.state().join("reports");
        let rel = Path::new(file_path)
            .strip_prefix(&reports)
            .map(|p| p.to_string_lossy().into_owned())
            .ok()
            .or_else(|| {
                file_path
                    .split_once("/reports/")
                    .map(|(_, r)| r.to_string())
            })
            .unwrap_or_else(|| panic!("{file_path} is not below {}", reports.display()));
        format!("{PREFIX}/{rel}")
    }

    /// Report `id`'s file path and bytes, as recorded.
    pub fn file_of(&self, id: i64) -> (String, Vec<u8>) {
        let path: String = self
            .w
            .db()
            .query_row("SELECT file_path FROM reports WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap_or_else(|e| panic!("report {id} has no file: {e}"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        (path, bytes)
    }

    /// Put `body` at `key` in the bucket.
    pub fn put(&self, key: &str, body: &[u8]) {
        let got = self.s3.request("PUT", &format!("/{BUCKET}/{key}"), body);
        assert_eq!(got.map(|(s, _)| s), Some(200), "put {key}");
    }

    /// Upload `ok` report `id` as the outbox does: its file to its key,
    /// then `remote_key` and `uploaded_at` recorded; without `keep_local`
    /// its local file deleted and `file_path` cleared. Its key and bytes.
    pub fn upload(&self, id: i64, keep_local: bool) -> (String, Vec<u8>) {
        let (path, bytes) = self.file_of(id);
        let key = self.key_of(&path);
        self.put(&key, &bytes);
        self.w
            .db()
            .execute(
                "UPDATE reports SET remote_key = ?2, uploaded_at = unixepoch() WHERE id = ?1",
                rusqlite::params![id, key],
            )
            .expect("record the upload");
        if !keep_local {
            std::fs::remove_file(&path).expect("delete the local copy");
            self.w
                .db()
                .execute("UPDATE reports SET file_path = NULL WHERE id = ?1", [id])
                .expect("forget the local copy");
        }
        (key, bytes)
    }

    /// The ids of the `ok` reports, by window.
    pub fn ok_ids(&self) -> Vec<i64> {
        let db = self.w.db();
        let mut st = db
            .prepare("SELECT id FROM reports WHERE status = 'ok' ORDER BY window_start, id")
            .expect("query");
        st.query_map([], |r| r.get(0))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect()
    }

    /// The keys in the bucket below the prefix.
    pub fn keys(&self) -> Vec<String> {
        self.s3.keys(BUCKET, &format!("{PREFIX}/"))
    }
}

/// An endpoint nothing listens on (a port the system gave, then closed).
pub fn dead_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}
