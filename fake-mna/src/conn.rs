//! Wire-level control of one TCP connection: aborting it (reset or clean
//! close) from inside a handler, and response bodies that stop early.
//!
//! This module owns how the connection-breaking faults reach the socket.
//! Every accepted socket is wrapped in [`ConnIo`]; handlers get the matching
//! [`ConnCtl`]. An abort makes the connection task drop hyper's connection
//! (and so the socket); for a reset the socket gets `SO_LINGER` 0 first, so
//! the kernel sends RST instead of FIN. A [`ServeBody`] that must stop after
//! part of its bytes waits until hyper has flushed them to the socket, then
//! aborts.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Sleep;

/// How a connection is to be broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AbortKind {
    /// Close with RST (`SO_LINGER` 0): the peer sees "connection reset".
    Reset,
    /// Close with FIN: the peer sees EOF.
    Close,
}

const NONE: u8 = 0;
const RESET: u8 = 1;
const CLOSE: u8 = 2;

fn encode(kind: AbortKind) -> u8 {
    match kind {
        AbortKind::Reset => RESET,
        AbortKind::Close => CLOSE,
    }
}

/// Shared between a connection's task, its socket wrapper and its handlers.
#[derive(Default)]
pub(crate) struct ConnCtl {
    /// The abort in force (`NONE` until one is requested).
    aborted: AtomicU8,
    /// An abort to fire at the next completed flush.
    after_flush: AtomicU8,
    pub(crate) notify: Notify,
}

impl ConnCtl {
    /// Breaks the connection now: nothing more is written.
    pub fn abort_now(&self, kind: AbortKind) {
        let _ =
            self.aborted
                .compare_exchange(NONE, encode(kind), Ordering::SeqCst, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Breaks the connection once hyper has handed every buffered byte to
    /// the socket.
    pub fn abort_after_flush(&self, kind: AbortKind) {
        self.after_flush.store(encode(kind), Ordering::SeqCst);
    }

    fn is_reset(&self) -> bool {
        self.aborted.load(Ordering::SeqCst) == RESET
    }

    fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst) != NONE
    }

    fn flushed(&self) {
        match self.after_flush.swap(NONE, Ordering::SeqCst) {
            RESET => self.abort_now(AbortKind::Reset),
            CLOSE => self.abort_now(AbortKind::Close),
            _ => {}
        }
    }
}

/// The accepted socket, as hyper sees it.
pub(crate) struct ConnIo {
    inner: TcpStream,
    ctl: Arc<ConnCtl>,
}

impl ConnIo {
    pub fn new(inner: TcpStream, ctl: Arc<ConnCtl>) -> ConnIo {
        ConnIo { inner, ctl }
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.ctl.is_reset() {
            // Best effort: without it the peer sees EOF instead of RST.
            let _ = self.inner.set_zero_linger();
        }
    }
}

fn aborted_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection aborted by fault",
    )
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.ctl.is_aborted() {
            return Poll::Ready(Err(aborted_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.ctl.is_aborted() {
            return Poll::Ready(Err(aborted_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.ctl.is_aborted() {
            return Poll::Ready(Err(aborted_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ctl.is_aborted() {
            return Poll::Ready(Err(aborted_error()));
        }
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = r {
            self.ctl.flushed();
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A body of `total` bytes: `head`, then `fill` repeated (cut to fit), in
/// chunks of at most [`CHUNK`]; with an exact size hint only when `declared`
/// (hyper then sends `Content-Length`, else chunked).
pub(crate) struct FillBody {
    head: Bytes,
    fill: Bytes,
    total: u64,
    sent: u64,
    declared: bool,
    counter: Arc<AtomicU64>,
}

impl FillBody {
    pub fn new(head: &[u8], total: u64, declared: bool, counter: Arc<AtomicU64>) -> FillBody {
        FillBody {
            head: Bytes::copy_from_slice(head),
            fill: Bytes::from(vec![b'a'; CHUNK as usize]),
            total,
            sent: 0,
            declared,
            counter,
        }
    }
}

impl Body for FillBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.sent >= this.total {
            return Poll::Ready(None);
        }
        let left = this.total - this.sent;
        let chunk = if this.sent == 0 && !this.head.is_empty() {
            this.head
                .slice(..(left.min(this.head.len() as u64) as usize))
        } else {
            this.fill.slice(..(left.min(CHUNK) as usize))
        };
        this.sent += chunk.len() as u64;
        this.counter
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.total
    }

    fn size_hint(&self) -> SizeHint {
        if self.declared {
            SizeHint::with_exact(self.total - self.sent)
        } else {
            SizeHint::default()
        }
    }
}

/// The bytes of `data`, one every `every` (a download that drips).
pub(crate) struct DripBody {
    data: Bytes,
    sent: usize,
    every: Duration,
    next: Pin<Box<Sleep>>,
    counter: Arc<AtomicU64>,
}

impl DripBody {
    pub fn new(data: Bytes, every: Duration, counter: Arc<AtomicU64>) -> DripBody {
        DripBody {
            data,
            sent: 0,
            every,
            next: Box::pin(tokio::time::sleep(every)),
            counter,
        }
    }
}

impl Body for DripBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.sent >= this.data.len() {
            return Poll::Ready(None);
        }
        if this.next.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let deadline = this.next.deadline() + this.every;
        this.next.as_mut().reset(deadline);
        let byte = this.data.slice(this.sent..this.sent + 1);
        this.sent += 1;
        this.counter.fetch_add(1, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(byte))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.data.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.data.len() - self.sent) as u64)
    }
}

/// Where a response body's bytes come from.
pub(crate) enum Source {
    Memory(Bytes),
    File(tokio::fs::File),
}

const CHUNK: u64 = 256 * 1024;

/// A response body of `total` declared bytes that sends the first `limit`
/// of them and then either ends or breaks the connection.
pub(crate) struct ServeBody {
    source: Source,
    total: u64,
    limit: u64,
    sent: u64,
    abort: Option<AbortKind>,
    ctl: Arc<ConnCtl>,
    counter: Arc<AtomicU64>,
    fallback: Option<Pin<Box<Sleep>>>,
}

impl ServeBody {
    /// A body that sends all `total` bytes of `source`.
    pub fn full(source: Source, total: u64, ctl: Arc<ConnCtl>, counter: Arc<AtomicU64>) -> Self {
        ServeBody {
            source,
            total,
            limit: total,
            sent: 0,
            abort: None,
            ctl,
            counter,
            fallback: None,
        }
    }

    /// Sends only `limit` bytes, then breaks the connection with `kind`.
    pub fn cut(mut self, limit: u64, kind: AbortKind) -> Self {
        self.limit = limit.min(self.total);
        self.abort = Some(kind);
        self
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Bytes>> {
        let want = (self.limit - self.sent).min(CHUNK) as usize;
        match &mut self.source {
            Source::Memory(b) => {
                let start = self.sent as usize;
                let end = (start + want).min(b.len());
                if start >= end {
                    return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                }
                Poll::Ready(Ok(b.slice(start..end)))
            }
            Source::File(f) => {
                let mut buf = BytesMut::zeroed(want);
                let mut rb = ReadBuf::new(&mut buf);
                match Pin::new(f).poll_read(cx, &mut rb) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                        }
                        buf.truncate(n);
                        Poll::Ready(Ok(buf.freeze()))
                    }
                }
            }
        }
    }
}

impl Body for ServeBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.sent < this.limit {
            return match this.poll_chunk(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                Poll::Ready(Ok(chunk)) => {
                    this.sent += chunk.len() as u64;
                    this.counter
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    Poll::Ready(Some(Ok(Frame::data(chunk))))
                }
            };
        }
        let Some(kind) = this.abort else {
            return Poll::Ready(None);
        };
        // Let hyper flush what it has; the flush fires the abort. Should no
        // flush come, break the connection anyway a little later.
        let fallback = this.fallback.get_or_insert_with(|| {
            this.ctl.abort_after_flush(kind);
            Box::pin(tokio::time::sleep(Duration::from_millis(500)))
        });
        if fallback.as_mut().poll(cx).is_ready() {
            this.ctl.abort_now(kind);
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.abort.is_none() && self.sent >= self.limit
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.total - self.sent.min(self.total))
    }
}
