//! Durations and byte counts as people read them (`5 days`, `1 day 6h`,
//! `6.5 MiB (6,782,548 bytes)`), for text printed to a terminal; JSON and
//! CSV keep the plain numbers. Pure.

use std::time::Duration;

/// A duration in its two largest units: `5 days`, `1 day 6h`, `2h 30m`,
/// `45s`, `0s`. Days are 24 hours.
pub(crate) fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, mins, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let day = |n: u64| format!("{n} {}", if n == 1 { "day" } else { "days" });
    let parts: Vec<String> = [
        (days, day(days)),
        (hours, format!("{hours}h")),
        (mins, format!("{mins}m")),
        (s, format!("{s}s")),
    ]
    .into_iter()
    .skip_while(|(n, _)| *n == 0)
    .take(2)
    .filter(|(n, _)| *n != 0)
    .map(|(_, text)| text)
    .collect();
    if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    }
}

/// A byte count in the largest binary unit below it: `512 B`, `6.5 MiB`.
pub(crate) fn size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `n` with a comma every three digits: `6,782,548`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count for a sentence: `6.5 MiB (6,782,548 bytes)`; small counts
/// only as bytes (`512 bytes`, `1 byte`).
pub(crate) fn bytes(b: u64) -> String {
    match b {
        1 => "1 byte".to_string(),
        0..1024 => format!("{b} bytes"),
        _ => format!("{} ({} bytes)", size(b), grouped(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_words() {
        let d = Duration::from_secs;
        assert_eq!(duration(d(5 * 86_400)), "5 days");
        assert_eq!(duration(d(86_400)), "1 day");
        assert_eq!(duration(d(86_400 + 6 * 3600 + 7)), "1 day 6h");
        assert_eq!(duration(d(2 * 3600 + 30 * 60)), "2h 30m");
        assert_eq!(duration(d(3600 + 5)), "1h");
        assert_eq!(duration(d(300)), "5m");
        assert_eq!(duration(d(45)), "45s");
        assert_eq!(duration(d(0)), "0s");
        assert_eq!(duration(d(400 * 86_400)), "400 days");
    }

    #[test]
    fn bytes_read_with_unit_and_digit_groups() {
        assert_eq!(bytes(6_782_548), "6.5 MiB (6,782,548 bytes)");
        assert_eq!(bytes(1), "1 byte");
        assert_eq!(bytes(0), "0 bytes");
        assert_eq!(bytes(1023), "1023 bytes");
        assert_eq!(bytes(1024), "1.0 KiB (1,024 bytes)");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(12_345_678_901), "12,345,678,901");
        assert_eq!(size(512), "512 B");
    }
}
