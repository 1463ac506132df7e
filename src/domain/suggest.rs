//! "Did you mean ...?": the closest of a list of names to a mistyped one,
//! by edit distance (case-insensitive), on the whole name or on its last
//! `/` segment (`Shanghai` finds `Asia/Shanghai`).

/// Edits (insert, delete, substitute, swap of two neighbours) from `a` to `b`.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    // rows i-2, i-1, i of the optimal-string-alignment table
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, when it is close enough to be a typo:
/// at most a third of the word's length in edits (at least 2). Ties go to
/// the first candidate.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let last = c.rsplit('/').next().unwrap_or(c);
        let d = distance(word, c).min(distance(word, last));
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONES: [&str; 6] = [
        "America/New_York",
        "Asia/Shanghai",
        "Asia/Singapore",
        "Asia/Kolkata",
        "Europe/Berlin",
        "UTC",
    ];

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("Shangai", "Shanghai"), 1);
        assert_eq!(distance("Berlni", "Berlin"), 1, "a swap is one edit");
        assert_eq!(distance("utc", "UTC"), 0);
    }

    #[test]
    fn typos_find_their_zone() {
        assert_eq!(closest("Asia/Shangai", ZONES), Some("Asia/Shanghai"));
        assert_eq!(closest("Europe/Berln", ZONES), Some("Europe/Berlin"));
        assert_eq!(closest("shanghai", ZONES), Some("Asia/Shanghai"));
        assert_eq!(closest("America/NewYork", ZONES), Some("America/New_York"));
        assert_eq!(closest("Asia/Qwertyuiop", ZONES), None, "too far from any");
        assert_eq!(closest("Mars/Olympus", ZONES), None);
    }
}
