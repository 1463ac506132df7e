//! Who holds a claim on a report: a process identity that outlives PID reuse
//! and reboots, and the test of whether that process still runs.
//!
//! An owner is `<boot id>:<pid>:<start time in clock ticks since boot>`,
//! read from `/proc`. A claim is stale when its owner's boot is over, its
//! PID is gone, or the PID now belongs to a process started at another time.
//! Processes sharing one SQLite database in WAL mode share a host, so this
//! test is complete.

use std::fs;

/// This process's owner string.
pub fn current() -> String {
    let pid = std::process::id();
    format!(
        "{}:{}:{}",
        boot_id().unwrap_or_default(),
        pid,
        start_time(pid).unwrap_or(0)
    )
}

fn boot_id() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Field 22 of `/proc/<pid>/stat`: start time in clock ticks after boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3; field 22 is the 20th after it.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that wrote `owner` still runs.
pub fn is_alive(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(boot)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(start), Ok(pid)) = (start.parse::<u64>(), pid.parse::<u32>()) else {
        return false;
    };
    if boot_id().as_deref().unwrap_or_default() != boot {
        return false;
    }
    start_time(pid) == Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive() {
        assert!(is_alive(&current()));
    }

    #[test]
    fn a_finished_process_is_not() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        let start = start_time(pid);
        child.wait().expect("wait");
        let owner = format!(
            "{}:{}:{}",
            boot_id().unwrap_or_default(),
            pid,
            start.unwrap_or(0)
        );
        assert!(!is_alive(&owner));
    }

    #[test]
    fn reused_pid_or_other_boot_is_not() {
        let me = std::process::id();
        let boot = boot_id().unwrap_or_default();
        let start = start_time(me).unwrap_or(0);
        assert!(!is_alive(&format!("{boot}:{me}:{}", start + 1)));
        assert!(!is_alive(&format!("another-boot:{me}:{start}")));
        assert!(!is_alive("garbage"));
    }
}
