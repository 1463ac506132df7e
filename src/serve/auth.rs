//! Access to the page: open when no token is configured (loopback only, see
//! `[web]` validation); otherwise every request shows the token as
//! `Authorization: Bearer <token>`, or a session cookie. A browser gets the
//! cookie (HttpOnly, SameSite=Strict) from the login form ([`super::login`],
//! where the operator pastes the token from `token_file`), or by opening a
//! link with `?token=<token>`. Nothing secret is printed or logged: no login
//! link, no one-time code. A page asked for without a session is sent to the
//! form; anything else is 401 with no data. Comparisons take constant time.
//! The token file must not be readable by other users
//! ([`crate::config::private_file`]).

use crate::config::private_file::{ReadableByOthers, ensure_private};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The cookie a login sets.
pub(crate) const COOKIE: &str = "mna_reportd_session";

/// The most sessions kept; the oldest go first.
const MAX_SESSIONS: usize = 1024;

/// Why the token could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("cannot read the web token {}: {source}\n  fix: check [web] token_file and that this user may read it", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the web token {} is too short ({len} characters)\n  fix: put a long random token in it, e.g. `openssl rand -hex 32 > {}`", path.display(), path.display())]
    Short { path: PathBuf, len: usize },
    #[error("the web token {} is larger than {MAX_TOKEN_BYTES} bytes: it cannot hold one token\n  fix: point [web] token_file at a file holding only the token", path.display())]
    TooLarge { path: PathBuf },
    #[error("cannot read random bytes for a session: {0}")]
    Random(std::io::Error),
    #[error(transparent)]
    Exposed(#[from] ReadableByOthers),
}

/// Why the page cannot be served as asked: its token is not usable, or it
/// would be reachable from other hosts without one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccessError {
    #[error("{0}")]
    Token(TokenError),
    #[error("{listen} is reachable from other hosts and [web] has no token_file\n  fix: add token_file to [web] in {} (a file holding a long random token), or listen on 127.0.0.1", config.display())]
    OpenToOthers {
        listen: std::net::SocketAddr,
        config: PathBuf,
    },
}

impl From<TokenError> for AccessError {
    fn from(e: TokenError) -> AccessError {
        AccessError::Token(e)
    }
}

/// The least characters a token holds.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// The most a token file may hold: a token is far shorter, and a file that
/// never ends (a FIFO, a device) must not fill memory.
pub(crate) const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// Read the token from `path` (surrounding whitespace dropped).
pub(crate) fn read_token(path: &Path) -> Result<SecretString, TokenError> {
    let read_err = |source| TokenError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    let file = std::fs::File::open(path).map_err(read_err)?;
    ensure_private(path, &file.metadata().map_err(read_err)?)?;
    file.take(MAX_TOKEN_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let token = text.trim();
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(TokenError::Short {
            path: path.to_path_buf(),
            len: token.chars().count(),
        });
    }
    Ok(SecretString::from(token.to_string()))
}

/// `n` random bytes from the kernel, as hex.
fn random_hex(n: usize) -> Result<String, TokenError> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(TokenError::Random)?;
    Ok(hex::encode(buf))
}

/// Whether `a` equals `b`, in time that depends only on their lengths.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token and the live sessions.
pub(crate) struct Auth {
    token: Option<SecretString>,
    sessions: Mutex<Vec<String>>,
}

impl Auth {
    /// No token: every request is let in.
    pub(crate) fn open() -> Auth {
        Auth {
            token: None,
            sessions: Mutex::new(Vec::new()),
        }
    }

    /// Requests must show `token`.
    pub(crate) fn with_token(token: SecretString) -> Auth {
        Auth {
            token: Some(token),
            sessions: Mutex::new(Vec::new()),
        }
    }

    /// Whether a token is asked for.
    pub(crate) fn required(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `shown` is the token.
    pub(super) fn is_token(&self, shown: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| same(t.expose_secret().as_bytes(), shown.as_bytes()))
    }

    /// A new session, and the `Set-Cookie` value that hands it to a
    /// browser; `None` when no random bytes could be had.
    pub(super) fn new_session_cookie(&self) -> Option<HeaderValue> {
        let session = self.new_session().ok()?;
        let cookie = format!("{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict");
        HeaderValue::from_str(&cookie).ok()
    }

    fn new_session(&self) -> Result<String, TokenError> {
        let s = random_hex(32)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= MAX_SESSIONS {
            sessions.remove(0);
        }
        sessions.push(s.clone());
        Ok(s)
    }

    fn is_session(&self, shown: &str) -> bool {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        // Every one compared, so the time does not tell which matched.
        sessions
            .iter()
            .fold(false, |hit, s| same(s.as_bytes(), shown.as_bytes()) | hit)
    }
}

fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookies(req: &Request) -> HashSet<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
        .collect()
}

fn query_token(req: &Request) -> Option<String> {
    let q = req.uri().query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "401 unauthorized: show the token (Authorization: Bearer <token>) or open the login link printed at start\n",
    )
        .into_response()
}

/// The answer when no session could be made.
pub(super) fn no_session() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "cannot make a session\n").into_response()
}

/// A redirect to `to` (a same-origin path), with `cookie` set if given.
pub(super) fn see_other(to: &str, cookie: Option<HeaderValue>) -> Response {
    let to = super::login::safe_next(to);
    let mut res = Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .body(Body::empty())
        .unwrap_or_default();
    if let Some(c) = cookie {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res
}

/// The middleware: let the request through, log it in (`?token=`), send a
/// page asked for without a session to the login form, or answer 401.
pub(crate) async fn require(
    State(auth): State<std::sync::Arc<Auth>>,
    req: Request,
    next: Next,
) -> Response {
    if !auth.required() {
        return next.run(req).await;
    }
    if let Some(shown) = query_token(&req) {
        if !auth.is_token(&shown) {
            return unauthorized();
        }
        return match auth.new_session_cookie() {
            Some(cookie) => see_other(req.uri().path(), Some(cookie)),
            None => no_session(),
        };
    }
    let ok = bearer(&req).is_some_and(|b| auth.is_token(b))
        || cookies(&req).iter().any(|c| auth.is_session(c));
    if ok {
        next.run(req).await
    } else if req.method() == Method::GET && !req.uri().path().starts_with("/api/") {
        let asked = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let next: String = url::form_urlencoded::byte_serialize(asked.as_bytes()).collect();
        see_other(&format!("/login?next={next}"), None)
    } else {
        unauthorized()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_that_never_ends_is_refused_with_bounded_reading() {
        let e = read_token(Path::new("/dev/zero")).expect_err("refused");
        assert!(matches!(e, TokenError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("fix: "), "{e}");
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("token");
        std::fs::write(&file, "  0123456789abcdef0123\n").expect("write");
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        assert_eq!(
            read_token(&file).expect("token").expose_secret(),
            "0123456789abcdef0123"
        );
    }

    #[test]
    fn same_compares_whole_values() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }

    #[test]
    fn only_the_token_logs_in() {
        let auth = Auth::with_token(SecretString::from("t".repeat(20)));
        assert!(!auth.is_token("wrong"));
        assert!(!auth.is_token(&"t".repeat(19)));
        assert!(auth.is_token(&"t".repeat(20)));
        let s = auth.new_session().expect("session");
        assert!(auth.is_session(&s));
        assert!(!auth.is_session("x"));
    }

    #[test]
    fn a_token_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("t");
        std::fs::write(&p, format!("{}\n", "x".repeat(32))).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = read_token(&p).expect_err("world-readable");
        assert!(matches!(e, TokenError::Exposed(_)), "{e}");
        assert!(
            e.to_string()
                .contains(&format!("fix: chmod 600 {}", p.display())),
            "{e}"
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert_eq!(
            read_token(&p).expect("token").expose_secret(),
            "x".repeat(32)
        );
    }

    #[test]
    fn a_short_token_file_is_refused() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("t");
        std::fs::write(&p, "short\n").expect("write");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        assert!(
            read_token(&p)
                .expect_err("short")
                .to_string()
                .contains("fix:")
        );
        std::fs::write(&p, format!("{}\n", "x".repeat(32))).expect("write");
        assert_eq!(
            read_token(&p).expect("token").expose_secret(),
            "x".repeat(32)
        );
    }
}
