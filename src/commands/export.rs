//! `export --to DIR|s3://bucket/prefix [--job NAME...] [--since T] [--until T]`:
//! the rows of sealed reports not yet exported there, as Hive-partitioned
//! Parquet ([`crate::archive::export`]). `--since` and `--until` bound the
//! window starts (`--until` exclusive), read in the job's zone when one job
//! is named, else in UTC.

use crate::archive::export::{self, Destination};
use crate::archive::remote::client::S3Keys;
use crate::archive::store::Store;
use crate::archive::store::exports::ExportFilter;
use crate::commands::cli::ExportArgs;
use crate::commands::exit::{Exit, Usage};
use crate::domain::timearg::TimeArg;
use crate::fetch::setup;
use jiff::tz::TimeZone;
use std::path::Path;

pub(crate) async fn run(config_flag: Option<&Path>, args: ExportArgs) -> super::exit::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let zone = match args.jobs.as_slice() {
        [one] => config
            .job(one)
            .map(|j| j.cadence.zone().clone())
            .unwrap_or(TimeZone::UTC),
        _ => TimeZone::UTC,
    };
    let resolve = |t: &Option<TimeArg>| -> super::exit::Result<Option<i64>> {
        Ok(t.as_ref()
            .map(|t| t.resolve(&zone, jiff::Timestamp::now()))
            .transpose()?
            .map(|t| t.as_second()))
    };
    let filter = ExportFilter {
        jobs: args.jobs.clone(),
        since: resolve(&args.since)?,
        until: resolve(&args.until)?,
    };
    let dest = export::destination(&config, &args.to, cos_keys(&config, &args.to))
        .map_err(Usage::ExportTo)?;
    if !config.storage.database_path().exists() {
        super::print(&format!(
            "no history yet at {}; nothing to export\n",
            config.storage.database_path().display()
        ))?;
        return Ok(Exit::Ok);
    }
    let store = Store::open(&config.storage.database_path())?;
    let spool = export::spool(&config);
    let (done, dest) = tokio::task::spawn_blocking(move || {
        export::export(&store, &dest, &filter, &spool).map(|d| (d, dest))
    })
    .await
    .map_err(anyhow::Error::from)??;
    super::print(&format!(
        "exported {} reports ({} rows) in {} files to {}\n",
        done.reports,
        done.rows,
        done.files,
        describe(&dest)
    ))?;
    Ok(Exit::Ok)
}

/// For a bucket on Tencent COS, the account's own key pair (see
/// [`setup::cos_keys`]).
fn cos_keys(config: &crate::config::Config, to: &str) -> Option<S3Keys> {
    let bucket = to.strip_prefix("s3://")?.split('/').next()?;
    let settings = export::bucket_settings(config, bucket);
    setup::cos_keys(config, settings.endpoint.as_deref())
}

fn describe(dest: &Destination) -> String {
    super::shown(&dest.to_string())
}
