//! `fake-mna`: runs the fake MNA API as a standalone server.
//!
//! Prints `listening http://HOST:PORT` on stdout once bound, serves until
//! SIGTERM or SIGINT, then prints a one-line JSON summary on stderr.
//!
//! The account it serves has no device unless asked: `--devices N` makes up
//! N (`syn-000000000`, ...), `--devices-file PATH` lists them one id a line
//! (an optional second word is the device's group), `--group ID` puts the
//! made-up ones (and the file's without a group) in group ID. `GetDevices`,
//! `GetGroupList` and `GetGroupDetail` serve them, page by page, so that a
//! discovering job can be tried without an account.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fake_mna::{Credential, Delay, FakeConfig, FakeDevice, FakeMna, Outcome};

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
    /// Devices of the account, made up: syn-000000000, syn-000000001, ...
    /// (any number; each page is made when asked for).
    #[arg(long, default_value_t = 0)]
    devices: u64,
    /// Devices of the account from a file: one device id a line, optionally
    /// followed by its group id; blank lines and lines starting with # are
    /// skipped.
    #[arg(long, value_name = "PATH")]
    devices_file: Option<std::path::PathBuf>,
    /// The group of the --devices devices, and of the file's without one.
    #[arg(long, value_name = "ID")]
    group: Option<String>,
}

/// The devices of a `--devices-file` text: one id a line, an optional
/// second word its group (else `group`). `Err` names the line that has
/// more than two words.
fn devices_of(text: &str, group: Option<&str>) -> Result<Vec<FakeDevice>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let d = FakeDevice::new(words[0], fake_mna::SYNTHETIC_CREATED);
        out.push(match (words.get(1).copied().or(group), words.len()) {
            (_, 3..) => {
                return Err(format!(
                    "line {}: {line:?}: a device id and at most a group id",
                    n + 1
                ));
            }
            (Some(g), _) => d.in_group(g, format!("group {g}")),
            (None, _) => d,
        });
    }
    Ok(out)
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
    let listed = match &args.devices_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("--devices-file {}: {e}", path.display()))
            })?;
            devices_of(&text, args.group.as_deref()).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("--devices-file {}: {e}", path.display()),
                )
            })?
        }
        None => Vec::new(),
    };
    let fake = FakeMna::start_on(args.listen, config(&args)).await?;
    fake.set_devices(listed);
    fake.set_synthetic_devices(args.devices);
    fake.set_synthetic_group(args.group.clone());
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {}", fake.endpoint())?;
        out.flush()?;
    }
    wait_for_signal().await?;
    let calls = fake.calls();
    let answered = |action: &str| {
        calls
            .iter()
            .filter(|c| c.action == action)
            .filter(|c| matches!(c.outcome, Outcome::Ok { .. } | Outcome::Listed { .. }))
            .count()
    };
    let summary = serde_json::json!({
        "calls": calls.len(),
        "ok": calls.iter().filter(|c| c.outcome.is_ok()).count(),
        "reports": answered(fake_mna::ACTION),
        "listings": answered(fake_mna::GET_DEVICES) + answered(fake_mna::GET_GROUP_DETAIL) + answered(fake_mna::GET_GROUP_LIST),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_devices_file_is_one_id_a_line_with_an_optional_group() {
        let text = "# the lab\nmna-1\n\n  mna-2   grp-a \nmna-3\n";
        let d = devices_of(text, Some("grp-all")).expect("devices");
        let ids: Vec<(&str, Option<&str>)> = d
            .iter()
            .map(|d| (d.id.as_str(), d.group.as_ref().map(|g| g.0.as_str())))
            .collect();
        assert_eq!(
            ids,
            [
                ("mna-1", Some("grp-all")),
                ("mna-2", Some("grp-a")),
                ("mna-3", Some("grp-all"))
            ]
        );
        assert_eq!(devices_of("a\n", None).expect("one")[0].group, None);
        let e = devices_of("a\nb c d\n", None).expect_err("three words");
        assert!(e.starts_with("line 2:"), "{e}");
    }
}
