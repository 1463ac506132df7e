//! Access to the page: open when no token is configured (loopback only, see
//! `[web]` validation); otherwise every request shows the token as
//! `Authorization: Bearer <token>`, or a session cookie. A browser gets the
//! cookie (HttpOnly, SameSite=Strict) by opening a link with `?token=`: the
//! token itself, or the one-time code printed at start (good for one login).
//! Anything else is 401 with no data. Comparisons take constant time.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The cookie a login sets.
pub const COOKIE: &str = "mna_reportd_session";

/// The most sessions kept; the oldest go first.
const MAX_SESSIONS: usize = 1024;

/// Why the token could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the web token {}: {source}\n  fix: check [web] token_file and that this user may read it", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the web token {} is too short ({len} characters)\n  fix: put a long random token in it, e.g. `openssl rand -hex 32 > {}`", path.display(), path.display())]
    Short { path: PathBuf, len: usize },
    #[error("the web token {} is larger than {MAX_TOKEN_BYTES} bytes: it cannot hold one token\n  fix: point [web] token_file at a file holding only the token", path.display())]
    TooLarge { path: PathBuf },
    #[error("cannot read random bytes for a login code: {0}")]
    Random(std::io::Error),
}

/// The least characters a token holds.
pub const MIN_TOKEN_LEN: usize = 16;

/// The most a token file may hold: a token is far shorter, and a file that
/// never ends (a FIFO, a device) must not fill memory.
pub const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// Read the token from `path` (surrounding whitespace dropped).
pub fn read_token(path: &Path) -> Result<SecretString, TokenError> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TOKEN_BYTES + 1).read_to_string(&mut text))
        .map_err(|source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        })?;
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
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token, the one-time login code and the live sessions.
pub struct Auth {
    token: Option<SecretString>,
    code: Mutex<Option<SecretString>>,
    sessions: Mutex<Vec<String>>,
}

impl Auth {
    /// No token: every request is let in.
    pub fn open() -> Auth {
        Auth {
            token: None,
            code: Mutex::new(None),
            sessions: Mutex::new(Vec::new()),
        }
    }

    /// Requests must show `token`; a one-time login code is made.
    pub fn with_token(token: SecretString) -> Result<Auth, TokenError> {
        Ok(Auth {
            token: Some(token),
            code: Mutex::new(Some(SecretString::from(random_hex(16)?))),
            sessions: Mutex::new(Vec::new()),
        })
    }

    /// Whether a token is asked for.
    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// The one-time login code, while unused (to print at start).
    pub fn login_code(&self) -> Option<String> {
        self.code
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| c.expose_secret().to_string())
    }

    fn is_token(&self, shown: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| same(t.expose_secret().as_bytes(), shown.as_bytes()))
    }

    /// `shown` is the token or the unused login code (which it uses up).
    fn login(&self, shown: &str) -> bool {
        if self.is_token(shown) {
            return true;
        }
        let mut code = self.code.lock().unwrap_or_else(|p| p.into_inner());
        if code
            .as_ref()
            .is_some_and(|c| same(c.expose_secret().as_bytes(), shown.as_bytes()))
        {
            *code = None;
            return true;
        }
        false
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

/// The middleware: let the request through, log it in, or answer 401.
pub async fn require(
    State(auth): State<std::sync::Arc<Auth>>,
    req: Request,
    next: Next,
) -> Response {
    if !auth.required() {
        return next.run(req).await;
    }
    if let Some(shown) = query_token(&req) {
        if !auth.login(&shown) {
            return unauthorized();
        }
        let Ok(session) = auth.new_session() else {
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot make a session\n").into_response();
        };
        let cookie = format!("{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict");
        let mut res = Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, req.uri().path())
            .body(Body::empty())
            .unwrap_or_default();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().insert(header::SET_COOKIE, v);
        }
        return res;
    }
    let ok = bearer(&req).is_some_and(|b| auth.is_token(b))
        || cookies(&req).iter().any(|c| auth.is_session(c));
    if ok {
        next.run(req).await
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
    fn the_login_code_works_once_and_the_token_always() {
        let auth = Auth::with_token(SecretString::from("t".repeat(20))).expect("auth");
        let code = auth.login_code().expect("a code");
        assert!(!auth.login("wrong"));
        assert!(auth.login(&code));
        assert!(!auth.login(&code), "a code is good once");
        assert_eq!(auth.login_code(), None);
        assert!(auth.login(&"t".repeat(20)));
        let s = auth.new_session().expect("session");
        assert!(auth.is_session(&s));
        assert!(!auth.is_session("x"));
    }

    #[test]
    fn a_short_token_file_is_refused() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("t");
        std::fs::write(&p, "short\n").expect("write");
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
