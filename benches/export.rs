//! The Parquet export's throughput and memory: `cargo bench --bench export`
//! builds a history of 1,000,000 rows (100 hourly reports of 10,000 rows,
//! the fake API's Traffic shape) and one of 100,000 rows, runs the real
//! `mna-reportd export --to DIR` on each as a child process, and prints the
//! rows per second and the child's peak RSS (from `wait4`). The two peaks
//! are close: memory does not grow with the rows. Nothing is left behind.
//!
//! `cargo bench --bench export -- ROWS` runs one size (e.g. `2000000`).

use mna_reportd::testing::Store;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_mna-reportd");
const ROWS_PER_REPORT: usize = 10_000;

/// A history under `dir/state` with `rows` rows in reports of
/// [`ROWS_PER_REPORT`], and a config that points at it.
fn history(dir: &Path, rows: usize) -> std::path::PathBuf {
    let config = dir.join("config.toml");
    let text = "[storage]\nstate_dir = \"state\"\n\n[[jobs]]\nname = \"hourly-all\"\ngranularity = \"hourly\"\n";
    std::fs::write(&config, text).expect("config");
    let store = Store::open(&dir.join("state/history.db")).expect("history");
    store
        .on_thread(|c| {
            let tx = c.transaction()?;
            let start = 1_793_491_200i64; // 2026-11-01T00:00:00Z
            for r in 0..rows.div_ceil(ROWS_PER_REPORT) {
                let ws = start + 3600 * r as i64;
                tx.execute(
                    "INSERT INTO reports (job, target, region, granularity, window_start, window_end, status, \"trigger\", created_at, updated_at)
                     VALUES ('hourly-all', 'all', '', 5, ?1, ?2, 'ok', 'manual', ?2, ?2)",
                    [ws, ws + 3600],
                )?;
                let id = tx.last_insert_rowid();
                let mut st = tx.prepare_cached(
                    "INSERT INTO report_rows (report_id, sheet, row_number, data) VALUES (?1, 'Traffic', ?2, ?3)",
                )?;
                for i in 0..ROWS_PER_REPORT.min(rows - r * ROWS_PER_REPORT) {
                    let up = (i as i64 * 7919) % 1_000_000_007;
                    let data = format!(
                        r#"{{"Time":"2026-11-01 {:02}:{:02}:00","DeviceId":"mna-device-{}","Region":"EU","UpBytes":{up},"DownBytes":{},"TotalBytes":{}}}"#,
                        (i / 60) % 24,
                        i % 60,
                        i % 500,
                        up * 3,
                        up * 4
                    );
                    st.execute(rusqlite::params![id, i as i64 + 2, data])?;
                }
            }
            tx.commit()
        })
        .expect("rows");
    config
}

/// Run the export; (seconds, peak RSS in KiB).
#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives its rusage
fn export(config: &Path, to: &Path) -> (f64, i64) {
    let started = Instant::now();
    let child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["-q", "export", "--to"])
        .arg(to)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn export");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: waits for our own child, writing into our locals.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "export failed"
    );
    (started.elapsed().as_secs_f64(), usage.ru_maxrss)
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        sizes
    };
    println!("| rows | export wall time | rows/s | peak RSS |");
    println!("|---:|---:|---:|---:|");
    for rows in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = history(dir.path(), rows);
        let (secs, rss_kib) = export(&config, &dir.path().join("out"));
        println!(
            "| {rows} | {secs:.2} s | {:.0} | {:.1} MiB |",
            rows as f64 / secs,
            rss_kib as f64 / 1024.0
        );
    }
}
