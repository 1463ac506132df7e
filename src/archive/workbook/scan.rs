//! A streaming pass over one XML part of a workbook that proves the XML
//! reader (quick-xml, inside calamine) cannot be made to hold much of it
//! at once: no single piece of markup or text run is longer than
//! [`MAX_EVENT_BYTES`], no element calamine concatenates the text of
//! (`v`, `t`, `f`, `is`, `si`, `definedName`) holds more than
//! [`MAX_ELEMENT_TEXT_BYTES`], and the elements calamine keeps in memory
//! (shared strings, styles, sheets, names, relationships) are few enough.
//!
//! It sees bytes, not a parsed tree: it holds the current tag (at most
//! [`MAX_EVENT_BYTES`]) and a few counters, whatever the part's size. Where
//! it cannot tell what the XML reader does, it counts more than the reader
//! holds, never less.

use super::{Limit, WorkbookError};

/// Longest tag, comment, CDATA section, processing instruction or text run.
/// A cell's text (32,767 characters, each at most 10 bytes as a character
/// reference) fits three times over.
pub(crate) const MAX_EVENT_BYTES: u64 = 1 << 20;
/// Most text bytes inside one element whose text calamine joins into one
/// string (a cell value, a shared string, a defined name).
pub(crate) const MAX_ELEMENT_TEXT_BYTES: u64 = 512 << 10;
/// Most shared strings (`<si>`), in any part, and the most a `uniqueCount`
/// may announce (calamine reserves that many up front): two a row of a full
/// sheet. At this count and the shared strings' size cap, calamine holds
/// about 100 MiB.
pub(crate) const MAX_SHARED_STRINGS: u64 = 1 << 21;
/// Most elements of the kinds calamine keeps whole in memory (styles,
/// sheets, defined names, relationships) in one part.
pub(crate) const MAX_KEPT_ELEMENTS: u64 = 1 << 16;

/// Bytes of the kept elements of one part: their tags (names, targets,
/// formats) and the text of defined names.
pub(crate) const MAX_KEPT_BYTES: u64 = 16 << 20;

/// Elements whose text calamine joins into one string.
const JOINED: [&[u8]; 6] = [b"v", b"t", b"f", b"is", b"si", b"definedName"];
/// Elements calamine keeps one entry of in memory each.
const KEPT: [&[u8]; 12] = [
    b"xf",
    b"numFmt",
    b"font",
    b"fill",
    b"border",
    b"dxf",
    b"cellStyle",
    b"sheet",
    b"definedName",
    b"Relationship",
    b"tableStyle",
    b"color",
];
/// Distinct qualified names of joined elements tracked at once; more is no
/// workbook a spreadsheet program writes.
const MAX_TRACKED: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text,
    /// Inside `<...`: the kind is known once enough bytes are in.
    Markup,
    Element {
        quote: Option<u8>,
    },
    Comment,
    CData,
    Pi,
}

/// The pass over one part; feed it the decompressed bytes in order.
pub(crate) struct Scanner {
    part: String,
    mode: Mode,
    /// Length of the current text run.
    text: u64,
    /// The current element tag, from its `<`.
    tag: Vec<u8>,
    /// Length of the current markup, and its last three bytes.
    markup: u64,
    last: [u8; 3],
    /// Qualified name of a joined element, and its text bytes since it
    /// opened (`None` while it is not open).
    joined: Vec<(Vec<u8>, Option<u64>)>,
    strings: u64,
    kept: u64,
    kept_bytes: u64,
}

impl Scanner {
    pub(crate) fn new(part: &str) -> Scanner {
        Scanner {
            part: part.to_string(),
            mode: Mode::Text,
            text: 0,
            tag: Vec::new(),
            markup: 0,
            last: [0; 3],
            joined: Vec::new(),
            strings: 0,
            kept: 0,
            kept_bytes: 0,
        }
    }

    fn too_large(&self, what: Limit) -> WorkbookError {
        WorkbookError::TooLarge {
            part: self.part.clone(),
            what,
        }
    }

    /// Text bytes that calamine may join into the open elements' strings.
    fn add_text(&mut self, n: u64) -> Result<(), WorkbookError> {
        let mut names_open = false;
        for (name, open) in &mut self.joined {
            if let Some(bytes) = open {
                *bytes += n;
                if *bytes > MAX_ELEMENT_TEXT_BYTES {
                    return Err(self.too_large(Limit::ElementText));
                }
                names_open |= local_name(name) == b"definedName";
            }
        }
        if names_open {
            self.keep(n)?;
        }
        Ok(())
    }

    /// Bytes calamine keeps for as long as the workbook is open.
    fn keep(&mut self, n: u64) -> Result<(), WorkbookError> {
        self.kept_bytes += n;
        if self.kept_bytes > MAX_KEPT_BYTES {
            return Err(self.too_large(Limit::KeptBytes));
        }
        Ok(())
    }

    pub(crate) fn feed(&mut self, mut chunk: &[u8]) -> Result<(), WorkbookError> {
        while !chunk.is_empty() {
            match self.mode {
                Mode::Text => {
                    let run = chunk.iter().position(|&b| b == b'<');
                    let n = run.unwrap_or(chunk.len());
                    self.text += n as u64;
                    if self.text > MAX_EVENT_BYTES {
                        return Err(self.too_large(Limit::Event));
                    }
                    self.add_text(n as u64)?;
                    if run.is_none() {
                        return Ok(());
                    }
                    self.text = 0;
                    self.tag.clear();
                    self.tag.push(b'<');
                    self.markup = 1;
                    self.mode = Mode::Markup;
                    chunk = &chunk[n + 1..];
                }
                Mode::Markup => {
                    let b = chunk[0];
                    chunk = &chunk[1..];
                    self.take(&[b])?;
                    self.classify()?;
                }
                Mode::Element { quote } => {
                    let stop = match quote {
                        Some(q) => chunk.iter().position(|&b| b == q),
                        None => chunk
                            .iter()
                            .position(|&b| b == b'>' || b == b'"' || b == b'\''),
                    };
                    let Some(i) = stop else {
                        self.take(chunk)?;
                        return Ok(());
                    };
                    let b = chunk[i];
                    self.take(&chunk[..=i])?;
                    chunk = &chunk[i + 1..];
                    self.mode = match (quote, b) {
                        (Some(_), _) => Mode::Element { quote: None },
                        (None, b'>') => {
                            self.element_end()?;
                            Mode::Text
                        }
                        (None, q) => Mode::Element { quote: Some(q) },
                    };
                }
                Mode::Comment | Mode::CData | Mode::Pi => {
                    let Some(i) = chunk.iter().position(|&b| b == b'>') else {
                        self.take(chunk)?;
                        return Ok(());
                    };
                    self.take(&chunk[..=i])?;
                    chunk = &chunk[i + 1..];
                    // The end is searched for after the opening only, so a
                    // section ends here no earlier than in the XML reader.
                    let (close, opening): (&[u8], u64) = match self.mode {
                        Mode::Comment => (b"-->", 4),
                        Mode::CData => (b"]]>", 9),
                        _ => (b"?>", 2),
                    };
                    if self.last.ends_with(close) && self.markup >= opening + close.len() as u64 {
                        if self.mode == Mode::CData {
                            self.add_text(self.markup)?;
                        }
                        self.mode = Mode::Text;
                    }
                }
            }
        }
        Ok(())
    }

    /// Bytes of the current markup: counted, their last three kept, and
    /// kept whole for an element tag.
    fn take(&mut self, bytes: &[u8]) -> Result<(), WorkbookError> {
        self.markup += bytes.len() as u64;
        if self.markup > MAX_EVENT_BYTES {
            return Err(self.too_large(Limit::Event));
        }
        if matches!(self.mode, Mode::Markup | Mode::Element { .. }) {
            self.tag.extend_from_slice(bytes);
        }
        for &b in &bytes[bytes.len().saturating_sub(3)..] {
            self.last = [self.last[1], self.last[2], b];
        }
        Ok(())
    }

    /// The kind of markup, once its first bytes tell.
    fn classify(&mut self) -> Result<(), WorkbookError> {
        self.mode = match self.tag.as_slice() {
            [b'<', b'?'] => Mode::Pi,
            [b'<', b'!'] => return Ok(()),
            [b'<', b'!', b'['] => Mode::CData,
            [b'<', b'!', b'-'] => Mode::Comment,
            [b'<', b'!', b'D' | b'd'] => {
                return Err(WorkbookError::Invalid(format!(
                    "{} has a DOCTYPE declaration, which no workbook part has",
                    self.part
                )));
            }
            [.., b] => {
                // An element: its first bytes may already end it or open a quote.
                let b = *b;
                match b {
                    b'>' => {
                        self.element_end()?;
                        Mode::Text
                    }
                    b'"' | b'\'' => Mode::Element { quote: Some(b) },
                    _ => Mode::Element { quote: None },
                }
            }
            [] => Mode::Markup,
        };
        Ok(())
    }

    /// A whole element tag is in `self.tag`.
    fn element_end(&mut self) -> Result<(), WorkbookError> {
        let inner = &self.tag[1..self.tag.len() - 1];
        let (closing, inner) = match inner.split_first() {
            Some((b'/', rest)) => (true, rest),
            _ => (false, inner),
        };
        let self_closing = !closing && inner.last() == Some(&b'/');
        let name_len = inner
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'/')
            .unwrap_or(inner.len());
        let name = &inner[..name_len];
        let local = local_name(name);
        let joined = JOINED.contains(&local);
        if !closing {
            if KEPT.contains(&local) {
                self.kept += 1;
                if self.kept > MAX_KEPT_ELEMENTS {
                    return Err(self.too_large(Limit::KeptElements));
                }
                self.kept_bytes += self.markup;
                if self.kept_bytes > MAX_KEPT_BYTES {
                    return Err(self.too_large(Limit::KeptBytes));
                }
            }
            if local == b"si" {
                self.strings += 1;
                if self.strings > MAX_SHARED_STRINGS {
                    return Err(self.too_large(Limit::SharedStrings));
                }
            }
            if local == b"sst" && unique_count(&inner[name_len..]) > MAX_SHARED_STRINGS {
                return Err(self.too_large(Limit::SharedStrings));
            }
        }
        if !joined || self_closing {
            return Ok(());
        }
        // The reader joins text from an element's start to the first end
        // tag of the same name, whatever lies between.
        match self.joined.iter_mut().find(|(n, _)| n == name) {
            Some((_, open)) if closing => *open = None,
            Some((_, open)) => {
                open.get_or_insert(0);
            }
            None if closing => {}
            None => {
                if self.joined.len() >= MAX_TRACKED {
                    return Err(WorkbookError::Invalid(format!(
                        "{} uses more than {MAX_TRACKED} namespace prefixes",
                        self.part
                    )));
                }
                self.joined.push((name.to_vec(), Some(0)));
            }
        }
        Ok(())
    }

    /// The part ended: nothing more to check (a part cut short is the XML
    /// reader's error to report).
    pub(crate) fn finish(self) -> Result<(), WorkbookError> {
        Ok(())
    }
}

/// The name after any namespace prefix.
fn local_name(name: &[u8]) -> &[u8] {
    name.rsplit(|&b| b == b':').next().unwrap_or(name)
}

/// The largest number a `uniqueCount` attribute in `attrs` announces (0 if none).
fn unique_count(attrs: &[u8]) -> u64 {
    let mut most = 0u64;
    let mut rest = attrs;
    while let Some(i) = find(rest, b"uniqueCount") {
        rest = &rest[i + b"uniqueCount".len()..];
        let value = rest
            .iter()
            .skip_while(|b| b.is_ascii_whitespace() || **b == b'=' || **b == b'"' || **b == b'\'');
        let mut n = 0u64;
        for b in value.take_while(|b| b.is_ascii_digit()) {
            n = n.saturating_mul(10).saturating_add(u64::from(b - b'0'));
        }
        most = most.max(n);
    }
    most
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(parts: &[&[u8]]) -> Result<(), WorkbookError> {
        let mut s = Scanner::new("xl/worksheets/sheet1.xml");
        for p in parts {
            s.feed(p)?;
        }
        s.finish()
    }

    fn too_large(r: Result<(), WorkbookError>) -> Option<Limit> {
        match r {
            Err(WorkbookError::TooLarge { what, .. }) => Some(what),
            _ => None,
        }
    }

    #[test]
    fn ordinary_xml_passes_in_any_chunking() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>a &amp; b</t></is></c></row>
<!-- a comment with > inside --><![CDATA[x > y]]>
<row r="2"><c r="A2" s="1" t='str'><v>say "hi" > there</v></c><c r="B2"/></row>
</sheetData></worksheet>"#;
        assert!(scan(&[xml]).is_ok());
        for step in [1, 2, 3, 7, 64] {
            let chunks: Vec<&[u8]> = xml.chunks(step).collect();
            assert!(scan(&chunks).is_ok(), "chunks of {step}");
        }
    }

    #[test]
    fn a_long_text_run_is_refused_however_it_is_fed() {
        let ws = vec![b' '; (MAX_EVENT_BYTES + 1) as usize];
        assert_eq!(too_large(scan(&[b"<a>", &ws])), Some(Limit::Event));
        let chunks: Vec<&[u8]> = ws.chunks(4096).collect();
        let mut s = Scanner::new("p");
        s.feed(b"<a>").expect("start");
        let r = chunks.iter().try_for_each(|c| s.feed(c));
        assert_eq!(too_large(r), Some(Limit::Event));
    }

    #[test]
    fn long_tags_comments_cdata_and_instructions_are_refused() {
        let pad = vec![b'x'; (MAX_EVENT_BYTES + 8) as usize];
        for (open, close) in [
            (&b"<a b=\""[..], &b"\">"[..]),
            (b"<!--", b"-->"),
            (b"<![CDATA[", b"]]>"),
            (b"<?pi ", b"?>"),
        ] {
            assert_eq!(
                too_large(scan(&[open, &pad, close])),
                Some(Limit::Event),
                "{}",
                String::from_utf8_lossy(open)
            );
        }
        // '>' inside quotes or a comment does not end the markup
        let quoted: Vec<u8> = b"<a b=\"".iter().chain(&pad).copied().collect();
        let gt: Vec<u8> = quoted
            .iter()
            .map(|b| if *b == b'x' { b'>' } else { *b })
            .collect();
        assert_eq!(too_large(scan(&[&gt])), Some(Limit::Event));
    }

    #[test]
    fn text_joined_across_runs_is_counted_per_element() {
        // an inline string of many small runs, with other end tags between them
        let mut xml = b"<c><is>".to_vec();
        let run = format!("<r><t>{}</t></r></x>", "y".repeat(1000));
        while (xml.len() as u64) < MAX_ELEMENT_TEXT_BYTES + (64 << 10) {
            xml.extend_from_slice(run.as_bytes());
        }
        assert_eq!(too_large(scan(&[&xml])), Some(Limit::ElementText));
        // many cells of ordinary size are fine
        let cell = format!("<c><v>{}</v></c>", "1".repeat(1000));
        let many: Vec<u8> = cell.repeat(2000).into_bytes();
        assert!(scan(&[&many]).is_ok());
    }

    #[test]
    fn shared_string_counts_are_bounded() {
        let big = format!(
            "<sst count=\"1\" uniqueCount=\"{}\">",
            MAX_SHARED_STRINGS + 1
        );
        assert_eq!(
            too_large(scan(&[big.as_bytes()])),
            Some(Limit::SharedStrings)
        );
        assert!(scan(&[b"<sst uniqueCount=\"10\"><si><t>a</t></si></sst>"]).is_ok());
        assert_eq!(unique_count(b" count='3' uniqueCount = '42'"), 42);
        assert_eq!(
            unique_count(b" uniqueCount=\"99999999999999999999999\""),
            u64::MAX
        );
    }

    #[test]
    fn what_calamine_keeps_is_bounded_in_bytes() {
        let target = "t".repeat(500 << 10);
        let rel = format!("<Relationship Id=\"r\" Target=\"{target}\"/>");
        let many: Vec<u8> = rel.repeat(40).into_bytes();
        assert_eq!(too_large(scan(&[&many])), Some(Limit::KeptBytes));
        let name = format!(
            "<definedName name=\"n\">{}</definedName>",
            "x".repeat(500 << 10)
        );
        let many: Vec<u8> = name.repeat(40).into_bytes();
        assert_eq!(too_large(scan(&[&many])), Some(Limit::KeptBytes));
        // ordinary styles and names are far below
        let styles = "<xf numFmtId=\"0\" fontId=\"0\"/>".repeat(10_000);
        assert!(scan(&[styles.as_bytes()]).is_ok());
    }

    #[test]
    fn doctype_is_refused() {
        assert!(matches!(
            scan(&[b"<!DOCTYPE lol [<!ENTITY a \"b\">]><a/>"]),
            Err(WorkbookError::Invalid(_))
        ));
    }
}
