//! The S3 client: `object_store`'s Amazon S3 store (SigV4, multipart,
//! retries) on the crate's one HTTP stack (reqwest with rustls and ring),
//! built from the bucket settings, with its credentials found in order:
//! the two key files of the settings; `s3_access_key_id` /
//! `s3_secret_access_key` in `$CREDENTIALS_DIRECTORY` (systemd
//! `LoadCredential=`); `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and
//! `AWS_SESSION_TOKEN`); the caller's fallback pair (for a COS endpoint, the
//! account's Tencent Cloud key). Keys stay in `secrecy` types and are never
//! logged.
//!
//! Requests are virtual-hosted style (`bucket.endpoint`, as COS needs)
//! unless `path_style`, which defaults to true for a loopback or IP
//! endpoint (MinIO, local servers). Plain `http://` is allowed only for a
//! loopback endpoint.

use object_store::ObjectStore;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where a bucket is and how to reach it.
#[derive(Debug, Clone, Default)]
pub(crate) struct BucketSettings {
    pub(crate) bucket: String,
    /// `https://...`; `None` for AWS S3.
    pub(crate) endpoint: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) path_style: Option<bool>,
    pub(crate) access_key_id_file: Option<PathBuf>,
    pub(crate) secret_access_key_file: Option<PathBuf>,
}

/// An S3 key pair.
#[derive(Clone)]
pub(crate) struct S3Keys {
    pub(crate) access_key_id: SecretString,
    pub(crate) secret_access_key: SecretString,
    pub(crate) session_token: Option<SecretString>,
}

impl std::fmt::Debug for S3Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Keys(..)")
    }
}

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("cannot read the bucket key file {}: {source}\n  fix: check the path and that this user may read it", path.display())]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the bucket key file {} is empty\n  fix: write the key into it", path.display())]
    EmptyKeyFile { path: PathBuf },
    #[error(
        "no credentials for the bucket {bucket}\n  fix: set access_key_id_file and secret_access_key_file, or put s3_access_key_id and s3_secret_access_key in $CREDENTIALS_DIRECTORY, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials { bucket: String },
    #[error(
        "the bucket endpoint {endpoint} is plain http and not loopback\n  fix: use https:// (http:// is allowed only for 127.0.0.1, ::1 or localhost)"
    )]
    PlainHttp { endpoint: String },
    #[error(
        "cannot set up the bucket client for {bucket}: {detail}\n  fix: check endpoint, region and bucket"
    )]
    Build { bucket: String, detail: String },
}

/// Where the credentials came from (for `check` and logs; never the keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeysSource {
    Files,
    CredentialsDirectory,
    Environment,
    Fallback,
}

impl std::fmt::Display for KeysSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeysSource::Files => "access_key_id_file and secret_access_key_file",
            KeysSource::CredentialsDirectory => {
                "$CREDENTIALS_DIRECTORY/s3_access_key_id and s3_secret_access_key"
            }
            KeysSource::Environment => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            KeysSource::Fallback => "the account's Tencent Cloud key",
        })
    }
}

fn read_key(path: &Path) -> Result<SecretString, ClientError> {
    let meta = std::fs::metadata(path).map_err(|source| ClientError::KeyFile {
        path: path.to_path_buf(),
        source,
    })?;
    crate::config::private_file::ensure_private(path, &meta).map_err(|e| ClientError::KeyFile {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let text = std::fs::read_to_string(path).map_err(|source| ClientError::KeyFile {
        path: path.to_path_buf(),
        source,
    })?;
    let key = text.trim();
    if key.is_empty() {
        return Err(ClientError::EmptyKeyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(SecretString::from(key.to_string()))
}

/// The first complete credential source (see the module docs).
pub(crate) fn find_keys(
    settings: &BucketSettings,
    env: &dyn Fn(&str) -> Option<String>,
    fallback: Option<S3Keys>,
) -> Result<(S3Keys, KeysSource), ClientError> {
    let pair = |id: &Path, secret: &Path| -> Result<S3Keys, ClientError> {
        Ok(S3Keys {
            access_key_id: read_key(id)?,
            secret_access_key: read_key(secret)?,
            session_token: None,
        })
    };
    if let (Some(id), Some(secret)) = (
        &settings.access_key_id_file,
        &settings.secret_access_key_file,
    ) {
        return Ok((pair(id, secret)?, KeysSource::Files));
    }
    if let Some(dir) = env("CREDENTIALS_DIRECTORY").map(PathBuf::from) {
        let (id, secret) = (
            dir.join("s3_access_key_id"),
            dir.join("s3_secret_access_key"),
        );
        if id.is_file() && secret.is_file() {
            return Ok((pair(&id, &secret)?, KeysSource::CredentialsDirectory));
        }
    }
    let nonempty = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let (Some(id), Some(secret)) = (
        nonempty("AWS_ACCESS_KEY_ID"),
        nonempty("AWS_SECRET_ACCESS_KEY"),
    ) {
        let keys = S3Keys {
            access_key_id: id.into(),
            secret_access_key: secret.into(),
            session_token: nonempty("AWS_SESSION_TOKEN").map(SecretString::from),
        };
        return Ok((keys, KeysSource::Environment));
    }
    match fallback {
        Some(keys) => Ok((keys, KeysSource::Fallback)),
        None => Err(ClientError::NoCredentials {
            bucket: settings.bucket.clone(),
        }),
    }
}

/// The host of `endpoint`, when it parses.
fn host(endpoint: &str) -> Option<url::Host> {
    url::Url::parse(endpoint).ok()?.host().map(|h| h.to_owned())
}

/// Whether `endpoint` is on this machine.
fn is_loopback(endpoint: &str) -> bool {
    match host(endpoint) {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether requests go path style by default for `endpoint`: yes for an
/// IP address or localhost, no for a name (COS, AWS).
pub(crate) fn default_path_style(endpoint: Option<&str>) -> bool {
    match endpoint.and_then(host) {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(_) => true,
        None => false,
    }
}

/// Whether `endpoint` is Tencent COS (it takes the account's key pair).
pub(crate) fn is_cos(endpoint: Option<&str>) -> bool {
    matches!(endpoint.and_then(host), Some(url::Host::Domain(d)) if d.ends_with(".myqcloud.com"))
}

/// The object store of `settings` with `keys`.
pub(crate) fn build(
    settings: &BucketSettings,
    keys: &S3Keys,
) -> Result<Arc<dyn ObjectStore>, ClientError> {
    build_s3(settings, keys).map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
}

/// Seconds a request may take (an 8 MiB part over a slow link included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Seconds a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The S3 client of `settings` with `keys`: a request is tried again a few
/// times within half a minute (a bucket down for longer is the caller's to
/// wait out, without holding anything).
pub(crate) fn build_s3(settings: &BucketSettings, keys: &S3Keys) -> Result<AmazonS3, ClientError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Client options first: they replace the whole set (`allow_http` below
    // included).
    let mut b = AmazonS3Builder::new()
        .with_client_options(
            object_store::ClientOptions::new()
                .with_timeout(REQUEST_TIMEOUT)
                .with_connect_timeout(CONNECT_TIMEOUT),
        )
        .with_retry(object_store::RetryConfig {
            backoff: object_store::BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        })
        .with_bucket_name(&settings.bucket)
        .with_region(settings.region.as_deref().unwrap_or("us-east-1"))
        .with_access_key_id(keys.access_key_id.expose_secret())
        .with_secret_access_key(keys.secret_access_key.expose_secret());
    if let Some(token) = &keys.session_token {
        b = b.with_token(token.expose_secret());
    }
    let endpoint = settings.endpoint.as_deref();
    if let Some(e) = endpoint {
        let plain = e.starts_with("http://");
        if plain && !is_loopback(e) {
            return Err(ClientError::PlainHttp {
                endpoint: e.to_string(),
            });
        }
        b = b
            .with_endpoint(e.trim_end_matches('/'))
            .with_allow_http(plain);
    }
    let path_style = settings
        .path_style
        .unwrap_or_else(|| default_path_style(endpoint));
    b = b.with_virtual_hosted_style_request(!path_style);
    b.build().map_err(|e| ClientError::Build {
        bucket: settings.bucket.clone(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_style_by_default_only_for_addresses_and_localhost() {
        assert!(default_path_style(Some("http://127.0.0.1:9000")));
        assert!(default_path_style(Some("http://[::1]:9000")));
        assert!(default_path_style(Some("http://localhost:9000")));
        assert!(!default_path_style(Some(
            "https://cos.ap-guangzhou.myqcloud.com"
        )));
        assert!(!default_path_style(None));
        assert!(is_cos(Some("https://cos.ap-guangzhou.myqcloud.com")));
        assert!(!is_cos(Some("https://s3.amazonaws.com")));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let keys = S3Keys {
            access_key_id: "a".to_string().into(),
            secret_access_key: "b".to_string().into(),
            session_token: None,
        };
        let mut s = BucketSettings {
            bucket: "b".into(),
            endpoint: Some("http://s3.example.com".into()),
            ..BucketSettings::default()
        };
        assert!(matches!(
            build(&s, &keys),
            Err(ClientError::PlainHttp { .. })
        ));
        s.endpoint = Some("http://127.0.0.1:9000".into());
        assert!(build(&s, &keys).is_ok());
    }

    #[test]
    fn credentials_come_from_the_first_complete_source() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("s3_access_key_id"), "dir-id\n").expect("write");
        std::fs::write(d.path().join("s3_secret_access_key"), "dir-secret").expect("write");
        for f in ["s3_access_key_id", "s3_secret_access_key"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d.path().join(f), std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
        }
        let dir = d.path().to_string_lossy().into_owned();
        let env = |k: &str| match k {
            "CREDENTIALS_DIRECTORY" => Some(dir.clone()),
            "AWS_ACCESS_KEY_ID" => Some("env-id".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("env-secret".into()),
            _ => None,
        };
        let s = BucketSettings::default();
        let (k, src) = find_keys(&s, &env, None).expect("keys");
        assert_eq!(src, KeysSource::CredentialsDirectory);
        assert_eq!(k.access_key_id.expose_secret(), "dir-id");
        let (k, src) = find_keys(
            &s,
            &|k| {
                if k == "CREDENTIALS_DIRECTORY" {
                    None
                } else {
                    env(k)
                }
            },
            None,
        )
        .expect("keys");
        assert_eq!(src, KeysSource::Environment);
        assert_eq!(k.secret_access_key.expose_secret(), "env-secret");
        assert!(matches!(
            find_keys(&s, &|_| None, None),
            Err(ClientError::NoCredentials { .. })
        ));
    }
}
