//! The README's SQL examples run: every ```sql block (and any `sqlite3 DB
//! "..."` one-liner) of README.md returns at least one row on a history the
//! real binary fetched from the fake with `config.example.toml`'s jobs (its
//! endpoint and state directory pointed at the test's). A block whose info
//! string names more than `sql` (```` ```sql devices ````) needs something
//! this fixture may lack: it runs here only when the name is in
//! [`PROVIDED`], else the test that provides it runs it.
//!
//! The same history shows the fake's reports hold one row per granularity
//! step inside their windows.

use crate::common;

use common::{World, assert_exit, stdout};
use fake_mna::Fault;

const README: &str = include_str!("../../README.md");
const EXAMPLE: &str = include_str!("../../config.example.toml");

/// What the fixture here provides beyond plain reports: one failed report.
const PROVIDED: [&str; 1] = ["failures"];

/// One SQL example: where it is, what it needs, the statement.
#[derive(Debug)]
struct Example {
    line: usize,
    needs: Vec<String>,
    sql: String,
}

/// The ```sql blocks and the `sqlite3 PATH "SQL"` one-liners of `text`.
fn examples(text: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut open: Option<Example> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(ex) = open.as_mut() {
            if trimmed == "```" {
                out.extend(open.take());
            } else {
                ex.sql.push_str(line);
                ex.sql.push('\n');
            }
            continue;
        }
        if let Some(info) = trimmed.strip_prefix("```") {
            let mut words = info.split_whitespace();
            if words.next() == Some("sql") {
                open = Some(Example {
                    line: i + 1,
                    needs: words.map(str::to_owned).collect(),
                    sql: String::new(),
                });
            }
            continue;
        }
        if let Some(at) = line.find("sqlite3 ") {
            let rest = &line[at..];
            if let (Some(a), Some(b)) = (rest.find('"'), rest.rfind('"'))
                && b > a
            {
                out.push(Example {
                    line: i + 1,
                    needs: Vec::new(),
                    sql: rest[a + 1..b].to_owned(),
                });
            }
        }
    }
    assert!(open.is_none(), "an unclosed ```sql block in README.md");
    out
}

/// config.example.toml with the fake's endpoint and a state directory here.
fn example_config(w: &World) -> String {
    let mut text = String::new();
    let mut endpoint = false;
    for line in EXAMPLE.lines() {
        if line.starts_with("endpoint = ") {
            text.push_str(&format!("endpoint = \"{}\"\n", w.fake.endpoint()));
            endpoint = true;
            continue;
        }
        text.push_str(line);
        text.push('\n');
        if line.trim() == "[storage]" {
            text.push_str("state_dir = \"state\"\n");
        }
    }
    assert!(endpoint, "config.example.toml has an endpoint line");
    text
}

/// A history of `config.example.toml`'s jobs, due now, with one failure.
fn example_history() -> World {
    let w = World::new("");
    std::fs::write(&w.config, example_config(&w)).expect("config");
    w.fake.push_fault(Fault::api_error("InvalidParameter"));
    let o = w.run(&["fetch", "--all"]);
    assert_exit(&o, 1);
    let counts = w.status_counts();
    assert!(
        counts.iter().any(|(s, n)| s == "ok" && *n > 40),
        "{counts:?}\n{}",
        stdout(&o)
    );
    assert!(
        counts.iter().any(|(s, n)| s == "failed" && *n == 1),
        "{counts:?}"
    );
    w
}

#[test]
fn every_sql_example_of_the_readme_returns_rows() {
    let found = examples(README);
    let w = example_history();
    let db = w.db();
    let mut ran = 0;
    for ex in &found {
        if !ex.needs.iter().all(|n| PROVIDED.contains(&n.as_str())) {
            eprintln!(
                "README.md:{}: needs {:?}, left to its test",
                ex.line, ex.needs
            );
            continue;
        }
        let mut st = db
            .prepare(&ex.sql)
            .unwrap_or_else(|e| panic!("README.md:{}: {e}\n{}", ex.line, ex.sql));
        let columns = st.column_count();
        let mut rows = st.query([]).expect("query");
        let first = rows
            .next()
            .unwrap_or_else(|e| panic!("README.md:{}: {e}\n{}", ex.line, ex.sql));
        let row = first.unwrap_or_else(|| {
            panic!(
                "README.md:{}: no rows on the example's history\n{}",
                ex.line, ex.sql
            )
        });
        // every column of the first row has a value
        for c in 0..columns {
            let v: rusqlite::types::Value = row.get(c).expect("value");
            assert_ne!(
                v,
                rusqlite::types::Value::Null,
                "README.md:{}: column {c} is NULL\n{}",
                ex.line,
                ex.sql
            );
        }
        ran += 1;
    }
    assert!(ran >= 6, "{ran} examples ran of {found:?}");
}

#[test]
fn examples_are_found_with_what_they_need() {
    let text = "a\n```sql\nSELECT 1;\n```\n```sql devices\nSELECT 2;\n```\n```sh\nsqlite3 db \"SELECT 3\"\n```\nsqlite3 x.db \"SELECT 'a' AS b\"\n";
    let found = examples(text);
    assert_eq!(found.len(), 4, "{found:?}");
    assert_eq!(found[0].sql, "SELECT 1;\n");
    assert!(found[0].needs.is_empty());
    assert_eq!(found[1].needs, vec!["devices".to_string()]);
    assert_eq!(found[3].sql, "SELECT 'a' AS b");
    assert_eq!(found[3].line, 11);
}

#[test]
fn the_fakes_rows_lie_inside_their_windows_one_per_step() {
    let w = example_history();
    let db = w.db();
    let mut st = db
        .prepare(
            "SELECT p.job, p.granularity, p.window_start, p.window_end,
                    count(r.row_number),
                    min(unixepoch(json_extract(r.data, '$.Time'))),
                    max(unixepoch(json_extract(r.data, '$.Time')))
             FROM reports p JOIN report_rows r ON r.report_id = p.id AND r.sheet = 'Traffic'
             WHERE p.status = 'ok'
             GROUP BY p.id",
        )
        .expect("prepare");
    let rows: Vec<(String, i64, i64, i64, i64, i64, i64)> = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    assert!(rows.len() > 40, "{}", rows.len());
    for (job, granularity, start, end, count, first, last) in rows {
        // TimeGranularity: 1 hourly, 2 daily, 3 minute, 4 5min
        let step = match granularity {
            1 => 3600,
            2 => 86_400,
            3 => 60,
            4 => 300,
            other => panic!("granularity {other}"),
        };
        let want = ((end - start) + step / 2) / step;
        assert_eq!(count, want, "{job} {start}..{end}: rows");
        assert_eq!(first, start, "{job}: the first row starts the window");
        assert!(last < end, "{job} {start}..{end}: a row at {last}");
    }
}
