//! The daemon's listeners: `[metrics]` (with the page when it shares the
//! address) and the page's own, started before the first fire and stopped
//! after the last.

use crate::config::Config;
use crate::serve::listener::{Shutdown, hosts::HostPolicy};
use crate::serve::monitor::{self, Health};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Start the `[metrics]` listener (with the page when it shares the
/// address) and the page's own. They stop when the returned `stop` is
/// cancelled (after the fires); `abort` (a second signal) drops their
/// connections at once.
pub(super) async fn start_listeners(
    config: &Config,
    mut web: Option<(std::net::SocketAddr, axum::Router)>,
    health: &Arc<Health>,
    abort: CancellationToken,
) -> anyhow::Result<Shutdown> {
    let shutdown = Shutdown {
        stop: CancellationToken::new(),
        abort,
    };
    let hosts = HostPolicy::new(config.allowed_hosts());
    if let Some(listen) = config.metrics.listen {
        let handle = monitor::install().map_err(anyhow::Error::msg)?;
        let shared = web
            .take_if(|(at, _)| *at == listen)
            .map(|(_, routes)| routes)
            .unwrap_or_default();
        monitor::serve_with(
            listen,
            handle,
            health.clone(),
            shared,
            hosts.clone(),
            shutdown.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} ([metrics] listen): {e}"))?;
    }
    if let Some((listen, routes)) = web {
        let listener = crate::serve::listener::bind(listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen} ([web] listen): {e}"))?;
        // The bound address, the one to connect to when `listen` asked for port 0.
        info!(addr = %listener.local_addr()?, "serving the page");
        monitor::spawn(listener, routes, hosts, shutdown.clone());
    }
    Ok(shutdown)
}
