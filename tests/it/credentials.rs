//! Each credential source drives a real fetch; tokens reach `X-TC-Token`;
//! the CVM role comes from the metadata endpoint and is refreshed before it
//! expires. (The order of the chain is unit-tested in src/tencent/credentials.)

use crate::common;

use common::*;
use fake_mna::{Credential, FakeConfig};
use std::time::Duration;

const JOB: &str = "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\n";
const FETCH: [&str; 6] = [
    "fetch",
    "--all",
    "--from",
    "2026-11-01T00:00:00Z",
    "--to",
    "2026-11-01T02:00:00Z",
];

/// Fetch two hourly windows with `cmd`.
fn fetch(cmd: &mut std::process::Command) -> std::process::Output {
    cmd.args(FETCH).output().expect("run")
}

fn world(cred: Credential, extra: &str) -> World {
    World::with(
        FakeConfig {
            credentials: vec![cred],
            ..FakeConfig::default()
        },
        extra,
        JOB,
    )
}

/// A world whose only credentials are a CVM role's, lasting `ttl`.
fn cvm_world(ttl: Duration) -> World {
    let cfg = FakeConfig {
        credentials: vec![],
        cvm_role: Some("mna-reader".to_string()),
        cvm_ttl: ttl,
        ..FakeConfig::default()
    };
    let w = World::with(cfg, "", JOB);
    let meta = w.fake.metadata_endpoint();
    w.write_config(
        &format!("[credentials]\ncvm_role = true\nmetadata_endpoint = \"{meta}\"\n"),
        JOB,
    );
    w
}

/// Every call the fake received was signed with SecretId `id`.
fn all_signed_with(w: &World, id: &str) -> bool {
    w.fake
        .calls()
        .iter()
        .all(|c| c.secret_id.as_deref() == Some(id))
}

#[test]
fn config_files() {
    let w = world(Credential::new("AKIDfiles0001", "key-from-files"), "");
    write_secret(&w.dir.path().join("id"), "AKIDfiles0001\n");
    write_secret(&w.dir.path().join("key"), "key-from-files\n");
    w.write_config(
        "[credentials]\nsecret_id_file = \"id\"\nsecret_key_file = \"key\"\n",
        JOB,
    );
    let mut cmd = w.cmd_without_env_keys();
    let o = fetch(&mut cmd);
    assert_exit(&o, 0);
    assert!(all_signed_with(&w, "AKIDfiles0001"));
}

#[test]
fn key_files_every_user_may_read_are_refused_by_check_fetch_and_run() {
    use std::os::unix::fs::PermissionsExt;
    let w = world(Credential::new("AKIDfiles0001", "key-from-files"), "");
    write_secret(&w.dir.path().join("id"), "AKIDfiles0001\n");
    let key = w.dir.path().join("key");
    std::fs::write(&key, "key-from-files\n").expect("write");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    w.write_config(
        "[credentials]\nsecret_id_file = \"id\"\nsecret_key_file = \"key\"\n",
        JOB,
    );
    let fix = format!("fix: chmod 600 {}", key.display());
    for args in [vec!["check"], FETCH.to_vec(), vec!["run"]] {
        let o = w.cmd_without_env_keys().args(&args).output().expect("run");
        assert_exit(&o, 2);
        assert!(stderr(&o).contains(&fix), "{args:?}: {}", stderr(&o));
    }
    assert!(w.fake.calls().is_empty(), "no call with an exposed key");
    // Readable by the group, as the unit installs it: taken.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    assert_exit(&fetch(&mut w.cmd_without_env_keys()), 0);
}

#[test]
fn systemd_credentials_directory_with_a_token() {
    let w = world(
        Credential::new("AKIDsystemd01", "key-systemd").with_token("tok-systemd"),
        "",
    );
    let creds = w.dir.path().join("creds");
    std::fs::create_dir(&creds).expect("mkdir");
    for (f, v) in [
        ("secret_id", "AKIDsystemd01"),
        ("secret_key", "key-systemd"),
        ("token", "tok-systemd"),
    ] {
        write_secret(&creds.join(f), v);
    }
    let mut cmd = w.cmd_without_env_keys();
    cmd.env("CREDENTIALS_DIRECTORY", &creds);
    let o = fetch(&mut cmd);
    assert_exit(&o, 0);
    let calls = w.fake.calls();
    assert_eq!(calls.len(), 2);
    assert!(
        calls
            .iter()
            .all(|c| c.header("x-tc-token") == Some("tok-systemd"))
    );
}

#[test]
fn profile_file() {
    let w = world(Credential::new("AKIDprofile01", "key-profile"), "");
    let ini = w.dir.path().join("credentials.ini");
    write_secret(
        &ini,
        "[default]\nsecret_id = AKIDother\nsecret_key = nope\n\n[acct]\nsecret_id = AKIDprofile01\nsecret_key = key-profile\n",
    );
    w.write_config("[credentials]\nprofile = \"acct\"\n", JOB);
    let mut cmd = w.cmd_without_env_keys();
    cmd.env("TENCENTCLOUD_CREDENTIALS_FILE", &ini);
    let o = fetch(&mut cmd);
    assert_exit(&o, 0);
    assert!(all_signed_with(&w, "AKIDprofile01"));
}

#[test]
fn cvm_role_from_the_metadata_endpoint_cached_until_near_expiry() {
    let w = cvm_world(Duration::from_secs(3600));
    let check = w.cmd_without_env_keys().arg("check").output().expect("run");
    assert_exit(&check, 0);
    assert!(
        stdout(&check).contains("CVM instance role"),
        "{}",
        stdout(&check)
    );
    assert_eq!(w.fake.metadata_requests(), 0, "check makes no network call");
    let mut cmd = w.cmd_without_env_keys();
    let o = fetch(&mut cmd);
    assert_exit(&o, 0);
    let calls = w.fake.calls();
    assert_eq!(calls.len(), 2);
    let issued = w.fake.issued_temp_credentials();
    assert_eq!(issued.len(), 1, "fetched once, then cached");
    assert_eq!(
        w.fake.metadata_requests(),
        2,
        "the role name, then its credentials"
    );
    for c in &calls {
        assert_eq!(c.secret_id.as_deref(), Some(issued[0].secret_id.as_str()));
        assert_eq!(c.header("x-tc-token"), issued[0].token.as_deref());
    }
}

#[test]
fn cvm_role_credentials_near_expiry_are_refreshed_before_use() {
    // Credentials that expire in 200 s are inside the 300 s refresh margin:
    // every use fetches fresh ones.
    let w = cvm_world(Duration::from_secs(200));
    let mut cmd = w.cmd_without_env_keys();
    let o = fetch(&mut cmd);
    assert_exit(&o, 0);
    assert_eq!(
        w.fake.issued_temp_credentials().len(),
        2,
        "one refresh per call"
    );
    let ids: std::collections::BTreeSet<_> = w
        .fake
        .calls()
        .iter()
        .filter_map(|c| c.secret_id.clone())
        .collect();
    assert_eq!(ids.len(), 2);
}

/// A metadata service whose answer never ends: chunked filler, up to
/// `limit` bytes, to every connection.
fn endless_metadata(limit: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
                );
                let chunk = vec![b'a'; 64 * 1024];
                let mut sent = 0;
                while sent < limit {
                    let head = format!("{:x}\r\n", chunk.len());
                    if conn.write_all(head.as_bytes()).is_err()
                        || conn.write_all(&chunk).is_err()
                        || conn.write_all(b"\r\n").is_err()
                    {
                        return;
                    }
                    sent += chunk.len();
                }
            });
        }
    });
    format!("http://{addr}/latest/meta-data/")
}

#[test]
fn an_endless_metadata_answer_is_refused_with_flat_memory() {
    let meta = endless_metadata(256 << 20);
    let w = World::with(
        FakeConfig::default(),
        &format!("[credentials]\ncvm_role = true\nmetadata_endpoint = \"{meta}\"\n"),
        JOB,
    );
    let mut cmd = w.cmd_without_env_keys();
    cmd.args(FETCH);
    let m = common::rss::run_measured(&mut cmd);
    let err = stderr(&m.output);
    assert!(
        matches!(m.output.status.code(), Some(1 | 2)),
        "exit {:?}: {err}",
        m.output.status
    );
    assert!(err.contains("larger than 65536 bytes"), "{err}");
    assert!(
        m.peak_rss < 64 << 20,
        "peak RSS {:.1} MiB against an endless metadata answer",
        m.peak_mib()
    );
}
