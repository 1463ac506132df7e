//! Shared by the integration tests: a fake MNA API on loopback, a state
//! directory, a config file, and the real `mna-reportd` binary.

#![allow(dead_code)]

pub mod daemon;
pub mod proxy;
pub mod renames;
pub mod rss;
pub mod s3;
pub mod s3_read;
pub mod s3_snapshot;

use fake_mna::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, FakeConfig, FakeMna};
use rusqlite::Connection;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_mna-reportd");

/// A job of hourly windows over all devices, in UTC.
pub const HOURLY: &str = r#"
[[jobs]]
name = "hourly-all"
granularity = "hourly"
timezone = "UTC"
"#;

/// `fetch` of [`HOURLY`]'s first hour of 2026-11-01.
pub const FETCH_ONE_HOUR: [&str; 7] = [
    "fetch",
    "--job",
    "hourly-all",
    "--from",
    "2026-11-01T00:00:00Z",
    "--to",
    "2026-11-01T01:00:00Z",
];

/// What a test's config sets in `[api]`, `[storage]` and `[retry]`.
pub struct Settings<'a> {
    /// `[api] concurrency`; left out (the default) when `None`.
    pub concurrency: Option<u32>,
    /// Lines added to `[storage]`.
    pub storage: &'a str,
    pub max_attempts: u32,
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings {
            concurrency: Some(4),
            storage: "",
            max_attempts: 8,
        }
    }
}

/// One test's world: a fake API and a temp directory with a config.
pub struct World {
    pub fake: FakeMna,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl World {
    /// A world whose config has `[api]` pointing at the fake, fast retries,
    /// state in the temp dir, and `jobs` (TOML) appended.
    pub fn new(jobs: &str) -> World {
        World::with(FakeConfig::default(), "", jobs)
    }

    /// Same, with a fake configured by `cfg` and extra top-level TOML `extra`
    /// placed before the jobs (it may contain whole tables).
    pub fn with(cfg: FakeConfig, extra: &str, jobs: &str) -> World {
        let fake = FakeMna::start_background(loopback(), cfg).expect("fake API starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.toml");
        let w = World { fake, dir, config };
        w.write_config(extra, jobs);
        w
    }

    pub fn write_config(&self, extra: &str, jobs: &str) {
        self.write_config_with(&Settings::default(), extra, jobs);
    }

    /// The config with `settings`, `extra` (whole tables) and `jobs`.
    pub fn write_config_with(&self, settings: &Settings<'_>, extra: &str, jobs: &str) {
        let concurrency = settings
            .concurrency
            .map(|n| format!("concurrency = {n}\n"))
            .unwrap_or_default();
        let storage = match settings.storage {
            "" => String::new(),
            lines => format!("{}\n", lines.trim_end()),
        };
        let text = format!(
            r#"[api]
endpoint = "{endpoint}"
rate_limit = 200
timeout = "5s"
{concurrency}
[storage]
state_dir = "state"
{storage}
[retry]
max_attempts = {max_attempts}
initial_delay = "10ms"
max_delay = "50ms"

{extra}

{jobs}
"#,
            endpoint = self.fake.endpoint(),
            max_attempts = settings.max_attempts,
        );
        std::fs::write(&self.config, text).expect("write config");
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn db_path(&self) -> PathBuf {
        self.state().join("history.db")
    }

    /// The command with the config and the fake's default key in the environment.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(&self.config);
        c.env_clear();
        c.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        c.env("HOME", self.dir.path());
        c.env("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID);
        c.env("TENCENTCLOUD_SECRET_KEY", DEFAULT_SECRET_KEY);
        c.current_dir(self.dir.path());
        c
    }

    /// `fetch --job JOB --from FROM --to TO`, and `extra` flags.
    pub fn fetch(&self, job: &str, from: &str, to: &str, extra: &[&str]) -> Output {
        let mut args = vec!["fetch", "--job", job, "--from", from, "--to", to];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// [`World::cmd`] without the key in the environment (another source must give it).
    pub fn cmd_without_env_keys(&self) -> Command {
        let mut c = self.cmd();
        c.env_remove("TENCENTCLOUD_SECRET_ID")
            .env_remove("TENCENTCLOUD_SECRET_KEY");
        c
    }

    /// Run with `args`; return the output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run mna-reportd")
    }

    pub fn db(&self) -> Connection {
        Connection::open(self.db_path()).expect("open history")
    }

    /// (status, count) over `reports`.
    pub fn status_counts(&self) -> Vec<(String, i64)> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT status, count(*) FROM reports GROUP BY status ORDER BY status")
            .expect("query");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect()
    }

    /// Every `ok` row: (request_id, file_path, sha256, bytes).
    pub fn ok_rows(&self) -> Vec<(String, String, String, i64)> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT request_id, file_path, sha256, bytes FROM reports WHERE status = 'ok' ORDER BY window_start")
            .expect("query");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect()
    }

    /// Assert every `ok` file exists and equals what the fake served for its request.
    pub fn assert_files_match_served(&self) {
        for (request_id, path, sha, bytes) in self.ok_rows() {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(data.len() as i64, bytes, "{path}");
            assert_eq!(
                fake_mna::sign::sha256_hex(&data),
                sha,
                "{path}: recorded sha256"
            );
            let served = self
                .fake
                .served_file(&request_id)
                .unwrap_or_else(|| panic!("no file served for {request_id}"));
            assert!(
                served == data,
                "{path} differs from what the fake served for {request_id}"
            );
        }
    }

    /// Every file under the state dir (recursively).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.state()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }

    pub fn part_files(&self) -> Vec<PathBuf> {
        self.files()
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".part"))
            .collect()
    }
}

/// Write a file holding a secret (a key, a token), readable by its owner
/// only, as the program demands of such files.
pub fn write_secret(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write secret");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code, with both streams in the panic message when it is not `want`.
pub fn assert_exit(o: &Output, want: i32) {
    assert_eq!(
        o.status.code(),
        Some(want),
        "exit status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// Every `ok` row's file has the sha256 and size the row records.
pub fn assert_ok_files_as_recorded(w: &World, when: &str) {
    for (_, path, sha, bytes) in w.ok_rows() {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{when}: {path}: {e}"));
        assert_eq!(
            (fake_mna::sign::sha256_hex(&data), data.len() as i64),
            (sha.clone(), bytes),
            "{when}: {path} is not the file its ok row records"
        );
    }
}

/// `PRAGMA integrity_check` of the database at `db`: `ok` when whole.
pub fn integrity(db: &Path) -> String {
    let c = Connection::open(db).expect("open");
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
