//! Byte sizes as written in the config: a whole number and a unit, e.g.
//! `"1GiB"`, `"500 MB"`, `"65536"` (bytes). Binary units (KiB, MiB, GiB,
//! TiB) are powers of 1024, decimal ones (kB, MB, GB, TB) powers of 1000;
//! units are read without regard to case; [`human_size`] writes one back.
//! Pure.

/// The default `[storage] max_report_size`.
pub(crate) const DEFAULT_MAX_SIZE: u64 = 1 << 30;

/// Why a size was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SizeError {
    #[error("no number")]
    NoNumber,
    #[error("unknown unit {0:?}")]
    Unit(String),
    #[error("too large")]
    Overflow,
}

/// The bytes `text` stands for.
pub(crate) fn parse_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|e: std::num::ParseIntError| match e.kind() {
            std::num::IntErrorKind::PosOverflow => SizeError::Overflow,
            _ => SizeError::NoNumber,
        })?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "tib" | "t" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(SizeError::Unit(unit.trim().to_string())),
    };
    number.checked_mul(factor).ok_or(SizeError::Overflow)
}

/// A byte count for people: `1 GiB`, `300 MiB`, `1536 B`.
pub(crate) fn human_size(n: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    format!("{n} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size(" 256 MiB "), Ok(256 << 20));
        assert_eq!(parse_size("500mb"), Ok(500_000_000));
        assert_eq!(parse_size("64k"), Ok(65_536));
        assert_eq!(parse_size("1536"), Ok(1536));
        assert_eq!(parse_size("2 B"), Ok(2));
        assert_eq!(parse_size("GiB"), Err(SizeError::NoNumber));
        assert_eq!(parse_size("1.5GiB"), Err(SizeError::Unit(".5GiB".into())));
        assert_eq!(
            parse_size("3 parsecs"),
            Err(SizeError::Unit("parsecs".into()))
        );
        assert_eq!(parse_size("-1"), Err(SizeError::NoNumber));
        assert_eq!(parse_size("99999999999TiB"), Err(SizeError::Overflow));
    }
}
