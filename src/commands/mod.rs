//! The command line: its parsing ([`cli`]), logging, and one module per
//! command; each returns the documented exit code.
//!
//! The top layer: may import every folder of the crate; nothing imports it
//! but the binary.

pub(crate) mod check;
pub(crate) mod cli;
pub(crate) mod completions;
pub(crate) mod devices;
pub(crate) mod exit;
pub(crate) mod export;
pub(crate) mod fetch;
pub(crate) mod fetch_end;
pub(crate) mod history;
pub(crate) mod logging;
pub(crate) mod manual;
pub(crate) mod probe;
pub(crate) mod probe_bucket;
pub(crate) mod prune;
pub(crate) mod restore;
pub(crate) mod runs;
pub(crate) mod serve;
pub(crate) mod snapshot;
pub(crate) mod status;

use crate::commands::cli::{Cli, Command};
use crate::commands::exit::Exit;
use jiff::tz::TimeZone;
use std::io::Write;

/// Run the command line and report an error the way operators read it.
pub async fn dispatch(cli: Cli) -> Exit {
    // Listeners' connections must not take the descriptors the work needs.
    crate::serve::listener::raise_open_files_limit();
    let config = cli.config.as_deref();
    let result = match cli.command {
        Command::Check(args) => match check::run(config) {
            Ok(Exit::Ok) if args.probe => probe::run(config).await,
            other => other,
        },
        Command::Fetch(args) => fetch::run(config, args, cli.quiet, cli.verbose).await,
        Command::History(args) => history::run(config, args),
        Command::Run => crate::daemon::run(config, serve::daemon_routes)
            .await
            .map(|crate::daemon::Ended::Stopped| Exit::Ok)
            .map_err(exit::Error::from),
        Command::Serve(args) => serve::run(config, args).await,
        Command::Status(args) => status::run(config, args),
        Command::Runs(args) => runs::run(config, args),
        Command::Devices(args) => devices::run(config, args).await,
        Command::Prune(args) => prune::run(config, args).await,
        Command::Export(args) => export::run(config, args).await,
        Command::Snapshot => snapshot::run(config).await,
        Command::Restore(args) => restore::run(config, args).await,
        Command::Completions(args) => completions::run(&args),
        Command::Manpage(args) => completions::manpage(&args),
    };
    match result {
        Ok(exit) => exit,
        Err(e) => {
            let code = e.code();
            // Nobody may be reading stderr any more; the code still tells.
            let _ = writeln!(std::io::stderr().lock(), "error: {}", e.report());
            code
        }
    }
}

/// Server text as shown: control characters escaped (rows recorded before
/// text was cleaned where it enters may hold them raw).
pub(crate) fn shown(s: &str) -> String {
    crate::domain::text::escape_controls(s).into_owned()
}

/// Write `text` to stdout. A reader that has gone (`| head`) is not an
/// error: like other Unix tools, the command stops writing and ends with
/// the code of its work.
pub(crate) fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A time column of the tables: wall time in the job's zone, `-` for none.
pub(crate) fn time_cell(t: Option<i64>, zone: &TimeZone) -> String {
    t.map(|t| crate::domain::window::local_text(t, zone, "%Y-%m-%d %H:%M%:z"))
        .unwrap_or_else(|| "-".to_string())
}

/// [`time_cell`] with seconds, for fire times (a cron may name seconds;
/// `check` shows them too).
pub(crate) fn time_cell_seconds(t: Option<i64>, zone: &TimeZone) -> String {
    t.map(|t| crate::domain::window::local_text(t, zone, "%Y-%m-%d %H:%M:%S%:z"))
        .unwrap_or_else(|| "-".to_string())
}

/// An aligned, borderless table for a terminal, ending in a newline.
pub(crate) fn table<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header(header);
    for r in rows {
        t.add_row(r);
    }
    let mut s = t.trim_fmt();
    s.push('\n');
    s
}

/// CSV written a row at a time to `out`: a header row of the rows' field
/// names (`columns` alone when there is no row), and every cell a
/// spreadsheet would run as a formula neutralised
/// ([`crate::domain::csv_cell`]).
pub(crate) struct SafeCsv<'a, W: std::io::Write> {
    out: csv::Writer<W>,
    columns: &'a [&'a str],
    rows: u64,
}

impl<'a, W: std::io::Write> SafeCsv<'a, W> {
    pub(crate) fn new(out: W, columns: &'a [&'a str]) -> SafeCsv<'a, W> {
        SafeCsv {
            out: csv::Writer::from_writer(out),
            columns,
            rows: 0,
        }
    }

    /// Write `row` (and, before the first, the header serde gives).
    pub(crate) fn row<T: serde::Serialize>(&mut self, row: T) -> anyhow::Result<()> {
        // Serialize into a scratch buffer, then read it back field by field
        // to write it again safe.
        let mut scratch = csv::WriterBuilder::new()
            .has_headers(self.rows == 0)
            .from_writer(Vec::new());
        scratch.serialize(row)?;
        let plain = scratch.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(plain.as_slice());
        let records: Vec<csv::StringRecord> = rdr.records().collect::<Result<_, _>>()?;
        let header = records.len() > 1;
        for (i, rec) in records.iter().enumerate() {
            if header && i == 0 {
                self.out.write_record(rec)?;
            } else {
                self.out.write_record(
                    rec.iter()
                        .map(|c| crate::domain::csv_cell::neutralise(c).into_owned()),
                )?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The header alone when no row came; flush; the writer.
    pub(crate) fn finish(mut self) -> anyhow::Result<W> {
        if self.rows == 0 {
            self.out.write_record(self.columns)?;
        }
        self.out.flush()?;
        self.out.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// `rows` as CSV with a header row (`columns` alone when there is no row),
/// through [`SafeCsv`].
pub(crate) fn csv_of<T: serde::Serialize>(
    rows: impl Iterator<Item = T>,
    columns: &[&str],
) -> anyhow::Result<String> {
    let mut w = SafeCsv::new(Vec::new(), columns);
    for r in rows {
        w.row(r)?;
    }
    Ok(String::from_utf8(w.finish()?)?)
}
