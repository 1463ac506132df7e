//! Report file names: a deterministic, readable and injective encoding of
//! a report's job, target and region into one path component. Pure.
//!
//! Every byte outside `[A-Za-z0-9-]` of a name from the config or the
//! server is written `%XX` (uppercase hex), `_` and `%` included, so the
//! `_` that separates the fields of a file name never appears inside one,
//! and distinct inputs give distinct components. A component whose escaped
//! form is longer than its budget keeps an escaped prefix, then `~` and
//! 16 hex digits of the SHA-256 of the original: the short form always
//! escapes `~` (as `%7E`), so a long form never equals a short one.

/// The marker of a shortened component.
pub(crate) const LONG_MARKER: char = '~';
/// Hex digits of the digest a shortened component ends with.
const DIGEST_HEX: usize = 16;

/// `s` with every byte outside `[A-Za-z0-9-]` written `%XX`.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `s` escaped, at most `max` bytes (`max` at least 17): the escaped form
/// when it fits, else an escaped prefix cut between escapes, `~` and a
/// digest of `s`.
pub(crate) fn component(s: &str, max: usize) -> String {
    let escaped = escape(s);
    if escaped.len() <= max {
        return escaped;
    }
    let mut cut = max.saturating_sub(DIGEST_HEX + 1);
    // Never between the `%` of an escape and its two digits.
    while let Some(pct) = escaped[..cut].rfind('%') {
        if pct + 3 <= cut {
            break;
        }
        cut = pct;
    }
    let digest = crate::domain::digest::sha256_hex(s.as_bytes());
    format!("{}{LONG_MARKER}{}", &escaped[..cut], &digest[..DIGEST_HEX])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_stay_as_they_are_and_everything_else_is_escaped() {
        assert_eq!(escape("mna-1"), "mna-1");
        assert_eq!(escape("x.y"), "x%2Ey");
        assert_eq!(escape("a_b"), "a%5Fb");
        assert_eq!(escape("../etc"), "%2E%2E%2Fetc");
        assert_eq!(escape("~"), "%7E");
        assert_eq!(escape("é"), "%C3%A9");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn long_components_are_cut_between_escapes_and_never_equal_a_short_one() {
        let long = ".".repeat(100);
        let c = component(&long, 64);
        assert!(c.len() <= 64, "{c}");
        assert!(c.contains(LONG_MARKER));
        let (head, _) = c.split_once(LONG_MARKER).expect("marker");
        assert_eq!(head.len() % 3, 0, "{head}");
        assert!(!component(&"a".repeat(64), 64).contains(LONG_MARKER));
        assert_ne!(
            component(&"a".repeat(65), 64),
            component(&"a".repeat(66), 64)
        );
        assert!(!escape(&c).contains(LONG_MARKER));
    }
}
