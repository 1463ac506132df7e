//! The secret key and the token never appear in any output, at any
//! verbosity, in any database row or file.

use crate::common;

use common::*;
use fake_mna::{Credential, FakeConfig, Fault};

const KEY: &str = "SeCrEtKeY-do-not-leak-7f3a9b";
const TOKEN: &str = "ToKeN-do-not-leak-19c2e4";
const ID: &str = "AKIDleaktest00001";

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_appear_in_no_output_row_or_file() {
    let cfg = FakeConfig {
        credentials: vec![Credential::new(ID, KEY).with_token(TOKEN)],
        ..FakeConfig::default()
    };
    let w = World::with(
        cfg,
        "",
        "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\n",
    );
    // faults exercise every error path that logs
    w.fake.push_fault(Fault::api_error("InternalError"));
    w.fake.push_fault(Fault::Reset);
    w.fake.push_fault(Fault::DownloadTruncated);
    w.fake.push_fault(Fault::ExpireUrl);
    w.fake.push_fault(Fault::DownloadNotXlsx);
    let mut outputs = Vec::new();
    let runs: Vec<Vec<&str>> = vec![
        vec!["-vv", "check"],
        vec![
            "-vv",
            "fetch",
            "--all",
            "--from",
            "2026-11-01T00:00:00Z",
            "--to",
            "2026-11-01T03:00:00Z",
            "--dry-run",
        ],
        vec![
            "-vv",
            "fetch",
            "--all",
            "--from",
            "2026-11-01T00:00:00Z",
            "--to",
            "2026-11-01T03:00:00Z",
        ],
        vec![
            "-vv",
            "--log-format",
            "json",
            "fetch",
            "--all",
            "--from",
            "2026-11-01T03:00:00Z",
            "--to",
            "2026-11-01T04:00:00Z",
        ],
        vec!["-v", "history", "--format", "json"],
        vec!["history", "--format", "csv"],
        vec!["history"],
    ];
    for args in runs {
        let o = w
            .cmd()
            .env("TENCENTCLOUD_SECRET_ID", ID)
            .env("TENCENTCLOUD_SECRET_KEY", KEY)
            .env("TENCENTCLOUD_TOKEN", TOKEN)
            .env("RUST_BACKTRACE", "1")
            .args(&args)
            .output()
            .expect("run");
        assert_exit(&o, 0);
        outputs.push((args.join(" "), o));
    }
    // a failing run too: wrong key, its errors printed
    let bad = w
        .cmd()
        .env("TENCENTCLOUD_SECRET_ID", ID)
        .env("TENCENTCLOUD_SECRET_KEY", KEY.to_string() + "x")
        .env("TENCENTCLOUD_TOKEN", TOKEN)
        .args([
            "-vv",
            "fetch",
            "--all",
            "--from",
            "2026-11-01T05:00:00Z",
            "--to",
            "2026-11-01T06:00:00Z",
        ])
        .output()
        .expect("run");
    assert_exit(&bad, 1);
    outputs.push(("wrong key".into(), bad));

    assert_eq!(w.status_counts().iter().map(|(_, n)| n).sum::<i64>(), 5);
    let mut saw_trace = false;
    for (what, o) in &outputs {
        for secret in [KEY, TOKEN] {
            assert!(!contains(&o.stdout, secret), "{what}: secret in stdout");
            assert!(!contains(&o.stderr, secret), "{what}: secret in stderr");
        }
        // the full SecretId is not printed either, only a redacted form
        assert!(!contains(&o.stdout, ID), "{what}: full SecretId in stdout");
        saw_trace |= !o.stderr.is_empty();
    }
    assert!(saw_trace, "the verbose runs logged something");
    for f in w.files() {
        let data = std::fs::read(&f).expect("read");
        for secret in [KEY, TOKEN] {
            assert!(!contains(&data, secret), "secret in {}", f.display());
        }
    }
    // and in no row of any table (the WAL may hold pages not yet checkpointed: read through SQLite)
    let db = w.db();
    for table in ["reports", "attempts", "report_rows", "claims"] {
        let mut st = db
            .prepare(&format!("SELECT * FROM {table}"))
            .expect("select");
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                let mut s = String::new();
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    s.push_str(&format!("{v:?}|"));
                }
                Ok(s)
            })
            .expect("rows");
        for row in rows {
            let row = row.expect("row");
            assert!(
                !row.contains(KEY) && !row.contains(TOKEN),
                "secret in {table}: {row}"
            );
        }
    }
}
