//! The remote archive (`[storage.remote]`) against a real S3 server
//! (moto, which checks signatures once keys are required): every report
//! uploaded once with its identity and checksum; a bucket that is down for
//! part of a run loses nothing and makes nothing be fetched twice; wrong
//! keys named once with the fix; `kill -9` during uploads, five seeds; a
//! 256 MiB report in bounded memory.

use crate::common::daemon::*;
use crate::common::proxy::{Mode, Relay};
use crate::common::rss::run_measured;
use crate::common::s3::{self, S3Server};
use crate::common::*;
use fake_mna::FakeConfig;
use sha2::Digest;
use std::collections::BTreeMap;
use std::time::Duration;

const BUCKET: &str = "mna-reports";

/// Two jobs: all devices in one report, and two devices a report each.
const JOBS: &str = r#"
[[jobs]]
name = "hourly-all"
granularity = "hourly"
timezone = "UTC"

[[jobs]]
name = "two-devices"
granularity = "hourly"
timezone = "Asia/Shanghai"
devices = ["mna-7", "mna-8"]
per_device = true
"#;

/// A world whose `[storage.remote]` is `prefix` of [`BUCKET`] at
/// `endpoint` with `keys`, `remote_extra` more keys of that table, and
/// `extra` tables.
fn world(
    endpoint: &str,
    prefix: &str,
    keys: (&str, &str),
    remote_extra: &str,
    fake: FakeConfig,
    extra: &str,
    jobs: &str,
) -> World {
    let w = World::with(fake, "", jobs);
    let storage = format!(
        "[storage.remote]\nurl = \"s3://{BUCKET}/{prefix}\"\nendpoint = \"{endpoint}\"\n\
         access_key_id_file = \"s3_id\"\nsecret_access_key_file = \"s3_secret\"\n{remote_extra}"
    );
    let settings = Settings {
        storage: &storage,
        ..Settings::default()
    };
    w.write_config_with(&settings, extra, jobs);
    write_secret(&w.dir.path().join("s3_id"), keys.0);
    write_secret(&w.dir.path().join("s3_secret"), keys.1);
    w
}

const MOTO_KEYS: (&str, &str) = (s3::ACCESS_KEY_ID, s3::SECRET_ACCESS_KEY);

/// One `ok` report as the history has it.
#[derive(Debug)]
struct Row {
    job: String,
    target: String,
    region: String,
    start: i64,
    end: i64,
    file_path: Option<String>,
    sha256: String,
    request_id: String,
    remote_key: Option<String>,
    uploaded_at: Option<i64>,
}

fn ok_reports(w: &World) -> Vec<Row> {
    let db = w.db();
    let mut st = db
        .prepare(
            "SELECT job, target, region, window_start, window_end, file_path, sha256, request_id,
                    remote_key, uploaded_at FROM reports WHERE status = 'ok' ORDER BY id",
        )
        .expect("prepare");
    st.query_map([], |r| {
        Ok(Row {
            job: r.get(0)?,
            target: r.get(1)?,
            region: r.get(2)?,
            start: r.get(3)?,
            end: r.get(4)?,
            file_path: r.get(5)?,
            sha256: r.get(6)?,
            request_id: r.get(7)?,
            remote_key: r.get(8)?,
            uploaded_at: r.get(9)?,
        })
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t).expect("time").to_string()
}

/// Every `ok` report of `w` is in the bucket under its key, once, whole,
/// with its identity as metadata; nothing else is below `prefix`.
fn assert_uploaded_once(w: &World, s3: &S3Server, prefix: &str) {
    let rows = ok_reports(w);
    assert!(!rows.is_empty(), "no report fetched");
    let reports_dir = format!("{}/", path_str(&w.state().join("reports")));
    let writes = s3.writes(BUCKET);
    let mut keys = Vec::new();
    for r in &rows {
        let key = r
            .remote_key
            .clone()
            .unwrap_or_else(|| panic!("not uploaded: {r:?}"));
        assert!(r.uploaded_at.is_some(), "{r:?}");
        if let Some(local) = &r.file_path {
            let rel = local.strip_prefix(&reports_dir).expect("below reports/");
            assert_eq!(
                key,
                format!("{prefix}/{rel}"),
                "the key is the path on disk"
            );
        }
        assert_eq!(writes.get(&key), Some(&1), "{key} written once: {writes:?}");
        let (meta, size) = s3.head(BUCKET, &key);
        let meta: BTreeMap<_, _> = meta.into_iter().collect();
        let want = [
            ("job", r.job.clone()),
            ("target", r.target.clone()),
            ("window-start", rfc3339(r.start)),
            ("window-end", rfc3339(r.end)),
            ("sha256", r.sha256.clone()),
            ("request-id", r.request_id.clone()),
        ];
        for (k, v) in want {
            assert_eq!(meta.get(k), Some(&v), "{key}: metadata {k}: {meta:?}");
        }
        assert_eq!(
            meta.get("region").map(String::as_str).unwrap_or(""),
            r.region
        );
        let body = s3.get(BUCKET, &key);
        assert_eq!(body.len() as u64, size);
        assert_eq!(hex::encode(sha2::Sha256::digest(&body)), r.sha256, "{key}");
        keys.push(key);
    }
    keys.sort();
    assert_eq!(
        s3.keys(BUCKET, &format!("{prefix}/")),
        keys,
        "nothing else below the prefix"
    );
    assert_eq!(s3.open_uploads(BUCKET), 0, "no multipart upload left open");
}

fn api_calls(w: &World) -> usize {
    w.fake.calls_of("GetStatisticData").len()
}

#[test]
fn every_report_goes_to_the_bucket_once_with_its_identity_and_checksum() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let w = world(
        &s3.endpoint,
        "acct-a",
        MOTO_KEYS,
        "",
        FakeConfig::default(),
        "",
        JOBS,
    );
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
        &[],
    );
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("uploaded 24 reports"), "{}", stderr(&o));
    assert_exit(
        &w.fetch(
            "two-devices",
            "2026-11-01T00:00:00Z",
            "2026-11-01T12:00:00Z",
            &[],
        ),
        0,
    );
    assert_eq!(ok_reports(&w).len(), 48);
    assert_uploaded_once(&w, &s3, "acct-a");
    // Nothing new: nothing sent again; a forced refetch of the same bytes
    // finds its object complete and does not send it either.
    let before = s3.writes(BUCKET);
    assert_exit(
        &w.fetch(
            "hourly-all",
            "2026-11-01T00:00:00Z",
            "2026-11-02T00:00:00Z",
            &[],
        ),
        0,
    );
    assert_eq!(s3.writes(BUCKET), before);
    // The local files are still there (no keep_local).
    assert!(ok_reports(&w).iter().all(|r| r.file_path.is_some()));
}

#[test]
fn a_bucket_down_for_the_first_half_of_a_run_loses_nothing_and_fetches_nothing_twice() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let relay = Relay::start(s3.endpoint.trim_start_matches("http://"));
    relay.set(Mode::Unavailable);
    let fake = FakeConfig {
        answer_delay: fake_mna::Delay::fixed(Duration::from_millis(100)),
        ..FakeConfig::default()
    };
    let jobs = "[[jobs]]\nname = \"hourly-all\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"24h\"\n";
    let w = world(
        &relay.endpoint,
        "acct-b",
        MOTO_KEYS,
        "",
        fake,
        METRICS_PORT_0,
        jobs,
    );
    let settings = Settings {
        concurrency: Some(1),
        storage: &format!(
            "[storage.remote]\nurl = \"s3://{BUCKET}/acct-b\"\nendpoint = \"{}\"\n\
             access_key_id_file = \"s3_id\"\nsecret_access_key_file = \"s3_secret\"\n",
            relay.endpoint
        ),
        ..Settings::default()
    };
    w.write_config_with(&settings, METRICS_PORT_0, jobs);
    let d = w.start_daemon(&[]);
    let addr = d.metrics_addr();
    // Half the run with the bucket answering 503 to everything.
    wait_for("half the reports", Duration::from_secs(60), || {
        count_status(&w, "ok") >= 12
    });
    wait_for(
        "/healthz to say the bucket fails",
        Duration::from_secs(60),
        || {
            let (status, body) = http_get(addr, "/healthz");
            status == 503 && body.contains("uploads:") && body.contains("reports wait")
        },
    );
    let (_, body) = http_get(addr, "/healthz");
    assert!(body.contains("unreachable or failing"), "{body}");
    relay.set(Mode::Up);
    wait_for("every report fetched", Duration::from_secs(120), || {
        count_status(&w, "ok") >= 24
    });
    wait_for("the outbox to drain", Duration::from_secs(120), || {
        ok_reports(&w).iter().all(|r| r.uploaded_at.is_some())
    });
    wait_for("/healthz ok again", Duration::from_secs(60), || {
        http_get(addr, "/healthz").0 == 200
    });
    let (_, metrics) = http_get(addr, "/metrics");
    assert!(
        metrics.contains("mna_reportd_upload_backlog 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mna_reportd_uploads_total{outcome=\"sent\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mna_reportd_upload_bytes_total"),
        "{metrics}"
    );
    d.stop();
    let rows = ok_reports(&w);
    assert!(rows.len() >= 24);
    assert_eq!(api_calls(&w), rows.len(), "no window fetched twice");
    assert_uploaded_once(&w, &s3, "acct-b");
    let log = std::fs::read_to_string(d_log(&w)).unwrap_or_default();
    assert_eq!(
        log.matches("the bucket fails").count(),
        1,
        "the failure is said once, not per report or per try: {log}"
    );
    assert!(log.contains("uploads resumed"), "{log}");
}

/// The log of the first daemon of `w`.
fn d_log(w: &World) -> std::path::PathBuf {
    std::fs::read_dir(w.dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("daemon-"))
        })
        .expect("a daemon log")
}

#[test]
fn wrong_keys_are_named_once_with_the_fix_and_nothing_is_lost() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let (id, secret) = s3.require_keys();
    let w = world(
        &s3.endpoint,
        "acct-c",
        ("AKIDNOSUCHKEY", "not-the-secret"),
        "",
        FakeConfig::default(),
        "",
        JOBS,
    );
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T06:00:00Z",
        &[],
    );
    // The reports are done locally: the fetch succeeded; the upload waits.
    assert_exit(&o, 0);
    let err = stderr(&o);
    assert_eq!(err.matches("refuses the key").count(), 1, "{err}");
    assert!(err.contains("6 reports wait"), "{err}");
    assert!(
        err.contains("fix: check the bucket's access key id and secret"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-secret") && !err.contains(&secret),
        "no secret shown: {err}"
    );
    assert!(ok_reports(&w).iter().all(|r| r.uploaded_at.is_none()));
    // The right key: the next fetch (nothing to fetch) uploads them. (moto
    // checks signatures wrongly for keys holding a `+`, as report keys do,
    // boto3's included: the server stops checking them for this half.)
    write_secret(&w.dir.path().join("s3_id"), &id);
    write_secret(&w.dir.path().join("s3_secret"), &secret);
    s3.stop_checking_keys();
    let o = w.fetch(
        "hourly-all",
        "2026-11-01T00:00:00Z",
        "2026-11-01T06:00:00Z",
        &[],
    );
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("uploaded 6 reports"), "{}", stderr(&o));
    assert_eq!(api_calls(&w), 6, "nothing fetched twice");
    assert_uploaded_once(&w, &s3, "acct-c");
}

/// Kill the daemon (`kill -9`) once the bucket has seen a number of
/// requests the seed picks, during the uploads of reports of 12 MiB (two
/// parts each) with `keep_local = "0s"`; check what a kill may leave; then
/// a `fetch` finishes the uploads: each report is in the bucket once,
/// no multipart upload is left, and no local copy went before its object
/// was whole.
fn kill_during_uploads(s3: &S3Server, seed: u64) {
    let prefix = format!("kill-{seed}");
    let fake = FakeConfig {
        file_bytes: Some(12 << 20),
        ..FakeConfig::default()
    };
    let jobs = "[[jobs]]\nname = \"hourly-all\"\ngranularity = \"hourly\"\nlag = \"0s\"\ncatch_up = \"6h\"\n";
    let w = world(
        &s3.endpoint,
        &prefix,
        MOTO_KEYS,
        "keep_local = \"0s\"\n",
        fake,
        "",
        jobs,
    );
    let mut rng = fastrand::Rng::with_seed(seed);
    // About six requests a report (HEAD, create, two parts, complete, HEAD).
    let at = rng.usize(1..36);
    let seen = || {
        s3.requests()
            .iter()
            .filter(|(_, p, _)| p.starts_with(&format!("/{BUCKET}/{prefix}/")))
            .count()
    };
    let mut d = w.start_daemon(&[]);
    let _guard = KillOnDrop(d.pid());
    let reached = poll_until(Duration::from_secs(120), || seen() >= at);
    d.signal(libc::SIGKILL);
    let _ = d.wait_exit(Duration::from_secs(30));
    // What the kill left: a report without its local copy is whole in the bucket.
    for r in ok_reports(&w) {
        if r.file_path.is_none() {
            let key = r
                .remote_key
                .as_deref()
                .expect("a report without its file was uploaded");
            let body = s3.get(BUCKET, key);
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&body)),
                r.sha256,
                "seed {seed}: {key}"
            );
        } else {
            let p = std::path::PathBuf::from(r.file_path.as_deref().unwrap_or_default());
            assert!(
                p.is_file(),
                "seed {seed}: {} is recorded and gone",
                p.display()
            );
        }
    }
    // The next start finishes the work.
    let o = w.run(&["fetch", "--all"]);
    assert_exit(&o, 0);
    let rows = ok_reports(&w);
    assert!(rows.len() >= 6, "seed {seed}: {}", stderr(&o));
    assert!(
        rows.iter().all(|r| r.file_path.is_none()),
        "seed {seed}: keep_local 0s"
    );
    let reports: Vec<_> = w
        .files()
        .into_iter()
        .filter(|f| f.starts_with(w.state().join("reports")))
        .collect();
    assert!(
        reports.is_empty(),
        "seed {seed}: local copies gone: {reports:?}"
    );
    let writes = s3.writes(BUCKET);
    for r in &rows {
        let key = r.remote_key.as_deref().expect("uploaded");
        assert_eq!(
            writes.get(key),
            Some(&1),
            "seed {seed} (kill after {at} requests, reached {reached}): {key}"
        );
        let body = s3.get(BUCKET, key);
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&body)),
            r.sha256,
            "seed {seed}: {key}"
        );
    }
    assert_eq!(
        s3.keys(BUCKET, &format!("{prefix}/")).len(),
        rows.len(),
        "seed {seed}"
    );
    assert_eq!(
        s3.open_uploads(BUCKET),
        0,
        "seed {seed}: a multipart upload left open"
    );
}

#[test]
fn kill_9_during_uploads_leaves_every_report_uploaded_once_after_a_restart() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    for seed in [3, 17, 29, 41, 58] {
        kill_during_uploads(&s3, seed);
    }
}

#[test]
fn a_256_mib_report_uploads_in_under_64_mib_of_memory() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let fake = FakeConfig {
        file_bytes: Some(256 << 20),
        ..FakeConfig::default()
    };
    let w = world(&s3.endpoint, "big", MOTO_KEYS, "", fake, "", HOURLY);
    let m = run_measured(w.cmd().args(FETCH_ONE_HOUR));
    assert_exit(&m.output, 0);
    assert!(
        m.peak_mib() < 64.0,
        "peak RSS {:.1} MiB for a 256 MiB report fetched and uploaded",
        m.peak_mib()
    );
    let rows = ok_reports(&w);
    assert_eq!(rows.len(), 1);
    let key = rows[0].remote_key.as_deref().expect("uploaded");
    let (_, size) = s3.head(BUCKET, key);
    assert!(size > 255 << 20, "{size}");
    assert_eq!(s3.writes(BUCKET).get(key), Some(&1));
    assert_eq!(s3.open_uploads(BUCKET), 0);
}

#[test]
fn a_bucket_that_does_not_exist_is_named_with_the_fix() {
    let s3 = S3Server::start();
    let w = world(
        &s3.endpoint,
        "p",
        MOTO_KEYS,
        "",
        FakeConfig::default(),
        "",
        HOURLY,
    );
    let o = w.run(&FETCH_ONE_HOUR);
    assert_exit(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains("1 reports wait") && err.contains("does not exist"),
        "{err}"
    );
    assert!(err.contains("fix: create it"), "{err}");
}
