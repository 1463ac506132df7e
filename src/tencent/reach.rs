//! Whether a host can be reached at all: a connection refused, a name that
//! does not resolve, a TLS handshake that fails (errors no retry mends), and
//! the Tencent Cloud hosts that only resolve from inside Tencent Cloud.

use std::error::Error;

/// Why a host cannot be reached, when no retry can change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unreachable {
    /// Nothing listens there (`Connection refused`).
    Refused,
    /// The host name does not resolve.
    NotResolved,
    /// The TLS handshake failed (a certificate, a plain-HTTP port, a proxy).
    Tls,
}

impl Unreachable {
    /// The code recorded in the history.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Unreachable::Refused => "ConnectionRefused",
            Unreachable::NotResolved => "NameNotResolved",
            Unreachable::Tls => "TlsError",
        }
    }

    /// What happened, for people.
    pub(crate) fn what(self) -> &'static str {
        match self {
            Unreachable::Refused => "refuses connections",
            Unreachable::NotResolved => "does not resolve",
            Unreachable::Tls => "fails the TLS handshake",
        }
    }

    /// What the operator should do when the API endpoint is unreachable.
    pub(crate) fn endpoint_fix(self) -> &'static str {
        match self {
            Unreachable::Refused => {
                "nothing listens at api.endpoint; check its host and port (the default is https://mna.tencentcloudapi.com), and any proxy or firewall in the way"
            }
            Unreachable::NotResolved => {
                "the host of api.endpoint does not resolve; check its spelling (the default is https://mna.tencentcloudapi.com) and this machine's DNS"
            }
            Unreachable::Tls => {
                "the TLS handshake with api.endpoint failed; check that it is the https:// URL of the Tencent Cloud API, that no proxy intercepts TLS, and the system clock"
            }
        }
    }
}

/// Why the request behind `e` could not reach its host, when that is
/// something no retry mends; `None` for every other failure (a reset, a
/// timeout, an unreachable network: those may pass).
pub(crate) fn unreachable(e: &reqwest::Error) -> Option<Unreachable> {
    if !e.is_connect() || e.is_timeout() {
        return None;
    }
    let mut source: Option<&(dyn Error + 'static)> = Some(e);
    let mut text = String::new();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return Some(Unreachable::Refused);
            }
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return Some(Unreachable::Tls);
            }
        }
        if s.is::<rustls::Error>() {
            return Some(Unreachable::Tls);
        }
        text.push_str(&s.to_string());
        text.push('\n');
        source = s.source();
    }
    classify_text(&text)
}

/// The same, read from the text of an error chain (the resolver's errors
/// carry no type we can look at).
fn classify_text(text: &str) -> Option<Unreachable> {
    let t = text.to_ascii_lowercase();
    if t.contains("dns error")
        || t.contains("failed to lookup address")
        || t.contains("name or service not known")
        || t.contains("no address associated")
        || t.contains("nodename nor servname")
    {
        Some(Unreachable::NotResolved)
    } else if t.contains("connection refused") {
        Some(Unreachable::Refused)
    } else if t.contains("invalid peer certificate")
        || t.contains("tls handshake")
        || t.contains("received corrupt message")
    {
        Some(Unreachable::Tls)
    } else {
        None
    }
}

/// Whether `host` is on Tencent Cloud's internal network: its object
/// storage's `cos-internal` endpoints (and the like), which resolve and
/// answer only from inside Tencent Cloud (a CVM or Lighthouse machine).
pub(crate) fn is_tencent_internal(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host.split('.').any(|label| {
        label == "cos-internal"
            || label == "cos-internal-vpc"
            || (label.starts_with("cos") && label.ends_with("-internal"))
            || label == "tencentyun-internal"
    })
}

/// What to do when a file URL on such a host cannot be reached.
pub(crate) const INTERNAL_FIX: &str = "the API gives report files on Tencent Cloud's internal network, reachable only from inside Tencent Cloud: run mna-reportd on a Tencent Cloud machine (CVM or Lighthouse) in the region of the account's MNA service (see the README, \"Where the daemon runs\")";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_hosts_are_recognised() {
        for h in [
            "mna-1250000000.cos-internal.ap-guangzhou.tencentcos.cn",
            "bucket.cos-internal.ap-guangzhou.tencentcos.invalid",
            "x.cos-internal.ap-beijing.myqcloud.com.",
            "b.COS-INTERNAL.ap-shanghai.myqcloud.com",
            "b.cos-internal-vpc.ap-shanghai.myqcloud.com",
        ] {
            assert!(is_tencent_internal(h), "{h}");
        }
        for h in [
            "mna-1250000000.cos.ap-guangzhou.myqcloud.com",
            "127.0.0.1",
            "cos-internal-notes.example.com",
            "internal.example.com",
        ] {
            assert!(!is_tencent_internal(h), "{h}");
        }
    }

    #[test]
    fn resolver_and_refusal_texts_are_read() {
        assert_eq!(
            classify_text(
                "error sending request\nclient error (Connect)\ndns error\nfailed to lookup address information: Name or service not known\n"
            ),
            Some(Unreachable::NotResolved)
        );
        assert_eq!(
            classify_text("tcp connect error\nConnection refused (os error 111)\n"),
            Some(Unreachable::Refused)
        );
        assert_eq!(
            classify_text("tcp connect error\nNetwork is unreachable (os error 101)\n"),
            None
        );
    }

    async fn error_of(url: &str) -> reqwest::Error {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("client");
        client.get(url).send().await.expect_err("fails")
    }

    #[tokio::test]
    async fn a_refused_port_is_refused() {
        // A port just freed: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let e = error_of(&format!("http://127.0.0.1:{port}/")).await;
        assert_eq!(unreachable(&e), Some(Unreachable::Refused), "{e:?}");
    }

    #[tokio::test]
    async fn a_reserved_name_does_not_resolve() {
        let e = error_of("http://bucket.cos-internal.ap-guangzhou.tencentcos.invalid/x").await;
        assert_eq!(unreachable(&e), Some(Unreachable::NotResolved), "{e:?}");
    }

    #[tokio::test]
    async fn https_to_a_plain_port_is_a_tls_failure() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                use tokio::io::AsyncWriteExt;
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let e = error_of(&format!("https://127.0.0.1:{port}/")).await;
        assert_eq!(unreachable(&e), Some(Unreachable::Tls), "{e:?}");
    }
}
