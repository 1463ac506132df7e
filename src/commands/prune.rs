//! `prune [--older-than D] [--dry-run]`: delete report files whose window
//! ended before now - D (D is `[storage] retention` when `--older-than` is
//! not given), on disk and in `[storage.remote]`'s bucket; their rows stay,
//! marked `pruned`. Objects the bucket could not delete are said, and
//! deleted by the next prune. `--dry-run` lists the files
//! it would delete. Less than a day is refused, as for `[storage]
//! retention`: it would delete reports as they arrive.

use crate::archive::prune::{self, InBucket};
use crate::archive::store::Store;
use crate::commands::cli::PruneArgs;
use crate::commands::exit::{Exit, Usage};
use crate::domain::human;
use crate::fetch::setup;
use std::io::Write;
use std::path::Path;

/// The shortest `--older-than`, as the shortest `[storage] retention`.
const MIN_OLDER_THAN: std::time::Duration = std::time::Duration::from_secs(86_400);

pub(crate) async fn run(config_flag: Option<&Path>, args: PruneArgs) -> super::exit::Result<Exit> {
    if let Some(older_than) = args.older_than.filter(|d| *d < MIN_OLDER_THAN) {
        return Err(Usage::PruneTooSoon {
            given: human::duration(older_than),
        }
        .into());
    }
    let config = setup::load_config(config_flag)?;
    let (older_than, source) = match (args.older_than, config.storage.retention) {
        (Some(d), _) => (d, "--older-than"),
        (None, Some(d)) => (d, "[storage] retention"),
        (None, None) => return Err(Usage::PruneNoAge.into()),
    };
    let secs = i64::try_from(older_than.as_secs()).map_err(|_| Usage::PruneTooLong)?;
    let cutoff = jiff::Timestamp::now().as_second() - secs;
    if !config.storage.database_path().exists() {
        super::print(&format!(
            "no history yet at {}; nothing to prune\n",
            config.storage.database_path().display()
        ))?;
        return Ok(Exit::Ok);
    }
    let store = Store::open(&config.storage.database_path())?;
    let archive = crate::archive::root::ArchiveRoot::new(&config.storage.reports_dir);
    let bucket = InBucket {
        remote: setup::remote_archive(&config),
        runtime: tokio::runtime::Handle::current(),
    };
    let dry_run = args.dry_run;
    // Off the runtime's thread: the prune is synchronous, and its bucket
    // requests run on this runtime.
    let p = tokio::task::spawn_blocking(move || {
        prune::prune(&store, &archive, cutoff, dry_run, Some(&bucket))
    })
    .await
    .map_err(anyhow::Error::from)??;
    let verb = if args.dry_run {
        "would prune"
    } else {
        "pruned"
    };
    if !p.would_delete.is_empty() {
        let mut list = String::from("would delete:\n");
        for path in &p.would_delete {
            list.push_str("  ");
            list.push_str(&super::shown(path));
            list.push('\n');
        }
        super::print(&list)?;
    }
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        summary_text(&p, verb, older_than, source, &config.storage.reports_dir)
    );
    Ok(Exit::Ok)
}

/// The line that says what was pruned (or would be), and why some was not.
fn summary_text(
    p: &prune::Pruned,
    verb: &str,
    older_than: std::time::Duration,
    source: &str,
    reports_dir: &Path,
) -> String {
    format!(
        "{verb} {} reports ({} files, {}{}{}{}) whose window ended more than {} ago ({source}){}{}",
        p.reports,
        p.files_deleted,
        human::bytes(p.bytes),
        if p.objects_deleted > 0 {
            format!(", {} objects in the bucket", p.objects_deleted)
        } else {
            String::new()
        },
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
        human::duration(older_than),
        if p.outside > 0 {
            format!(
                "\n{} reports skipped: their row records a file outside the reports directory {} (never deleted)\n  fix: run `mna-reportd check` and follow what it says about them",
                p.outside,
                reports_dir.display()
            )
        } else {
            String::new()
        },
        objects_text(p)
    )
}

/// What is left in the bucket, why, and that the next prune retries.
fn objects_text(p: &prune::Pruned) -> String {
    let mut out = String::new();
    if p.objects_left > 0 {
        out.push_str(&format!(
            "\n{} objects of pruned reports left in the bucket; the next prune deletes them: {}",
            p.objects_left,
            p.objects_why.as_deref().unwrap_or("see the log")
        ));
    }
    if p.objects_refused > 0 {
        out.push_str(&format!(
            "\n{} pruned reports record an object key that is not a report key of their job below the bucket's prefix (never deleted)\n  fix: check [storage.remote] url; such keys were not written by this program",
            p.objects_refused
        ));
    }
    out
}
