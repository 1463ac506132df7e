//! Unknown tables and keys, all of a file at once, each with what was meant:
//! the closest key of that table, the table a key belongs in (`state_dir`
//! under `[api]` belongs in `[storage]`), `[[jobs]]` for `[[job]]`. Runs on
//! the parsed TOML before the serde stage, whose `deny_unknown_fields`
//! stops at the first unknown key and stays as the backstop.

use super::Problem;
use super::keys;
use crate::domain::suggest;

/// Where every table lists its keys.
const MANUAL: &str = "`man mna-reportd.toml` and config.example.toml list every key";

/// Every unknown table and key of `doc` (the parsed `text`), in file order.
pub(crate) fn problems(doc: &toml::Table, text: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    for (name, value) in doc {
        if keys::is_table(name) {
            match value {
                toml::Value::Table(t) => table_keys(name, None, t, text, &mut out),
                toml::Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let toml::Value::Table(t) = item {
                            table_keys(name, Some(i), t, text, &mut out);
                        }
                    }
                }
                // a wrong type is the serde stage's to report
                _ => {}
            }
        } else {
            out.push(top_level(name, value, text));
        }
    }
    out.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    out
}

/// A top-level name that is no table of the file.
fn top_level(name: &str, value: &toml::Value, text: &str) -> Problem {
    let is_table = matches!(value, toml::Value::Table(_) | toml::Value::Array(_));
    let line = header_line(text, name).or_else(|| key_line(text, None, name));
    let belongs = keys::tables_with(name, "");
    let (message, hint) = if name == "job" || (is_table && name.eq_ignore_ascii_case("jobs")) {
        (
            format!("unknown table [[{name}]]"),
            "job tables are [[jobs]] (plural): write [[jobs]]".to_string(),
        )
    } else if !is_table && !belongs.is_empty() {
        (
            format!("{name} is written before any table header"),
            format!("move it under {}", belongs.join(" or ")),
        )
    } else {
        let tables = keys::TABLES.iter().map(|(t, _)| *t);
        let hint = match suggest::closest(name, tables) {
            Some(t) => format!("did you mean {}? ({MANUAL})", keys::header(t)),
            None => format!(
                "remove it; the tables are [api], [credentials], [storage], [retry], [metrics], [web], [export], [defaults] and [[jobs]] ({MANUAL})"
            ),
        };
        (format!("unknown table {name:?}"), hint)
    };
    Problem {
        key: name.to_string(),
        line,
        message,
        hint: Some(hint),
    }
}

/// The unknown keys of one table (`index`: its place in an array of tables).
fn table_keys(
    table: &str,
    index: Option<usize>,
    t: &toml::Table,
    text: &str,
    out: &mut Vec<Problem>,
) {
    let path = match index {
        Some(i) => format!("{table}[{i}]"),
        None => table.to_string(),
    };
    for name in t.keys() {
        // `name` in [defaults] is the validation's to refuse, with its reason
        if keys::of(table).any(|k| k.name == name) || (table == "defaults" && name == "name") {
            continue;
        }
        let elsewhere = keys::tables_with(name, table);
        let hint = if !elsewhere.is_empty() {
            format!(
                "{name} is a key of {}, not of {}: move it there",
                elsewhere.join(" or "),
                keys::header(table)
            )
        } else {
            match suggest::closest(name, keys::of(table).map(|k| k.name)) {
                Some(k) => format!("did you mean {k:?}? ({MANUAL})"),
                None => format!("remove it or correct its spelling ({MANUAL})"),
            }
        };
        out.push(Problem {
            key: format!("{path}.{name}"),
            line: key_line(text, Some((table, index)), name),
            message: format!("unknown key {name:?} in {}", keys::header(table)),
            hint: Some(hint),
        });
    }
}

/// The header line of table `name` (`[name]`, `[[name]]`, `[name.x]`).
fn header_line(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches('[').trim_start();
            l.trim_start().starts_with('[')
                && t.strip_prefix(name)
                    .is_some_and(|rest| rest.trim_start().starts_with([']', '.']))
        })
        .map(|i| i + 1)
}

/// The line where `key` is written inside `table` (the `index`th of an
/// array of tables), or before any header when `table` is `None`.
fn key_line(text: &str, table: Option<(&str, Option<usize>)>, key: &str) -> Option<usize> {
    let mut current: Option<(String, Option<usize>)> = None;
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = counts.entry(name.clone()).or_insert(0);
            current = Some((name, Some(*n)));
            *n += 1;
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            current = Some((name.trim().to_string(), None));
            continue;
        }
        let here = match (&current, table) {
            (None, None) => true,
            (Some((c, ci)), Some((want, wi))) => c == want && *ci == wi,
            _ => false,
        };
        let written = t.trim_start_matches(['"', '\'']);
        if here
            && written.strip_prefix(key).is_some_and(|rest| {
                rest.trim_start_matches(['"', '\''])
                    .trim_start()
                    .starts_with(['=', '.'])
            })
        {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, Option<usize>, String)> {
        let doc: toml::Table = toml::from_str(text).expect("toml");
        problems(&doc, text)
            .into_iter()
            .map(|p| (p.key, p.line, p.hint.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn four_typos_are_reported_at_once_each_with_what_was_meant() {
        let text = "[api]\nrate_limt = 3\ntimout = \"5s\"\n\n[storage]\nretension = \"400d\"\n\n\
                    [[jobs]]\nname = \"a\"\ngranularity = \"hourly\"\ntimezon = \"UTC\"\n";
        let p = found(text);
        let keys: Vec<(&str, Option<usize>)> = p.iter().map(|(k, l, _)| (k.as_str(), *l)).collect();
        assert_eq!(
            keys,
            vec![
                ("api.rate_limt", Some(2)),
                ("api.timout", Some(3)),
                ("storage.retension", Some(6)),
                ("jobs[0].timezon", Some(11)),
            ]
        );
        assert!(p[0].2.starts_with("did you mean \"rate_limit\"?"), "{p:?}");
        assert!(p[1].2.starts_with("did you mean \"timeout\"?"), "{p:?}");
        assert!(p[2].2.starts_with("did you mean \"retention\"?"), "{p:?}");
        assert!(p[3].2.starts_with("did you mean \"timezone\"?"), "{p:?}");
    }

    #[test]
    fn a_key_under_the_wrong_table_names_its_table() {
        let p = found("[api]\nstate_dir = \"/srv\"\n");
        assert_eq!(p[0].0, "api.state_dir");
        assert_eq!(p[0].1, Some(2));
        assert!(
            p[0].2
                .contains("state_dir is a key of [storage], not of [api]"),
            "{p:?}"
        );
        let p = found("state_dir = \"/srv\"\n[api]\n");
        assert!(p[0].2.contains("move it under [storage]"), "{p:?}");
    }

    #[test]
    fn job_singular_says_to_write_jobs() {
        let p = found("[[job]]\nname = \"a\"\ngranularity = \"hourly\"\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "job");
        assert_eq!(p[0].1, Some(1));
        assert!(p[0].2.contains("write [[jobs]]"), "{p:?}");
        let p = found("[storge]\nstate_dir = \"x\"\n");
        assert!(p[0].2.starts_with("did you mean [storage]?"), "{p:?}");
    }

    #[test]
    fn the_second_job_and_defaults_are_told_apart() {
        let text = "[defaults]\nname = \"x\"\nlagg = \"5m\"\n[[jobs]]\nname = \"a\"\n[[jobs]]\nname = \"b\"\nlagg = \"1m\"\n";
        let p = found(text);
        let keys: Vec<(&str, Option<usize>)> = p.iter().map(|(k, l, _)| (k.as_str(), *l)).collect();
        assert_eq!(
            keys,
            vec![("defaults.lagg", Some(3)), ("jobs[1].lagg", Some(8))]
        );
    }

    #[test]
    fn a_valid_file_has_no_unknown_key() {
        let text = include_str!("../../config.example.toml");
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| toml::from_str::<toml::Table>(r).is_ok_and(|t| t.len() == 1))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(found(&uncommented), Vec::new());
    }
}
