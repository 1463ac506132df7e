//! The HTTP server: accept loop, per-connection hyper service, routing, and
//! the small response builders the handlers share.
//!
//! This module owns the listening socket and the lifetime of connections:
//! every connection is served by hyper's HTTP/1.1 server, and dropped when a
//! handler asks for an abort or the fake shuts down.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, DATE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::http_date;
use crate::conn::{ConnCtl, ConnIo};
use crate::state::Shared;
use crate::{api, download, metadata};

/// The response body type of every handler.
pub(crate) type RespBody = UnsyncBoxBody<Bytes, io::Error>;

pub(crate) fn full_body(bytes: impl Into<Bytes>) -> RespBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A response with a fixed body, `Content-Type` and `Content-Length`.
pub(crate) fn fixed(
    code: u16,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<RespBody> {
    let body: Bytes = body.into();
    let mut resp = Response::new(full_body(body.clone()));
    *resp.status_mut() = status(code);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    resp
}

/// An API answer (always HTTP 200, JSON).
pub(crate) fn json_response(shared: &Shared, value: Value) -> Response<RespBody> {
    let body = serde_json::to_vec(&value).unwrap_or_default();
    let mut resp = fixed(200, "application/json", body);
    if shared.cfg.clock_offset != 0
        && let Ok(v) = HeaderValue::from_str(&http_date(shared.now_unix()))
    {
        resp.headers_mut().insert(DATE, v);
    }
    resp
}

/// A gateway-style error page.
pub(crate) fn html_response(code: u16) -> Response<RespBody> {
    let st = status(code);
    let reason = st.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>stgw</center>\r\n</body>\r\n</html>\r\n"
    );
    fixed(code, "text/html", body)
}

fn not_found() -> Response<RespBody> {
    fixed(404, "text/plain", "not found\n")
}

async fn route(
    shared: Arc<Shared>,
    ctl: Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Response<RespBody> {
    let path = req.uri().path().to_owned();
    if path == "/" {
        return if req.method() == Method::POST {
            api::handle(shared, ctl, req).await
        } else {
            fixed(405, "text/plain", "only POST is supported\n")
        };
    }
    if path.starts_with("/files/") {
        return if req.method() == Method::GET {
            download::handle(shared, ctl, req).await
        } else {
            fixed(405, "text/plain", "only GET is supported\n")
        };
    }
    if path.starts_with(metadata::PREFIX) {
        return metadata::handle(&shared, &path);
    }
    not_found()
}

/// Serves `listener` until `stop` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (stream, _peer): (_, SocketAddr) = match accepted {
            Ok(a) => a,
            Err(_) => {
                // Out of descriptors and the like: back off briefly.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(serve_connection(stream, shared, stop));
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let ctl = Arc::new(ConnCtl::default());
    let io = TokioIo::new(ConnIo::new(stream, ctl.clone()));
    let svc_ctl = ctl.clone();
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        let ctl = svc_ctl.clone();
        async move { Ok::<_, Infallible>(route(shared, ctl, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::select! {
        _ = conn => {}
        _ = ctl.notify.notified() => {}
        _ = stop.wait_for(|s| *s) => {}
    }
}
