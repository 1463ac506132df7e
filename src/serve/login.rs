//! The login form: `GET /login` shows it, `POST /login` takes the token
//! the operator pastes from `[web] token_file` and answers with the session
//! cookie and a redirect to `next`, which must be a path of this origin
//! ([`safe_next`]): anything else goes to `/`, so a link cannot use the
//! login to send a browser elsewhere. The form's body is at most
//! [`MAX_FORM`] bytes.

use super::auth::{Auth, no_session, see_other};
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// The largest login form body taken.
pub(crate) const MAX_FORM: usize = 4096;

/// `next` when it is a path of this origin: it starts with one `/`
/// (not `//` or `/\`, which browsers read as another host) and holds no
/// whitespace or control character (browsers drop tabs and line breaks,
/// which could join two slashes). Else `/`.
pub(crate) fn safe_next(next: &str) -> &str {
    let b = next.as_bytes();
    let same_origin = b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/') | Some(b'\\'))
        && !b
            .iter()
            .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
        && next.is_ascii();
    if same_origin { next } else { "/" }
}

/// `GET /login` and `POST /login`, outside the token check.
pub(crate) fn routes(auth: Arc<Auth>) -> Router {
    Router::new()
        .route("/login", get(form).post(submit))
        .with_state(auth)
}

#[derive(serde::Deserialize)]
struct Next {
    next: Option<String>,
}

async fn form(State(auth): State<Arc<Auth>>, Query(q): Query<Next>) -> Response {
    let next = q.next.unwrap_or_else(|| "/".to_string());
    if !auth.required() {
        return see_other(&next, None);
    }
    Html(page(safe_next(&next), None)).into_response()
}

async fn submit(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    let Ok(body) = axum::body::to_bytes(req.into_body(), MAX_FORM).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "413 the login form is larger than it can be\n",
        )
            .into_response();
    };
    let mut token = None;
    let mut next = None;
    for (k, v) in url::form_urlencoded::parse(&body) {
        match &*k {
            "token" => token = Some(v.into_owned()),
            "next" => next = Some(v.into_owned()),
            _ => {}
        }
    }
    let next = next.unwrap_or_else(|| "/".to_string());
    if !auth.required() {
        return see_other(&next, None);
    }
    if !token.is_some_and(|t| auth.is_token(t.trim())) {
        let mut res = Html(page(
            safe_next(&next),
            Some("That is not the token. Paste the whole content of the file [web] token_file names."),
        ))
        .into_response();
        *res.status_mut() = StatusCode::UNAUTHORIZED;
        return res;
    }
    match auth.new_session_cookie() {
        Some(cookie) => see_other(&next, Some(cookie)),
        None => no_session(),
    }
}

/// `s` safe inside HTML text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The form, going on to `next` once logged in, with `error` above it.
fn page(next: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>mna-reportd: log in</title></head>
<body>
<h1>mna-reportd</h1>
{error}<form method="post" action="/login">
<p><label>Token (the content of the file <code>[web] token_file</code> names)<br>
<input type="password" name="token" autocomplete="current-password" required autofocus size="40"></label></p>
<input type="hidden" name="next" value="{next}">
<p><button type="submit">Log in</button></p>
</form>
</body>
</html>
"#,
        next = escape(next),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_takes_only_a_path_of_this_origin() {
        for ok in ["/", "/api/jobs?x=1", "/a/b#c", "/%2F%2Fevil"] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "//attacker.example/",
            "/\\attacker.example/",
            "https://attacker.example/",
            "javascript:alert(1)",
            "attacker.example",
            "",
            "/\t/attacker.example",
            "/\n/attacker.example",
            " /x",
            "/ü",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn the_form_escapes_next() {
        let html = page("/\"><script>x</script>", None);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
    }
}
