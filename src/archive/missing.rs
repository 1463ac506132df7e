//! The reports due inside a job's horizon (as the fetch planner makes them: window end `<= now - lag` and `> now - catch_up`, one per
//! target covering the window and region) that are not done, counted and
//! found without planning them all: the windows are counted by arithmetic
//! ([`crate::domain::window::grid`]) and the done, failed and running
//! reports counted in SQL ([`crate::archive::store::tally`]). The failures
//! list and `check` find the ones they show by cutting the horizon in parts
//! on those counts, down to a stretch of at most [`LEAF_WINDOWS`] windows,
//! and list only that stretch. Memory follows the page, not the horizon.

use crate::archive::resolved::ResolvedJob;
use crate::archive::store::tally::{self, Recorded, Tally};
use crate::domain::report::RegionScope;
use crate::domain::window::{self, Window, grid::Piece};
use jiff::Timestamp;
use rusqlite::Connection;
use std::collections::HashMap;

/// The most windows of one job listed at once.
pub(crate) const LEAF_WINDOWS: u64 = 256;

/// A job's due reports over a stretch: how many, and how many of them the
/// history has done, failed or running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Count {
    pub(crate) expected: u64,
    pub(crate) tally: Tally,
}

impl Count {
    /// Due and not done (failed, running, pending or never recorded).
    pub(crate) fn missing(&self) -> u64 {
        self.expected.saturating_sub(self.tally.done)
    }
}

/// A due report that is not done, with its row when the history has one.
#[derive(Debug, Clone)]
pub(crate) struct NotDone {
    pub(crate) job: String,
    pub(crate) target: String,
    /// As stored (`""` for all regions).
    pub(crate) region: String,
    pub(crate) window: Window,
    pub(crate) row: Option<Recorded>,
}

/// The due reports of one job at one moment.
pub(crate) struct Due {
    name: String,
    /// Target labels in the job's order, with when each came to exist.
    targets: Vec<(String, Option<i64>)>,
    regions: Vec<&'static str>,
    pieces: Vec<Piece>,
}

impl Due {
    /// `job`'s horizon at `now` (its targets as they are now).
    pub(crate) fn new(resolved: &ResolvedJob, now: Timestamp) -> Due {
        let job = resolved.job();
        let pieces = match (window::sub(now, job.lag), window::sub(now, job.catch_up)) {
            (Some(until), Some(after)) => job.cadence.pieces(after, until),
            _ => Vec::new(),
        };
        Due {
            name: job.name.clone(),
            targets: resolved
                .targets()
                .iter()
                .map(|t| (t.label(), t.since))
                .collect(),
            regions: job
                .regions
                .iter()
                .map(|r| RegionScope::from(*r).stored())
                .collect(),
            pieces,
        }
    }

    /// The horizon's window ends `(after, until]`; `None` when it is empty.
    pub(crate) fn span(&self) -> Option<(i64, i64)> {
        Some((self.pieces.first()?.after(), self.pieces.last()?.until()))
    }

    /// How many reports are due, without the history: every one.
    pub(crate) fn expected(&self) -> u64 {
        let mut n = 0u64;
        for piece in &self.pieces {
            for (_, since) in &self.targets {
                n = n.saturating_add(piece.count_after(*since));
            }
        }
        n.saturating_mul(self.regions.len() as u64)
    }

    /// The first and last windows of the horizon.
    pub(crate) fn bounds(&self) -> Option<(Window, Window)> {
        let first = self.pieces.iter().find_map(|p| p.bounds())?.0;
        let last = self.pieces.iter().rev().find_map(|p| p.bounds())?.1;
        Some((first, last))
    }

    fn clipped(&self, after: i64, until: i64) -> impl Iterator<Item = Piece> + '_ {
        self.pieces.iter().filter_map(move |p| p.clip(after, until))
    }

    /// How many windows end in `(after, until]` inside the horizon.
    pub(crate) fn windows(&self, after: i64, until: i64) -> u64 {
        self.clipped(after, until).map(|p| p.count()).sum()
    }

    /// The due reports whose window ends in `(after, until]`, counted.
    pub(crate) fn count(
        &self,
        conn: &Connection,
        after: i64,
        until: i64,
    ) -> rusqlite::Result<Count> {
        let mut c = Count::default();
        for piece in self.clipped(after, until) {
            for (target, since) in &self.targets {
                let n = piece.count_after(*since);
                if n == 0 {
                    continue;
                }
                for region in &self.regions {
                    c.expected += n;
                    c.tally += tally::tally(conn, &self.name, target, region, &piece, *since)?;
                }
            }
        }
        Ok(c)
    }

    /// The whole horizon, counted.
    pub(crate) fn total(&self, conn: &Connection) -> rusqlite::Result<Count> {
        match self.span() {
            Some((a, b)) => self.count(conn, a, b),
            None => Ok(Count::default()),
        }
    }

    /// The not-done reports whose window ends in `(after, until]`, in plan
    /// order (window, target, region). Keep the stretch short.
    fn list(&self, conn: &Connection, after: i64, until: i64) -> rusqlite::Result<Vec<NotDone>> {
        let windows: Vec<Window> = self
            .clipped(after, until)
            .flat_map(|p| p.windows())
            .collect();
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows: HashMap<(usize, usize), HashMap<Window, Recorded>> = HashMap::new();
        for (ti, (target, _)) in self.targets.iter().enumerate() {
            for (ri, region) in self.regions.iter().enumerate() {
                let found = tally::recorded(conn, &self.name, target, region, after, until)?;
                rows.insert((ti, ri), found.into_iter().map(|r| (r.window, r)).collect());
            }
        }
        let mut out = Vec::new();
        for w in &windows {
            for (ti, (target, since)) in self.targets.iter().enumerate() {
                if since.is_some_and(|s| w.end <= s) {
                    continue;
                }
                for (ri, region) in self.regions.iter().enumerate() {
                    let row = rows.get(&(ti, ri)).and_then(|m| m.get(w));
                    if row.is_some_and(Recorded::done) {
                        continue;
                    }
                    out.push(NotDone {
                        job: self.name.clone(),
                        target: target.clone(),
                        region: region.to_string(),
                        window: *w,
                        row: row.cloned(),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// A page of the not-done reports of some jobs, newest window first (then
/// by job and target), and how many there are in all.
#[derive(Debug, Clone, Default)]
pub(crate) struct Page {
    pub(crate) total: u64,
    pub(crate) items: Vec<NotDone>,
}

/// Into how many parts a stretch is cut at each step of the search.
const FAN: i64 = 16;

/// `(after, until]` cut into at most [`FAN`] parts, newest first.
fn parts(after: i64, until: i64) -> Vec<(i64, i64)> {
    let step = ((until - after) + FAN - 1) / FAN;
    let step = step.max(1);
    let mut out = Vec::new();
    let mut hi = until;
    while hi > after {
        let lo = (hi - step).max(after);
        out.push((lo, hi));
        hi = lo;
    }
    out
}

/// Items `[offset, offset + limit)` of the not-done reports of `dues`.
/// The horizon is counted in [`FAN`] parts (their sum is the total); the
/// part holding the page is cut again, down to [`LEAF_WINDOWS`] windows.
pub(crate) fn page(
    conn: &Connection,
    dues: &[Due],
    offset: u64,
    limit: usize,
) -> rusqlite::Result<Page> {
    let counted = counted(conn, dues)?;
    take(conn, dues, &counted, offset, limit)
}

/// The not-done reports of `dues`: how many, the newest and the oldest
/// (one count of the horizon for both).
pub(crate) fn newest_and_oldest(
    conn: &Connection,
    dues: &[Due],
) -> rusqlite::Result<(u64, Option<NotDone>, Option<NotDone>)> {
    let counted = counted(conn, dues)?;
    let newest = take(conn, dues, &counted, 0, 1)?;
    let oldest = take(conn, dues, &counted, newest.total.saturating_sub(1), 1)?;
    Ok((
        newest.total,
        newest.items.into_iter().next(),
        oldest.items.into_iter().next(),
    ))
}

/// The horizon of `dues` in [`FAN`] parts, newest first, each with its
/// not-done count.
fn counted(conn: &Connection, dues: &[Due]) -> rusqlite::Result<Vec<(i64, i64, u64)>> {
    let spans: Vec<(i64, i64)> = dues.iter().filter_map(Due::span).collect();
    let (Some(a), Some(b)) = (
        spans.iter().map(|s| s.0).min(),
        spans.iter().map(|s| s.1).max(),
    ) else {
        return Ok(Vec::new());
    };
    let walk = Walk {
        conn,
        dues,
        skip: 0,
        limit: 0,
        out: Vec::new(),
    };
    parts(a, b)
        .into_iter()
        .map(|(lo, hi)| Ok((lo, hi, walk.missing(lo, hi)?)))
        .collect()
}

/// Items `[offset, offset + limit)` of what `counted` holds.
fn take(
    conn: &Connection,
    dues: &[Due],
    counted: &[(i64, i64, u64)],
    offset: u64,
    limit: usize,
) -> rusqlite::Result<Page> {
    let mut walk = Walk {
        conn,
        dues,
        skip: offset,
        limit,
        out: Vec::new(),
    };
    for &(lo, hi, n) in counted {
        walk.collect(lo, hi, n)?;
    }
    Ok(Page {
        total: counted.iter().map(|c| c.2).sum(),
        items: walk.out,
    })
}

/// The search of [`page`].
struct Walk<'a> {
    conn: &'a Connection,
    dues: &'a [Due],
    /// Not-done reports still to pass over, newest first.
    skip: u64,
    limit: usize,
    out: Vec<NotDone>,
}

impl Walk<'_> {
    fn missing(&self, after: i64, until: i64) -> rusqlite::Result<u64> {
        let mut n = 0;
        for d in self.dues {
            n += d.count(self.conn, after, until)?.missing();
        }
        Ok(n)
    }

    /// Take what the page needs from `(after, until]`, which holds `n`
    /// not-done reports.
    fn collect(&mut self, after: i64, until: i64, n: u64) -> rusqlite::Result<()> {
        if n == 0 || self.out.len() >= self.limit {
            return Ok(());
        }
        if n <= self.skip {
            self.skip -= n;
            return Ok(());
        }
        let widest = self
            .dues
            .iter()
            .map(|d| d.windows(after, until))
            .max()
            .unwrap_or(0);
        if widest > LEAF_WINDOWS && until - after > 1 {
            let mut left = n;
            let cut = parts(after, until);
            let last = cut.len().saturating_sub(1);
            for (i, (lo, hi)) in cut.into_iter().enumerate() {
                // The oldest part holds what the others do not.
                let k = if i == last {
                    left
                } else {
                    self.missing(lo, hi)?
                };
                left = left.saturating_sub(k);
                self.collect(lo, hi, k)?;
                if self.out.len() >= self.limit {
                    break;
                }
            }
            return Ok(());
        }
        let mut items = Vec::new();
        for d in self.dues {
            items.extend(d.list(self.conn, after, until)?);
        }
        // Stable: plan order (regions) within a window, job and target.
        items.sort_by(|x, y| {
            y.window
                .end
                .cmp(&x.window.end)
                .then_with(|| x.job.cmp(&y.job))
                .then_with(|| x.target.cmp(&y.target))
        });
        let skip = usize::try_from(self.skip).unwrap_or(usize::MAX);
        let room = self.limit - self.out.len();
        self.skip = self.skip.saturating_sub(items.len() as u64);
        self.out.extend(items.into_iter().skip(skip).take(room));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
