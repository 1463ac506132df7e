//! `serve`: the read-only page and its JSON API over an existing history,
//! scheduling nothing (to look at an archive, or beside a daemon on the
//! same state: the history is only read). Also makes the daemon's page
//! ([`daemon_routes`]) from `[web]`. Both read a file whose local copy is
//! gone from `[storage.remote]`'s bucket.

use crate::commands::cli::ServeArgs;
use crate::commands::exit::{Exit, Usage};
use crate::config::{Config, DEFAULT_WEB_LISTEN};
use crate::fetch::setup;
use crate::serve::listener::{self, Shutdown, hosts::HostPolicy};
use crate::serve::{
    self as page,
    auth::{AccessError, Auth},
};
use axum::Router;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tracing::info;

/// The page's address, and its access: `listen` wins over `[web] listen`;
/// anything but loopback needs `[web] token_file`.
fn access(
    config: &Config,
    listen: Option<SocketAddr>,
) -> Result<(SocketAddr, Arc<Auth>), AccessError> {
    let listen = listen
        .or(config.web.as_ref().map(|w| w.listen))
        .or_else(|| DEFAULT_WEB_LISTEN.parse().ok())
        // Never taken: the default above reads.
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9465)));
    let token_file = config.web.as_ref().and_then(|w| w.token_file.as_deref());
    let auth = match token_file {
        Some(path) => Auth::with_token(page::auth::read_token(path)?),
        None if listen.ip().is_loopback() => Auth::open(),
        None => {
            return Err(AccessError::OpenToOthers {
                listen,
                config: config.path.clone(),
            });
        }
    };
    Ok((listen, Arc::new(auth)))
}

/// The lines that tell where the page is and how to log in. Nothing
/// secret: they go to the journal.
fn announce(addr: SocketAddr, auth: &Auth) -> Vec<String> {
    let mut out = vec![format!("serving the page on http://{addr}/")];
    if auth.required() {
        out.push(format!(
            "log in at http://{addr}/login with the token from [web] token_file (a browser keeps a cookie), or send Authorization: Bearer <token>"
        ));
    }
    out
}

/// The daemon's page: `[web]`'s address and routes, when the section is there.
pub(crate) fn daemon_routes(
    config: &Config,
    health: std::sync::Arc<crate::serve::monitor::Health>,
) -> Result<Option<(SocketAddr, Router)>, AccessError> {
    if config.web.is_none() {
        return Ok(None);
    }
    let (listen, auth) = access(config, None)?;
    for line in announce(listen, &auth) {
        info!("{line}");
    }
    let site = page::Site::new(config.clone())
        .with_health(health)
        .with_remote(setup::remote_archive(config));
    Ok(Some((listen, page::router(site, auth))))
}

pub(crate) async fn run(config_flag: Option<&Path>, args: ServeArgs) -> super::exit::Result<Exit> {
    let config = setup::load_config(config_flag)?;
    let db = config.storage.database_path();
    if !db.exists() {
        return Err(Usage::NoHistory {
            db,
            config: config.path.clone(),
        }
        .into());
    }
    // Readable now, or say why before listening.
    crate::archive::store::open_readonly(&db)?;
    let (listen, auth) = access(&config, args.listen)?;
    let socket = listener::bind(listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}\n  fix: pick another address with --listen or [web] listen"))?;
    let addr = socket.local_addr()?;
    let hosts = HostPolicy::new(config.allowed_hosts());
    let remote = setup::remote_archive(&config);
    if let crate::archive::remote::reach::RemoteArchive::Unusable(why) = &remote {
        tracing::warn!("files kept only in the bucket cannot be served: {why}");
    }
    let app = page::router(page::Site::new(config).with_remote(remote), auth.clone());
    super::print(&format!("{}\n", announce(addr, &auth).join("\n")))?;
    let ctl = crate::fetch::engine::Control::default();
    // A first signal stops; a second one, or the end of the drain, drops
    // the connections left (a client holding a request half-sent included).
    let stopped = crate::daemon::signals::stop_on_signal(ctl.clone(), listener::DRAIN)
        .map_err(|e| anyhow::anyhow!("cannot install signal handlers: {e}"))?;
    let shutdown = Shutdown {
        stop: ctl.stop.clone(),
        abort: ctl.abort.clone(),
    };
    let dropped = listener::serve(socket, app, hosts, shutdown).await;
    info!(signal = ?stopped.stopped(), dropped, "stopped serving");
    Ok(Exit::Ok)
}
