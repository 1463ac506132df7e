//! The headers every answer of the page carries: a Content-Security-Policy
//! that allows only this origin's own scripts, styles, images and fetches
//! (no inline script, no frames, no forms elsewhere), and the usual
//! hardening headers.

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// The page's Content-Security-Policy.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'none'; object-src 'none'; frame-src 'none'; frame-ancestors 'none'; \
base-uri 'none'; form-action 'self'";

/// Add the security headers to `res`.
pub(crate) async fn secure(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
