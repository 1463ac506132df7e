//! The remote archive's readers under test: a world whose
//! `[storage.remote]` is a bucket of the real S3 server ([`super::s3`]),
//! its keys in two files; the config rewritten to point elsewhere (a dead
//! endpoint) or to keep local copies for a while or not at all.

use super::s3::{ACCESS_KEY_ID, S3Server, SECRET_ACCESS_KEY};
use super::{Settings, World, write_secret};

/// The bucket and key prefix of the tests' remote archive.
pub const BUCKET: &str = "archive";
pub const PREFIX: &str = "acct";

/// The `[storage.remote]` table (it ends `[storage]`'s lines) for a bucket
/// at `endpoint`, keys in `s3_id` and `s3_secret` beside the config, and
/// `keep_local` when given.
pub fn remote_table(endpoint: &str, keep_local: Option<&str>) -> String {
    let keep = keep_local
        .map(|k| format!("keep_local = \"{k}\"\n"))
        .unwrap_or_default();
    format!(
        "[storage.remote]\nurl = \"s3://{BUCKET}/{PREFIX}\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\naccess_key_id_file = \"s3_id\"\nsecret_access_key_file = \"s3_secret\"\n{keep}"
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
        RemoteWorld::with_fake(fake_mna::FakeConfig::default(), jobs)
    }

    /// Same, the fake API configured by `fake`.
    pub fn with_fake(fake: fake_mna::FakeConfig, jobs: &str) -> RemoteWorld {
        let s3 = S3Server::start();
        s3.create_bucket(BUCKET);
        let w = World::with(fake, "", jobs);
        write_secret(&w.dir.path().join("s3_id"), ACCESS_KEY_ID);
        write_secret(&w.dir.path().join("s3_secret"), SECRET_ACCESS_KEY);
        let rw = RemoteWorld {
            w,
            s3,
            jobs: jobs.to_string(),
        };
        rw.point_at(&rw.s3.endpoint.clone(), None);
        rw
    }

    /// Rewrite the config with the bucket at `endpoint` and `keep_local`.
    pub fn point_at(&self, endpoint: &str, keep_local: Option<&str>) {
        let table = remote_table(endpoint, keep_local);
        let settings = Settings {
            storage: &table,
            ..Settings::default()
        };
        self.w.write_config_with(&settings, "", &self.jobs);
    }

    /// The object key report `id` records.
    pub fn remote_key(&self, id: i64) -> Option<String> {
        self.w
            .db()
            .query_row("SELECT remote_key FROM reports WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .expect("report")
    }

    /// Report `id`'s local file, if it has one.
    pub fn local_file(&self, id: i64) -> Option<String> {
        self.w
            .db()
            .query_row("SELECT file_path FROM reports WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .expect("report")
    }

    /// The bytes the fake API served for report `id`.
    pub fn served(&self, id: i64) -> Vec<u8> {
        let request_id: String = self
            .w
            .db()
            .query_row("SELECT request_id FROM reports WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .expect("report");
        self.w
            .fake
            .served_file(&request_id)
            .unwrap_or_else(|| panic!("nothing served for {request_id}"))
    }

    /// Put `body` at `key` in the bucket.
    pub fn put(&self, key: &str, body: &[u8]) {
        let got = self.s3.request("PUT", &format!("/{BUCKET}/{key}"), body);
        assert_eq!(got.map(|(s, _)| s), Some(200), "put {key}");
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
