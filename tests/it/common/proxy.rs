//! A TCP relay in front of a real server, which a test can switch off: the
//! bucket "goes down" (connections are reset at once, or answered 503 as
//! S3 does when it is overloaded) and comes back, while the server behind
//! keeps its objects. Listens on a loopback port the system picks.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// What the relay does with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Relay it to the server.
    Up = 0,
    /// Close it at once (a reset, as a host that is down).
    Reset = 1,
    /// Answer every request `503 SlowDown`.
    Unavailable = 2,
}

pub struct Relay {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    mode: Arc<AtomicU8>,
}

impl Relay {
    /// A relay to `target` (`host:port`), up.
    pub fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let mode = Arc::new(AtomicU8::new(Mode::Up as u8));
        let (m, target) = (mode.clone(), target.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                match m.load(Ordering::SeqCst) {
                    0 => relay(conn, &target),
                    1 => drop(conn),
                    _ => {
                        std::thread::spawn(move || unavailable(conn));
                    }
                }
            }
        });
        Relay { endpoint, mode }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

fn relay(client: TcpStream, target: &str) {
    let Ok(server) = TcpStream::connect(target) else {
        return;
    };
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || pipe(client, server));
    std::thread::spawn(move || pipe(s2, c2));
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Read the request head, answer 503, close.
fn unavailable(mut conn: TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 << 10 {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
    let _ = write!(
        conn,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.shutdown(Shutdown::Both);
}
