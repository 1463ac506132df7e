//! What a report is about: granularity, gateway, access region and the
//! device selection (all devices, a device list's sum, one device, a group).
//!
//! A job's *targets* are its device selections; each is fetched once per
//! access region it names. A target's label is what the history records in
//! `reports.target`; [`Target::file_component`] is its file-name-safe form.

use serde::Serialize;
use std::fmt;

/// `TimeGranularity` of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Hourly,
    Daily,
    Minute,
    #[serde(rename = "5min")]
    FiveMin,
}

impl Granularity {
    pub const NAMES: &'static [&'static str] = &["hourly", "daily", "minute", "5min"];

    pub fn parse(s: &str) -> Option<Granularity> {
        match s {
            "hourly" => Some(Granularity::Hourly),
            "daily" => Some(Granularity::Daily),
            "minute" => Some(Granularity::Minute),
            "5min" => Some(Granularity::FiveMin),
            _ => None,
        }
    }

    /// The API's `TimeGranularity` code.
    pub fn code(self) -> u8 {
        match self {
            Granularity::Hourly => 1,
            Granularity::Daily => 2,
            Granularity::Minute => 3,
            Granularity::FiveMin => 4,
        }
    }

    /// One unit, in seconds.
    pub fn unit_secs(self) -> u64 {
        match self {
            Granularity::Hourly => 3_600,
            Granularity::Daily => 86_400,
            Granularity::Minute => 60,
            Granularity::FiveMin => 300,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Granularity::Hourly => "hourly",
            Granularity::Daily => "daily",
            Granularity::Minute => "minute",
            Granularity::FiveMin => "5min",
        }
    }
}

/// `AccessRegion` of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Region {
    MC,
    AP,
    EU,
    AM,
}

impl Region {
    pub const NAMES: &'static [&'static str] = &["MC", "AP", "EU", "AM"];

    pub fn parse(s: &str) -> Option<Region> {
        match s {
            "MC" => Some(Region::MC),
            "AP" => Some(Region::AP),
            "EU" => Some(Region::EU),
            "AM" => Some(Region::AM),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Region::MC => "MC",
            Region::AP => "AP",
            Region::EU => "EU",
            Region::AM => "AM",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `GatewayType` of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gateway {
    Public,
    Private,
}

impl Gateway {
    pub fn parse(s: &str) -> Option<Gateway> {
        match s {
            "public" => Some(Gateway::Public),
            "private" => Some(Gateway::Private),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Gateway::Public => 0,
            Gateway::Private => 1,
        }
    }
}

/// Which devices one report covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selection {
    /// Every device: `DeviceId = "-1"`.
    All,
    /// One device: `DeviceId = <id>`.
    Device(String),
    /// The sum of 1..=10 devices: `DeviceId = "-1"`, `DeviceList = [...]`
    /// (one device alone: `DeviceId = <id>`, as the API documents it).
    Devices(Vec<String>),
    /// A group's total: `DeviceId = "-1"`, `GroupId = <id>`.
    Group(String),
}

/// One device selection of a job, with its history label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub selection: Selection,
    /// When the selection came to exist (a listed device's `CreateTime`, Unix
    /// seconds): windows ending at or before it are not its. `None`: always.
    pub since: Option<i64>,
}

impl Target {
    pub fn new(selection: Selection) -> Target {
        Target {
            selection,
            since: None,
        }
    }

    /// One listed device, which exists from `since` on.
    pub fn device_since(id: String, since: Option<i64>) -> Target {
        Target {
            selection: Selection::Device(id),
            since,
        }
    }

    /// Whether the report of `window` is this target's: the window ends
    /// after the target came to exist.
    pub fn covers(&self, window: &crate::core::window::Window) -> bool {
        self.since.is_none_or(|s| window.end > s)
    }

    /// The label recorded in `reports.target`: `all`, `device:<id>`,
    /// `devices:<id>+<id>...`, `group:<id>`.
    pub fn label(&self) -> String {
        match &self.selection {
            Selection::All => "all".to_string(),
            Selection::Device(d) => format!("device:{d}"),
            Selection::Devices(list) => format!("devices:{}", list.join("+")),
            Selection::Group(g) => format!("group:{g}"),
        }
    }

    /// A file-name-safe, readable, collision-free form of the label:
    /// `all`, `device-<id>`, `devices-<id>_<id>...`, `group-<id>`.
    pub fn file_component(&self) -> String {
        match &self.selection {
            Selection::All => "all".to_string(),
            Selection::Device(d) => format!("device-{}", safe_component(d)),
            Selection::Devices(list) => format!("devices-{}", safe_component(&list.join("+"))),
            Selection::Group(g) => format!("group-{}", safe_component(g)),
        }
    }
}

/// Make `s` safe as one path component: only `[A-Za-z0-9_-]`, never empty,
/// at most 77 bytes. When anything had to change, a short hash of the
/// original is appended, so distinct inputs keep distinct names.
pub fn safe_component(s: &str) -> String {
    const KEEP: usize = 64;
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out != s || out.len() > KEEP || out.is_empty() {
        out.truncate(KEEP);
        let digest = crate::core::digest::sha256_hex(s.as_bytes());
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(&digest[..12]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(Target::new(Selection::All).label(), "all");
        assert_eq!(
            Target::new(Selection::Device("mna-1".into())).label(),
            "device:mna-1"
        );
        assert_eq!(
            Target::new(Selection::Devices(vec!["a".into(), "b".into()])).label(),
            "devices:a+b"
        );
        assert_eq!(
            Target::new(Selection::Group("grp-1".into())).label(),
            "group:grp-1"
        );
    }

    #[test]
    fn file_components_are_safe() {
        assert_eq!(
            Target::new(Selection::Device("mna-1".into())).file_component(),
            "device-mna-1"
        );
        // ids that differ only in characters a file name cannot keep stay apart
        let a = Target::new(Selection::Device("a.b".into())).file_component();
        let b = Target::new(Selection::Device("a-b".into())).file_component();
        assert_ne!(a, b);
        for hostile in [
            "../../etc/passwd",
            "a/b",
            "..",
            ".",
            "",
            "x\0y",
            "\u{202e}evil",
        ] {
            let c = safe_component(hostile);
            assert!(!c.is_empty());
            assert!(
                c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'),
                "{c}"
            );
            assert_ne!(c, "..");
            assert_ne!(c, ".");
        }
        // distinct inputs differing only in unsafe characters stay distinct
        assert_ne!(safe_component("a/b"), safe_component("a?b"));
        let long = "d".repeat(200);
        assert!(safe_component(&long).len() <= 77);
    }

    #[test]
    fn a_device_covers_the_windows_ending_after_it_was_created() {
        let w = |start, end| crate::core::window::Window { start, end };
        let t = Target::device_since("d".into(), Some(1_000));
        assert!(!t.covers(&w(0, 1_000)));
        assert!(t.covers(&w(500, 1_001)));
        assert!(Target::new(Selection::All).covers(&w(0, 1)));
        assert_eq!(t.label(), "device:d");
    }

    #[test]
    fn codes() {
        assert_eq!(Granularity::parse("5min").map(Granularity::code), Some(4));
        assert_eq!(Granularity::parse("weekly"), None);
        assert_eq!(Region::parse("EU"), Some(Region::EU));
        assert_eq!(Region::parse("eu"), None);
        assert_eq!(Gateway::parse("private").map(Gateway::code), Some(1));
    }
}
