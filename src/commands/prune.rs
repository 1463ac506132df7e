//! `prune --older-than D [--dry-run]`: delete report files whose window
//! ended before now - D; their rows stay, marked `pruned`.

use crate::archive::prune;
use crate::archive::store::Store;
use crate::commands::cli::PruneArgs;
use crate::run::exit::{Exit, UsageError};
use crate::run::setup;
use std::io::Write;
use std::path::Path;

pub fn run(config_flag: Option<&Path>, args: PruneArgs) -> anyhow::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let secs = i64::try_from(args.older_than.as_secs())
        .map_err(|_| UsageError("--older-than is too long".into()))?;
    let cutoff = jiff::Timestamp::now().as_second() - secs;
    if !config.storage.database_path().exists() {
        super::print(&format!(
            "no history yet at {}; nothing to prune\n",
            config.storage.database_path().display()
        ))?;
        return Ok(Exit::Ok);
    }
    let store = Store::open(&config.storage.database_path())?;
    let p = prune::prune(&store, cutoff, args.dry_run)?;
    let verb = if args.dry_run {
        "would prune"
    } else {
        "pruned"
    };
    let _ = writeln!(
        std::io::stdout().lock(),
        "{verb} {} reports ({} files, {} bytes{}{}) whose window ended more than {} ago",
        p.reports,
        p.files_deleted,
        p.bytes,
        if p.missing_files > 0 {
            format!(", {} files already gone", p.missing_files)
        } else {
            String::new()
        },
        if p.refused_files > 0 {
            format!(
                ", {} files left alone: reached through a link in the reports tree",
                p.refused_files
            )
        } else {
            String::new()
        },
        humantime::format_duration(args.older_than)
    );
    Ok(Exit::Ok)
}
