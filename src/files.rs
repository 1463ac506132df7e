//! The reports directory: where a report's file lives, its temporary `.part`
//! name, and the durable way a file gets its final name.
//!
//! A file appears under its final name only complete, checked and flushed:
//! it is written as `<final>.part` in the same directory, fsynced, renamed,
//! and the directory is fsynced (PostgreSQL's `durable_rename`). Names are
//! built only from validated job names, [`crate::target::safe_component`]
//! and numbers, so nothing from the server or the config leaves the
//! reports directory. Files are created 0600, directories 0750.

use crate::target::{Region, Target};
use crate::window::Window;
use jiff::tz::TimeZone;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Suffix of a file being written.
pub const PART_SUFFIX: &str = ".part";
/// Mode of report files and the database.
pub const FILE_MODE: u32 = 0o600;
/// Mode of directories we create.
pub const DIR_MODE: u32 = 0o750;

/// The reports directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

fn stamp(t: i64, zone: &TimeZone) -> String {
    crate::window::local_text(t, zone, "%Y%m%dT%H%M%z")
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<job>/<YYYY>/<MM>/<job>_<target>_<region>_<start>_<end>.xlsx`,
    /// year, month and times in the job's zone (with their UTC offset, so a
    /// repeated hour on a DST fold keeps two names). `job` must be a
    /// validated job name.
    pub fn final_path(
        &self,
        job: &str,
        target: &Target,
        region: Option<Region>,
        window: Window,
        zone: &TimeZone,
    ) -> PathBuf {
        let (year, month) = match jiff::Timestamp::from_second(window.start) {
            Ok(ts) => {
                let z = ts.to_zoned(zone.clone());
                (format!("{:04}", z.year()), format!("{:02}", z.month()))
            }
            Err(_) => ("0000".to_string(), "00".to_string()),
        };
        let job = crate::target::safe_component(job);
        let name = format!(
            "{job}_{}_{}_{}_{}.xlsx",
            target.file_component(),
            region.map(Region::as_str).unwrap_or("ALL"),
            stamp(window.start, zone),
            stamp(window.end, zone)
        );
        self.root.join(&job).join(year).join(month).join(name)
    }

    /// Every `.part` file under the root that is not in `keep` and was last
    /// written more than `idle` ago, deleted. (A part file being written is
    /// younger: another process may have claimed its report after `keep`
    /// was read.) Returns how many were removed.
    pub fn sweep_parts(
        &self,
        keep: &HashSet<PathBuf>,
        idle: std::time::Duration,
    ) -> io::Result<usize> {
        let mut removed = 0;
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let path = entry.path();
                let ft = entry.file_type()?;
                if ft.is_dir() {
                    stack.push(path);
                    continue;
                }
                let stale = entry
                    .metadata()?
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_none_or(|age| age >= idle);
                if ft.is_file()
                    && path.to_string_lossy().ends_with(PART_SUFFIX)
                    && !keep.contains(&path)
                    && stale
                {
                    fs::remove_file(&path)?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// `<final>.part`.
pub fn part_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_os_string();
    s.push(PART_SUFFIX);
    PathBuf::from(s)
}

/// Create `dir` and its missing parents with [`DIR_MODE`], fsyncing the
/// parent of every directory created so the new entries survive a crash.
pub fn create_dirs(dir: &Path) -> io::Result<()> {
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
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

/// Open `path` for writing from scratch, mode [`FILE_MODE`].
pub fn create_private(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Give a complete, fsynced `part` its final name durably: rename, then
/// fsync the directory.
pub fn commit(part: &Path, final_path: &Path) -> io::Result<()> {
    fs::rename(part, final_path)?;
    match final_path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Remove `path` if it exists.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Selection;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn final_paths_are_readable_deterministic_and_inside_the_root() {
        let l = Layout::new("/var/lib/mna-reportd/reports");
        let tz = TimeZone::get("Asia/Shanghai").expect("zone");
        let w = Window {
            start: 1_793_462_400, // 2026-11-01T00:00:00+08:00
            end: 1_793_466_000,
        };
        let p = l.final_path("hourly-all", &Target::new(Selection::All), None, w, &tz);
        assert_eq!(
            p,
            Path::new(
                "/var/lib/mna-reportd/reports/hourly-all/2026/11/hourly-all_all_ALL_20261101T0000+0800_20261101T0100+0800.xlsx"
            )
        );
        let hostile = Target::new(Selection::Device("../../../etc/passwd".into()));
        let p = l.final_path("j", &hostile, Some(Region::EU), w, &tz);
        assert!(p.starts_with("/var/lib/mna-reportd/reports/j/2026/11/"));
        assert_eq!(
            p.components().count(),
            Path::new("/var/lib/mna-reportd/reports/j/2026/11/x")
                .components()
                .count()
        );
    }

    #[test]
    fn fold_hours_get_distinct_names() {
        let l = Layout::new("/r");
        let tz = TimeZone::get("Europe/Berlin").expect("zone");
        // 2026-10-25 02:00 CEST and 02:00 CET
        let a = Window {
            start: 1_792_886_400,
            end: 1_792_890_000,
        };
        let b = Window {
            start: 1_792_890_000,
            end: 1_792_893_600,
        };
        let t = Target::new(Selection::All);
        assert_ne!(
            l.final_path("j", &t, None, a, &tz),
            l.final_path("j", &t, None, b, &tz)
        );
    }

    #[test]
    fn sweep_removes_only_unkept_parts_and_commit_is_private() {
        let d = tempfile::tempdir().expect("tempdir");
        let l = Layout::new(d.path());
        let dir = d.path().join("j/2026/11");
        create_dirs(&dir).expect("mkdir");
        assert_eq!(
            fs::metadata(&dir).expect("meta").permissions().mode() & 0o777,
            DIR_MODE
        );
        let keep = dir.join("a.xlsx.part");
        let stale = dir.join("b.xlsx.part");
        let done = dir.join("c.xlsx");
        for p in [&keep, &stale, &done] {
            create_private(p).expect("create");
        }
        // too young: kept whatever the list says
        let removed = l
            .sweep_parts(&HashSet::new(), std::time::Duration::from_secs(3600))
            .expect("sweep");
        assert_eq!(removed, 0);
        let removed = l
            .sweep_parts(&HashSet::from([keep.clone()]), std::time::Duration::ZERO)
            .expect("sweep");
        assert_eq!(removed, 1);
        assert!(keep.exists() && !stale.exists() && done.exists());
        let fin = dir.join("a.xlsx");
        commit(&keep, &fin).expect("commit");
        assert!(fin.exists() && !keep.exists());
        assert_eq!(
            fs::metadata(&fin).expect("meta").permissions().mode() & 0o777,
            FILE_MODE
        );
    }
}
