//! API credentials: where they come from and the type that holds them.
//!
//! The chain, first complete source wins: `secret_id_file`/`secret_key_file`
//! (+ `token_file`); `$CREDENTIALS_DIRECTORY/{secret_id,secret_key,token}`
//! (systemd `LoadCredential=`); `TENCENTCLOUD_SECRET_ID`/`_KEY`/`TENCENTCLOUD_TOKEN`;
//! the INI profile file (`$TENCENTCLOUD_CREDENTIALS_FILE`, else
//! `~/.tencentcloud/credentials`, else `/etc/tencentcloud/credentials`); with
//! `cvm_role = true`, the CVM instance role from the metadata service,
//! refreshed 300 s before it expires.
//!
//! Keys live in [`SecretString`] from the moment they are read: they cannot be
//! printed, and `Debug` shows them redacted. The environment is read through
//! the [`Env`] seam so that the chain is tested without touching the process.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::CredentialSettings;
use crate::config::private_file::{ReadableByOthers, ensure_private};
use crate::tencent::api::client::{Capped, read_capped};
use secret_file::{read_optional_secret, read_secret};

/// A key pair, and a token for temporary keys.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) secret_id: String,
    pub(crate) secret_key: SecretString,
    pub(crate) token: Option<SecretString>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &redact_id(&self.secret_id))
            .field("secret_key", &"[redacted]")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The SecretId with all but its first 4 and last 2 characters hidden
/// (enough to tell keys apart in a log).
pub(crate) fn redact_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "****".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}…{tail}")
}

/// Where the credentials in use were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    ConfigFiles { id: PathBuf, key: PathBuf },
    CredentialsDirectory(PathBuf),
    Environment,
    ProfileFile { path: PathBuf, profile: String },
    CvmRole { endpoint: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::ConfigFiles { id, key } => {
                write!(
                    f,
                    "files {} and {} ([credentials] secret_id_file/secret_key_file)",
                    id.display(),
                    key.display()
                )
            }
            Source::CredentialsDirectory(d) => write!(f, "systemd credentials in {}", d.display()),
            Source::Environment => {
                f.write_str("environment TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY")
            }
            Source::ProfileFile { path, profile } => {
                write!(f, "profile [{profile}] of {}", path.display())
            }
            Source::CvmRole { endpoint } => write!(f, "CVM instance role from {endpoint}"),
        }
    }
}

/// Why no credentials could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CredentialError {
    /// The OS error is in the message, not a source a caller printing the
    /// chain would repeat.
    #[error("cannot read {what} {}: {error}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{what} {} is empty", path.display())]
    Empty { what: &'static str, path: PathBuf },
    #[error("cannot parse credentials file {}: {message}", path.display())]
    Profile { path: PathBuf, message: String },
    #[error(
        "no API credentials found; looked in: {}\n  fix: set secret_id_file/secret_key_file in [credentials], \
         use LoadCredential= in the systemd unit, export TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, \
         write ~/.tencentcloud/credentials, or set cvm_role = true on a CVM",
        tried.join("; ")
    )]
    NotFound { tried: Vec<String> },
    #[error(
        "the {what} from {origin} {reason} (the value is not shown)\n  fix: write it again as one line of printable ASCII, \
         with no line break, tab or other control character inside"
    )]
    Invalid {
        what: &'static str,
        origin: String,
        reason: String,
    },
    #[error("CVM role credentials from {endpoint}: {message}")]
    Metadata { endpoint: String, message: String },
    #[error(transparent)]
    Exposed(#[from] ReadableByOthers),
}

/// The process environment, as the chain sees it.
pub(crate) trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn home(&self) -> Option<PathBuf>;
}

/// The real environment.
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
    fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }
}

fn env_secret(env: &dyn Env, name: &str) -> Option<SecretString> {
    env.var(name)
        .map(|v| SecretString::from(clean(&v).to_string()))
}

/// A value as written, without the whitespace around it and a UTF-8
/// byte-order mark in front (editors on Windows add one).
fn clean(text: &str) -> &str {
    text.trim().trim_start_matches('\u{feff}').trim()
}

/// Why `value` cannot be a key, SecretId or token: the API takes printable
/// ASCII only, and a line break or control character inside fails every call.
/// Says where, never what.
fn unfit(value: &str) -> Option<String> {
    let (at, c) = value
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() || !c.is_ascii())?;
    let kind = match c {
        '\n' => "a line break (LF)".to_string(),
        '\r' => "a carriage return (CR)".to_string(),
        '\t' => "a tab".to_string(),
        c if c.is_control() => format!("a control character (U+{:04X})", u32::from(c)),
        c => format!("a non-ASCII character (U+{:04X})", u32::from(c)),
    };
    Some(format!("contains {kind} at character {}", at + 1))
}

/// Refuse credentials the API could never accept, naming their source.
fn validate(source: &Source, c: &Credentials) -> Result<(), CredentialError> {
    let fields = [
        ("SecretId", Some(c.secret_id.as_str())),
        ("SecretKey", Some(c.secret_key.expose_secret())),
        ("token", c.token.as_ref().map(|t| t.expose_secret())),
    ];
    for (what, value) in fields {
        if let Some(reason) = value.and_then(unfit) {
            return Err(CredentialError::Invalid {
                what,
                origin: source.to_string(),
                reason,
            });
        }
    }
    Ok(())
}

/// What the chain settled on: a fixed key pair, or the CVM role.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    Static(Credentials),
    CvmRole,
}

/// Walk the chain and return the first complete source, its keys checked
/// for characters the API cannot take. No network: the CVM role, when it is
/// the source, is fetched later by [`Provider`].
pub(crate) fn resolve(
    settings: &CredentialSettings,
    env: &dyn Env,
) -> Result<(Source, Found), CredentialError> {
    let (source, found) = first_source(settings, env)?;
    if let Found::Static(c) = &found {
        validate(&source, c)?;
    }
    Ok((source, found))
}

/// What one source gave: credentials with where they came from, nothing
/// (what was tried is noted), or an error that ends the search.
type Lookup = Result<Option<(Source, Found)>, CredentialError>;

/// A source of credentials; it notes in `tried` what it looked at in vain.
type SourceFn = fn(&CredentialSettings, &dyn Env, &mut Vec<String>) -> Lookup;

/// The sources, in the order they are tried; the first that gives credentials wins.
const SOURCES: [SourceFn; 5] = [
    config_files,
    systemd_credentials,
    environment,
    profile_file,
    cvm_role,
];

fn first_source(
    settings: &CredentialSettings,
    env: &dyn Env,
) -> Result<(Source, Found), CredentialError> {
    let mut tried = Vec::new();
    for source in SOURCES {
        if let Some(found) = source(settings, env, &mut tried)? {
            return Ok(found);
        }
    }
    Err(CredentialError::NotFound { tried })
}

/// Source 1: files named in the config: configured on purpose, so an unreadable one is an error.
fn config_files(settings: &CredentialSettings, _: &dyn Env, tried: &mut Vec<String>) -> Lookup {
    let (Some(id), Some(key)) = (&settings.secret_id_file, &settings.secret_key_file) else {
        tried.push("[credentials] secret_id_file/secret_key_file (not set)".to_string());
        return Ok(None);
    };
    let secret_id = read_secret("secret_id_file", id)?
        .expose_secret()
        .to_string();
    let secret_key = read_secret("secret_key_file", key)?;
    let token = match &settings.token_file {
        Some(t) => Some(read_secret("token_file", t)?),
        None => None,
    };
    Ok(Some((
        Source::ConfigFiles {
            id: id.clone(),
            key: key.clone(),
        },
        Found::Static(Credentials {
            secret_id,
            secret_key,
            token,
        }),
    )))
}

/// Source 2: systemd credentials (`$CREDENTIALS_DIRECTORY`).
fn systemd_credentials(_: &CredentialSettings, env: &dyn Env, tried: &mut Vec<String>) -> Lookup {
    let Some(dir) = env.var("CREDENTIALS_DIRECTORY") else {
        tried.push("$CREDENTIALS_DIRECTORY (not set)".to_string());
        return Ok(None);
    };
    let dir = PathBuf::from(dir);
    let (id, key) = (dir.join("secret_id"), dir.join("secret_key"));
    if !(id.exists() && key.exists()) {
        tried.push(format!("{} (no secret_id and secret_key)", dir.display()));
        return Ok(None);
    }
    let secret_id = read_secret("credential", &id)?.expose_secret().to_string();
    let secret_key = read_secret("credential", &key)?;
    let token = read_optional_secret("credential", &dir.join("token"))?;
    Ok(Some((
        Source::CredentialsDirectory(dir),
        Found::Static(Credentials {
            secret_id,
            secret_key,
            token,
        }),
    )))
}

/// Source 3: the environment.
fn environment(_: &CredentialSettings, env: &dyn Env, tried: &mut Vec<String>) -> Lookup {
    let (Some(id), Some(key)) = (
        env.var("TENCENTCLOUD_SECRET_ID"),
        env_secret(env, "TENCENTCLOUD_SECRET_KEY"),
    ) else {
        tried.push("TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY (not both set)".to_string());
        return Ok(None);
    };
    Ok(Some((
        Source::Environment,
        Found::Static(Credentials {
            secret_id: clean(&id).to_string(),
            secret_key: key,
            token: env_secret(env, "TENCENTCLOUD_TOKEN"),
        }),
    )))
}

/// Source 4: an INI profile file: `$TENCENTCLOUD_CREDENTIALS_FILE` (which must
/// exist), else the first of `~/.tencentcloud/credentials` and
/// `/etc/tencentcloud/credentials` that exists.
fn profile_file(settings: &CredentialSettings, env: &dyn Env, tried: &mut Vec<String>) -> Lookup {
    let explicit = env.var("TENCENTCLOUD_CREDENTIALS_FILE").map(PathBuf::from);
    let candidates: Vec<PathBuf> = match &explicit {
        Some(p) => vec![p.clone()],
        None => env
            .home()
            .map(|h| h.join(".tencentcloud/credentials"))
            .into_iter()
            .chain(std::iter::once(PathBuf::from(
                "/etc/tencentcloud/credentials",
            )))
            .collect(),
    };
    for path in candidates {
        if !path.exists() {
            if explicit.is_some() {
                return Err(CredentialError::Read {
                    what: "TENCENTCLOUD_CREDENTIALS_FILE",
                    error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                    path,
                });
            }
            tried.push(format!("{} (absent)", path.display()));
            continue;
        }
        if let Some(creds) = read_profile(&path, &settings.profile)? {
            return Ok(Some((
                Source::ProfileFile {
                    path,
                    profile: settings.profile.clone(),
                },
                Found::Static(creds),
            )));
        }
        tried.push(format!(
            "{} (no complete [{}] section)",
            path.display(),
            settings.profile
        ));
        // The first existing file decides, as the SDKs do.
        break;
    }
    Ok(None)
}

/// Source 5: the CVM role, when `cvm_role` allows it.
fn cvm_role(settings: &CredentialSettings, _: &dyn Env, tried: &mut Vec<String>) -> Lookup {
    if !settings.cvm_role {
        tried.push("CVM role (cvm_role = false)".to_string());
        return Ok(None);
    }
    Ok(Some((
        Source::CvmRole {
            endpoint: settings.metadata_endpoint.to_string(),
        },
        Found::CvmRole,
    )))
}

/// The largest credentials (INI) file read: a few profiles take a few
/// hundred bytes; this stops a path such as `/dev/zero` from filling memory.
const MAX_PROFILE_BYTES: u64 = 1024 * 1024;

fn read_profile(path: &Path, profile: &str) -> Result<Option<Credentials>, CredentialError> {
    use std::io::Read;
    let read_err = |error| CredentialError::Read {
        what: "credentials file",
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    ensure_private(path, &file.metadata().map_err(read_err)?)?;
    let mut text = String::new();
    file.take(MAX_PROFILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_PROFILE_BYTES {
        return Err(read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_PROFILE_BYTES} bytes; no credentials file is this large"),
        )));
    }
    let ini = ini::Ini::load_from_str(&text).map_err(|p| CredentialError::Profile {
        path: path.to_path_buf(),
        message: format!("line {}: {}", p.line, p.msg),
    })?;
    let Some(section) = ini.section(Some(profile)) else {
        return Ok(None);
    };
    let get = |k: &str| section.get(k).map(clean).filter(|v| !v.is_empty());
    match (get("secret_id"), get("secret_key")) {
        (Some(id), Some(key)) => Ok(Some(Credentials {
            secret_id: id.to_string(),
            secret_key: SecretString::from(key.to_string()),
            token: get("token").map(|t| SecretString::from(t.to_string())),
        })),
        _ => Ok(None),
    }
}

/// Refresh CVM role credentials this long before they expire (as the SDKs do).
pub(crate) const CVM_REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// Hands out the credentials to sign with: fixed ones, or the CVM role's,
/// fetched on first use and refreshed before `ExpiredTime`.
#[derive(Clone)]
pub(crate) struct Provider {
    inner: Arc<ProviderInner>,
}

enum ProviderInner {
    Static(Arc<Credentials>),
    Cvm {
        endpoint: reqwest::Url,
        http: reqwest::Client,
        cached: tokio::sync::Mutex<Option<(Arc<Credentials>, i64)>>,
    },
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleCredentials {
    tmp_secret_id: String,
    tmp_secret_key: String,
    token: String,
    expired_time: i64,
    #[serde(default)]
    code: Option<String>,
}

impl Provider {
    pub(crate) fn fixed(creds: Credentials) -> Provider {
        Provider {
            inner: Arc::new(ProviderInner::Static(Arc::new(creds))),
        }
    }

    pub(crate) fn cvm_role(endpoint: reqwest::Url, http: reqwest::Client) -> Provider {
        Provider {
            inner: Arc::new(ProviderInner::Cvm {
                endpoint,
                http,
                cached: tokio::sync::Mutex::new(None),
            }),
        }
    }

    pub(crate) fn from_found(
        found: Found,
        settings: &CredentialSettings,
        http: reqwest::Client,
    ) -> Provider {
        match found {
            Found::Static(c) => Provider::fixed(c),
            Found::CvmRole => Provider::cvm_role(settings.metadata_endpoint.clone(), http),
        }
    }

    /// The credentials to sign the next request with.
    pub(crate) async fn current(&self) -> Result<Arc<Credentials>, CredentialError> {
        match &*self.inner {
            ProviderInner::Static(c) => Ok(c.clone()),
            ProviderInner::Cvm {
                endpoint,
                http,
                cached,
            } => {
                let mut guard = cached.lock().await;
                let now = jiff::Timestamp::now().as_second();
                if let Some((creds, expires)) = guard.as_ref()
                    && now + (CVM_REFRESH_BEFORE.as_secs() as i64) < *expires
                {
                    return Ok(creds.clone());
                }
                let (creds, expires) = fetch_role(endpoint, http).await?;
                let creds = Arc::new(creds);
                *guard = Some((creds.clone(), expires));
                Ok(creds)
            }
        }
    }
}

/// Most bytes read of one metadata answer (real ones are under 2 KiB).
const METADATA_ANSWER_MAX: usize = 64 * 1024;

async fn fetch_role(
    endpoint: &reqwest::Url,
    http: &reqwest::Client,
) -> Result<(Credentials, i64), CredentialError> {
    let fail = |message: String| CredentialError::Metadata {
        endpoint: endpoint.to_string(),
        message,
    };
    let base = endpoint
        .join("cam/security-credentials/")
        .map_err(|e| fail(e.to_string()))?;
    let get_text = |url: reqwest::Url| async move {
        let resp = http
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| fail(format!("request failed: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(fail(format!(
                "HTTP {status}: is this a CVM with a role bound to it?"
            )));
        }
        let body = read_capped(resp, METADATA_ANSWER_MAX)
            .await
            .map_err(|e| match e {
                Capped::TooLarge => fail(format!(
                    "its answer is larger than {METADATA_ANSWER_MAX} bytes; real ones are under 2 KiB: check metadata_endpoint"
                )),
                Capped::Http(e) => fail(format!("reading the answer: {e}")),
            })?;
        String::from_utf8(body).map_err(|_| fail("its answer is not UTF-8 text".to_string()))
    };
    let role = get_text(base.clone()).await?;
    let role = role.lines().next().unwrap_or_default().trim().to_string();
    if role.is_empty() || role.contains('/') {
        return Err(fail("no role is bound to this instance".to_string()));
    }
    let url = base.join(&role).map_err(|e| fail(e.to_string()))?;
    let body = get_text(url).await?;
    let parsed: RoleCredentials =
        serde_json::from_str(&body).map_err(|e| fail(format!("unexpected answer: {e}")))?;
    if parsed.code.as_deref().is_some_and(|c| c != "Success") {
        return Err(fail(format!(
            "metadata service answered Code {:?}",
            parsed.code
        )));
    }
    for (what, value) in [
        ("TmpSecretId", &parsed.tmp_secret_id),
        ("TmpSecretKey", &parsed.tmp_secret_key),
        ("Token", &parsed.token),
    ] {
        if let Some(reason) = unfit(value) {
            return Err(fail(format!("its {what} {reason}")));
        }
    }
    Ok((
        Credentials {
            secret_id: parsed.tmp_secret_id,
            secret_key: SecretString::from(parsed.tmp_secret_key),
            token: Some(SecretString::from(parsed.token)),
        },
        parsed.expired_time,
    ))
}

mod secret_file;

#[cfg(test)]
mod tests;
