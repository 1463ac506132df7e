//! The one way the program serves HTTP (the page, `/metrics` and
//! `/healthz`, in the daemon and in `serve`), with bounds no client can
//! push past:
//!
//! - a connection must deliver a whole request head within
//!   [`HEADER_READ_TIMEOUT`] of opening or of its previous answer (so this is
//!   also the keep-alive idle timeout), in at most [`MAX_HEAD`] bytes;
//! - a connection on which no byte moves either way for [`STALL_TIMEOUT`]
//!   is closed (a client that stops reading an answer or sending a body);
//! - at most [`MAX_CONNECTIONS`] connections are open at once: the next
//!   one is answered `503` at once and closed, without being kept;
//! - a request body is at most [`MAX_BODY`] bytes (`413` past it);
//! - the `Host` must be allowed ([`hosts`]): `421` otherwise;
//! - on stop, the listener closes, idle connections close, answers in
//!   flight get [`DRAIN`]; the abort (a second signal) or the end of
//!   [`DRAIN`] drops whatever is left, half-sent requests included.
//!
//! Also raises the process's open-file limit ([`raise_open_files_limit`]).

pub(crate) mod hosts;
mod tracked;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use hosts::{HostPolicy, Refusal};
use http_body_util::Limited;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use tracked::{Progress, Tracked};

/// Time allowed for a whole request head, from the connection's opening or
/// the end of its previous answer.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection on which no byte moves for this long is closed.
pub(crate) const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections served at once by one listener; more are answered 503.
pub(crate) const MAX_CONNECTIONS: usize = 256;
/// The largest request body taken.
pub(crate) const MAX_BODY: usize = 16 * 1024;
/// The largest request head (request line and headers).
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// How long answers in flight may finish after the stop.
pub(crate) const DRAIN: Duration = Duration::from_secs(10);
/// Connections the kernel queues before the listener takes them (the
/// system's `net.core.somaxconn` caps it): a burst larger than the usual
/// 128 must not see its SYNs dropped and retried a second later.
const BACKLOG: u32 = 1024;
/// How often refusals past the cap are logged at most.
const BUSY_WARN_EVERY: Duration = Duration::from_secs(60);
/// After a failed `accept` (no file descriptor left, say), the listener
/// waits this long before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A listening socket on `addr`, with a backlog of [`BACKLOG`].
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// When a listener stops: `stop` closes it and lets answers in flight
/// finish; `abort` (or the end of [`DRAIN`]) drops what is left.
#[derive(Clone, Default)]
pub(crate) struct Shutdown {
    pub(crate) stop: CancellationToken,
    pub(crate) abort: CancellationToken,
}

/// Serve `app` on `listener` for the `Host` names `hosts` allows, within the
/// bounds of this module, until `shutdown`. Returns how many connections
/// were dropped unfinished at the end.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    hosts: HostPolicy,
    shutdown: Shutdown,
) -> usize {
    let service = Service {
        app: TowerToHyperService::new(app),
        hosts: Arc::new(hosts),
    };
    let mut open = JoinSet::new();
    let mut accept_failed_warned = false;
    let mut busy_warned: Option<tokio::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.stop.cancelled() => break,
            a = listener.accept() => a,
        };
        while open.try_join_next().is_some() {}
        match accepted {
            Ok((stream, peer)) if open.len() >= MAX_CONNECTIONS => {
                if busy_warned.is_none_or(|at| at.elapsed() >= BUSY_WARN_EVERY) {
                    warn!(%peer, limit = MAX_CONNECTIONS, "too many connections open; answering 503 to new ones");
                    busy_warned = Some(tokio::time::Instant::now());
                }
                refuse_busy(stream);
            }
            Ok((stream, _)) => {
                accept_failed_warned = false;
                open.spawn(connection(stream, service.clone(), shutdown.stop.clone()));
            }
            Err(e) => {
                if !accept_failed_warned {
                    warn!(error = %e, "cannot accept a connection; retrying");
                    accept_failed_warned = true;
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    drain(open, &shutdown.abort).await
}

/// Wait for the connections of `open` to end, at most until `abort` or the
/// end of [`DRAIN`]; drop the rest. How many were dropped.
async fn drain(mut open: JoinSet<()>, abort: &CancellationToken) -> usize {
    let deadline = tokio::time::sleep(DRAIN);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = open.join_next() => if next.is_none() { return 0 },
            _ = &mut deadline => break,
            _ = abort.cancelled() => break,
        }
    }
    while open.try_join_next().is_some() {}
    let left = open.len();
    if left > 0 {
        warn!(
            connections = left,
            "stopped serving; dropped connections still open"
        );
    }
    open.abort_all();
    left
}

/// What every request goes through before `app`.
#[derive(Clone)]
struct Service {
    app: TowerToHyperService<Router>,
    hosts: Arc<HostPolicy>,
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Body>, Infallible>> + Send>,
    >;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        if let Err(refusal) = self.hosts.check(&req) {
            return Box::pin(std::future::ready(Ok(refused(refusal))));
        }
        if declared_length(&req).is_some_and(|n| n > MAX_BODY as u64) {
            return Box::pin(std::future::ready(Ok(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "413 request body too large\n",
            ))));
        }
        let req = req.map(|b| Body::new(Limited::new(b, MAX_BODY)));
        let app = self.app.clone();
        Box::pin(async move { hyper::service::Service::call(&app, req).await })
    }
}

fn declared_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut res = Response::new(Body::from(text));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

/// The answer to a refused `Host`.
fn refused(refusal: Refusal) -> Response<Body> {
    match refusal {
        Refusal::Name => plain(
            StatusCode::MISDIRECTED_REQUEST,
            "421 misdirected request: this listener answers only to IP addresses, localhost and the names in [web] allowed_hosts\n  fix: add the name to [web] allowed_hosts in the config file, or use the IP address\n",
        ),
        Refusal::Missing => plain(
            StatusCode::BAD_REQUEST,
            "400 bad request: one Host header is required\n",
        ),
    }
}

/// Serve one connection until it ends, stalls, or `stop` (then it finishes
/// the answer in flight, if any, and closes).
async fn connection(stream: TcpStream, service: Service, stop: CancellationToken) {
    let progress = Progress::new();
    let io = TokioIo::new(Tracked::new(stream, progress.clone()));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD);
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    debug!(error = %e, "connection ended");
                }
                return;
            }
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = progress.stalled(STALL_TIMEOUT) => {
                debug!("closing a stalled connection");
                return;
            }
        }
    }
}

/// The whole answer to a connection past [`MAX_CONNECTIONS`].
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 46\r\n\
Retry-After: 10\r\n\
Connection: close\r\n\
\r\n\
503 too many connections open; try again soon\n";

/// Answer 503 to a connection past the cap and close it, without waiting
/// for anything: what it already sent is read (so closing does not reset
/// the answer away), the answer fits the fresh socket's buffer. The socket
/// is taken out of the runtime (which knows no readiness of it yet) and
/// written directly; it is non-blocking.
fn refuse_busy(stream: TcpStream) {
    use std::io::{Read, Write};
    let Ok(mut stream) = stream.into_std() else {
        return;
    };
    let mut buf = [0u8; 4096];
    for _ in 0..4 {
        match stream.read(&mut buf) {
            Ok(n) if n == buf.len() => continue,
            _ => break,
        }
    }
    let _ = stream.write(BUSY);
}

/// Raise the soft limit of open files to the hard limit, so a listener's
/// connections do not take the descriptors the daemon's own work needs. A
/// failure (a sandbox that forbids it) leaves the limit as it is.
pub(crate) fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    if lim.rlim_cur >= lim.rlim_max {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        debug!(
            soft = lim.rlim_cur,
            hard = lim.rlim_max,
            error = %std::io::Error::last_os_error(),
            "cannot raise the open-files limit"
        );
    }
}

#[cfg(test)]
mod tests;
