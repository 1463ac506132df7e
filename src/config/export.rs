//! `[export]`: the destination the daemon exports to (a directory or
//! `s3://bucket/prefix`), how often, and the bucket settings an `s3://`
//! destination is reached with (endpoint, region, path style, key files).

use super::model::{DEFAULT_EXPORT_INTERVAL, Export};
use super::raw::{OptSpanned, RawExport};
use super::validate::{Ctx, resolve};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shortest `interval` (a run with nothing new costs one query).
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest `interval`.
const MAX_INTERVAL: Duration = Duration::from_secs(30 * 86_400);

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
    if let (Some(t), Some(v)) = (&to, &raw.to)
        && t.starts_with("s3://")
        && t.trim_start_matches("s3://")
            .split('/')
            .next()
            .is_none_or(str::is_empty)
    {
        cx.problem(
            "export.to",
            Some(v.span()),
            format!("{t:?} names no bucket"),
            Some("write s3://bucket/prefix".to_string()),
        );
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
    let endpoint = nonempty(
        cx,
        "export.endpoint",
        &raw.endpoint,
        "give the bucket's endpoint URL, or leave the key out for AWS S3",
    );
    if let (Some(e), Some(v)) = (&endpoint, &raw.endpoint)
        && !(e.starts_with("https://") || e.starts_with("http://"))
    {
        cx.problem(
            "export.endpoint",
            Some(v.span()),
            format!("{e:?} is not an http(s) URL"),
            Some("write e.g. \"https://cos.ap-guangzhou.myqcloud.com\"".to_string()),
        );
    }
    let access_key_id_file = file(
        cx,
        "export.access_key_id_file",
        &raw.access_key_id_file,
        base,
    );
    let secret_access_key_file = file(
        cx,
        "export.secret_access_key_file",
        &raw.secret_access_key_file,
        base,
    );
    if access_key_id_file.is_some() != secret_access_key_file.is_some() {
        let at = raw
            .access_key_id_file
            .as_ref()
            .or(raw.secret_access_key_file.as_ref())
            .map(|v| v.span());
        cx.problem(
            "export.access_key_id_file",
            at,
            "only one of the two key files is set",
            Some("set both access_key_id_file and secret_access_key_file, or neither".to_string()),
        );
    }
    Export {
        to,
        interval: interval.unwrap_or(DEFAULT_EXPORT_INTERVAL),
        endpoint,
        region: nonempty(
            cx,
            "export.region",
            &raw.region,
            "give the bucket's region, e.g. \"ap-guangzhou\"",
        ),
        path_style: raw.path_style.map(|p| p.into_inner()),
        access_key_id_file,
        secret_access_key_file,
    }
}
