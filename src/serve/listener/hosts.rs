//! Which `Host` a listener answers to: an IP literal (any port), `localhost`
//! (any port), and the names of `[web] allowed_hosts`. A page on loopback
//! that answered any name could be read by a web page whose name the
//! attacker rebinds to 127.0.0.1 (DNS rebinding): the browser then sends the
//! attacker's name in `Host`, which this refuses. A request with no `Host`
//! at all is answered under HTTP/1.0 (no browser sends one without it, so it
//! cannot be a rebinding) and refused under HTTP/1.1, which requires it.

use axum::http::{Request, Version, header};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The names a listener answers to besides IP literals and `localhost`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostPolicy {
    /// Lower case, without a trailing dot.
    names: Vec<String>,
}

/// Why a request's `Host` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A name that is not allowed (421 Misdirected Request).
    Name,
    /// HTTP/1.1 without a `Host` header, or one that is not text (400).
    Missing,
}

impl HostPolicy {
    /// Allow `names` (as `[web] allowed_hosts` gives them) besides IP
    /// literals and `localhost`.
    pub(crate) fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I) -> HostPolicy {
        HostPolicy {
            names: names.into_iter().map(|n| normal(n.as_ref())).collect(),
        }
    }

    /// Whether the `Host` value `host` (with or without a port) is answered.
    pub(crate) fn allows(&self, host: &str) -> bool {
        let Some(name) = name_of(host) else {
            return false;
        };
        if name.starts_with('[') {
            return name
                .strip_prefix('[')
                .and_then(|n| n.strip_suffix(']'))
                .is_some_and(|n| n.parse::<Ipv6Addr>().is_ok());
        }
        if name.parse::<Ipv4Addr>().is_ok() {
            return true;
        }
        let name = normal(name);
        name == "localhost" || self.names.contains(&name)
    }

    /// Whether `req` may be answered: its `Host` header (or, without one,
    /// the authority of an absolute request target) is allowed.
    pub(crate) fn check<B>(&self, req: &Request<B>) -> Result<(), Refusal> {
        let headers: Vec<_> = req.headers().get_all(header::HOST).iter().collect();
        let host = match headers.as_slice() {
            [] => req.uri().authority().map(|a| a.as_str().to_string()),
            [one] => Some(one.to_str().map_err(|_| Refusal::Missing)?.to_string()),
            _ => return Err(Refusal::Missing),
        };
        match host {
            Some(h) if self.allows(&h) => Ok(()),
            Some(_) => Err(Refusal::Name),
            None if req.version() <= Version::HTTP_10 => Ok(()),
            None => Err(Refusal::Missing),
        }
    }
}

/// Lower case, one trailing dot dropped (`Example.NET.` is `example.net`).
fn normal(name: &str) -> String {
    let name = name.trim();
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// The name part of a `Host` value: without its `:port` (digits only), or
/// `None` when the port is not a number.
fn name_of(host: &str) -> Option<&str> {
    let host = host.trim();
    let (name, port) = if host.starts_with('[') {
        match host.rfind(']') {
            Some(end) => (&host[..=end], host[end + 1..].strip_prefix(':')),
            None => return None,
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    match port {
        Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) => None,
        _ if name.is_empty() => None,
        _ => Some(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HostPolicy {
        HostPolicy::new(["Reports.Example.NET."])
    }

    #[test]
    fn ip_literals_and_localhost_are_answered_with_any_port() {
        let p = policy();
        for host in [
            "127.0.0.1",
            "127.0.0.1:9465",
            "10.1.2.3:80",
            "[::1]",
            "[::1]:9465",
            "localhost",
            "LOCALHOST:8080",
            "localhost.",
        ] {
            assert!(p.allows(host), "{host}");
        }
    }

    #[test]
    fn listed_names_are_answered_and_a_rebound_name_is_not() {
        let p = policy();
        assert!(p.allows("reports.example.net"));
        assert!(p.allows("REPORTS.example.net:9465"));
        for host in [
            "attacker.example",
            "attacker.example:9465",
            "reports.example.net.attacker.example",
            "127.0.0.1.nip.io:9465",
            "sub.localhost",
            "127.0.0.1:",
            "127.0.0.1:x",
            "[::1",
            "[not-an-ip]:80",
            "",
            ":80",
        ] {
            assert!(!p.allows(host), "{host}");
        }
        assert!(!HostPolicy::default().allows("reports.example.net"));
    }

    fn req(version: Version, hosts: &[&str], uri: &str) -> Request<()> {
        let mut b = Request::builder().version(version).uri(uri);
        for h in hosts {
            b = b.header(header::HOST, *h);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn the_host_header_or_the_absolute_target_decides() {
        let p = policy();
        let v11 = Version::HTTP_11;
        assert_eq!(p.check(&req(v11, &["127.0.0.1:1"], "/")), Ok(()));
        assert_eq!(
            p.check(&req(v11, &["attacker.example:1"], "/")),
            Err(Refusal::Name)
        );
        assert_eq!(
            p.check(&req(v11, &[], "http://attacker.example/x")),
            Err(Refusal::Name)
        );
        assert_eq!(
            p.check(&req(v11, &["a.example", "127.0.0.1"], "/")),
            Err(Refusal::Missing)
        );
        assert_eq!(p.check(&req(v11, &[], "/")), Err(Refusal::Missing));
        assert_eq!(p.check(&req(Version::HTTP_10, &[], "/")), Ok(()));
    }
}
