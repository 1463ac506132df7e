//! Fetching the file an API answer points to: [`fetch`] streams it to
//! `<final>.part` with bounded memory (the disk side on the blocking pool,
//! [`sink`]), hashing it on the way, checking its length against
//! `Content-Length` and [`Limits`] (silence, progress over a sliding window
//! ([`progress`]), size); [`seal`] (blocking) fsyncs it and
//! checks that it is an xlsx workbook (a zip holding `[Content_Types].xml`
//! and `xl/workbook.xml`). The part file is created, read back and removed
//! through [`ArchiveRoot`]; giving it its final name is
//! [`ArchiveRoot::commit`]'s job, after that.

use crate::archive::root::{ArchiveRoot, RelPath};
use crate::config::human_size;
use futures_util::StreamExt;
use std::path::Path;
use std::time::{Duration, Instant};

mod progress;
mod sink;

pub(crate) use progress::Progress;
use sink::Sink;

/// The least average rate a download must keep over its progress window.
pub(crate) const MIN_RATE: u64 = 1024;

/// What bounds one download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The longest wait for the answer's headers, and for any next bytes.
    pub(crate) silence: Duration,
    /// The progress window: at least [`MIN_RATE`] bytes a second averaged
    /// over any window this long (checked from one window after the start).
    pub(crate) window: Duration,
    /// The largest file taken.
    pub(crate) max_size: u64,
}

impl Limits {
    /// The limits for `api.timeout` and `[storage] max_report_size`: the
    /// progress window is twice the timeout (60 s by default).
    pub(crate) fn new(timeout: Duration, max_size: u64) -> Limits {
        Limits {
            silence: timeout,
            window: timeout.saturating_mul(2),
            max_size,
        }
    }

    /// The bytes a window must bring.
    pub(crate) fn min_bytes(&self) -> u64 {
        (self.window.as_secs_f64() * MIN_RATE as f64)
            .ceil()
            .max(1.0) as u64
    }
}

/// Files up to this size are also kept in memory while they are written,
/// so that checking and reading them costs no trip back to the disk.
/// Larger ones are read back from the file: memory stays bounded.
pub(crate) const IN_MEMORY_MAX: u64 = 1024 * 1024;

/// A download whose bytes are all in the part file (not yet fsynced or checked).
#[derive(Debug)]
pub(crate) struct Received {
    /// The part file, below the archive root.
    pub(crate) path: RelPath,
    pub(crate) file: std::fs::File,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
    pub(crate) http_status: u16,
    /// The bytes too, when the file is at most [`IN_MEMORY_MAX`].
    pub(crate) body: Option<Vec<u8>>,
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// 403/404/410: the pre-signed URL expired or was never good; ask the API again.
    #[error("the file URL answered HTTP {status} (expired); asking the API for a new one")]
    Expired { status: u16 },
    #[error("the file URL answered HTTP {status}")]
    HttpStatus { status: u16 },
    /// 3xx: not followed (the URL is pre-signed for one place); ask the API again.
    #[error(
        "the file URL answered HTTP {status} (a redirect, not followed); asking the API for a new one"
    )]
    Redirected { status: u16 },
    #[error(
        "the report file is larger than storage.max_report_size ({}); raise it if reports this large are expected",
        human_size(*limit)
    )]
    TooLarge { limit: u64 },
    #[error(
        "download stalled: less than {min_bytes} bytes in {}s (at least 1 KiB/s over twice api.timeout is needed); the link or the file server is too slow",
        window.as_secs()
    )]
    Stalled { window: Duration, min_bytes: u64 },
    #[error("short download: {got} of {expected} bytes")]
    Short { expected: u64, got: u64 },
    #[error("long download: more than the {expected} bytes announced")]
    Long { expected: u64 },
    #[error("the file is not an xlsx workbook: {0}")]
    NotXlsx(String),
    /// A workbook over a limit, or malformed: not stored, not retried.
    #[error(transparent)]
    Workbook(crate::archive::workbook::WorkbookError),
    #[error("download timed out")]
    Timeout,
    #[error("download failed: {0}")]
    Transport(String),
    /// The file's host is on Tencent Cloud's internal network and cannot be
    /// reached from here.
    #[error(
        "cannot reach the file host {host}: it is on Tencent Cloud's internal network, reachable only from inside Tencent Cloud ({detail})"
    )]
    InternalHost { host: String, detail: String },
    #[error("the API gave an unusable file URL: {0}")]
    BadUrl(String),
    #[error("cannot {what} the report file: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl DownloadError {
    /// The code recorded in the history.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            DownloadError::Expired { .. } => "DownloadExpired",
            DownloadError::HttpStatus { .. } => "DownloadHttpError",
            DownloadError::Redirected { .. } => "DownloadRedirected",
            DownloadError::TooLarge { .. } => "DownloadTooLarge",
            DownloadError::Stalled { .. } => "DownloadStalled",
            DownloadError::Short { .. } => "DownloadShort",
            DownloadError::Long { .. } => "DownloadLong",
            DownloadError::NotXlsx(_) => "DownloadNotXlsx",
            DownloadError::Workbook(e) => e.code(),
            DownloadError::Timeout => "DownloadTimeout",
            DownloadError::Transport(_) => "DownloadTransportError",
            DownloadError::InternalHost { .. } => "DownloadHostInternal",
            DownloadError::BadUrl(_) => "DownloadBadUrl",
            DownloadError::Io { .. } => "LocalIoError",
        }
    }

    pub(crate) fn http_status(&self) -> Option<u16> {
        match self {
            DownloadError::Expired { status }
            | DownloadError::HttpStatus { status }
            | DownloadError::Redirected { status } => Some(*status),
            _ => None,
        }
    }

    /// Whether the URL is spent and the API must be asked again.
    pub(crate) fn needs_new_url(&self) -> bool {
        matches!(
            self,
            DownloadError::Expired { .. }
                | DownloadError::Redirected { .. }
                | DownloadError::BadUrl(_)
        )
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> DownloadError {
    move |source| DownloadError::Io { what, source }
}

fn transport(e: reqwest::Error) -> DownloadError {
    let host = e.url().and_then(|u| u.host_str()).unwrap_or_default();
    if e.is_connect() && crate::tencent::reach::is_tencent_internal(host) {
        DownloadError::InternalHost {
            host: host.to_string(),
            detail: crate::tencent::api::client::describe(&e),
        }
    } else if e.is_timeout() {
        DownloadError::Timeout
    } else {
        DownloadError::Transport(crate::tencent::api::client::describe(&e))
    }
}

/// Check that the file at `path` is an xlsx workbook: a zip whose central
/// directory names `[Content_Types].xml` and `xl/workbook.xml`. Reads only
/// the central directory. (For tests and benches: a report file is checked
/// through the archive root.)
pub fn check_xlsx(path: &Path) -> Result<(), DownloadError> {
    let file = std::fs::File::open(path).map_err(io("reopen"))?;
    check_xlsx_in(std::io::BufReader::new(file))
}

/// [`check_xlsx`] of the file at `rel` below the archive root.
fn check_xlsx_at(root: &ArchiveRoot, rel: &RelPath) -> Result<(), DownloadError> {
    let file = root.open_file(rel).map_err(io("reopen"))?;
    check_xlsx_in(std::io::BufReader::new(file))
}

/// [`check_xlsx`] over any seekable source.
pub(crate) fn check_xlsx_in<R: std::io::Read + std::io::Seek>(
    source: R,
) -> Result<(), DownloadError> {
    let zip = zip::ZipArchive::new(source)
        .map_err(|e| DownloadError::NotXlsx(format!("not a zip archive ({e})")))?;
    for needed in ["[Content_Types].xml", "xl/workbook.xml"] {
        if zip.index_for_name(needed).is_none() {
            return Err(DownloadError::NotXlsx(format!("zip without {needed}")));
        }
    }
    Ok(())
}

/// Download `url` to `part` below `root` (created 0600, anew), within
/// `limits`. On error the part file is removed. The caller [`seal`]s what
/// it receives. The file is created, written and removed on the blocking pool.
pub(crate) async fn fetch(
    http: &reqwest::Client,
    url: &str,
    root: &ArchiveRoot,
    part: &RelPath,
    limits: &Limits,
) -> Result<Received, DownloadError> {
    let result = fetch_inner(http, url, root, part, limits).await;
    if result.is_err() {
        // Best effort: a leftover part file is also swept at the next start.
        let (root, part) = (root.clone(), part.clone());
        let _ = tokio::task::spawn_blocking(move || root.remove(&part)).await;
    }
    result
}

async fn fetch_inner(
    http: &reqwest::Client,
    url: &str,
    root: &ArchiveRoot,
    part: &RelPath,
    limits: &Limits,
) -> Result<Received, DownloadError> {
    let resp = request(http, url, limits).await?;
    let status = resp.status().as_u16();
    let expected = resp.content_length();
    let mut sink = open_sink(root, part, expected).await?;
    let got = receive(resp, &mut sink, expected, limits).await?;
    let written = sink.finish().await.map_err(io("write"))?;
    Ok(Received {
        path: part.clone(),
        file: written.out,
        bytes: got,
        sha256: written.sha256,
        http_status: status,
        body: written.body,
    })
}

/// The answer to a GET of `url` (http or https), once its status says a
/// body of at most `limits.max_size` follows.
async fn request(
    http: &reqwest::Client,
    url: &str,
    limits: &Limits,
) -> Result<reqwest::Response, DownloadError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| DownloadError::BadUrl(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(DownloadError::BadUrl(format!(
            "scheme {:?} is not http(s)",
            parsed.scheme()
        )));
    }
    let resp = tokio::time::timeout(limits.silence, http.get(parsed).send())
        .await
        .map_err(|_| DownloadError::Timeout)?
        .map_err(transport)?;
    let status = resp.status().as_u16();
    match status {
        200 => {}
        300..=399 => return Err(DownloadError::Redirected { status }),
        403 | 404 | 410 => return Err(DownloadError::Expired { status }),
        _ => return Err(DownloadError::HttpStatus { status }),
    }
    if resp.content_length().is_some_and(|n| n > limits.max_size) {
        return Err(DownloadError::TooLarge {
            limit: limits.max_size,
        });
    }
    Ok(resp)
}

/// The part file created below `root`, behind a sink that also keeps a
/// small body (up to [`IN_MEMORY_MAX`]) in memory.
async fn open_sink(
    root: &ArchiveRoot,
    part: &RelPath,
    expected: Option<u64>,
) -> Result<Sink<std::fs::File>, DownloadError> {
    let (at, path) = (root.clone(), part.clone());
    let file = tokio::task::spawn_blocking(move || at.create_part(&path))
        .await
        .map_err(|e| DownloadError::Io {
            what: "create",
            source: std::io::Error::other(e),
        })?
        .map_err(io("create"))?;
    let reserve = match expected {
        Some(n) if n <= IN_MEMORY_MAX => n as usize,
        _ => 0,
    };
    let keep = match expected {
        Some(n) if n > IN_MEMORY_MAX => None,
        _ => Some(IN_MEMORY_MAX),
    };
    Ok(Sink::spawn(file, keep, reserve))
}

/// The body into `sink`, bounded by its announced length, `limits.max_size`,
/// silence and progress; the number of bytes received.
async fn receive(
    resp: reqwest::Response,
    sink: &mut Sink<std::fs::File>,
    expected: Option<u64>,
    limits: &Limits,
) -> Result<u64, DownloadError> {
    let mut progress = Progress::new(Instant::now(), limits.window, limits.min_bytes());
    let mut got: u64 = 0;
    let mut body = resp.bytes_stream();
    loop {
        // Two bounds on the wait for more bytes: silence (`timeout`) and
        // progress (too few bytes over the last window).
        let silent_at = Instant::now() + limits.silence;
        let stalled_at = progress.deadline();
        let next = tokio::time::timeout_at(silent_at.min(stalled_at).into(), body.next()).await;
        let Ok(next) = next else {
            return Err(if stalled_at <= silent_at {
                DownloadError::Stalled {
                    window: limits.window,
                    min_bytes: limits.min_bytes(),
                }
            } else {
                DownloadError::Timeout
            });
        };
        let Some(chunk) = next else { break };
        let chunk = match chunk {
            Ok(c) => c,
            // A body cut off before its announced length is a short download,
            // whatever the transport says about the cut.
            Err(e) => match expected {
                Some(expected) if got < expected && !e.is_timeout() => {
                    return Err(DownloadError::Short { expected, got });
                }
                _ => return Err(transport(e)),
            },
        };
        got += chunk.len() as u64;
        progress.record(Instant::now(), chunk.len() as u64);
        if let Some(expected) = expected
            && got > expected
        {
            return Err(DownloadError::Long { expected });
        }
        if got > limits.max_size {
            return Err(DownloadError::TooLarge {
                limit: limits.max_size,
            });
        }
        sink.push(&chunk).await.map_err(io("write"))?;
    }
    match expected {
        Some(expected) if got != expected => Err(DownloadError::Short { expected, got }),
        _ => Ok(got),
    }
}

/// Make a received file durable and check it is a workbook (blocking).
pub(crate) fn seal(root: &ArchiveRoot, received: &Received) -> Result<(), DownloadError> {
    received.file.sync_all().map_err(io("fsync"))?;
    match &received.body {
        Some(bytes) => check_xlsx_in(std::io::Cursor::new(bytes)),
        None => check_xlsx_at(root, &received.path),
    }
}

impl From<crate::archive::ingest::IngestError> for DownloadError {
    /// The download failure a workbook that could not be read is.
    fn from(e: crate::archive::ingest::IngestError) -> DownloadError {
        use crate::archive::ingest::IngestError;
        match e {
            IngestError::Refused(e) => DownloadError::Workbook(e),
            e => DownloadError::NotXlsx(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_MAX_SIZE;
    use std::io::Write;

    fn zip_with(names: &[&str]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            for n in names {
                w.start_file(
                    *n,
                    zip::write::SimpleFileOptions::default()
                        .compression_method(zip::CompressionMethod::Stored),
                )
                .expect("start");
                w.write_all(b"<x/>").expect("write");
            }
            w.finish().expect("finish");
        }
        buf.into_inner()
    }

    #[test]
    fn default_limits_stop_a_drip_within_about_a_minute() {
        let l = Limits::new(Duration::from_secs(30), DEFAULT_MAX_SIZE);
        assert_eq!(l.silence, Duration::from_secs(30));
        assert_eq!(l.window, Duration::from_secs(60));
        assert_eq!(l.min_bytes(), 60 * 1024);
        // One byte every 4 s: never silent for 30 s, stalled 60 s after the start.
        let t0 = Instant::now();
        let mut p = Progress::new(t0, l.window, l.min_bytes());
        for i in 1..15 {
            p.record(t0 + Duration::from_secs(4 * i), 1);
        }
        assert_eq!(p.deadline(), t0 + Duration::from_secs(60));
        // A 256 MiB report at 2 KiB/s would take 36 hours and is never stalled.
        assert!(2 * 1024 * 60 >= l.min_bytes());
        assert_eq!(human_size(DEFAULT_MAX_SIZE), "1 GiB");
        assert_eq!(human_size(1536), "1536 B");
        assert_eq!(human_size(300 << 20), "300 MiB");
    }

    #[test]
    fn xlsx_check_wants_a_workbook_zip() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("f");
        std::fs::write(
            &p,
            zip_with(&[
                "[Content_Types].xml",
                "xl/workbook.xml",
                "xl/worksheets/sheet1.xml",
            ]),
        )
        .expect("write");
        assert!(check_xlsx(&p).is_ok());
        std::fs::write(&p, zip_with(&["word/document.xml", "[Content_Types].xml"])).expect("write");
        assert!(matches!(check_xlsx(&p), Err(DownloadError::NotXlsx(_))));
        std::fs::write(&p, b"PK\x03\x04 but garbage").expect("write");
        assert!(matches!(check_xlsx(&p), Err(DownloadError::NotXlsx(_))));
        std::fs::write(&p, b"<html>AccessDenied</html>").expect("write");
        assert!(matches!(check_xlsx(&p), Err(DownloadError::NotXlsx(_))));
    }
}
