//! Who holds a claim on a report: a process identity that outlives PID reuse
//! and reboots, and the test of whether that process still runs.
//!
//! A holder is `<boot id>:<pid>:<start time in clock ticks since boot>`,
//! read from `/proc`. A claim is stale when its holder's boot is over, its
//! PID is gone, or the PID now belongs to a process started at another time.
//! Processes sharing one SQLite database in WAL mode share a host, so this
//! test is complete.

use std::fs;
use std::io;

/// This process cannot be identified: `/proc` is not readable.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read {path}: {source}\n  fix: mna-reportd needs /proc mounted and readable, to tell the processes sharing its history apart"
)]
pub struct HolderError {
    path: String,
    #[source]
    source: io::Error,
}

/// This process's owner string.
pub(crate) fn current() -> Result<String, HolderError> {
    let pid = std::process::id();
    let boot = boot_id().map_err(|source| HolderError {
        path: BOOT_ID.to_string(),
        source,
    })?;
    let start = start_time(pid)
        .and_then(|s| s.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound)))
        .map_err(|source| HolderError {
            path: format!("/proc/{pid}/stat"),
            source,
        })?;
    Ok(format!("{boot}:{pid}:{start}"))
}

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

fn boot_id() -> io::Result<String> {
    fs::read_to_string(BOOT_ID).map(|s| s.trim().to_string())
}

/// Field 22 of `/proc/<pid>/stat`: start time in clock ticks after boot;
/// `None` when no process has that PID.
fn start_time(pid: u32) -> io::Result<Option<u64>> {
    let stat = match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    parse_start_time(&stat)
        .map(Some)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/<pid>/stat"))
}

fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3; field 22 is the 20th after it.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that wrote `owner` still runs. When `/proc` cannot
/// tell (it cannot be read), the holder counts as alive: a claim is never
/// taken from a process that may be working on it.
pub(crate) fn is_alive(owner: &str) -> bool {
    judge(owner, boot_id(), start_time)
}

fn judge(
    owner: &str,
    boot_now: io::Result<String>,
    start_of: impl Fn(u32) -> io::Result<Option<u64>>,
) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(boot)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(start), Ok(pid)) = (start.parse::<u64>(), pid.parse::<u32>()) else {
        return false;
    };
    match boot_now {
        Ok(now) if now != boot => return false,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the boot id; a claim of another process is kept");
            return true;
        }
    }
    match start_of(pid) {
        Ok(found) => found == Some(start),
        Err(e) => {
            tracing::warn!(pid, error = %e, "cannot read a claim holder's /proc entry; its claim is kept");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive() {
        assert!(is_alive(&current().expect("identity")));
    }

    #[test]
    fn an_unreadable_proc_keeps_the_holder_alive() {
        let denied = || io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(judge("b:42:7", Ok("b".into()), |_| Err(denied())));
        assert!(judge("b:42:7", Err(denied()), |_| Ok(None)));
        // what /proc can tell still counts
        assert!(!judge("b:42:7", Ok("b".into()), |_| Ok(None)));
        assert!(!judge("b:42:7", Ok("b".into()), |_| Ok(Some(8))));
        assert!(judge("b:42:7", Ok("b".into()), |_| Ok(Some(7))));
        assert!(!judge("b:42:7", Ok("other".into()), |_| Ok(Some(7))));
    }

    #[test]
    fn a_finished_process_is_not() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        let start = start_time(pid).expect("stat").expect("running");
        child.wait().expect("wait");
        let owner = format!("{}:{}:{}", boot_id().expect("boot id"), pid, start);
        assert!(!is_alive(&owner));
    }

    #[test]
    fn reused_pid_or_other_boot_is_not() {
        let me = std::process::id();
        let boot = boot_id().expect("boot id");
        let start = start_time(me).expect("stat").expect("running");
        assert!(!is_alive(&format!("{boot}:{me}:{}", start + 1)));
        assert!(!is_alive(&format!("another-boot:{me}:{start}")));
        assert!(!is_alive("garbage"));
    }
}
