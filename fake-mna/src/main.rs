//! `fake-mna`: runs the fake MNA API as a standalone server.
//!
//! Prints `listening http://HOST:PORT` on stdout once bound, serves until
//! SIGTERM or SIGINT, then prints a one-line JSON summary on stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fake_mna::{Credential, Delay, FakeConfig, FakeMna};

/// An in-process fake of the Tencent Cloud MNA API (GetStatisticData).
#[derive(Parser, Debug)]
#[command(name = "fake-mna", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Accepted SecretId (with --secret-key); default AKIDfake.
    #[arg(long, requires = "secret_key")]
    secret_id: Option<String>,
    /// Accepted SecretKey (with --secret-id).
    #[arg(long, requires = "secret_id")]
    secret_key: Option<String>,
    /// Token the credential requires in X-TC-Token.
    #[arg(long, requires = "secret_id")]
    token: Option<String>,
    /// Calls allowed within any 1 s span.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Data rows per report; default: one per granularity step inside the
    /// report's window.
    #[arg(long)]
    rows: Option<usize>,
    /// Leave out the Summary sheet.
    #[arg(long)]
    no_summary: bool,
    /// Large-file mode: serve every report as an xlsx of about N bytes.
    #[arg(long)]
    file_bytes: Option<u64>,
    /// How long issued URLs stay valid, e.g. 3600s, 10m.
    #[arg(long, default_value = "3600s", value_parser = humantime::parse_duration)]
    url_ttl: Duration,
    /// Enable the CVM metadata endpoints with this role name.
    #[arg(long)]
    cvm_role: Option<String>,
    /// Lifetime of issued temporary credentials.
    #[arg(long, default_value = "3600s", value_parser = humantime::parse_duration)]
    cvm_ttl: Duration,
    /// How long each API answer takes: `400ms`, or a range `100ms..1s`.
    #[arg(long, default_value = "0s", value_parser = parse_delay)]
    answer_delay: Delay,
    /// How long each download waits before its first byte (as --answer-delay).
    #[arg(long, default_value = "0s", value_parser = parse_delay)]
    download_delay: Delay,
    /// Count each call against --rate-limit up to this much late (strict mode).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    arrival_jitter: Duration,
}

/// `400ms` or `100ms..1s`.
fn parse_delay(s: &str) -> Result<Delay, humantime::DurationError> {
    Ok(match s.split_once("..") {
        Some((a, b)) => Delay::between(
            humantime::parse_duration(a.trim())?,
            humantime::parse_duration(b.trim())?,
        ),
        None => Delay::fixed(humantime::parse_duration(s.trim())?),
    })
}

fn config(args: &Args) -> FakeConfig {
    let mut cfg = FakeConfig::default();
    if let (Some(id), Some(key)) = (&args.secret_id, &args.secret_key) {
        let mut cred = Credential::new(id.clone(), key.clone());
        cred.token = args.token.clone();
        cfg.credentials = vec![cred];
    }
    cfg.rate_limit = args.rate_limit;
    cfg.rows_per_report = args.rows;
    cfg.with_summary_sheet = !args.no_summary;
    cfg.file_bytes = args.file_bytes;
    cfg.url_ttl = args.url_ttl;
    cfg.cvm_role = args.cvm_role.clone();
    cfg.cvm_ttl = args.cvm_ttl;
    cfg.answer_delay = args.answer_delay;
    cfg.download_delay = args.download_delay;
    cfg.arrival_jitter = args.arrival_jitter;
    cfg
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

async fn run(args: Args) -> std::io::Result<()> {
    let fake = FakeMna::start_on(args.listen, config(&args)).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {}", fake.endpoint())?;
        out.flush()?;
    }
    wait_for_signal().await?;
    let calls = fake.calls();
    let summary = serde_json::json!({
        "calls": calls.len(),
        "ok": calls.iter().filter(|c| c.outcome.is_ok()).count(),
        "rate_limited": fake.rate_limited_count(),
        "downloads": fake.downloads().len(),
        "metadata_requests": fake.metadata_requests(),
    });
    eprintln!("{summary}");
    fake.shutdown();
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fake-mna: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-mna: {e}");
            ExitCode::FAILURE
        }
    }
}
