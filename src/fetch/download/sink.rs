//! Where a download's bytes go: a writer on the blocking pool, fed batches
//! of [`WRITE_BUFFER`] bytes through a bounded channel. It hashes them,
//! writes them, and keeps a copy of a small file; the async side only
//! gathers bytes from the network. A slow disk then slows the download (the
//! channel fills), never the runtime thread; memory stays within a few
//! batches.

use sha2::{Digest, Sha256};
use std::io::{self, Write};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Size of one batch between the network and the disk.
pub(crate) const WRITE_BUFFER: usize = 256 * 1024;
/// Batches waiting for the writer, at most.
const QUEUE: usize = 2;

/// What the writer gives back at the end.
#[derive(Debug)]
pub(crate) struct Written<W> {
    pub(crate) out: W,
    pub(crate) sha256: String,
    /// Every byte, when they fit in the `keep` limit given to [`Sink::spawn`].
    pub(crate) body: Option<Vec<u8>>,
}

/// The async side of the writer.
pub(crate) struct Sink<W> {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    task: JoinHandle<io::Result<Written<W>>>,
    batch: Vec<u8>,
}

impl<W: Write + Send + 'static> Sink<W> {
    /// Start the writer on `out`. `keep`: keep a copy of the bytes while
    /// they stay within this many (with `reserve` bytes reserved up front).
    pub(crate) fn spawn(out: W, keep: Option<u64>, reserve: usize) -> Sink<W> {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
        let task = tokio::task::spawn_blocking(move || {
            let mut out = out;
            let mut hasher = Sha256::new();
            let mut body = keep.map(|_| Vec::with_capacity(reserve));
            while let Some(batch) = rx.blocking_recv() {
                hasher.update(&batch);
                if let (Some(copy), Some(limit)) = (body.as_mut(), keep) {
                    if (copy.len() + batch.len()) as u64 <= limit {
                        copy.extend_from_slice(&batch);
                    } else {
                        body = None;
                    }
                }
                out.write_all(&batch)?;
            }
            out.flush()?;
            Ok(Written {
                out,
                sha256: hex::encode(hasher.finalize()),
                body,
            })
        });
        Sink {
            tx: Some(tx),
            task,
            batch: Vec::with_capacity(WRITE_BUFFER),
        }
    }

    /// Add `bytes`; a full batch goes to the writer (waiting while it is behind).
    pub(crate) async fn push(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let room = WRITE_BUFFER - self.batch.len();
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.batch.extend_from_slice(now);
            bytes = rest;
            if self.batch.len() == WRITE_BUFFER {
                self.send().await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self) -> io::Result<()> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(WRITE_BUFFER));
        let sent = match &self.tx {
            Some(tx) => tx.send(batch).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The writer stopped: its error says why.
        self.tx = None;
        match (&mut self.task).await {
            Ok(Err(e)) => Err(e),
            Ok(Ok(_)) => Err(io::Error::other("the writer stopped early")),
            Err(e) => Err(io::Error::other(e)),
        }
    }

    /// Write what is left and give back the writer's result.
    pub(crate) async fn finish(mut self) -> io::Result<Written<W>> {
        if !self.batch.is_empty() {
            self.send().await?;
        }
        self.tx = None;
        self.task.await.map_err(io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A disk whose first write hangs until a task of the runtime releases
    /// it (or 10 s pass, which fails the write).
    struct Stuck {
        release: std::sync::mpsc::Receiver<()>,
        first: bool,
        data: Vec<u8>,
    }

    impl Write for Stuck {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.first {
                self.first = false;
                self.release
                    .recv_timeout(Duration::from_secs(10))
                    .map_err(|_| io::Error::other("the runtime did not run while the disk hung"))?;
            }
            self.data.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[derive(Debug)]
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_stuck_disk_does_not_stall_the_runtime_thread() {
        let (release, released) = std::sync::mpsc::channel();
        let out = Stuck {
            release: released,
            first: true,
            data: Vec::new(),
        };
        // A task on the only runtime thread: it frees the disk after a few
        // timer ticks, which it gets only if the writes run elsewhere.
        let ticker = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = release.send(());
        });
        let mut sink = Sink::spawn(out, Some(16 << 20), 0);
        sink.push(&vec![7u8; WRITE_BUFFER]).await.expect("push");
        sink.push(&[1, 2, 3]).await.expect("push");
        let w = sink.finish().await.expect("the disk was released");
        ticker.await.expect("ticker");
        assert_eq!(w.out.data.len(), WRITE_BUFFER + 3);
        assert_eq!(w.body.map(|b| b.len()), Some(WRITE_BUFFER + 3));
        let mut h = Sha256::new();
        h.update(&w.out.data);
        assert_eq!(w.sha256, hex::encode(h.finalize()));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_write_error_comes_back_and_a_large_file_keeps_no_copy() {
        let mut sink = Sink::spawn(Broken, None, 0);
        let mut err = None;
        for _ in 0..8 {
            if let Err(e) = sink.push(&vec![0u8; WRITE_BUFFER]).await {
                err = Some(e);
                break;
            }
        }
        let err = match err {
            Some(e) => e,
            None => sink.finish().await.expect_err("a write error"),
        };
        assert_eq!(err.to_string(), "disk full");

        let mut sink = Sink::spawn(Vec::new(), Some(10), 0);
        sink.push(&[0u8; 11]).await.expect("push");
        let w = sink.finish().await.expect("finish");
        assert_eq!(w.out.len(), 11);
        assert!(w.body.is_none());
    }
}
