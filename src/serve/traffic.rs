//! Traffic from `report_rows`: the numeric columns of a job's sheets
//! (found by looking at the rows of its latest reports, since the API does
//! not document them), each summed per window over a range, in total and
//! per device (the rows' own device column, else the report's target; the
//! top [`TOP`] by total, the rest summed as "other").
//! Done reports count (`ok` and `pruned`: pruning keeps the rows).
//! A cell of a numeric column that is not a number (`"n/a"`, `"-"`) is
//! left out of the sums and counted in the chart's `skipped`: it never
//! takes the column, or the chart, away.

use crate::archive::store::{Reader, StoreError};
use crate::config::Job;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// How many targets get a series of their own.
pub(crate) const TOP: usize = 10;

/// A numeric column of a sheet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct Column {
    pub(crate) sheet: String,
    pub(crate) column: String,
}

/// The columns of `samples` (sheet, JSON object) that hold more numbers
/// than other non-null values, with at least one number, by sheet then
/// name. A few text cells among numbers keep the column numeric (they are
/// skipped when summing). Pure.
pub(crate) fn numeric_columns(samples: &[(String, String)]) -> Vec<Column> {
    // (sheet, column) -> (order seen, numbers seen, other values seen)
    let mut seen: HashMap<(String, String), (usize, usize, usize)> = HashMap::new();
    for (sheet, data) in samples {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(data) else {
            continue;
        };
        for (k, v) in map {
            let n = seen.len();
            let e = seen.entry((sheet.clone(), k)).or_insert((n, 0, 0));
            match v {
                serde_json::Value::Number(_) => e.1 += 1,
                serde_json::Value::Null => {}
                _ => e.2 += 1,
            }
        }
    }
    let mut cols: Vec<((String, String), usize)> = seen
        .into_iter()
        // A JSON path cannot name a key holding a quote or backslash safely.
        .filter(|((_, k), (_, numbers, others))| {
            *numbers > 0 && numbers > others && !k.contains(['"', '\\'])
        })
        .map(|(key, (order, _, _))| (key, order))
        .collect();
    cols.sort_by(|a, b| a.0.0.cmp(&b.0.0).then(a.1.cmp(&b.1)));
    cols.into_iter()
        .map(|((sheet, column), _)| Column { sheet, column })
        .collect()
}

/// The column of `sheet` in `samples` that names the device of a row: a
/// key called `DeviceId`, `device_id` or `Device` (any case) whose values
/// are text. Pure.
pub(crate) fn device_column(samples: &[(String, String)], sheet: &str) -> Option<String> {
    let mut found: Option<String> = None;
    for (_, data) in samples.iter().filter(|(s, _)| s == sheet) {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(data) else {
            continue;
        };
        for (k, v) in &map {
            let key = k.to_ascii_lowercase().replace('_', "");
            if (key == "deviceid" || key == "device") && !k.contains(['"', '\\']) {
                match v {
                    serde_json::Value::String(_) | serde_json::Value::Null => {
                        found.get_or_insert_with(|| k.clone());
                    }
                    _ => return None,
                }
            }
        }
    }
    found
}

/// One target's values, one per window (`null`: no done report).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Series {
    pub(crate) target: String,
    /// The device's name in the device inventory, where it has one.
    pub(crate) name: Option<String>,
    pub(crate) total: f64,
    pub(crate) values: Vec<Option<f64>>,
}

/// One column's chart.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Chart {
    pub(crate) sheet: String,
    pub(crate) column: String,
    /// Summed over every target, one per window.
    pub(crate) total: Vec<Option<f64>>,
    /// The top targets by total, largest first.
    pub(crate) top: Vec<Series>,
    /// Every other target, summed; `None` when there are none.
    pub(crate) other: Option<Series>,
    /// Cells of the column in the range that are not numbers (left out).
    pub(crate) skipped: i64,
}

/// The traffic of `job` inside `[from, to)`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Traffic {
    /// Window starts, one per point.
    pub(crate) windows: Vec<i64>,
    pub(crate) charts: Vec<Chart>,
}

/// Sum each numeric column of `job` per window and target inside `[from, to)`.
pub(crate) fn traffic(
    conn: &Reader,
    job: &Job,
    from: Timestamp,
    to: Timestamp,
) -> Result<Traffic, StoreError> {
    let windows: Vec<i64> = job
        .cadence
        .windows_within(from, to)
        .iter()
        .map(|w| w.start)
        .collect();
    let index: HashMap<i64, usize> = windows.iter().enumerate().map(|(i, w)| (*w, i)).collect();
    let samples = conn.traffic_samples(&job.name)?;
    let cols = numeric_columns(&samples);
    let mut by_sheet: BTreeMap<&str, Vec<&Column>> = BTreeMap::new();
    for c in &cols {
        by_sheet.entry(&c.sheet).or_default().push(c);
    }
    let mut charts = Vec::new();
    for (sheet, cols) in by_sheet {
        let names: Vec<&str> = cols.iter().map(|c| c.column.as_str()).collect();
        // Per device: the rows' own device column when the sheet has one
        // (a report of all devices may hold a row per device), else the
        // target.
        let device = device_column(&samples, sheet);
        let rows = conn.traffic_sums(
            &job.name,
            sheet,
            device.as_deref(),
            &names,
            (from.as_second(), to.as_second()),
        )?;
        // per column: target -> values
        let mut per: Vec<HashMap<String, Vec<Option<f64>>>> = vec![HashMap::new(); cols.len()];
        let mut skipped = vec![0i64; cols.len()];
        for r in rows {
            let Some(&i) = index.get(&r.window_start) else {
                continue;
            };
            for (c, (map, sum)) in per.iter_mut().zip(&r.columns).enumerate() {
                skipped[c] += sum.skipped;
                let Some(v) = sum.sum else { continue };
                let vals = map
                    .entry(r.who.clone())
                    .or_insert_with(|| vec![None; windows.len()]);
                vals[i] = Some(vals[i].unwrap_or(0.0) + v);
            }
        }
        for ((c, map), skipped) in cols.iter().zip(per).zip(skipped) {
            charts.push(Chart {
                skipped,
                ..chart(c, map, windows.len())
            });
        }
    }
    name_devices(conn, &mut charts)?;
    Ok(Traffic { windows, charts })
}

/// Give each top series of a device (`device:<id>`) its name from the
/// device inventory, when the history has one.
pub(crate) fn name_devices(conn: &Reader, charts: &mut [Chart]) -> Result<(), StoreError> {
    for s in charts.iter_mut().flat_map(|c| c.top.iter_mut()) {
        if let Some(id) = s.target.strip_prefix("device:") {
            s.name = conn.device_name(id)?;
        }
    }
    Ok(())
}

fn add_into(acc: &mut [Option<f64>], values: &[Option<f64>]) {
    for (a, v) in acc.iter_mut().zip(values) {
        if let Some(v) = v {
            *a = Some(a.unwrap_or(0.0) + v);
        }
    }
}

/// A column's chart from its per-target values. Pure.
pub(crate) fn chart(c: &Column, per: HashMap<String, Vec<Option<f64>>>, n: usize) -> Chart {
    let mut series: Vec<Series> = per
        .into_iter()
        .map(|(target, values)| Series {
            name: None,
            total: values.iter().flatten().sum(),
            target,
            values,
        })
        .collect();
    series.sort_by(|a, b| b.total.total_cmp(&a.total).then(a.target.cmp(&b.target)));
    let mut total = vec![None; n];
    for s in &series {
        add_into(&mut total, &s.values);
    }
    let rest = if series.len() > TOP {
        series.split_off(TOP)
    } else {
        Vec::new()
    };
    let other = (!rest.is_empty()).then(|| {
        let mut values = vec![None; n];
        for s in &rest {
            add_into(&mut values, &s.values);
        }
        Series {
            name: None,
            target: format!("other ({} targets)", rest.len()),
            total: rest.iter().map(|s| s.total).sum(),
            values,
        }
    });
    Chart {
        sheet: c.sheet.clone(),
        column: c.column.clone(),
        total,
        top: series,
        other,
        skipped: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_columns_are_those_with_only_numbers() {
        let s = |sheet: &str, d: &str| (sheet.to_string(), d.to_string());
        let cols = numeric_columns(&[
            s(
                "Traffic",
                r#"{"Time":"2026-11-01 00:00","DeviceId":"d1","UpBytes":1,"DownBytes":2,"Odd":null}"#,
            ),
            s(
                "Traffic",
                r#"{"Time":"2026-11-01 01:00","DeviceId":"d1","UpBytes":3,"DownBytes":null,"Odd":null}"#,
            ),
            s("Summary", r#"{"Key":"Rows","Value":2}"#),
            s("Summary", r#"{"Key":"DeviceId","Value":"d1"}"#),
            s("Bad", "not json"),
        ]);
        let names: Vec<String> = cols
            .iter()
            .map(|c| format!("{}/{}", c.sheet, c.column))
            .collect();
        assert_eq!(names, ["Traffic/DownBytes", "Traffic/UpBytes"]);
    }

    #[test]
    fn the_device_column_is_found_by_name_and_text() {
        let s = |sheet: &str, d: &str| (sheet.to_string(), d.to_string());
        let samples = [
            s("Traffic", r#"{"DeviceId":"d1","UpBytes":1}"#),
            s("Traffic", r#"{"DeviceId":null,"UpBytes":2}"#),
            s("Other", r#"{"device":7}"#),
        ];
        assert_eq!(
            device_column(&samples, "Traffic").as_deref(),
            Some("DeviceId")
        );
        assert_eq!(device_column(&samples, "Other"), None);
        assert_eq!(device_column(&samples, "None"), None);
    }

    #[test]
    fn devices_get_their_inventory_names() {
        use crate::archive::store::{Store, open_readonly, traffic::seed};
        let d = tempfile::tempdir().expect("tempdir");
        let db = d.path().join("h.db");
        Store::open(&db).expect("open");
        let mut charts = vec![chart(
            &Column {
                sheet: "S".into(),
                column: "C".into(),
            },
            HashMap::from([
                ("device:d1".to_string(), vec![Some(1.0)]),
                ("device:d2".to_string(), vec![Some(2.0)]),
            ]),
            1,
        )];
        name_devices(&open_readonly(&db).expect("read"), &mut charts).expect("no names is fine");
        seed::device(&db, "d1", "Shop <1>");
        name_devices(&open_readonly(&db).expect("read"), &mut charts).expect("names");
        let names: Vec<Option<&str>> = charts[0].top.iter().map(|s| s.name.as_deref()).collect();
        assert_eq!(names, [None, Some("Shop <1>")]);
    }

    #[test]
    fn the_top_targets_keep_their_series_and_the_rest_is_summed() {
        let mut per = HashMap::new();
        for t in 0..12 {
            per.insert(format!("device:{t:02}"), vec![Some(f64::from(t)), None]);
        }
        let c = Column {
            sheet: "S".into(),
            column: "C".into(),
        };
        let ch = chart(&c, per, 2);
        assert_eq!(ch.top.len(), TOP);
        assert_eq!(ch.top[0].target, "device:11");
        let other = ch.other.expect("other");
        assert_eq!(other.values, vec![Some(1.0), None]);
        assert_eq!(ch.total, vec![Some(66.0), None]);
    }

    /// One report whose rows hold text in a traffic column ("n/a", "-")
    /// among reports of numbers: the chart stays, with every number summed
    /// and the text cells counted as skipped. Before, the column was no
    /// longer numeric and the whole chart went blank.
    #[test]
    fn text_cells_in_a_traffic_column_are_skipped_not_the_chart() {
        use crate::archive::store::{Store, open_readonly, traffic::seed};
        let d = tempfile::tempdir().expect("tempdir");
        let db = d.path().join("h.db");
        Store::open(&db).expect("open");
        let text = "[storage]\nstate_dir = \"/tmp/x\"\n[[jobs]]\nname = \"j\"\ngranularity = \"hourly\"\ntimezone = \"UTC\"\n";
        let cfg = crate::config::parse(text, std::path::Path::new("/tmp/c.toml")).expect("config");
        let job = &cfg.jobs[0];
        let t0: i64 = 1_793_491_200;
        let rows: [&[&str]; 3] = [
            &[
                r#"{"DeviceId":"d1","UpBytes":10}"#,
                r#"{"DeviceId":"d2","UpBytes":5}"#,
            ],
            &[
                r#"{"DeviceId":"d1","UpBytes":"n/a"}"#,
                r#"{"DeviceId":"d2","UpBytes":7}"#,
            ],
            &[
                r#"{"DeviceId":"d1","UpBytes":"-"}"#,
                r#"{"DeviceId":"d2","UpBytes":1}"#,
            ],
        ];
        for (h, rows) in rows.iter().enumerate() {
            let start = t0 + h as i64 * 3600;
            seed::report_with_rows(&db, "j", (start, start + 3600), "Traffic", rows);
        }
        let c = open_readonly(&db).expect("read");
        let from = Timestamp::from_second(t0).expect("t");
        let to = Timestamp::from_second(t0 + 3 * 3600).expect("t");
        let t = traffic(&c, job, from, to).expect("traffic");
        assert_eq!(t.charts.len(), 1, "{t:?}");
        let ch = &t.charts[0];
        assert_eq!(ch.column, "UpBytes");
        assert_eq!(ch.total, vec![Some(15.0), Some(7.0), Some(1.0)]);
        assert_eq!(ch.skipped, 2);
        let d1 = ch.top.iter().find(|s| s.target == "d1").expect("d1");
        assert_eq!(d1.values, vec![Some(10.0), None, None]);
    }
}
