//! What a report workbook may hold, and the check that it holds no more
//! before calamine reads it.
//!
//! Excel's own limits, which no real report exceeds, bound the cells
//! ([`MAX_ROWS`], [`MAX_COLUMNS`], [`MAX_CELL_CHARS`]; enforced by
//! [`crate::archive::ingest`] as it reads). Caps of our own bound what a zip can
//! make the reader decompress or hold: [`guard`] reads every XML part of
//! the zip once, as a stream, counting what it really decompresses (the
//! sizes a zip declares can lie) and checking it with [`scan`]; the parts
//! that are not XML (images, padding) it does not read, and the reader it
//! returns refuses to read them. Memory stays flat whatever the workbook.

mod scan;

pub(crate) use scan::{
    MAX_ELEMENT_TEXT_BYTES, MAX_EVENT_BYTES, MAX_KEPT_BYTES, MAX_KEPT_ELEMENTS, MAX_SHARED_STRINGS,
};

use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

/// Rows of a sheet (Excel's limit).
pub(crate) const MAX_ROWS: u32 = 1_048_576;
/// Columns of a sheet (Excel's limit, `XFD`).
pub(crate) const MAX_COLUMNS: u32 = 16_384;
/// Characters of a cell (Excel's limit).
pub(crate) const MAX_CELL_CHARS: usize = 32_767;
/// Parts (zip entries) of a workbook.
pub(crate) const MAX_PARTS: usize = 10_000;
/// Decompressed bytes of one XML part.
pub(crate) const MAX_PART_BYTES: u64 = 512 << 20;
/// Decompressed bytes of the shared strings part (calamine holds it whole).
pub(crate) const MAX_SHARED_STRINGS_BYTES: u64 = 64 << 20;
/// Decompressed bytes of all XML parts together.
pub(crate) const MAX_TOTAL_BYTES: u64 = 1 << 30;
/// JSON text of one row in `report_rows`.
pub(crate) const MAX_ROW_BYTES: usize = 4 << 20;
/// JSON text of all the rows of one workbook in `report_rows`.
pub(crate) const MAX_DATA_BYTES: u64 = 1 << 30;

/// Which limit a workbook went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Parts,
    Rows,
    Columns,
    CellChars,
    PartBytes,
    SharedStringsBytes,
    TotalBytes,
    Event,
    ElementText,
    SharedStrings,
    KeptElements,
    KeptBytes,
    RowBytes,
    DataBytes,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Limit::Parts => format!("more than {MAX_PARTS} parts"),
            Limit::Rows => format!("more than {MAX_ROWS} rows (Excel's limit)"),
            Limit::Columns => format!("more than {MAX_COLUMNS} columns (Excel's limit)"),
            Limit::CellChars => {
                format!("a cell of more than {MAX_CELL_CHARS} characters (Excel's limit)")
            }
            Limit::PartBytes => format!("more than {} MiB decompressed", MAX_PART_BYTES >> 20),
            Limit::SharedStringsBytes => format!(
                "more than {} MiB of shared strings decompressed",
                MAX_SHARED_STRINGS_BYTES >> 20
            ),
            Limit::TotalBytes => format!(
                "more than {} MiB decompressed in all",
                MAX_TOTAL_BYTES >> 20
            ),
            Limit::Event => format!(
                "a tag or text run of more than {} KiB",
                MAX_EVENT_BYTES >> 10
            ),
            Limit::ElementText => format!(
                "a value of more than {} KiB of text",
                MAX_ELEMENT_TEXT_BYTES >> 10
            ),
            Limit::SharedStrings => format!("more than {MAX_SHARED_STRINGS} shared strings"),
            Limit::KeptElements => {
                format!("more than {MAX_KEPT_ELEMENTS} styles, sheets, names or relationships")
            }
            Limit::KeptBytes => format!(
                "more than {} MiB of styles, sheets, names or relationships",
                MAX_KEPT_BYTES >> 20
            ),
            Limit::RowBytes => format!("a row of more than {} MiB", MAX_ROW_BYTES >> 20),
            Limit::DataBytes => format!("more than {} MiB of rows in all", MAX_DATA_BYTES >> 20),
        };
        f.write_str(&text)
    }
}

/// Why a workbook is refused. Neither is retried: fetching the same report
/// again gives the same file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkbookError {
    #[error(
        "the workbook is too large to read: {part} has {what}; no real report does, \
         so it is not stored (ask the API's operator about this report)"
    )]
    TooLarge { part: String, what: Limit },
    #[error(
        "the workbook is malformed: {0}; it is not stored (ask the API's operator about this report)"
    )]
    Invalid(String),
}

impl WorkbookError {
    /// The code recorded in the history.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            WorkbookError::TooLarge { .. } => "WorkbookTooLarge",
            WorkbookError::Invalid(_) => "WorkbookInvalid",
        }
    }

    pub(crate) fn too_large(part: impl Into<String>, what: Limit) -> WorkbookError {
        WorkbookError::TooLarge {
            part: part.into(),
            what,
        }
    }
}

/// Why [`guard`] gave up: the workbook breaks a limit, or is no readable zip.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GuardError {
    #[error(transparent)]
    Refused(#[from] WorkbookError),
    #[error("{0}")]
    Unreadable(String),
}

/// Whether a part is read as XML: by its name, as xlsx parts are named.
fn is_xml_part(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".xml") || lower.ends_with(".rels")
}

fn is_shared_strings(name: &str) -> bool {
    // as calamine finds parts: backslashes as slashes, any case
    let lower = name.replace('\\', "/").to_ascii_lowercase();
    lower == "sharedstrings.xml" || lower.ends_with("/sharedstrings.xml")
}

/// Check every XML part of the zip in `source` against the limits, then
/// hand `source` back, rewound, behind a reader that refuses to read the
/// parts that were not checked.
pub(crate) fn guard<RS: Read + Seek>(source: RS) -> Result<Guarded<RS>, GuardError> {
    guard_with(source, &CAPS)
}

/// The decompressed-size caps [`guard`] applies.
struct Caps {
    part: u64,
    shared_strings: u64,
    total: u64,
}

const CAPS: Caps = Caps {
    part: MAX_PART_BYTES,
    shared_strings: MAX_SHARED_STRINGS_BYTES,
    total: MAX_TOTAL_BYTES,
};

fn guard_with<RS: Read + Seek>(mut source: RS, caps: &Caps) -> Result<Guarded<RS>, GuardError> {
    let unreadable = |e: &dyn std::fmt::Display| GuardError::Unreadable(e.to_string());
    let mut unchecked = Vec::new();
    {
        let mut zip = zip::ZipArchive::new(&mut source).map_err(|e| unreadable(&e))?;
        if zip.len() > MAX_PARTS {
            return Err(WorkbookError::too_large("the zip", Limit::Parts).into());
        }
        let mut total = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        for i in 0..zip.len() {
            let name = zip
                .name_for_index(i)
                .and_then(Result::ok)
                .map(|n| n.into_owned())
                .unwrap_or_default();
            if !is_xml_part(&name) {
                let raw = zip.by_index_raw(i).map_err(|e| unreadable(&e))?;
                if let Some(start) = raw.data_start()
                    && raw.compressed_size() > 0
                {
                    unchecked.push(Unchecked { name, start });
                }
                continue;
            }
            let cap = if is_shared_strings(&name) {
                (caps.shared_strings, Limit::SharedStringsBytes)
            } else {
                (caps.part, Limit::PartBytes)
            };
            let mut part = zip.by_index(i).map_err(|e| unreadable(&e))?;
            let mut scanner = scan::Scanner::new(&name);
            let mut read = 0u64;
            loop {
                let n = part.read(&mut buf).map_err(|e| unreadable(&e))?;
                if n == 0 {
                    break;
                }
                read += n as u64;
                total += n as u64;
                if read > cap.0 {
                    return Err(WorkbookError::too_large(name, cap.1).into());
                }
                if total > caps.total {
                    return Err(WorkbookError::too_large(name, Limit::TotalBytes).into());
                }
                scanner.feed(&buf[..n])?;
            }
            scanner.finish()?;
        }
    }
    source
        .seek(SeekFrom::Start(0))
        .map_err(|e| unreadable(&e))?;
    Ok(Guarded {
        inner: source,
        pos: 0,
        unchecked,
        refused: Arc::default(),
    })
}

/// The bytes of a part [`guard`] did not check.
#[derive(Debug, Clone)]
struct Unchecked {
    name: String,
    start: u64,
}

/// A reader over a checked workbook that fails any read of a part that
/// was not checked (calamine reads a part as XML only when the workbook
/// points it there). [`Guarded::refusal`] tells the error apart.
pub(crate) struct Guarded<RS> {
    inner: RS,
    pos: u64,
    unchecked: Vec<Unchecked>,
    refused: Arc<Mutex<Option<String>>>,
}

impl<RS> Guarded<RS> {
    /// A handle on what was refused, to look at once the reader is gone.
    pub(crate) fn refusal(&self) -> Refusal {
        Refusal(self.refused.clone())
    }
}

/// What a [`Guarded`] reader refused to read, if anything.
#[derive(Clone)]
pub(crate) struct Refusal(Arc<Mutex<Option<String>>>);

impl Refusal {
    /// The error to report when the reader failed after a refused read.
    pub(crate) fn error(&self) -> Option<WorkbookError> {
        let name = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        Some(WorkbookError::Invalid(format!(
            "it has the reader read {name} as XML, which is no XML part"
        )))
    }
}

impl<RS: Read> Read for Guarded<RS> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Every read of a part's content starts at the first byte of its
        // data; other reads (the central directory, headers) do not.
        if let Some(u) = self.unchecked.iter().find(|u| u.start == self.pos) {
            *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(u.name.clone());
            return Err(std::io::Error::other(format!("{} was not checked", u.name)));
        }
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<RS: Seek> Seek for Guarded<RS> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests;
