//! A report's file for the page, wherever it is kept: from disk when its
//! local copy is there (opened through the archive root only, see
//! [`reports::open_inside`]), else streamed from the bucket through this
//! process. The bucket stays private: the browser talks to the page only
//! and gets neither keys nor a presigned URL.
//!
//! Either way the answer is the same: the xlsx content type, an attachment
//! named after the file, its length. An object is streamed as it arrives
//! (memory stays a few chunks whatever its size), is refused when larger
//! than `[storage] max_report_size` or than the size the history records,
//! and is hashed on the way: a body whose SHA-256 is not the recorded one
//! is cut off before its end, so the browser keeps no wrong file. Only a
//! report key of the report's own job below the bucket's prefix is read,
//! whatever the history holds ([`reach::is_report_key`]). A bucket that
//! fails answers 503 (down: try again later) or 502 (it refuses, or lacks
//! the object), with the reason and the fix.

use super::Site;
use super::api::{ApiError, with_db};
use super::reports::{self, FileError};
use crate::archive::remote::bucket::{BucketError, Download};
use crate::archive::remote::reach;
use crate::archive::store::remote::ReportFile;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use tracing::warn;

/// The content type of a report file.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Where the file is read from.
enum Source {
    Local(std::fs::File),
    Remote(ReportFile),
}

fn file_error(e: FileError) -> ApiError {
    match e {
        FileError::Store(e) => e.into(),
        e => ApiError::not_found(e.to_string()),
    }
}

/// The attachment name: the last segment of `path` (a file path or an
/// object key), only `[A-Za-z0-9._-]` kept.
fn attachment_name(path: &str, id: i64) -> String {
    path.rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .unwrap_or_else(|| format!("report-{id}.xlsx"))
}

/// Report `id`'s file: local first, else the bucket's copy.
pub(crate) async fn file(
    State(site): State<Arc<Site>>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let (source, name) = with_db(&site, move |conn, site| {
        let f = conn
            .ok_report_file(id)?
            .filter(ReportFile::exists)
            .ok_or_else(|| file_error(FileError::NoFile(id)))?;
        let named = f.file_path.as_deref().or(f.remote_key.as_deref());
        let name = attachment_name(named.unwrap_or_default(), id);
        let Some(recorded) = &f.file_path else {
            return Ok((Source::Remote(f), name));
        };
        let archive = crate::archive::root::ArchiveRoot::new(&site.reports_dir);
        match reports::open_inside(&archive, id, recorded) {
            Ok(file) => Ok((Source::Local(file), name)),
            // Gone from disk (deleted after its upload): the bucket's copy.
            // (A link or anything else refused on disk stays refused.)
            Err(FileError::Io(e))
                if e.kind() == std::io::ErrorKind::NotFound && f.remote_key.is_some() =>
            {
                Ok((Source::Remote(f), name))
            }
            Err(e) => Err(file_error(e)),
        }
    })
    .await?;
    match source {
        Source::Local(file) => {
            let len = file.metadata().map(|m| m.len()).ok();
            let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
            Ok(answer(Body::from_stream(stream), &name, len))
        }
        Source::Remote(f) => remote(&site, id, f, &name).await,
    }
}

/// The answer carrying a report file's `body`.
fn answer(body: Body, name: &str, len: Option<u64>) -> Response {
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(XLSX));
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(len) = len {
        h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    }
    res
}

/// A bucket's failure to give report `id`'s object, for the page.
fn bucket_error(id: i64, e: &BucketError) -> ApiError {
    let status = match e {
        BucketError::Down { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    let text = match e {
        BucketError::NotFound { key } => format!(
            "report {id}'s file is recorded in the bucket as {key}, but the bucket has no such object\n  fix: fetch the report again (mna-reportd fetch --force for its window)"
        ),
        e => format!("report {id}'s file is in the bucket, which failed: {e}"),
    };
    ApiError::new(status, text)
}

/// Report `id`'s object `f.remote_key`, streamed through.
async fn remote(site: &Site, id: i64, f: ReportFile, name: &str) -> Result<Response, ApiError> {
    let bucket = site.remote.bucket().map_err(|why| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("report {id}'s file is kept only in the bucket, which cannot be used: {why}"),
        )
    })?;
    let key = f.remote_key.as_deref().unwrap_or_default();
    if !reach::is_report_key(bucket, &f.job, key) {
        warn!(report = id, key = %key.escape_debug(), "not reading an object that is not a report key of its job below the bucket's prefix");
        return Err(file_error(FileError::Outside(id)));
    }
    let got = bucket.get(key).await.map_err(|e| {
        warn!(report = id, error = %e, "cannot read a report file from the bucket");
        bucket_error(id, &e)
    })?;
    let cap = site.config.storage.max_report_size;
    let recorded = f.bytes.and_then(|b| u64::try_from(b).ok());
    if got.size > cap || recorded.is_some_and(|b| b != got.size) {
        warn!(report = id, key = %key, size = got.size, ?recorded, "the bucket's object is not the report's file");
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "report {id}'s object in the bucket holds {} bytes, not the {} the history records (at most max_report_size, {cap})\n  fix: fetch the report again (mna-reportd fetch --force for its window)",
                got.size,
                recorded.map_or_else(|| "?".to_string(), |b| b.to_string()),
            ),
        ));
    }
    let size = got.size;
    let body = Body::from_stream(checked(got, f.sha256, id));
    Ok(answer(body, name, Some(size)))
}

/// The bytes of `got`, hashed as they pass: an error in place of its end
/// when they are more or fewer than its size, or not the SHA-256 `sha256`.
fn checked(
    got: Download,
    sha256: Option<String>,
    id: i64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    use sha2::Digest;
    struct State {
        inner: futures_util::stream::BoxStream<'static, Result<Bytes, BucketError>>,
        hash: sha2::Sha256,
        seen: u64,
        size: u64,
        sha256: Option<String>,
        ended: bool,
    }
    let state = State {
        inner: got.stream,
        hash: sha2::Sha256::new(),
        seen: 0,
        size: got.size,
        sha256,
        ended: false,
    };
    let cut = move |why: String| {
        warn!(report = id, "the download from the bucket stopped: {why}");
        std::io::Error::other(why)
    };
    futures_util::stream::unfold(state, move |mut s| async move {
        if s.ended {
            return None;
        }
        match s.inner.next().await {
            Some(Ok(chunk)) => {
                s.seen += chunk.len() as u64;
                if s.seen > s.size {
                    s.ended = true;
                    return Some((Err(cut(format!("more than its {} bytes", s.size))), s));
                }
                s.hash.update(&chunk);
                Some((Ok(chunk), s))
            }
            Some(Err(e)) => {
                s.ended = true;
                Some((Err(cut(e.to_string())), s))
            }
            None => {
                s.ended = true;
                let got = hex::encode(std::mem::take(&mut s.hash).finalize());
                if s.seen != s.size {
                    return Some((Err(cut(format!("{} of {} bytes", s.seen, s.size))), s));
                }
                match &s.sha256 {
                    Some(want) if !want.eq_ignore_ascii_case(&got) => Some((
                        Err(cut(format!("its SHA-256 {got} is not the recorded {want}"))),
                        s,
                    )),
                    _ => None,
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn download(chunks: &[&'static [u8]], size: u64) -> Download {
        let items: Vec<Result<Bytes, BucketError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Download {
            size,
            stream: futures_util::stream::iter(items).boxed(),
        }
    }

    async fn drain(
        s: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>>,
    ) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut s = std::pin::pin!(s);
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => out.extend_from_slice(&b),
                Err(_) => return (out, false),
            }
        }
        (out, true)
    }

    #[tokio::test]
    async fn a_body_that_is_not_the_recorded_file_is_cut_off() {
        let sha = |b: &[u8]| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(b))
        };
        let good = sha(b"hello world");
        let (bytes, whole) = drain(checked(
            download(&[b"hello ", b"world"], 11),
            Some(good.clone()),
            1,
        ))
        .await;
        assert_eq!((bytes.as_slice(), whole), (&b"hello world"[..], true));
        // Another file of the same size.
        let (_, whole) = drain(checked(
            download(&[b"hello ", b"WORLD"], 11),
            Some(good.clone()),
            1,
        ))
        .await;
        assert!(!whole);
        // Shorter or longer than the object's size.
        let (_, whole) = drain(checked(download(&[b"hello"], 11), None, 1)).await;
        assert!(!whole);
        let (_, whole) = drain(checked(download(&[b"hello world!"], 11), None, 1)).await;
        assert!(!whole);
    }

    #[test]
    fn the_attachment_is_named_after_the_file() {
        assert_eq!(attachment_name("p/j/2026/12/a b.xlsx", 3), "a_b.xlsx");
        assert_eq!(attachment_name("/r/j/2026/12/x.xlsx", 3), "x.xlsx");
        assert_eq!(attachment_name("", 3), "report-3.xlsx");
    }
}
