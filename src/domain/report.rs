//! The report's vocabulary: which report ([`ReportKey`]), for which region
//! ([`RegionScope`]), why it was fetched ([`Trigger`]) and where it stands
//! ([`Status`]). The history stores these, the plan makes them, the command
//! line shows and filters by them. Pure.

use crate::domain::target::Region;
use std::collections::HashSet;
use std::fmt;

/// Status of a report row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Running,
    Ok,
    Failed,
    Pruned,
}

impl Status {
    pub(crate) fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "pending" => Status::Pending,
            "running" => Status::Running,
            "ok" => Status::Ok,
            "failed" => Status::Failed,
            "pruned" => Status::Pruned,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Pruned => "pruned",
        }
    }

    /// Done reports are not fetched again (unless forced).
    pub(crate) fn is_done(self) -> bool {
        matches!(self, Status::Ok | Status::Pruned)
    }
}

/// Why a report was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Trigger {
    #[serde(rename = "schedule")]
    Schedule,
    #[serde(rename = "catch-up")]
    CatchUp,
    #[serde(rename = "manual")]
    Manual,
}

impl Trigger {
    pub(crate) fn parse(s: &str) -> Option<Trigger> {
        Some(match s {
            "schedule" => Trigger::Schedule,
            "catch-up" => Trigger::CatchUp,
            "manual" => Trigger::Manual,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::CatchUp => "catch-up",
            Trigger::Manual => "manual",
        }
    }
}

/// The identity of a report: the history's unique key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportKey {
    pub job: String,
    pub target: String,
    /// `""` for all regions (see `RegionScope::stored`).
    pub region: String,
    pub window_start: i64,
    pub window_end: i64,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a report of every region is called where people read it.
const ALL_REGIONS: &str = "ALL";

/// The region of a report: one the API names, or none named, which asks
/// for all of them. Shown as the region's code, or `ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RegionScope {
    All,
    Only(Region),
}

impl RegionScope {
    /// The region to ask the API for; `None` asks for all of them.
    pub(crate) fn region(self) -> Option<Region> {
        match self {
            RegionScope::All => None,
            RegionScope::Only(r) => Some(r),
        }
    }

    /// The region as the history stores it: `""` for all regions.
    pub(crate) fn stored(self) -> &'static str {
        match self {
            RegionScope::All => "",
            RegionScope::Only(r) => r.as_str(),
        }
    }

    /// A region as the history stores it, for people: `ALL` for `""`.
    pub(crate) fn show_stored(stored: &str) -> &str {
        if stored.is_empty() {
            ALL_REGIONS
        } else {
            stored
        }
    }
}

impl From<Option<Region>> for RegionScope {
    fn from(r: Option<Region>) -> RegionScope {
        r.map_or(RegionScope::All, RegionScope::Only)
    }
}

impl fmt::Display for RegionScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionScope::All => f.write_str(ALL_REGIONS),
            RegionScope::Only(r) => f.write_str(r.as_str()),
        }
    }
}

/// Something that stands for one report.
pub(crate) trait Keyed {
    fn key(&self) -> ReportKey;
}

/// `planned` without the reports in `done`.
pub(crate) fn without_done<T: Keyed>(planned: Vec<T>, done: &HashSet<ReportKey>) -> Vec<T> {
    planned
        .into_iter()
        .filter(|p| !done.contains(&p.key()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_of_all_is_shown_as_all_and_stored_empty() {
        assert_eq!(RegionScope::from(None).to_string(), "ALL");
        assert_eq!(RegionScope::All.stored(), "");
        assert_eq!(RegionScope::show_stored(""), "ALL");
        let eu = RegionScope::from(Some(Region::EU));
        assert_eq!(eu.to_string(), "EU");
        assert_eq!(eu.stored(), "EU");
        assert_eq!(RegionScope::show_stored("EU"), "EU");
        assert_eq!(eu.region(), Some(Region::EU));
    }

    #[test]
    fn a_status_reads_back_what_it_writes() {
        for s in [
            Status::Pending,
            Status::Running,
            Status::Ok,
            Status::Failed,
            Status::Pruned,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(Status::parse("OK"), None);
        for t in [Trigger::Schedule, Trigger::CatchUp, Trigger::Manual] {
            assert_eq!(Trigger::parse(t.as_str()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(Trigger::parse("catch_up"), None);
    }
}
