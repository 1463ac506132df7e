//! One run of mna-reportd and what it leaves behind: a fake API, a state
//! directory and a config ([`World`]), the fetch as a measured child, and
//! the checks of a history database ([`History`]), which also serve for the
//! Python script's database in its same-work mode (same tables).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fake_mna::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, FakeConfig, FakeMna};
use mna_reportd::testing::ReportKey;
use rusqlite::Connection;
use tempfile::TempDir;

use crate::harness::{ChildRun, Measured};

pub const BIN: &str = env!("CARGO_BIN_EXE_mna-reportd");

/// 2025-01-01T00:00:00Z: the first window of every run.
pub const BASE: i64 = 1_735_689_600;
pub const HOUR: i64 = 3600;
pub const JOB: &str = "hourly";
/// Rows of the Summary sheet that every fake workbook also carries.
pub const SUMMARY_ROWS: usize = 10;

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .expect("benchmark times are valid")
        .to_string()
}

/// The key of the `i`-th hourly window from [`BASE`] of the job, all devices.
pub fn report_key(i: i64) -> ReportKey {
    ReportKey {
        job: JOB.into(),
        target: "all".into(),
        region: String::new(),
        window_start: BASE + i * HOUR,
        window_end: BASE + (i + 1) * HOUR,
    }
}

pub struct World {
    pub fake: FakeMna,
    pub dir: TempDir,
    config: PathBuf,
}

impl World {
    /// A fake configured by `cfg`, and a config with one hourly UTC job.
    pub fn new(cfg: FakeConfig, rate_limit: u32, concurrency: usize) -> World {
        let fake = FakeMna::start_background(loopback(), cfg).expect("the fake API starts");
        let dir = tempfile::tempdir().expect("create a temp dir");
        World::with_fake(fake, dir, rate_limit, concurrency)
    }

    /// A config in `dir` for `fake`, with one hourly UTC job; a
    /// `concurrency` of 0 leaves it out (the default).
    pub fn with_fake(fake: FakeMna, dir: TempDir, rate_limit: u32, concurrency: usize) -> World {
        let config = dir.path().join("config.toml");
        let concurrency = match concurrency {
            0 => String::new(),
            n => format!("concurrency = {n}"),
        };
        let text = format!(
            r#"[api]
endpoint = "{endpoint}"
rate_limit = {rate_limit}
timeout = "120s"
{concurrency}

[storage]
state_dir = "state"

[retry]
max_attempts = 8
initial_delay = "100ms"
max_delay = "2s"

[[jobs]]
name = "{JOB}"
granularity = "hourly"
timezone = "UTC"
"#,
            endpoint = fake.endpoint()
        );
        std::fs::write(&config, text).expect("write the config");
        World { fake, dir, config }
    }

    pub fn history_path(&self) -> PathBuf {
        self.dir.path().join("state").join("history.db")
    }

    pub fn history(&self) -> History {
        History::open(&self.history_path())
    }

    /// `mna-reportd fetch` of `hours` hourly windows from [`BASE`].
    pub fn fetch(&self, hours: i64, label: &str) -> ChildRun {
        let mut m = Measured::new(BIN, self.dir.path(), label);
        m.cmd()
            .arg("--config")
            .arg(&self.config)
            .args(["fetch", "--job", JOB, "--from"])
            .arg(rfc3339(BASE))
            .arg("--to")
            .arg(rfc3339(BASE + hours * HOUR))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID)
            .env("TENCENTCLOUD_SECRET_KEY", DEFAULT_SECRET_KEY)
            .current_dir(self.dir.path());
        let run = m.run();
        run.expect_success(&format!("mna-reportd fetch ({label})"));
        run
    }
}

/// Rows of `report_rows` by (window start, sheet, row number), the data parsed.
pub type Contents = BTreeMap<(i64, String, i64), serde_json::Value>;

/// A history database with mna-reportd's `reports`, `attempts` and `report_rows`.
pub struct History {
    db: Connection,
    path: PathBuf,
}

impl History {
    pub fn open(path: &Path) -> History {
        let db = Connection::open(path)
            .unwrap_or_else(|e| panic!("open the history {}: {e}", path.display()));
        History {
            db,
            path: path.to_path_buf(),
        }
    }

    fn count(&self, sql: &str) -> i64 {
        self.db
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.path.display()))
    }

    /// Every report `ok`, `expected` of them, each file on disk with its
    /// recorded length; returns the `ok` rows (request id, path, bytes).
    pub fn assert_all_ok(&self, expected: usize) -> Vec<(String, String, u64)> {
        let not_ok = self.count("SELECT count(*) FROM reports WHERE status <> 'ok'");
        assert_eq!(not_ok, 0, "every report must be ok");
        let mut st = self
            .db
            .prepare("SELECT request_id, file_path, bytes FROM reports WHERE status = 'ok'")
            .expect("query ok reports");
        let rows: Vec<(String, String, u64)> = st
            .query_map([], |r| {
                let bytes: i64 = r.get(2)?;
                Ok((r.get(0)?, r.get(1)?, u64::try_from(bytes).unwrap_or(0)))
            })
            .expect("read ok reports")
            .collect::<Result<_, _>>()
            .expect("read an ok report");
        assert_eq!(rows.len(), expected, "number of ok reports");
        for (_, path, bytes) in &rows {
            let len = std::fs::metadata(path)
                .unwrap_or_else(|e| panic!("report file {path}: {e}"))
                .len();
            assert_eq!(len, *bytes, "{path}: length on disk vs recorded");
        }
        rows
    }

    pub fn report_rows(&self) -> i64 {
        self.count("SELECT count(*) FROM report_rows")
    }

    pub fn attempts(&self) -> i64 {
        self.count("SELECT count(*) FROM attempts")
    }

    /// Every stored row, to compare two histories of the same windows.
    pub fn contents(&self) -> Contents {
        let mut st = self
            .db
            .prepare(
                "SELECT r.window_start, x.sheet, x.row_number, x.data
                 FROM report_rows x JOIN reports r ON r.id = x.report_id",
            )
            .expect("query report_rows");
        st.query_map([], |r| {
            let data: String = r.get(3)?;
            let value = serde_json::from_str(&data)
                .unwrap_or_else(|e| panic!("report_rows.data is not JSON ({e}): {data}"));
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?), value))
        })
        .expect("read report_rows")
        .collect::<Result<_, _>>()
        .expect("read a report row")
    }
}
