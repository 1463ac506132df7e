//! The remote archive's throughput and memory: `cargo bench --bench upload`
//! starts the fake API and a real S3 server (moto's server mode, `pip
//! install "moto[server]"`) on loopback ports the system picks, then runs
//! the real `mna-reportd fetch` as a child process:
//!
//! - 200 hourly reports of the default size (about 8 KiB), without and
//!   with `[storage.remote]`: the wall time of each, and the uploads per
//!   second the difference allows;
//! - one report of 256 MiB, without and with the bucket: the time the
//!   upload adds, the MiB/s it makes, and the child's peak RSS (its
//!   `VmHWM`, read while it runs).
//!
//! moto is a Python server: its own speed bounds what is measured here
//! (COS or S3 answer faster), so the figures are a floor for the client.

use fake_mna::{FakeConfig, FakeMna};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mna-reportd");
const KEY_ID: &str = "AKIDUPLOADBENCH";
const SECRET: &str = "upload-bench-secret";

/// moto's server on a loopback port it picks; killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let mut child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (pip install \"moto[server]\")");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("Running on http://") {
                    let _ = tx.send(line[at + 18..].trim().to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("moto's server starts");
        let moto = Moto {
            child,
            endpoint: format!("http://{addr}"),
        };
        // Create the bucket (moto takes any key and an unsigned request).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = std::net::TcpStream::connect(&addr).is_ok_and(|mut s| {
                use std::io::{Read, Write};
                let req = format!(
                    "PUT /bench HTTP/1.0\r\nHost: {addr}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: 0\r\n\r\n"
                );
                let mut resp = String::new();
                s.write_all(req.as_bytes()).is_ok()
                    && s.read_to_string(&mut resp).is_ok()
                    && resp.contains(" 200 ")
            });
            if ok {
                return moto;
            }
            assert!(Instant::now() < deadline, "moto does not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config in `dir` for the fake at `api`, with `[storage.remote]` at
/// `s3` (prefix `prefix`) when given.
fn config(dir: &Path, api: &str, s3: Option<(&str, &str)>) -> std::path::PathBuf {
    let remote = s3
        .map(|(endpoint, prefix)| {
            format!("[storage.remote]\nurl = \"s3://bench/{prefix}\"\nendpoint = \"{endpoint}\"\n")
        })
        .unwrap_or_default();
    let text = format!(
        "[api]\nendpoint = \"{api}\"\nrate_limit = 10000\nconcurrency = 16\n\n[storage]\nstate_dir = \"state\"\n{remote}\n\
         [[jobs]]\nname = \"hourly-all\"\ngranularity = \"hourly\"\ntimezone = \"UTC\"\n"
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// `fetch` of `hours` hourly windows from 2026-11-01: (seconds, peak RSS in KiB).
/// The child's exit is waited for before its last `VmHWM` may be missed
/// only by the final 5 ms, in which it frees rather than grows.
fn fetch(dir: &Path, config: &Path, hours: i64) -> (f64, i64) {
    let to = jiff::Timestamp::from_second(1_793_491_200 + hours * 3600).expect("time");
    let started = Instant::now();
    let child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args([
            "-q",
            "fetch",
            "--job",
            "hourly-all",
            "--from",
            "2026-11-01T00:00:00Z",
            "--to",
        ])
        .arg(to.to_string())
        .current_dir(dir)
        .env_clear()
        .env("TENCENTCLOUD_SECRET_ID", fake_mna::DEFAULT_SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", fake_mna::DEFAULT_SECRET_KEY)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn fetch");
    // The child's own high-water mark (`VmHWM`), read while it runs:
    // `wait4`'s `ru_maxrss` would count this process's memory too (the
    // spawn shares it until `exec`).
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = done.clone();
    let peak = std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            if let Some(kib) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmHWM:"))
                        .and_then(|l| l.split_whitespace().nth(1)?.parse::<i64>().ok())
                })
            {
                peak = peak.max(kib);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    });
    let mut child = child;
    let status = child.wait().expect("wait");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(status.success(), "fetch failed");
    (started.elapsed().as_secs_f64(), peak.join().unwrap_or(0))
}

/// Fetch `hours` windows of a fake serving `cfg`, without and with the
/// bucket: ((seconds, KiB) without, (seconds, KiB) with).
fn pair(moto: &Moto, cfg: FakeConfig, hours: i64, prefix: &str) -> ((f64, i64), (f64, i64)) {
    let fake =
        FakeMna::start_background("127.0.0.1:0".parse().expect("addr"), cfg).expect("fake API");
    let plain = tempfile::tempdir().expect("tempdir");
    let c = config(plain.path(), &fake.endpoint(), None);
    let without = fetch(plain.path(), &c, hours);
    drop(plain);
    let remote = tempfile::tempdir().expect("tempdir");
    let c = config(
        remote.path(),
        &fake.endpoint(),
        Some((&moto.endpoint, prefix)),
    );
    let with = fetch(remote.path(), &c, hours);
    (without, with)
}

fn main() {
    let moto = Moto::start();
    println!("| scenario | without a bucket | with [storage.remote] | upload |");
    println!("|---|---:|---:|---:|");
    let n = 200;
    let ((t0, _), (t1, _)) = pair(&moto, FakeConfig::default(), n, "small");
    println!(
        "| fetch of {n} default reports (~8 KiB) | {t0:.2} s | {t1:.2} s | {:.0} reports/s |",
        n as f64 / (t1 - t0).max(1e-3)
    );
    let big = FakeConfig {
        file_bytes: Some(256 << 20),
        ..FakeConfig::default()
    };
    let ((t0, r0), (t1, r1)) = pair(&moto, big, 1, "big");
    println!(
        "| fetch of one 256 MiB report | {t0:.2} s, peak RSS {:.1} MiB | {t1:.2} s, peak RSS {:.1} MiB | {:.0} MiB/s |",
        r0 as f64 / 1024.0,
        r1 as f64 / 1024.0,
        256.0 / (t1 - t0).max(1e-3)
    );
}
