//! Text from a server, made safe to show and to store: control characters
//! (escape sequences, newlines, bidi overrides) written as visible escapes,
//! and lengths capped at a character boundary with a marker. Pure.
//!
//! Server text is cleaned where it enters (the API answer) and escaped again
//! where it is shown (the history may hold rows written before this).

use std::borrow::Cow;

/// The most bytes of a server message kept (in errors and in the history).
pub(crate) const MAX_MESSAGE: usize = 4096;
/// The most bytes of a short server field kept (error code, request id).
pub(crate) const MAX_FIELD: usize = 256;

/// Whether `c` changes how a terminal shows what follows it.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character written as a visible escape (`\n`,
/// `\u{1b}`, ...), so it prints on one line and cannot drive a terminal.
pub(crate) fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `s` cut to at most `max` bytes at a character boundary, the cut marked
/// (`… [cut, N bytes in all]`; the marker counts within `max`).
pub(crate) fn cap(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let marker = format!("… [cut, {} bytes in all]", s.len());
    let mut end = max.saturating_sub(marker.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + marker.len());
    out.push_str(&s[..end]);
    out.push_str(&marker);
    Cow::Owned(out)
}

/// [`escape_controls`], then [`cap`] at `max` bytes.
pub(crate) fn clean(s: &str, max: usize) -> String {
    cap(&escape_controls(s), max).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(escape_controls("plain text ✓"), "plain text ✓");
        assert!(matches!(escape_controls("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("\x1b[31mred\n failed: forged\r\t\u{7f}\u{9b}"),
            "\\u{1b}[31mred\\n failed: forged\\r\\t\\u{7f}\\u{9b}"
        );
        assert_eq!(escape_controls("a\u{202e}b"), "a\\u{202e}b");
        // Escaping twice changes nothing more.
        let once = escape_controls("x\x1by\n").into_owned();
        assert_eq!(escape_controls(&once), once);
    }

    #[test]
    fn cap_cuts_at_a_char_boundary_with_a_marker() {
        assert_eq!(cap("short", 10), "short");
        let long = "é".repeat(5000); // 10000 bytes
        let c = cap(&long, MAX_MESSAGE);
        assert!(c.len() <= MAX_MESSAGE, "{}", c.len());
        assert!(c.ends_with("… [cut, 10000 bytes in all]"), "{c}");
        assert!(c.starts_with("éé"));
        // A limit smaller than the marker still gives valid text.
        assert!(cap(&long, 3).ends_with("bytes in all]"));
    }

    #[test]
    fn clean_escapes_then_caps() {
        let hostile = format!("\x1b[2J{}", "\n".repeat(10_000));
        let c = clean(&hostile, MAX_MESSAGE);
        assert!(c.len() <= MAX_MESSAGE);
        assert!(!c.contains('\x1b') && !c.contains('\n'));
    }
}
