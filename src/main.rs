//! The `mna-reportd` binary: parse the command line, set up logging and the
//! runtime, run the command, exit with its code.

use clap::Parser;
use mna_reportd::Cli;
use std::io::Write;
use std::process::ExitCode;

/// glibc gives each thread that allocates its own malloc arena (up to 8
/// per core), and an arena keeps the memory freed into it: the blocking
/// threads' arenas stayed resident in an idle daemon. One arena for all:
/// the threads allocate little, and rarely at once.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; it is called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn main() -> ExitCode {
    one_malloc_arena();
    let cli = Cli::parse();
    // Files and the database must not be readable by other users, whatever
    // the caller's umask.
    // SAFETY: umask only sets the process's file mode creation mask.
    unsafe {
        libc::umask(0o027);
    }
    mna_reportd::init_logging(cli.verbose, cli.quiet, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {e}"
            );
            return ExitCode::from(1);
        }
    };
    let exit = runtime.block_on(mna_reportd::dispatch(cli));
    // A blocking read still waiting (a reload on a FIFO, a hung disk) must
    // not keep a finished process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    exit.into()
}
