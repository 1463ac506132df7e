//! The command line: global options and the commands of the product
//! contract (`run`, `check`, `fetch`, `history`, `status`, `runs`, `devices`,
//! `prune`, `export`, `snapshot`, `restore`, `serve`, `completions`).

use crate::domain::report::Status;
use crate::domain::timearg::TimeArg;
use clap::{ArgAction, ArgGroup, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "mna-reportd",
    version,
    about = "Keeps Tencent Cloud MNA traffic reports on your own disk, with a SQLite history",
    after_help = "Exit codes: 0 everything asked for is done; 1 some report failed (the rest is kept); \
                  2 usage or config error, nothing written; 128+n stopped by signal n before finishing."
)]
pub struct Cli {
    /// Config file [default: $MNA_REPORTD_CONFIG, else /etc/mna-reportd/config.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,

    /// More log detail (-v debug, -vv trace)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log line format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The daemon: fetch what is due at start, then on every job's schedule, until SIGTERM/SIGINT
    Run,
    /// Validate the config and show where credentials come from; --probe makes one real API call (and one bucket round trip)
    Check(CheckArgs),
    /// Fetch now, for --job NAME... or --all: what is due, or every window inside --from/--to
    Fetch(FetchArgs),
    /// The recorded reports, newest first
    History(HistoryArgs),
    /// Per job: last done window, next fire, missing and failed windows inside the horizon
    Status(StatusArgs),
    /// The recorded daemon fires and manual fetches, newest first
    Runs(RunsArgs),
    /// The device inventory from the history; --refresh lists the devices from the API first
    Devices(DevicesArgs),
    /// Delete report files (on disk and in the bucket) whose window ended before now - DURATION; their rows stay, marked pruned
    Prune(PruneArgs),
    /// Write the rows of sealed reports not yet exported to DIR or s3://bucket/prefix as Hive-partitioned Parquet
    Export(ExportArgs),
    /// Write a compressed snapshot of history.db to the bucket of [storage.remote] now (keeping the newest snapshot_keep)
    Snapshot,
    /// Rebuild an empty state directory from the newest history snapshot (or --from) and the bucket's listing
    Restore(RestoreArgs),
    /// Serve the read-only web page and its JSON API over the history, scheduling nothing
    Serve(ServeArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(crate::commands::completions::CompletionsArgs),
    /// Print a man page (roff), as the package installs it
    #[command(hide = true)]
    Manpage(crate::commands::completions::ManpageArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Also make one real, signed GetStatisticData call (the first job's newest window; nothing written), and with [storage.remote] write, read back and delete one object below <prefix>/_probe/; exit 1 if either fails
    #[arg(long)]
    pub(crate) probe: bool,
}

/// Which jobs: `--job NAME...` or `--all`, one of them required (clap's
/// error then names both).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("selection").required(true).args(["jobs", "all"])))]
pub(crate) struct FetchArgs {
    /// Job(s) to fetch
    #[arg(long = "job", value_name = "NAME", num_args = 1..)]
    pub(crate) jobs: Vec<String>,
    /// Every enabled job
    #[arg(long)]
    pub(crate) all: bool,
    /// Start of the range (RFC 3339, or a local date/date-time in the job's zone)
    #[arg(long, value_name = "T", requires = "to")]
    pub(crate) from: Option<TimeArg>,
    /// End of the range, exclusive
    #[arg(long, value_name = "T", requires = "from")]
    pub(crate) to: Option<TimeArg>,
    /// Fetch reports that are already done again
    #[arg(long)]
    pub(crate) force: bool,
    /// Print the windows and request bodies; send nothing, change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TableFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Only this job (repeatable)
    #[arg(long = "job", value_name = "NAME")]
    pub(crate) jobs: Vec<String>,
    /// Only windows ending at or after T (RFC 3339, a local date or date-time, or a duration back from now: 2h, 3d)
    #[arg(long, value_name = "T")]
    pub(crate) since: Option<TimeArg>,
    /// Only this status: pending, running, ok, failed, pruned
    #[arg(long, value_name = "S", value_enum)]
    pub(crate) status: Option<Status>,
    /// At most N rows
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<u32>,
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub(crate) format: TableFormat,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub(crate) format: StatusFormat,
}

#[derive(Debug, Args)]
pub(crate) struct RunsArgs {
    /// Only the runs of this job
    #[arg(long, value_name = "NAME")]
    pub(crate) job: Option<String>,
    /// At most N rows [default: 20]
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<u32>,
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub(crate) format: TableFormat,
}

#[derive(Debug, Args)]
pub(crate) struct DevicesArgs {
    /// List the devices from the API first (every discovering job's; the whole account when none discovers)
    #[arg(long)]
    pub(crate) refresh: bool,
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub(crate) format: TableFormat,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: [web] listen, else 127.0.0.1:9465]
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Destination: a directory, or s3://bucket/prefix
    #[arg(long, value_name = "DIR|URL")]
    pub(crate) to: String,
    /// Only this job (repeatable)
    #[arg(long = "job", value_name = "NAME", num_args = 1..)]
    pub(crate) jobs: Vec<String>,
    /// Only windows starting at or after T (RFC 3339, a local date or date-time, or a duration back from now: 2h, 3d)
    #[arg(long, value_name = "T")]
    pub(crate) since: Option<TimeArg>,
    /// Only windows starting before T
    #[arg(long, value_name = "T")]
    pub(crate) until: Option<TimeArg>,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The snapshot: s3://bucket/key of one, or a file (gzip or a plain database) [default: the newest in the bucket]
    #[arg(long, value_name = "s3://...|FILE")]
    pub(crate) from: Option<String>,
    /// Restore over a state directory that holds a history or reports (the history there is moved aside, not deleted)
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Age of the window end beyond which files are deleted (e.g. 400d) [default: [storage] retention]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) older_than: Option<Duration>,
    /// Show what would be deleted; delete nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn fetch_needs_a_job_or_all_and_both_range_ends() {
        assert!(Cli::try_parse_from(["mna-reportd", "fetch"]).is_err());
        assert!(Cli::try_parse_from(["mna-reportd", "fetch", "--all"]).is_ok());
        assert!(Cli::try_parse_from(["mna-reportd", "fetch", "--job", "a", "b"]).is_ok());
        assert!(Cli::try_parse_from(["mna-reportd", "fetch", "--job", "a", "--all"]).is_err());
        assert!(
            Cli::try_parse_from(["mna-reportd", "fetch", "--all", "--from", "2026-11-01"]).is_err()
        );
        assert!(
            Cli::try_parse_from([
                "mna-reportd",
                "fetch",
                "--all",
                "--from",
                "bad",
                "--to",
                "2026-11-02"
            ])
            .is_err()
        );
    }
}
