//! Peak memory of one run of the real binary.
//!
//! The figure is the child's own `VmHWM` (the high-water mark of its address
//! space after `exec`), polled from `/proc/<pid>/status` while it runs.
//! `wait4`'s `ru_maxrss` would be simpler but is wrong here: Linux carries
//! the pre-`exec` high-water mark across `exec`, and `Command` spawns with
//! `CLONE_VM`, so it would count the test process's own memory.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// What a measured run gave.
pub struct Measured {
    pub output: Output,
    /// Peak resident set of the child, in bytes.
    pub peak_rss: u64,
}

impl Measured {
    pub fn peak_mib(&self) -> f64 {
        self.peak_rss as f64 / (1024.0 * 1024.0)
    }
}

/// `VmHWM` of a live process, in bytes; `None` once it has exited.
pub fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Run `cmd` to its end, with stdout and stderr captured, and measure its peak RSS.
pub fn run_measured(cmd: &mut Command) -> Measured {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mna-reportd");
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        // Read before asking whether it ended: the mark only grows, so the
        // last reading of a live process is its peak up to that moment.
        if let Some(hwm) = vm_hwm(pid) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().expect("wait for mna-reportd") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = Output {
        status,
        stdout: t_out.join().expect("stdout thread"),
        stderr: t_err.join().expect("stderr thread"),
    };
    Measured {
        output,
        peak_rss: peak,
    }
}
