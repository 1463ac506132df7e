//! `[web]`: the page's address, its token file and the names every
//! listener answers to (`allowed_hosts`).

use super::model::{DEFAULT_WEB_LISTEN, Web};
use super::raw::OptSpanned;
use super::validate::{Ctx, resolve, span};
use std::net::SocketAddr;
use std::path::Path;
use toml::Spanned;

/// `[web]`: `listen` defaults to loopback; any other address needs `token_file`.
pub(super) fn web(cx: &mut Ctx<'_>, raw: super::raw::RawWeb, base: &Path) -> Web {
    let default: SocketAddr = DEFAULT_WEB_LISTEN
        .parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9465)));
    let listen = match &raw.listen {
        None => default,
        Some(l) => match l.get_ref().parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                cx.problem(
                    "web.listen",
                    Some(l.span()),
                    format!("{:?} is not an address:port", l.get_ref()),
                    Some(format!("use e.g. \"{DEFAULT_WEB_LISTEN}\"")),
                );
                default
            }
        },
    };
    let token_file = match &raw.token_file {
        Some(t) if t.get_ref().trim().is_empty() => {
            cx.problem(
                "web.token_file",
                Some(t.span()),
                "an empty path",
                Some("give the path of a file holding the token".to_string()),
            );
            None
        }
        Some(t) => Some(resolve(base, t.get_ref())),
        None => None,
    };
    if token_file.is_none() && raw.token_file.is_none() && !listen.ip().is_loopback() {
        cx.problem(
            "web.listen",
            span(&raw.listen),
            format!("{listen} is reachable from other hosts, and [web] has no token_file"),
            Some(
                "add token_file = \"/etc/mna-reportd/web-token\" (a file holding a long random token, e.g. from `openssl rand -hex 32`), or listen on 127.0.0.1".to_string(),
            ),
        );
    }
    let allowed_hosts = allowed_hosts(cx, &raw.allowed_hosts);
    Web {
        listen,
        token_file,
        allowed_hosts,
    }
}

/// `[web] allowed_hosts`: plain DNS names, kept in lower case.
fn allowed_hosts(cx: &mut Ctx<'_>, raw: &OptSpanned<Vec<Spanned<String>>>) -> Vec<String> {
    let mut out = Vec::new();
    for name in raw.iter().flat_map(|l| l.get_ref()) {
        if valid_host_name(name.get_ref()) {
            out.push(name.get_ref().trim_end_matches('.').to_ascii_lowercase());
        } else {
            cx.problem(
                "web.allowed_hosts",
                Some(name.span()),
                format!("{:?} is not a host name", name.get_ref()),
                Some("write names alone, without scheme, port or wildcard, e.g. \"reports.example.net\" (IP addresses and localhost are always answered)".to_string()),
            );
        }
    }
    out
}

/// Whether `name` may be written in `[web] allowed_hosts`: a DNS name
/// (letters, digits, `-` and `.`), no port, no scheme, no wildcard.
pub(super) fn valid_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
