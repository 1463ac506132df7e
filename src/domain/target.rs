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
pub(crate) enum Granularity {
    Hourly,
    Daily,
    Minute,
    #[serde(rename = "5min")]
    FiveMin,
}

impl Granularity {
    pub(crate) const NAMES: &'static [&'static str] = &["hourly", "daily", "minute", "5min"];

    pub(crate) fn parse(s: &str) -> Option<Granularity> {
        match s {
            "hourly" => Some(Granularity::Hourly),
            "daily" => Some(Granularity::Daily),
            "minute" => Some(Granularity::Minute),
            "5min" => Some(Granularity::FiveMin),
            _ => None,
        }
    }

    /// The API's `TimeGranularity` code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Granularity::Hourly => 1,
            Granularity::Daily => 2,
            Granularity::Minute => 3,
            Granularity::FiveMin => 4,
        }
    }

    /// One unit, in seconds.
    pub(crate) fn unit_secs(self) -> u64 {
        match self {
            Granularity::Hourly => 3_600,
            Granularity::Daily => 86_400,
            Granularity::Minute => 60,
            Granularity::FiveMin => 300,
        }
    }

    pub(crate) fn name(self) -> &'static str {
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
pub(crate) enum Region {
    MC,
    AP,
    EU,
    AM,
}

impl Region {
    pub(crate) const NAMES: &'static [&'static str] = &["MC", "AP", "EU", "AM"];

    pub(crate) fn parse(s: &str) -> Option<Region> {
        match s {
            "MC" => Some(Region::MC),
            "AP" => Some(Region::AP),
            "EU" => Some(Region::EU),
            "AM" => Some(Region::AM),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
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
pub(crate) enum Gateway {
    Public,
    Private,
}

impl Gateway {
    pub(crate) fn parse(s: &str) -> Option<Gateway> {
        match s {
            "public" => Some(Gateway::Public),
            "private" => Some(Gateway::Private),
            _ => None,
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Gateway::Public => 0,
            Gateway::Private => 1,
        }
    }
}

/// Which devices one report covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Selection {
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
pub(crate) struct Target {
    pub(crate) selection: Selection,
    /// When the selection came to exist (a listed device's `CreateTime`, Unix
    /// seconds): windows ending at or before it are not its. `None`: always.
    pub(crate) since: Option<i64>,
}

impl Target {
    pub(crate) fn new(selection: Selection) -> Target {
        Target {
            selection,
            since: None,
        }
    }

    /// One listed device, which exists from `since` on.
    pub(crate) fn device_since(id: String, since: Option<i64>) -> Target {
        Target {
            selection: Selection::Device(id),
            since,
        }
    }

    /// Whether the report of `window` is this target's: the window ends
    /// after the target came to exist.
    pub(crate) fn covers(&self, window: &crate::domain::window::Window) -> bool {
        self.since.is_none_or(|s| window.end > s)
    }

    /// The label recorded in `reports.target`: `all`, `device:<id>`,
    /// `devices:<id>+<id>...`, `group:<id>`.
    pub(crate) fn label(&self) -> String {
        match &self.selection {
            Selection::All => "all".to_string(),
            Selection::Device(d) => format!("device:{d}"),
            Selection::Devices(list) => format!("devices:{}", list.join("+")),
            Selection::Group(g) => format!("group:{g}"),
        }
    }

    /// A file-name-safe, readable, injective form of the label (see
    /// [`crate::domain::filename`]): `all`, `device-<id>`, `devices-<id>%2B<id>...`,
    /// `group-<id>`, every byte of an id outside `[A-Za-z0-9-]` escaped,
    /// at most 120 bytes. The four prefixes are distinct and none is a
    /// prefix of another, so distinct labels keep distinct components.
    pub(crate) fn file_component(&self) -> String {
        use crate::domain::filename::component;
        match &self.selection {
            Selection::All => "all".to_string(),
            Selection::Device(d) => format!("device-{}", component(d, TARGET_ID_MAX)),
            Selection::Devices(list) => {
                format!("devices-{}", component(&list.join("+"), TARGET_ID_MAX))
            }
            Selection::Group(g) => format!("group-{}", component(g, TARGET_ID_MAX)),
        }
    }
}

/// Most bytes of the id part of [`Target::file_component`].
pub(crate) const TARGET_ID_MAX: usize = 112;

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
            &"d".repeat(300),
        ] {
            let c = Target::new(Selection::Device(hostile.into())).file_component();
            assert!(c.len() <= 120, "{c}");
            assert!(
                c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-%~".contains(ch)),
                "{c}"
            );
        }
    }

    /// The collision of the old names: `x.y` became `x_y_<12 hex of its
    /// sha256>`, which a device named so kept as it was.
    #[test]
    fn a_device_named_like_another_ones_old_escape_gets_another_name() {
        let hex = &crate::domain::digest::sha256_hex(b"x.y")[..12];
        let dotted = Target::new(Selection::Device("x.y".into())).file_component();
        let named = Target::new(Selection::Device(format!("x_y_{hex}"))).file_component();
        assert_eq!(dotted, "device-x%2Ey");
        assert_eq!(named, format!("device-x%5Fy%5F{hex}"));
    }

    #[test]
    fn a_device_covers_the_windows_ending_after_it_was_created() {
        let w = |start, end| crate::domain::window::Window { start, end };
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
