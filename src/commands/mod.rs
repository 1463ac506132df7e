//! One module per command; each returns the documented exit code.

pub mod check;
pub mod fetch;
pub mod history;
pub mod prune;
pub mod status;

use crate::cli::{Cli, Command};
use crate::exit::{self, Exit};

/// Run the command line and report an error the way operators read it.
pub async fn dispatch(cli: Cli) -> Exit {
    let config = cli.config.as_deref();
    let result = match cli.command {
        Command::Check => check::run(config),
        Command::Fetch(args) => fetch::run(config, args).await,
        Command::History(args) => history::run(config, args),
        Command::Run => crate::daemon::run(config).await,
        Command::Status(args) => status::run(config, args),
        Command::Prune(args) => prune::run(config, args),
    };
    match result {
        Ok(exit) => exit,
        Err(e) => {
            let code = exit::for_error(&e);
            eprintln!("error: {e:#}");
            code
        }
    }
}
