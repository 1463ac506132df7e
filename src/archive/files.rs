//! Where a report's file lives below the reports directory, and the
//! making of the state directories.
//!
//! A report's file is `<job>/<YYYY>/<MM>/<job>_<target>_<region>_<start>_<end>.xlsx`
//! ([`report_path`]), a [`RelPath`] that only [`crate::archive::root::ArchiveRoot`]
//! opens. The fields of the name are encoded injectively
//! ([`crate::domain::filename`]): no field holds a `_`, so two different
//! reports never share a name. Files are created 0600, directories 0750.

use crate::archive::root::RelPath;
use crate::domain::filename::component;
use crate::domain::report::RegionScope;
use crate::domain::target::Target;
use crate::domain::window::Window;
use jiff::tz::TimeZone;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

pub(crate) use crate::archive::root::{DIR_MODE, FILE_MODE};

/// Most bytes of the job field of a file name.
const JOB_MAX: usize = 64;

fn stamp(t: i64, zone: &TimeZone) -> String {
    crate::domain::window::local_text(t, zone, "%Y%m%dT%H%M%z")
}

/// `<job>/<YYYY>/<MM>/<job>_<target>_<region>_<start>_<end>.xlsx`, year,
/// month and times in the job's zone (with their UTC offset, so a repeated
/// hour on a DST fold keeps two names). The directory is the validated job
/// name itself; in the file name every field is escaped
/// ([`crate::domain::filename`]), the times are digits, `T`, `+` and `-`.
/// At most 237 bytes, a `.part` or `.prev` suffix included.
pub(crate) fn report_path(
    job: &str,
    target: &Target,
    region: RegionScope,
    window: Window,
    zone: &TimeZone,
) -> RelPath {
    let (year, month) = match jiff::Timestamp::from_second(window.start) {
        Ok(ts) => {
            let z = ts.to_zoned(zone.clone());
            (format!("{:04}", z.year()), format!("{:02}", z.month()))
        }
        Err(_) => ("0000".to_string(), "00".to_string()),
    };
    let plain = !job.is_empty()
        && job.len() <= JOB_MAX
        && job
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let dir = if plain {
        job.to_string()
    } else {
        format!(
            "{}{}",
            crate::domain::filename::LONG_MARKER,
            component(job, JOB_MAX)
        )
    };
    let name = format!(
        "{}_{}_{}_{}_{}.xlsx",
        component(job, JOB_MAX),
        target.file_component(),
        component(&region.to_string(), 8),
        stamp(window.start, zone),
        stamp(window.end, zone)
    );
    RelPath::of_names([dir, year, month, name])
}

/// Create `dir` and its missing parents with [`DIR_MODE`], fsyncing the
/// parent of every directory created so the new entries survive a crash.
/// (The state directory, and the reports directory itself.)
pub(crate) fn create_dirs(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        create_dirs(parent)?;
    }
    match fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// fsync a directory, so that entries created or renamed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

/// Create `path` with [`FILE_MODE`] if nothing is there; an existing file
/// is left as it is (another process may have just created it). For the
/// history database.
pub(crate) fn create_private_if_missing(path: &Path) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map(drop)
}

/// Create a new file at `path` with [`FILE_MODE`], for writing; something
/// already there is an error (a scratch file of the state directory).
pub(crate) fn create_private_new(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

#[cfg(test)]
mod tests;
