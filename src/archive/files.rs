//! The reports directory: where a report's file lives, its temporary `.part`
//! name, and the durable way a file gets its final name.
//!
//! A file appears under its final name only complete, checked and flushed:
//! it is written as `<final>.part` in the same directory, fsynced, renamed,
//! and the directory is fsynced (PostgreSQL's `durable_rename`). Names are
//! built only from validated job names, [`crate::core::target::safe_component`]
//! and numbers, so nothing from the server or the config leaves the
//! reports directory. Files are created 0600, directories 0750.
//!
//! Nothing under the reports directory is written through a symbolic link:
//! a part file is created exclusively with `O_NOFOLLOW` after whatever was
//! at its name is unlinked, a link where a directory of the tree should be
//! is refused ([`ReportDirError::Link`]), and the sweep never follows one.
//!
//! A forced refetch over a good file keeps that file as `<final>.prev`
//! (a hard link, durable) until the history records the new one, so that a
//! failure between the rename and the commit can put it back
//! ([`resolve_previous`]; at start-up for a process that died there).

use crate::core::report::RegionScope;
use crate::core::target::Target;
use crate::core::window::Window;
use jiff::tz::TimeZone;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Suffix of a file being written.
pub const PART_SUFFIX: &str = ".part";
/// Suffix of the good copy a forced refetch keeps until its commit.
pub const PREV_SUFFIX: &str = ".prev";
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
    crate::core::window::local_text(t, zone, "%Y%m%dT%H%M%z")
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
        region: RegionScope,
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
        let job = crate::core::target::safe_component(job);
        let name = format!(
            "{job}_{}_{}_{}_{}.xlsx",
            target.file_component(),
            region,
            stamp(window.start, zone),
            stamp(window.end, zone)
        );
        self.root.join(&job).join(year).join(month).join(name)
    }

    /// Make the directory `dir` of a report (below the root) and its
    /// missing parents. The root may be a link the operator chose; below
    /// it, a link or a non-directory in the way is an error, never followed.
    pub fn create_report_dir(&self, dir: &Path) -> Result<(), ReportDirError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReportDirError::Io { path, source }
        };
        create_dirs(&self.root).map_err(io_err(&self.root))?;
        let below = dir
            .strip_prefix(&self.root)
            .map_err(|_| ReportDirError::Outside {
                path: dir.to_path_buf(),
            })?;
        let mut at = self.root.clone();
        for part in below.components() {
            let parent = at.clone();
            at.push(part);
            loop {
                match fs::symlink_metadata(&at) {
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(ReportDirError::Link { path: at });
                    }
                    Ok(m) if m.is_dir() => break,
                    Ok(_) => return Err(ReportDirError::NotDir { path: at }),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&at)(e)),
                }
                match fs::DirBuilder::new().mode(DIR_MODE).create(&at) {
                    Ok(()) => {
                        sync_dir(&parent).map_err(io_err(&parent))?;
                        break;
                    }
                    // Made by another process meanwhile: look again.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_err(&at)(e)),
                }
            }
        }
        Ok(())
    }

    /// Every `.part` file (or link at a part name) under the root that is
    /// not in `keep` and was last written more than `idle` ago, deleted
    /// without following links; and every `.prev` copy found, for
    /// [`resolve_previous`]. (A part file being written is younger: another
    /// process may have claimed its report after `keep` was read.) Links to
    /// directories are not entered.
    pub fn sweep_parts(
        &self,
        keep: &HashSet<PathBuf>,
        idle: std::time::Duration,
    ) -> io::Result<Swept> {
        let mut swept = Swept::default();
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
                let name = path.to_string_lossy();
                if (ft.is_file() || ft.is_symlink())
                    && name.ends_with(PART_SUFFIX)
                    && !keep.contains(&path)
                    && stale
                {
                    remove_if_exists(&path)?;
                    swept.removed += 1;
                } else if ft.is_file() && name.ends_with(PREV_SUFFIX) {
                    swept.previous.push(path);
                }
            }
        }
        Ok(swept)
    }
}

/// What [`Layout::sweep_parts`] did and found.
#[derive(Debug, Default)]
pub struct Swept {
    /// Part files removed.
    pub removed: usize,
    /// `.prev` copies left by a forced refetch that did not finish.
    pub previous: Vec<PathBuf>,
}

/// Why a report's directory cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportDirError {
    #[error("{} is a symbolic link inside the reports directory; mna-reportd never writes through links there\n  fix: replace the link with a real directory (move what it points to into its place), or set storage.reports_dir to where the files should go", path.display())]
    Link { path: PathBuf },
    #[error("{} is in the way of a report directory and is not a directory\n  fix: move it out of the reports directory", path.display())]
    NotDir { path: PathBuf },
    #[error("{} is not inside the reports directory", path.display())]
    Outside { path: PathBuf },
    #[error("cannot create {}: {source}\n  fix: check that this user may write there and that the disk has room", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
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

/// Open `path` for writing from scratch, mode `FILE_MODE`: whatever is
/// at that name (a stale file, a link) is unlinked, never followed, and the
/// file is created exclusively with `O_NOFOLLOW`, so nothing a link points
/// to is ever written.
pub fn create_private(path: &Path) -> io::Result<File> {
    remove_if_exists(path)?;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(FILE_MODE)
        .open(path)
}

/// Create `path` with [`FILE_MODE`] if nothing is there; an existing file
/// is left as it is (another process may have just created it).
pub fn create_private_if_missing(path: &Path) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map(drop)
}

/// `<final>.prev`.
pub fn prev_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_os_string();
    s.push(PREV_SUFFIX);
    PathBuf::from(s)
}

/// Before a new file replaces `final_path`, keep the current one as
/// `<final>.prev` (a hard link, made durable). An existing `.prev` is kept
/// as it is: it is the copy the history records (see
/// [`resolve_previous`]). Returns whether a copy is kept.
pub fn keep_previous(final_path: &Path) -> io::Result<bool> {
    let prev = prev_path(final_path);
    if fs::symlink_metadata(&prev).is_ok() {
        return Ok(true);
    }
    match fs::symlink_metadata(final_path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    fs::hard_link(final_path, &prev)?;
    match final_path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
    .map(|()| true)
}

/// Put the kept copy back under `final_path`, durably.
pub fn restore_previous(final_path: &Path) -> io::Result<()> {
    let prev = prev_path(final_path);
    commit(&prev, final_path)?;
    // A rename between two links of one file does nothing.
    remove_if_exists(&prev)
}

/// The history records the new file: the kept copy goes.
pub fn drop_previous(final_path: &Path) -> io::Result<()> {
    remove_if_exists(&prev_path(final_path))
}

/// What [`resolve_previous`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// No `.prev` copy.
    Nothing,
    /// The final file is the recorded one: the copy was removed.
    Dropped,
    /// The copy was the recorded file: it is back under the final name.
    Restored,
    /// Neither matches what is recorded: both left for the operator.
    Unresolved,
}

/// Settle a `<final>.prev` left by a forced refetch that did not finish,
/// against what the history `recorded` for the report (sha256, size):
/// whichever of the two files is that one stays under the final name.
pub fn resolve_previous(final_path: &Path, recorded: (&str, u64)) -> io::Result<Resolved> {
    let prev = prev_path(final_path);
    if fs::symlink_metadata(&prev).is_err() {
        return Ok(Resolved::Nothing);
    }
    if matches_recorded(final_path, recorded)? {
        remove_if_exists(&prev)?;
        return Ok(Resolved::Dropped);
    }
    if matches_recorded(&prev, recorded)? {
        restore_previous(final_path)?;
        return Ok(Resolved::Restored);
    }
    Ok(Resolved::Unresolved)
}

/// Whether the regular file at `path` has the recorded sha256 and size.
fn matches_recorded(path: &Path, (sha256, bytes): (&str, u64)) -> io::Result<bool> {
    use sha2::Digest;
    let mut file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(false),
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() != bytes {
        return Ok(false);
    }
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match io::Read::read(&mut file, &mut buf)? {
            0 => break,
            n => hasher.update(&buf[..n]),
        }
    }
    Ok(hex::encode(hasher.finalize()) == sha256)
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

/// Directory levels [`Layout::final_path`] puts between the root and a
/// report file: job, year, month.
const REPORT_DIR_LEVELS: usize = 3;

/// The first directory of a report file below the reports root (its month,
/// year or job directory) that is a symbolic link, if any: a file reached
/// through it lies outside the tree, and must not be touched.
pub fn linked_report_dir(file: &Path) -> io::Result<Option<PathBuf>> {
    for dir in file.ancestors().skip(1).take(REPORT_DIR_LEVELS) {
        match fs::symlink_metadata(dir) {
            Ok(m) if m.file_type().is_symlink() => return Ok(Some(dir.to_path_buf())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
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
    use crate::core::target::{Region, Selection};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn final_paths_are_readable_deterministic_and_inside_the_root() {
        let l = Layout::new("/var/lib/mna-reportd/reports");
        let tz = TimeZone::get("Asia/Shanghai").expect("zone");
        let w = Window {
            start: 1_793_462_400, // 2026-11-01T00:00:00+08:00
            end: 1_793_466_000,
        };
        let p = l.final_path(
            "hourly-all",
            &Target::new(Selection::All),
            RegionScope::All,
            w,
            &tz,
        );
        assert_eq!(
            p,
            Path::new(
                "/var/lib/mna-reportd/reports/hourly-all/2026/11/hourly-all_all_ALL_20261101T0000+0800_20261101T0100+0800.xlsx"
            )
        );
        let hostile = Target::new(Selection::Device("../../../etc/passwd".into()));
        let p = l.final_path("j", &hostile, RegionScope::Only(Region::EU), w, &tz);
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
            l.final_path("j", &t, RegionScope::All, a, &tz),
            l.final_path("j", &t, RegionScope::All, b, &tz)
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
        assert_eq!(removed.removed, 0);
        let removed = l
            .sweep_parts(&HashSet::from([keep.clone()]), std::time::Duration::ZERO)
            .expect("sweep");
        assert_eq!(removed.removed, 1);
        assert!(keep.exists() && !stale.exists() && done.exists());
        let fin = dir.join("a.xlsx");
        commit(&keep, &fin).expect("commit");
        assert!(fin.exists() && !keep.exists());
        assert_eq!(
            fs::metadata(&fin).expect("meta").permissions().mode() & 0o777,
            FILE_MODE
        );
    }

    #[test]
    fn a_link_at_a_part_name_is_replaced_not_followed() {
        let d = tempfile::tempdir().expect("tempdir");
        let victim = d.path().join("history.db");
        fs::write(&victim, b"precious").expect("victim");
        let part = d.path().join("r.xlsx.part");
        std::os::unix::fs::symlink(&victim, &part).expect("link");
        io::Write::write_all(&mut create_private(&part).expect("create"), b"report")
            .expect("write");
        assert_eq!(fs::read(&victim).expect("victim"), b"precious");
        let meta = fs::symlink_metadata(&part).expect("part");
        assert!(meta.file_type().is_file());
        assert_eq!(fs::read(&part).expect("part"), b"report");
    }

    #[test]
    fn links_below_the_root_are_refused_and_never_swept_through() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("reports");
        let outside = d.path().join("outside");
        fs::create_dir_all(root.join("j/2026")).expect("tree");
        fs::create_dir(&outside).expect("outside");
        let stale = outside.join("x.xlsx.part");
        fs::write(&stale, b"x").expect("stale");
        std::os::unix::fs::symlink(&outside, root.join("j/2026/11")).expect("link");
        let l = Layout::new(&root);
        let err = l
            .create_report_dir(&root.join("j/2026/11"))
            .expect_err("a link is refused");
        assert!(matches!(err, ReportDirError::Link { .. }), "{err}");
        assert!(err.to_string().contains("fix:"));
        // a dangling link at a part name goes; the linked directory is not entered
        std::os::unix::fs::symlink(d.path().join("gone"), root.join("j/a.xlsx.part"))
            .expect("dangling");
        let swept = l
            .sweep_parts(&HashSet::new(), std::time::Duration::ZERO)
            .expect("sweep");
        assert_eq!(swept.removed, 1);
        assert!(stale.exists(), "nothing outside the tree was touched");
        // a real directory is made as usual
        l.create_report_dir(&root.join("k/2026/12")).expect("mkdir");
        assert!(root.join("k/2026/12").is_dir());
    }

    #[test]
    fn a_kept_copy_is_settled_against_what_is_recorded() {
        let d = tempfile::tempdir().expect("tempdir");
        let fin = d.path().join("r.xlsx");
        fs::write(&fin, b"good").expect("good");
        let good = (
            "770e607624d689265ca6c44884d0807d9b054d23c473c106c72be9de08b7376c",
            4,
        );
        assert!(keep_previous(&fin).expect("keep"));
        // the new file took the name, the commit never came: the good one goes back
        fs::write(d.path().join("new"), b"newer").expect("new");
        commit(&d.path().join("new"), &fin).expect("rename");
        assert_eq!(
            resolve_previous(&fin, good).expect("resolve"),
            Resolved::Restored
        );
        assert_eq!(fs::read(&fin).expect("fin"), b"good");
        assert!(!prev_path(&fin).exists());
        // the commit came: the copy goes
        assert!(keep_previous(&fin).expect("keep"));
        assert_eq!(
            resolve_previous(&fin, good).expect("resolve"),
            Resolved::Dropped
        );
        assert!(!prev_path(&fin).exists());
        assert_eq!(
            resolve_previous(&fin, good).expect("resolve"),
            Resolved::Nothing
        );
        // neither is recorded: both stay
        assert!(keep_previous(&fin).expect("keep"));
        assert_eq!(
            resolve_previous(&fin, ("00", 4)).expect("resolve"),
            Resolved::Unresolved
        );
        assert!(prev_path(&fin).exists() && fin.exists());
        // restoring over the same file leaves no copy
        restore_previous(&fin).expect("restore");
        assert!(!prev_path(&fin).exists());
    }
}
