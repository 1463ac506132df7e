//! Crafted workbooks for tests of a reader's limits: valid zips holding a
//! minimal xlsx whose parts are written as streams (so a part of gigabytes,
//! which deflate shrinks about 1000:1, costs the writer no memory), serve
//! them with [`crate::Fault::DownloadBody`].
//!
//! This module owns no server behaviour; it only builds bytes.

use std::io::{self, Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Writes the content of one part.
pub type Content<'a> = Box<dyn Fn(&mut dyn Write) -> io::Result<()> + 'a>;

/// One sheet: its name and what goes inside its `<sheetData>`.
pub struct Sheet<'a> {
    pub name: String,
    pub data: Content<'a>,
}

impl<'a> Sheet<'a> {
    pub fn new(name: &str, data: impl Fn(&mut dyn Write) -> io::Result<()> + 'a) -> Sheet<'a> {
        Sheet {
            name: name.to_string(),
            data: Box::new(data),
        }
    }

    /// A sheet of these rows of inline strings and numbers, from row 1.
    pub fn rows(name: &str, rows: &[Vec<Cell>]) -> Sheet<'a> {
        let xml: String = rows
            .iter()
            .enumerate()
            .map(|(i, cells)| row_xml(i as u32 + 1, cells))
            .collect();
        Sheet::new(name, move |w| w.write_all(xml.as_bytes()))
    }
}

/// A cell of [`Sheet::rows`].
#[derive(Clone, Debug)]
pub enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

/// `<row>` number `r` (1-based) with `cells` from column A.
pub fn row_xml(r: u32, cells: &[Cell]) -> String {
    let mut out = format!("<row r=\"{r}\">");
    for (i, cell) in cells.iter().enumerate() {
        let at = format!("{}{r}", column_letters(i as u32));
        match cell {
            Cell::Text(t) => out.push_str(&format!(
                "<c r=\"{at}\" t=\"inlineStr\"><is><t>{}</t></is></c>",
                escape(t)
            )),
            Cell::Number(n) => out.push_str(&format!("<c r=\"{at}\"><v>{n}</v></c>")),
            Cell::Empty => {}
        }
    }
    out.push_str("</row>");
    out
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Column letters of a 0-based column index.
pub fn column_letters(mut col: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

const NS: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const REL_NS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const PKG_NS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";

/// A workbook of `sheets` (in this order, names as given, even repeated),
/// with a shared strings part when `shared` is given (it writes the `<si>`
/// elements).
pub fn workbook(sheets: &[Sheet<'_>], shared: Option<Content<'_>>) -> io::Result<Vec<u8>> {
    let mut z = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true);
    let mut types = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
         <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
         <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
         <Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>",
    );
    for i in 1..=sheets.len() {
        types.push_str(&format!("<Override PartName=\"/xl/worksheets/sheet{i}.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"));
    }
    types.push_str("</Types>");
    z.start_file("[Content_Types].xml", opts)?;
    z.write_all(types.as_bytes())?;
    z.start_file("_rels/.rels", opts)?;
    z.write_all(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Relationships xmlns=\"{PKG_NS}\"><Relationship Id=\"rId1\" Type=\"{REL_NS}/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>").as_bytes())?;
    let mut wb = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<workbook xmlns=\"{NS}\" xmlns:r=\"{REL_NS}\"><sheets>"
    );
    let mut rels =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Relationships xmlns=\"{PKG_NS}\">");
    for (i, s) in sheets.iter().enumerate() {
        let n = i + 1;
        wb.push_str(&format!(
            "<sheet name=\"{}\" sheetId=\"{n}\" r:id=\"rId{n}\"/>",
            escape(&s.name)
        ));
        rels.push_str(&format!("<Relationship Id=\"rId{n}\" Type=\"{REL_NS}/worksheet\" Target=\"worksheets/sheet{n}.xml\"/>"));
    }
    wb.push_str("</sheets></workbook>");
    let shared_id = sheets.len() + 1;
    if shared.is_some() {
        rels.push_str(&format!("<Relationship Id=\"rId{shared_id}\" Type=\"{REL_NS}/sharedStrings\" Target=\"sharedStrings.xml\"/>"));
    }
    rels.push_str("</Relationships>");
    z.start_file("xl/workbook.xml", opts)?;
    z.write_all(wb.as_bytes())?;
    z.start_file("xl/_rels/workbook.xml.rels", opts)?;
    z.write_all(rels.as_bytes())?;
    for (i, s) in sheets.iter().enumerate() {
        z.start_file(format!("xl/worksheets/sheet{}.xml", i + 1), opts)?;
        z.write_all(
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<worksheet xmlns=\"{NS}\"><sheetData>"
            )
            .as_bytes(),
        )?;
        (s.data)(&mut z)?;
        z.write_all(b"</sheetData></worksheet>")?;
    }
    if let Some(shared) = shared {
        z.start_file("xl/sharedStrings.xml", opts)?;
        z.write_all(
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sst xmlns=\"{NS}\">").as_bytes(),
        )?;
        shared(&mut z)?;
        z.write_all(b"</sst>")?;
    }
    Ok(z.finish()?.into_inner())
}

/// Write `unit` repeatedly until `total` bytes are out (the last copy cut).
pub fn repeat(w: &mut dyn Write, unit: &[u8], total: u64) -> io::Result<()> {
    if unit.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "nothing to repeat",
        ));
    }
    let block: Vec<u8> = unit
        .iter()
        .copied()
        .cycle()
        .take(unit.len() * (64 * 1024 / unit.len().max(1)).max(1))
        .collect();
    let mut left = total;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        w.write_all(&block[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// A sheet with a header and one data row, then `bytes` of whitespace.
pub fn whitespace_bomb(bytes: u64) -> io::Result<Vec<u8>> {
    let sheet = Sheet::new("Traffic", move |w| {
        w.write_all(
            row_xml(1, &[Cell::Text("Time".into()), Cell::Text("Bytes".into())]).as_bytes(),
        )?;
        w.write_all(row_xml(2, &[Cell::Text("t".into()), Cell::Number(1.0)]).as_bytes())?;
        repeat(w, b" ", bytes)
    });
    workbook(&[sheet], None)
}

/// A one-row sheet and `bytes` of short shared strings.
pub fn shared_strings_bomb(bytes: u64) -> io::Result<Vec<u8>> {
    let sheet = Sheet::new("Traffic", |w| {
        w.write_all(b"<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c></row>")
    });
    let shared: Content<'_> = Box::new(move |w| repeat(w, b"<si><t>abcdefgh</t></si>", bytes));
    workbook(&[sheet], Some(shared))
}

/// A sheet whose second row has `cells` cells (without positions, so each
/// takes the next column).
pub fn wide_row_bomb(cells: u64) -> io::Result<Vec<u8>> {
    let sheet = Sheet::new("Traffic", move |w| {
        w.write_all(row_xml(1, &[Cell::Text("Bytes".into())]).as_bytes())?;
        w.write_all(b"<row r=\"2\">")?;
        let unit = b"<c><v>1</v></c>";
        repeat(w, unit, cells * unit.len() as u64)?;
        w.write_all(b"</row>")
    });
    workbook(&[sheet], None)
}

/// `workbook` with a stored part of `pad` pseudo-random bytes added (as
/// large reports carry images), e.g. to push it past a reader's in-memory size.
pub fn padded(workbook: &[u8], pad: usize) -> io::Result<Vec<u8>> {
    let mut src = zip::ZipArchive::new(Cursor::new(workbook)).map_err(io::Error::other)?;
    let mut out = ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..src.len() {
        let raw = src.by_index_raw(i).map_err(io::Error::other)?;
        out.raw_copy_file(raw).map_err(io::Error::other)?;
    }
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    out.start_file("xl/media/image1.bin", stored)?;
    let mut x = 0x5EED_u64;
    let mut left = pad;
    while left > 0 {
        // xorshift: incompressible, deterministic
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        let n = left.min(b.len());
        out.write_all(&b[..n])?;
        left -= n;
    }
    Ok(out.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn crafted_workbooks_are_small_zips_with_the_parts_announced() {
        let b = whitespace_bomb(64 << 20).expect("built");
        assert!(b.len() < 512 << 10, "{}", b.len());
        let mut z = zip::ZipArchive::new(Cursor::new(&b)).expect("zip");
        let mut sheet = z.by_name("xl/worksheets/sheet1.xml").expect("sheet");
        let mut n = 0u64;
        let mut buf = vec![0; 1 << 16];
        loop {
            let k = sheet.read(&mut buf).expect("read");
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        assert!(n > 64 << 20);
        let wb = workbook(
            &[
                Sheet::rows("A", &[vec![Cell::Text("x".into())]]),
                Sheet::rows("A", &[]),
            ],
            None,
        )
        .expect("built");
        let mut z = zip::ZipArchive::new(Cursor::new(&wb)).expect("zip");
        let mut text = String::new();
        z.by_name("xl/workbook.xml")
            .expect("workbook")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text.matches("name=\"A\"").count(), 2);
    }
}
