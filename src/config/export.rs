//! `[export]`: the destination the daemon exports to (a directory or
//! `s3://bucket/prefix`), how often, and the bucket settings an `s3://`
//! destination is reached with (endpoint, region, path style, key files);
//! and the same bucket settings of `[storage.remote]`, which an export
//! falls back to key by key.

use super::model::{DEFAULT_EXPORT_INTERVAL, DEFAULT_SNAPSHOT_KEEP, Export, Remote};
use super::raw::{OptSpanned, RawExport, RawRemote};
use super::validate::{Ctx, resolve};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shortest `interval` (a run with nothing new costs one query).
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest `interval` and `snapshot_interval`.
const MAX_INTERVAL: Duration = Duration::from_secs(30 * 86_400);
/// The shortest `snapshot_interval`.
const MIN_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(60);
/// The longest `keep_local` (ten years: longer is "for good", leave it out).
const MAX_KEEP: Duration = Duration::from_secs(3650 * 86_400);

fn nonempty(cx: &mut Ctx<'_>, key: &str, v: &OptSpanned<String>, hint: &str) -> Option<String> {
    let v = v.as_ref()?;
    let text = v.get_ref().trim();
    if text.is_empty() {
        cx.problem(
            key,
            Some(v.span()),
            "an empty value",
            Some(hint.to_string()),
        );
        return None;
    }
    Some(text.to_string())
}

fn file(cx: &mut Ctx<'_>, key: &str, v: &OptSpanned<String>, base: &Path) -> Option<PathBuf> {
    nonempty(cx, key, v, "give the path of the file holding the key").map(|p| resolve(base, &p))
}

/// An `s3://` URL that names no bucket is a problem at `key`.
fn check_s3_url(cx: &mut Ctx<'_>, key: &str, url: &str, at: &OptSpanned<String>) {
    if url.starts_with("s3://")
        && url
            .trim_start_matches("s3://")
            .split('/')
            .next()
            .is_none_or(str::is_empty)
    {
        cx.problem(
            key,
            at.as_ref().map(|v| v.span()),
            format!("{url:?} names no bucket"),
            Some("write s3://bucket/prefix".to_string()),
        );
    }
}

/// The bucket settings shared by `[export]` and `[storage.remote]`.
struct Bucket {
    endpoint: Option<String>,
    region: Option<String>,
    access_key_id_file: Option<PathBuf>,
    secret_access_key_file: Option<PathBuf>,
}

fn bucket(
    cx: &mut Ctx<'_>,
    table: &str,
    (endpoint, region): (&OptSpanned<String>, &OptSpanned<String>),
    (id_file, secret_file): (&OptSpanned<String>, &OptSpanned<String>),
    base: &Path,
) -> Bucket {
    let key = |k: &str| format!("{table}.{k}");
    let endpoint_text = nonempty(
        cx,
        &key("endpoint"),
        endpoint,
        "give the bucket's endpoint URL, or leave the key out for AWS S3",
    );
    if let (Some(e), Some(v)) = (&endpoint_text, endpoint)
        && !(e.starts_with("https://") || e.starts_with("http://"))
    {
        cx.problem(
            key("endpoint"),
            Some(v.span()),
            format!("{e:?} is not an http(s) URL"),
            Some("write e.g. \"https://cos.ap-guangzhou.myqcloud.com\"".to_string()),
        );
    }
    let access_key_id_file = file(cx, &key("access_key_id_file"), id_file, base);
    let secret_access_key_file = file(cx, &key("secret_access_key_file"), secret_file, base);
    if access_key_id_file.is_some() != secret_access_key_file.is_some() {
        let at = id_file.as_ref().or(secret_file.as_ref()).map(|v| v.span());
        cx.problem(
            key("access_key_id_file"),
            at,
            "only one of the two key files is set",
            Some("set both access_key_id_file and secret_access_key_file, or neither".to_string()),
        );
    }
    Bucket {
        endpoint: endpoint_text,
        region: nonempty(
            cx,
            &key("region"),
            region,
            "give the bucket's region, e.g. \"ap-guangzhou\"",
        ),
        access_key_id_file,
        secret_access_key_file,
    }
}

pub(super) fn export(cx: &mut Ctx<'_>, raw: RawExport, base: &Path) -> Export {
    // A directory is relative to the config file's, as every path of the file.
    let to = nonempty(
        cx,
        "export.to",
        &raw.to,
        "give a directory or s3://bucket/prefix",
    )
    .map(|t| {
        if t.starts_with("s3://") {
            t
        } else {
            resolve(base, &t).to_string_lossy().into_owned()
        }
    });
    if let Some(t) = &to {
        check_s3_url(cx, "export.to", t, &raw.to);
    }
    let interval = cx.duration("export.interval", &raw.interval, MAX_INTERVAL);
    if let (Some(i), Some(v)) = (interval, &raw.interval)
        && i < MIN_INTERVAL
    {
        cx.problem(
            "export.interval",
            Some(v.span()),
            "an interval under one second",
            Some("use at least \"1s\", e.g. \"1h\"".to_string()),
        );
    }
    let b = bucket(
        cx,
        "export",
        (&raw.endpoint, &raw.region),
        (&raw.access_key_id_file, &raw.secret_access_key_file),
        base,
    );
    Export {
        to,
        interval: interval.unwrap_or(DEFAULT_EXPORT_INTERVAL),
        endpoint: b.endpoint,
        region: b.region,
        path_style: raw.path_style.map(|p| p.into_inner()),
        access_key_id_file: b.access_key_id_file,
        secret_access_key_file: b.secret_access_key_file,
    }
}

/// `[storage.remote]`: `url` is required and names a bucket.
pub(super) fn remote(cx: &mut Ctx<'_>, raw: RawRemote, base: &Path) -> Remote {
    let url = nonempty(
        cx,
        "storage.remote.url",
        &raw.url,
        "write s3://bucket/prefix",
    );
    match &url {
        None if raw.url.is_none() => cx.problem(
            "storage.remote.url",
            None,
            "[storage.remote] needs url",
            Some("add url = \"s3://bucket/prefix\"".to_string()),
        ),
        Some(u) if !u.starts_with("s3://") => cx.problem(
            "storage.remote.url",
            raw.url.as_ref().map(|v| v.span()),
            format!("{u:?} is not an s3:// URL"),
            Some("write s3://bucket/prefix".to_string()),
        ),
        Some(u) => check_s3_url(cx, "storage.remote.url", u, &raw.url),
        None => {}
    }
    let b = bucket(
        cx,
        "storage.remote",
        (&raw.endpoint, &raw.region),
        (&raw.access_key_id_file, &raw.secret_access_key_file),
        base,
    );
    let keep_local = cx.duration("storage.remote.keep_local", &raw.keep_local, MAX_KEEP);
    let snapshot_interval = cx.duration(
        "storage.remote.snapshot_interval",
        &raw.snapshot_interval,
        MAX_INTERVAL,
    );
    if let (Some(i), Some(v)) = (snapshot_interval, &raw.snapshot_interval)
        && i < MIN_SNAPSHOT_INTERVAL
    {
        cx.problem(
            "storage.remote.snapshot_interval",
            Some(v.span()),
            "a snapshot interval under one minute",
            Some("use at least \"1m\", e.g. \"1d\"".to_string()),
        );
    }
    let snapshot_keep = cx.int_in(
        "storage.remote.snapshot_keep",
        &raw.snapshot_keep,
        1..=10_000,
        i64::from(DEFAULT_SNAPSHOT_KEEP),
    );
    Remote {
        url: url.unwrap_or_default(),
        endpoint: b.endpoint,
        region: b.region,
        path_style: raw.path_style.map(|p| p.into_inner()),
        access_key_id_file: b.access_key_id_file,
        secret_access_key_file: b.secret_access_key_file,
        keep_local,
        snapshot_interval,
        snapshot_keep: u32::try_from(snapshot_keep).unwrap_or(DEFAULT_SNAPSHOT_KEEP),
    }
}
