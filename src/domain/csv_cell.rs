//! A CSV cell made safe to open in a spreadsheet: text that a spreadsheet
//! would run as a formula (a cell starting with `=`, `+`, `-`, `@`, a tab
//! or a carriage return) gets a leading single quote, the OWASP way, so it
//! shows as the text it is. A plain number (`-12`, `+3.5`, `-1e3`) is not
//! a formula and stays as it is, so negative numbers stay numbers. Every
//! CSV the program writes goes through [`neutralise`]. Pure.

use std::borrow::Cow;

/// Whether `s` is a plain decimal number: an optional sign, digits with at
/// most one point, an optional exponent; nothing else (no `inf`, no `NaN`).
fn is_plain_number(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = mantissa.chars().filter(char::is_ascii_digit).count();
    let points = mantissa.chars().filter(|c| *c == '.').count();
    let mantissa_ok = digits > 0 && points <= 1 && digits + points == mantissa.len();
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

/// `cell`, with a leading `'` when a spreadsheet would read it as a formula.
pub(crate) fn neutralise(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_get_a_quote_and_numbers_stay_numbers() {
        for attack in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1",
            "\r=1+1",
            "-",
            "+",
            "-inf",
            "-NaN",
            "-1e",
            "-1.2.3",
        ] {
            assert_eq!(neutralise(attack), format!("'{attack}"), "{attack:?}");
        }
        for plain in [
            "", "text", "12", "-12", "+3.5", "-1e3", "-0.5E-7", "a=b", "1-2",
        ] {
            assert_eq!(neutralise(plain), plain, "{plain:?}");
        }
    }
}
