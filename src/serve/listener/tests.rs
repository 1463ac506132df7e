use super::*;
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEADLINE: Duration = Duration::from_secs(60);

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "secret history\n" }))
        .route(
            "/echo",
            post(|body: axum::body::Bytes| async move { format!("{}\n", body.len()) }),
        )
}

async fn started(
    hosts: HostPolicy,
) -> (
    std::net::SocketAddr,
    Shutdown,
    tokio::task::JoinHandle<usize>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = Shutdown::default();
    let served = tokio::spawn(serve(listener, app(), hosts, shutdown.clone()));
    (addr, shutdown, served)
}

/// Send `raw` and read the answer until the server closes. A refusal past
/// the cap closes at once, so the request may be met by a reset after the
/// answer: what arrived before counts.
async fn exchange(addr: std::net::SocketAddr, raw: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(raw.as_bytes()).await;
    let mut out = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = s.read(&mut chunk).await {
            out.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("answered in time");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_rebinding_host_gets_421_and_no_data_and_an_allowed_name_200() {
    let (addr, shutdown, _served) = started(HostPolicy::new(["reports.example.net"])).await;
    let port = addr.port();
    let attack = exchange(
        addr,
        &format!("GET / HTTP/1.1\r\nHost: attacker.example:{port}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(attack.starts_with("HTTP/1.1 421"), "{attack}");
    assert!(!attack.contains("secret history"), "{attack}");
    assert!(attack.contains("allowed_hosts"), "{attack}");
    for host in [
        format!("reports.example.net:{port}"),
        format!("localhost:{port}"),
        addr.to_string(),
    ] {
        let ok = exchange(
            addr,
            &format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{host}: {ok}");
        assert!(ok.contains("secret history"), "{ok}");
    }
    let old = exchange(addr, "GET / HTTP/1.0\r\n\r\n").await;
    assert!(
        old.starts_with("HTTP/1.0 200") || old.starts_with("HTTP/1.1 200"),
        "{old}"
    );
    let no_host = exchange(addr, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert!(no_host.starts_with("HTTP/1.1 400"), "{no_host}");
    shutdown.stop.cancel();
}

#[tokio::test]
async fn a_body_past_the_limit_is_refused() {
    let (addr, shutdown, _served) = started(HostPolicy::default()).await;
    let small = exchange(
        addr,
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    )
    .await;
    assert!(small.ends_with("\r\n\r\n3\n"), "{small}");
    let declared = exchange(
        addr,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            MAX_BODY + 1
        ),
    )
    .await;
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
    // A chunked body that grows past the limit is cut by the body itself.
    let chunk = "x".repeat(MAX_BODY + 1);
    let chunked = exchange(
        addr,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        ),
    )
    .await;
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    shutdown.stop.cancel();
}

#[tokio::test]
async fn past_the_cap_a_connection_gets_503_at_once_and_is_closed() {
    let (addr, shutdown, _served) = started(HostPolicy::default()).await;
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // The listener has taken them all once one more is refused: poll
    // until the 503 comes (the accepts may trail the connects).
    let busy = tokio::time::timeout(DEADLINE, async {
        loop {
            let answer = exchange(
                addr,
                "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            .await;
            if answer.starts_with("HTTP/1.1 503") {
                return answer;
            }
        }
    })
    .await
    .expect("a 503 past the cap");
    assert!(busy.contains("too many connections"), "{busy}");
    drop(held);
    let ok = tokio::time::timeout(DEADLINE, async {
        loop {
            let answer = exchange(
                addr,
                "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            .await;
            if answer.starts_with("HTTP/1.1 200") {
                return answer;
            }
        }
    })
    .await
    .expect("served again once the idle ones are gone");
    assert!(ok.contains("secret history"));
    shutdown.stop.cancel();
}

#[tokio::test]
async fn the_abort_drops_a_half_sent_request_that_the_stop_waits_for() {
    let (addr, shutdown, served) = started(HostPolicy::default()).await;
    let mut half = TcpStream::connect(addr).await.expect("connect");
    // The head is whole, the body half-sent: the request is in flight.
    half.write_all(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .expect("write");
    // Proof the connection is being served: a full request on another one.
    let ok = exchange(
        addr,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    shutdown.stop.cancel();
    tokio::task::yield_now().await;
    assert!(
        !served.is_finished(),
        "the stop waits for the half-sent request"
    );
    shutdown.abort.cancel();
    let dropped = tokio::time::timeout(DEADLINE, served)
        .await
        .expect("the abort ends serving")
        .expect("join");
    assert_eq!(dropped, 1);
    let mut rest = Vec::new();
    let _ = half.read_to_end(&mut rest).await;
}

#[test]
fn the_busy_answer_declares_its_length() {
    let text = std::str::from_utf8(BUSY).expect("utf8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
}

fn open_files_limit() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

#[test]
fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
    let before = open_files_limit();
    assert!(before.rlim_max > 64, "a hard limit of {}", before.rlim_max);
    // Start from a low soft limit, as systemd and most shells give.
    let low = libc::rlimit {
        rlim_cur: 64,
        rlim_max: before.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we own; lowering is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    raise_open_files_limit();
    let after = open_files_limit();
    assert_eq!(after.rlim_cur, before.rlim_max);
    assert_eq!(after.rlim_max, before.rlim_max);
}
