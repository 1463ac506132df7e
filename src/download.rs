//! Fetching the file an API answer points to: [`fetch`] streams it to
//! `<final>.part` with bounded memory, hashing it on the way and checking
//! its length against `Content-Length`; [`seal`] (blocking) fsyncs it and
//! checks that it is an xlsx workbook (a zip holding `[Content_Types].xml`
//! and `xl/workbook.xml`). Giving it its final name is
//! [`crate::files::commit`]'s job, after that.

use crate::files;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Size of the write buffer between the network and the disk.
const WRITE_BUFFER: usize = 256 * 1024;

/// Files up to this size are also kept in memory while they are written,
/// so that checking and reading them costs no trip back to the disk.
/// Larger ones are read back from the file: memory stays bounded.
pub const IN_MEMORY_MAX: u64 = 1024 * 1024;

/// A download whose bytes are all in the part file (not yet fsynced or checked).
#[derive(Debug)]
pub struct Received {
    pub path: PathBuf,
    pub file: std::fs::File,
    pub bytes: u64,
    pub sha256: String,
    pub http_status: u16,
    /// The bytes too, when the file is at most [`IN_MEMORY_MAX`].
    pub body: Option<Vec<u8>>,
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// 403/404/410: the pre-signed URL expired or was never good; ask the API again.
    #[error("the file URL answered HTTP {status} (expired); asking the API for a new one")]
    Expired { status: u16 },
    #[error("the file URL answered HTTP {status}")]
    HttpStatus { status: u16 },
    #[error("short download: {got} of {expected} bytes")]
    Short { expected: u64, got: u64 },
    #[error("long download: more than the {expected} bytes announced")]
    Long { expected: u64 },
    #[error("the file is not an xlsx workbook: {0}")]
    NotXlsx(String),
    /// A workbook over a limit, or malformed: not stored, not retried.
    #[error(transparent)]
    Workbook(crate::workbook::WorkbookError),
    #[error("download timed out")]
    Timeout,
    #[error("download failed: {0}")]
    Transport(String),
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
    pub fn code(&self) -> &'static str {
        match self {
            DownloadError::Expired { .. } => "DownloadExpired",
            DownloadError::HttpStatus { .. } => "DownloadHttpError",
            DownloadError::Short { .. } => "DownloadShort",
            DownloadError::Long { .. } => "DownloadLong",
            DownloadError::NotXlsx(_) => "DownloadNotXlsx",
            DownloadError::Workbook(e) => e.code(),
            DownloadError::Timeout => "DownloadTimeout",
            DownloadError::Transport(_) => "DownloadTransportError",
            DownloadError::BadUrl(_) => "DownloadBadUrl",
            DownloadError::Io { .. } => "LocalIoError",
        }
    }

    pub fn http_status(&self) -> Option<u16> {
        match self {
            DownloadError::Expired { status } | DownloadError::HttpStatus { status } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Whether the URL is spent and the API must be asked again.
    pub fn needs_new_url(&self) -> bool {
        matches!(
            self,
            DownloadError::Expired { .. } | DownloadError::BadUrl(_)
        )
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> DownloadError {
    move |source| DownloadError::Io { what, source }
}

fn transport(e: reqwest::Error) -> DownloadError {
    if e.is_timeout() {
        DownloadError::Timeout
    } else {
        DownloadError::Transport(crate::api::client::describe(&e))
    }
}

/// Check that the file at `path` is an xlsx workbook: a zip whose central
/// directory names `[Content_Types].xml` and `xl/workbook.xml`. Reads only
/// the central directory.
pub fn check_xlsx(path: &Path) -> Result<(), DownloadError> {
    let file = std::fs::File::open(path).map_err(io("reopen"))?;
    check_xlsx_in(std::io::BufReader::new(file))
}

/// [`check_xlsx`] over any seekable source.
pub fn check_xlsx_in<R: std::io::Read + std::io::Seek>(source: R) -> Result<(), DownloadError> {
    let zip = zip::ZipArchive::new(source)
        .map_err(|e| DownloadError::NotXlsx(format!("not a zip archive ({e})")))?;
    for needed in ["[Content_Types].xml", "xl/workbook.xml"] {
        if zip.index_for_name(needed).is_none() {
            return Err(DownloadError::NotXlsx(format!("zip without {needed}")));
        }
    }
    Ok(())
}

/// Download `url` to `part` (created 0600, truncated). On error the part
/// file is removed. The caller [`seal`]s what it receives.
pub async fn fetch(
    http: &reqwest::Client,
    url: &str,
    part: &Path,
    timeout: Duration,
) -> Result<Received, DownloadError> {
    let result = fetch_inner(http, url, part, timeout).await;
    if result.is_err() {
        // Best effort: a leftover part file is also swept at the next start.
        let _ = files::remove_if_exists(part);
    }
    result
}

async fn fetch_inner(
    http: &reqwest::Client,
    url: &str,
    part: &Path,
    timeout: Duration,
) -> Result<Received, DownloadError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| DownloadError::BadUrl(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(DownloadError::BadUrl(format!(
            "scheme {:?} is not http(s)",
            parsed.scheme()
        )));
    }
    let resp = tokio::time::timeout(timeout, http.get(parsed).send())
        .await
        .map_err(|_| DownloadError::Timeout)?
        .map_err(transport)?;
    let status = resp.status().as_u16();
    match status {
        200 => {}
        403 | 404 | 410 => return Err(DownloadError::Expired { status }),
        _ => return Err(DownloadError::HttpStatus { status }),
    }
    let expected = resp.content_length();
    let file = files::create_private(part).map_err(io("create"))?;
    let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut body_copy: Option<Vec<u8>> = match expected {
        Some(n) if n <= IN_MEMORY_MAX => Some(Vec::with_capacity(n as usize)),
        Some(_) => None,
        None => Some(Vec::new()),
    };
    let mut hasher = Sha256::new();
    let mut got: u64 = 0;
    let mut body = resp.bytes_stream();
    loop {
        // `timeout` bounds each read, not the whole transfer: a large file on
        // a slow link is fine as long as bytes keep coming.
        let next = tokio::time::timeout(timeout, body.next())
            .await
            .map_err(|_| DownloadError::Timeout)?;
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
        if let Some(expected) = expected
            && got > expected
        {
            return Err(DownloadError::Long { expected });
        }
        hasher.update(&chunk);
        if let Some(copy) = body_copy.as_mut() {
            if copy.len() as u64 + chunk.len() as u64 <= IN_MEMORY_MAX {
                copy.extend_from_slice(&chunk);
            } else {
                body_copy = None;
            }
        }
        // A write to the page cache; the fsync below is the slow part.
        out.write_all(&chunk).map_err(io("write"))?;
    }
    if let Some(expected) = expected
        && got != expected
    {
        return Err(DownloadError::Short { expected, got });
    }
    let file = out.into_inner().map_err(|e| DownloadError::Io {
        what: "write",
        source: e.into_error(),
    })?;
    Ok(Received {
        path: part.to_path_buf(),
        file,
        bytes: got,
        sha256: hex::encode(hasher.finalize()),
        http_status: status,
        body: body_copy,
    })
}

/// Make a received file durable and check it is a workbook (blocking).
pub fn seal(received: &Received) -> Result<(), DownloadError> {
    received.file.sync_all().map_err(io("fsync"))?;
    match &received.body {
        Some(bytes) => check_xlsx_in(std::io::Cursor::new(bytes)),
        None => check_xlsx(&received.path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
