//! The seal: a fetched report's part file takes its final name and the
//! report is recorded `ok`, as one store method ([`Store::seal`]).
//!
//! Crash safety. The file is fsynced and checked before (the caller's
//! part); then its rows are read, it is renamed durably (rename, fsync of
//! the directory) and, under the history lock, one `IMMEDIATE` transaction
//! writes its rows into `report_rows`, the try's attempt rows, and marks the
//! report `ok`, dropping the claim. The rename comes first: a report is
//! `ok` only once its file is durable under its name, so a crash between
//! the two leaves a whole, checked file whose report is not `ok` (fetched
//! again, the file replaced), never an `ok` report without its file. A
//! small workbook (in memory) is read and renamed before the lock, so the
//! reports in flight overlap their fsyncs; a large one is read as it is
//! stored, inside the transaction, and renamed there, still before the
//! commit.
//!
//! The rename and the transaction are two resources: a forced refetch over
//! a good file first keeps it as `<final>.prev` ([`super::recover`]),
//! drops that copy once the transaction committed, and puts it back when
//! the transaction fails; a crash in between is settled at the next start.
//! A forced refetch of a report recorded under an older name (an archive
//! from before the injective names) writes the new name; the old file is
//! untouched until the transaction that records the new one has committed,
//! and is then removed, unless another row still records it. Every file is
//! reached through the [`ArchiveRoot`].

use super::reports::{self, AttemptRecord, Fetched};
use super::{Store, StoreError, now, recover};
use crate::archive::ingest::{self, IngestError};
use crate::archive::root::{ArchiveRoot, RelPath};
use std::cell::Cell;
use tracing::warn;

/// A fetched report to seal.
pub(crate) struct SealOrder<'a> {
    pub(crate) id: i64,
    /// The part file, fsynced and checked as a workbook.
    pub(crate) part: &'a RelPath,
    /// The name it takes.
    pub(crate) final_path: &'a RelPath,
    /// Its bytes, when they are held in memory.
    pub(crate) body: Option<&'a [u8]>,
    pub(crate) fetched: &'a Fetched,
    /// The attempt rows of the try that fetched it.
    pub(crate) records: &'a [AttemptRecord],
}

/// Why the file was not kept: it is not a good workbook, or a file
/// operation failed. The part file is gone.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SealError {
    #[error(transparent)]
    Workbook(IngestError),
    #[error("cannot {what} the report file: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// How a seal ended.
pub(crate) enum Sealed {
    /// Renamed and recorded `ok`: the rows read, the report's tries.
    Committed { rows: usize, attempts: u32 },
    /// The file is not good (rows, rename or a copy failed): nothing kept.
    Rejected(SealError),
    /// The history refused the commit.
    Store(StoreError),
}

/// What the transaction of a seal ends with: the rows read, the tries,
/// and the file the report recorded under an older name, to remove.
type Recorded = Result<Result<(usize, u32, Option<String>), SealError>, StoreError>;

impl Store {
    /// Seal `order` (see the module docs): blocking, async callers call it
    /// on the blocking pool.
    pub(crate) fn seal(&self, archive: &ArchiveRoot, order: &SealOrder<'_>) -> Sealed {
        let at = Seal {
            store: self,
            archive,
            order,
        };
        at.run()
    }
}

/// Where a seal happens.
struct Seal<'a> {
    store: &'a Store,
    archive: &'a ArchiveRoot,
    order: &'a SealOrder<'a>,
}

impl Seal<'_> {
    fn run(&self) -> Sealed {
        let (archive, part, final_path) = (self.archive, self.order.part, self.order.final_path);
        let reject = |e: SealError| {
            let _ = archive.remove(part);
            Sealed::Rejected(e)
        };
        // Read the rows before the file takes its final name: a file that is no
        // workbook never replaces anything (a report fetched again with --force
        // keeps its good file). A small workbook (in memory, rows within their
        // budget) is read here, before the history lock, so reports in flight
        // read theirs side by side; a large one is read as it is stored, inside
        // the transaction, with flat memory.
        let parsed = match self.order.body.map(ingest::parse_rows) {
            Some(Ok(parsed)) => parsed,
            Some(Err(e)) => return reject(SealError::Workbook(e)),
            None => None,
        };
        let renamed = Cell::new(false);
        let rename = || {
            archive
                .commit(part, final_path)
                .map(|()| renamed.set(true))
                .map_err(|source| SealError::Io {
                    what: "rename",
                    source,
                })
        };
        let kept = match self.keep_previous() {
            Ok(kept) => kept,
            Err(end) => return end,
        };
        let give_back = |what: &str| self.give_back(kept, renamed.get(), what);
        if parsed.is_some() {
            // Outside the lock: the fsync of the directory overlaps other commits.
            if let Err(e) = rename() {
                give_back("a failed rename");
                return reject(e);
            }
        }
        match self.record(&parsed, &rename) {
            Ok(Ok((rows, attempts, replaced))) => {
                if let Some(old) = replaced {
                    self.remove_replaced(&old);
                }
                if kept && let Err(e) = archive.drop_previous(final_path) {
                    warn!(file = %archive.absolute(final_path).display(), error = %e, "cannot remove the previous copy of a fetched report; the next start will");
                }
                // A new report for the upload outbox.
                self.store.sealed.notify_one();
                Sealed::Committed { rows, attempts }
            }
            Ok(Err(e)) => {
                give_back("a failed commit");
                reject(e)
            }
            // The history refused the commit. A renamed file over no good one
            // stays: it is whole and checked, and the report, not `ok`, is
            // fetched again later. A good one it replaced is put back.
            Err(e) => {
                give_back("a failed commit");
                let _ = archive.remove(part);
                warn!(file = %archive.absolute(final_path).display(), error = %e, "the history refused the commit of a fetched report");
                Sealed::Store(e)
            }
        }
    }

    /// The transaction: the rows (read now from the part file when they
    /// were not read before), the rename if not done yet, the try, `ok`.
    fn record(
        &self,
        parsed: &Option<(usize, Vec<ingest::SheetRow>)>,
        rename: &dyn Fn() -> Result<(), SealError>,
    ) -> Recorded {
        let SealOrder {
            id,
            part,
            fetched,
            records,
            ..
        } = *self.order;
        self.store.on_thread(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let read = match parsed {
                Some((sheets, rows)) => ingest::store_rows(&tx, id, *sheets, rows),
                None => match self.archive.open_file(part) {
                    Ok(file) => ingest::ingest_file(&tx, id, file),
                    Err(e) => Err(IngestError::Workbook(e.to_string())),
                },
            };
            let rows = match read {
                Ok(i) => i.rows,
                Err(IngestError::Store(e)) => return Err(e),
                Err(e) => return Ok(Err(SealError::Workbook(e))),
            };
            if parsed.is_none()
                && let Err(e) = rename()
            {
                return Ok(Err(e));
            }
            let now = now();
            let attempts = reports::record_try(&tx, id, records, now)?;
            let replaced = recover::replaced_file(&tx, id, &fetched.file_path)?;
            reports::mark_ok(&tx, id, fetched, now)?;
            tx.commit()?;
            Ok(Ok((rows, attempts, replaced)))
        })
    }

    /// A forced refetch over a good file keeps it until the history records
    /// the new one: every `ok` report's file is the one its row records.
    /// Whether a copy is kept; on an error, the end of the seal (the part
    /// file removed).
    fn keep_previous(&self) -> Result<bool, Sealed> {
        let (archive, part, final_path) = (self.archive, self.order.part, self.order.final_path);
        recover::keep_previous(self.store, archive, self.order.id, final_path).map_err(|e| {
            let _ = archive.remove(part);
            match e {
                recover::KeepError::Store(e) => Sealed::Store(e),
                recover::KeepError::Io(source) => Sealed::Rejected(SealError::Io {
                    what: "keep a copy of the previous",
                    source,
                }),
            }
        })
    }

    /// After a failure: the good file a forced refetch kept goes back under
    /// its name (or, never replaced, just loses its copy).
    fn give_back(&self, kept: bool, renamed: bool, what: &str) {
        if !kept {
            return;
        }
        let (archive, final_path) = (self.archive, self.order.final_path);
        let back = if renamed {
            archive.restore_previous(final_path)
        } else {
            archive.drop_previous(final_path)
        };
        if let Err(e) = back {
            warn!(file = %archive.absolute(final_path).display(), error = %e, "cannot put back the previous report file after {what}; the next start will");
        }
    }

    /// After the commit of a forced refetch that gave the report a new name:
    /// the file under its old name, which no row records any more, goes
    /// (through the archive; an old path outside it is never touched).
    fn remove_replaced(&self, old: &str) {
        match self.archive.locate(old) {
            Ok(rel) if rel != *self.order.final_path => {
                if let Err(e) = self.archive.remove(&rel) {
                    warn!(file = %old, error = %e, "cannot remove the file a refetched report had under its old name; remove it by hand");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "not removing the old file of a refetched report"),
        }
    }
}
