//! `mna-demo`: mna-reportd on the fake API, for a first look without an
//! account.
//!
//! Starts the fake on a free loopback port (its account holding `--devices`
//! made-up devices), writes a job file (the example's jobs, one that fires
//! every minute and one that discovers the devices) and the fake's keys into a new
//! directory under `$TMPDIR`, runs the real `mna-reportd run` on it (found
//! next to this program, or at `$MNA_REPORTD_BIN`), and prints where to look.
//! On SIGINT or SIGTERM it stops the daemon with SIGTERM, waits for it, stops
//! the fake and says where the data stays. The fake's keys and address exist
//! only here: `mna-reportd` itself knows nothing of the fake.

mod setup;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fake_mna::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, FakeConfig, FakeMna};
use setup::{DemoFiles, EXAMPLE, Extra, Look};
use tokio::signal::unix::{SignalKind, signal};

/// How long the daemon may take to stop after SIGTERM (its own grace for
/// reports in flight is 20 s) before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(40);

/// Runs mna-reportd against the bundled fake API, with no account: the
/// fake, a temporary job file and state directory, and the daemon. Ctrl-C
/// stops both; the data stays for a look.
#[derive(Parser, Debug)]
#[command(name = "mna-demo", version)]
struct Args {
    /// The mna-reportd binary [default: $MNA_REPORTD_BIN, else the one next
    /// to this program].
    #[arg(long)]
    daemon: Option<PathBuf>,
    /// Devices the fake's account holds (made up: syn-000000000, ...), which
    /// the job discovered-per-device lists and fetches one report each of.
    #[arg(long, default_value_t = DEMO_DEVICES)]
    devices: u64,
}

/// The devices of the demo's account unless `--devices` says otherwise.
const DEMO_DEVICES: u64 = 5;

fn daemon_binary(args: &Args) -> Result<PathBuf, String> {
    if let Some(p) = &args.daemon {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("MNA_REPORTD_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe()
        .map_err(|e| format!("cannot tell where this program is ({e}); set MNA_REPORTD_BIN"))?;
    let next = me.with_file_name("mna-reportd");
    if next.is_file() {
        Ok(next)
    } else {
        Err(format!(
            "no mna-reportd next to this program (looked for {}); build it with \
             `cargo build --release --workspace`, or set MNA_REPORTD_BIN",
            next.display()
        ))
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

fn print_guide(lines: &[Look]) {
    let width = lines.iter().map(|l| l.label.len()).max().unwrap_or(0);
    let mut out = String::from("\nWhere to look (in another terminal):\n");
    for l in lines {
        out.push_str(&format!("  {:width$}  {}\n", l.label, l.text));
    }
    out.push_str("\nCtrl-C stops the daemon and the fake; the data stays.\n");
    print!("{out}");
    let _ = std::io::stdout().flush();
}

async fn run(args: Args) -> Result<(), String> {
    let bin = daemon_binary(&args)?;
    // Signals are taken before anything starts, so that an early Ctrl-C
    // still stops what did.
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("signals: {e}"))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("signals: {e}"))?;

    let dir = tempfile::Builder::new()
        .prefix("mna-demo-")
        .tempdir()
        .map_err(|e| {
            format!(
                "cannot create a directory in {}: {e}",
                std::env::temp_dir().display()
            )
        })?
        .keep();
    let fake = FakeMna::start_on(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        FakeConfig {
            rate_limit: Some(20),
            ..FakeConfig::default()
        },
    )
    .await
    .map_err(|e| format!("the fake API cannot listen on 127.0.0.1: {e}"))?;
    fake.set_synthetic_devices(args.devices);
    // The page: a free loopback port, taken by the daemon a moment later.
    let page = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free loopback port for the page: {e}"))?;
    let files = DemoFiles {
        dir: dir.clone(),
        endpoint: fake.endpoint(),
        extras: vec![Extra {
            toml: format!("[web]\nlisten = \"{page}\""),
            look: Look {
                label: "page",
                text: format!("http://{page}/"),
            },
        }],
    };
    let config = files
        .config_text(EXAMPLE)
        .map_err(|e| format!("config.example.toml has changed: {e}"))?;
    let written = write_private(&files.secret_id(), &format!("{DEFAULT_SECRET_ID}\n"))
        .and_then(|()| write_private(&files.secret_key(), &format!("{DEFAULT_SECRET_KEY}\n")))
        .and_then(|()| write_private(&files.config(), &config));
    written.map_err(|e| format!("cannot write into {}: {e}", dir.display()))?;

    let mut child = tokio::process::Command::new(&bin)
        .arg("--config")
        .arg(files.config())
        .arg("run")
        // Its own process group: Ctrl-C reaches this program only, which
        // stops the daemon once, with SIGTERM.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let pid = child.id().unwrap_or(0);
    println!("mna-demo: the fake MNA API listens on {}", fake.endpoint());
    println!(
        "mna-demo: mna-reportd runs (pid {pid}) on {}; its log follows",
        files.config().display()
    );
    print_guide(&files.guide(&bin));

    let early = tokio::select! {
        _ = int.recv() => None,
        _ = term.recv() => None,
        status = child.wait() => Some(status),
    };
    let result = match early {
        Some(status) => Err(match status {
            Ok(s) => format!("mna-reportd stopped by itself ({s}); see its log above"),
            Err(e) => format!("cannot wait for mna-reportd: {e}"),
        }),
        None => {
            println!("mna-demo: stopping mna-reportd (SIGTERM)");
            stop(&mut child, pid).await
        }
    };
    fake.shutdown();
    println!("mna-demo: the fake API stopped");
    println!(
        "mna-demo: the data stays in {} (look with the lines above); remove it with: rm -rf {}",
        dir.display(),
        setup::shell_word(&dir.to_string_lossy())
    );
    result
}

/// SIGTERM to the daemon, then wait for it; killed after [`STOP_LIMIT`].
async fn stop(child: &mut tokio::process::Child, pid: u32) -> Result<(), String> {
    if let Ok(pid) = libc::pid_t::try_from(pid)
        && pid > 0
    {
        // SAFETY: kill(2) with a pid of our own child, which is not reaped
        // until the wait below.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(STOP_LIMIT, child.wait()).await {
        Ok(Ok(s)) if s.success() => {
            println!("mna-demo: mna-reportd stopped");
            Ok(())
        }
        Ok(Ok(s)) => Err(format!("mna-reportd ended with {s}; see its log above")),
        Ok(Err(e)) => Err(format!("cannot wait for mna-reportd: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!(
                "mna-reportd did not stop within {} s of SIGTERM; killed",
                STOP_LIMIT.as_secs()
            ))
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mna-demo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mna-demo: {e}");
            ExitCode::FAILURE
        }
    }
}
