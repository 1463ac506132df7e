//! The page's answers over a large history: one year of hourly per-device
//! reports for 50 devices (438,000 reports, one `Traffic` row each, written
//! straight with SQL), served by the release binary's `serve`. Measures the
//! month calendar (whole job, and one device) and the month traffic over
//! HTTP, each the median of a few runs after one warm-up, against the
//! targets (calendar under 200 ms, traffic under 1 s); a miss prints `FAIL`.
//!
//! Then the 400-day horizon of minute windows ([`horizon`]): every page
//! endpoint, `status` and `check` against 200 ms and 64 MiB.
//!
//! `cargo bench --bench web`. Figures in the README ("Web page").

mod horizon;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mna-reportd");
const DEVICES: usize = 50;
const HOURS: i64 = 8_760;
/// 2025-01-01T00:00:00Z.
const START: i64 = 1_735_689_600;

fn config(dir: &std::path::Path) -> String {
    let devices: Vec<String> = (1..=DEVICES).map(|d| format!("\"dev-{d:02}\"")).collect();
    format!(
        r#"[api]
endpoint = "http://127.0.0.1:9"

[storage]
state_dir = "{state}"

[[jobs]]
name = "hourly-devices"
granularity = "hourly"
timezone = "UTC"
devices = [{devices}]
per_device = true
"#,
        state = dir.join("state").display(),
        devices = devices.join(", ")
    )
}

fn synthesize(db: &std::path::Path) -> rusqlite::Result<()> {
    drop(
        mna_reportd::testing::Store::open(db)
            .map_err(|e| rusqlite::Error::InvalidPath(std::path::PathBuf::from(e.to_string())))?,
    );
    let mut conn = rusqlite::Connection::open(db)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    {
        let mut report = tx.prepare(
            "INSERT INTO reports (id, job, target, region, granularity, window_start, window_end, status, attempts,
                                  \"trigger\", request_id, file_path, bytes, sha256, error_code, error_message, created_at, updated_at)
             VALUES (?1, 'hourly-devices', ?2, '', 1, ?3, ?4, ?5, 1, 'schedule', ?6, ?7, 4096, NULL, ?8, ?9, ?4, ?4)",
        )?;
        let mut row = tx.prepare(
            "INSERT INTO report_rows (report_id, sheet, row_number, data) VALUES (?1, 'Traffic', 2, ?2)",
        )?;
        let mut id = 0i64;
        let reports = horizon::reports_dir(db);
        for h in 0..HOURS {
            let start = START + h * 3600;
            for d in 1..=DEVICES {
                id += 1;
                let failed = id % 997 == 0;
                let target = format!("device:dev-{d:02}");
                let (status, file, code, msg) = if failed {
                    (
                        "failed",
                        None,
                        Some("InternalError"),
                        Some("the server failed"),
                    )
                } else {
                    (
                        "ok",
                        Some(format!("{reports}/hourly-devices/{id}.xlsx")),
                        None,
                        None,
                    )
                };
                report.execute(rusqlite::params![
                    id,
                    target,
                    start,
                    start + 3600,
                    status,
                    format!("req-{id}"),
                    file,
                    code,
                    msg
                ])?;
                if !failed {
                    let up = (id * 7919) % 5_000_000_000;
                    let down = (id * 104_729) % 20_000_000_000;
                    let data = format!(
                        r#"{{"Time":"t","DeviceId":"dev-{d:02}","Region":"ALL","UpBytes":{up},"DownBytes":{down},"TotalBytes":{}}}"#,
                        up + down
                    );
                    row.execute(rusqlite::params![id, data])?;
                }
            }
        }
    }
    tx.commit()
}

fn get(addr: SocketAddr, path: &str) -> (u16, usize) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let head = String::from_utf8_lossy(&buf[..buf.len().min(64)]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, buf.len())
}

fn median(path: &str, addr: SocketAddr) -> (Duration, usize) {
    let (status, len) = get(addr, path);
    assert_eq!(status, 200, "{path}");
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let _ = get(addr, path);
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], len)
}

/// A running `serve` over a config; killed when dropped.
struct Serve {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(cfg: &std::path::Path) -> Serve {
        let mut child = Command::new(BIN)
            .args(["--config"])
            .arg(cfg)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("address");
        let addr: SocketAddr = line
            .rsplit("http://")
            .next()
            .and_then(|a| a.trim().trim_end_matches('/').parse().ok())
            .expect("an address");
        Serve { child, addr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("web: benchmark");
        return;
    }
    let year = !std::env::args().any(|a| a == "horizon");
    let horizon = !std::env::args().any(|a| a == "year");
    let mut failed = false;
    if year {
        failed |= !year_of_hours();
    }
    if horizon {
        failed |= !minutes_over_400_days();
    }
    if failed {
        println!("FAIL: an answer missed its target");
    }
}

fn minutes_over_400_days() -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, horizon::config(dir.path())).expect("config");
    let db = dir.path().join("state/history.db");
    let t = Instant::now();
    let last_end = horizon::synthesize(&db).expect("synthesize the history");
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "\nhistory: 1,000,000 reports (10 devices x 100,000 minutes), {:.0} MiB, written in {:.1}s",
        size as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    horizon::run(dir.path(), &cfg, last_end)
}

/// The year of hourly reports; false when an answer missed its target.
fn year_of_hours() -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, config(dir.path())).expect("config");
    let db = dir.path().join("state/history.db");
    let t = Instant::now();
    synthesize(&db).expect("synthesize the history");
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "history: {} reports ({} devices x {} hours), {:.0} MiB, written in {:.1}s",
        DEVICES as i64 * HOURS,
        DEVICES,
        HOURS,
        size as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    let serve = Serve::start(&cfg);
    let addr = serve.addr;
    let cases = [
        (
            "calendar, month, whole job",
            "/api/jobs/hourly-devices/calendar?month=2025-06",
            200,
        ),
        (
            "calendar, month, one device",
            "/api/jobs/hourly-devices/calendar?month=2025-06&target=device:dev-07&region=",
            200,
        ),
        (
            "traffic, month",
            "/api/jobs/hourly-devices/traffic?month=2025-06",
            1000,
        ),
    ];
    println!("| answer | median | target | size |\n|---|---|---|---|");
    let mut failed = false;
    for (name, path, target_ms) in cases {
        let (took, len) = median(path, addr);
        let ms = took.as_secs_f64() * 1000.0;
        let ok = ms < f64::from(target_ms);
        failed |= !ok;
        println!(
            "| {name} | {ms:.0} ms | < {target_ms} ms{} | {} KiB |",
            if ok { "" } else { " FAIL" },
            len / 1024
        );
    }
    drop(serve);
    !failed
}
