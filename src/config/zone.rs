//! `timezone`: an IANA name of the time zone database, `"localtime"` for
//! this machine's zone, and the fix for a name it does not know (a common
//! non-IANA name's zone, else the closest name).

use super::job::At;
use super::raw::RawJob;
use super::validate::Ctx;
use jiff::tz::TimeZone;

/// `timezone`: an IANA name, UTC when left out. The name as written, and
/// the zone when it is known. `"localtime"` (a file of the system's zone
/// database, not a zone name a browser knows) stands for this machine's
/// zone and is replaced by its IANA name.
pub(super) fn zone(cx: &mut Ctx<'_>, at: &At, raw: &RawJob) -> (String, Option<TimeZone>) {
    let Some(z) = &raw.timezone else {
        return ("UTC".to_string(), Some(TimeZone::UTC));
    };
    if z.get_ref().trim().eq_ignore_ascii_case("localtime") {
        return match local_zone() {
            Some((name, tz)) => (name, Some(tz)),
            None => {
                cx.problem(
                    at.key("timezone"),
                    Some(z.span()),
                    "\"localtime\" stands for this machine's zone, which has no IANA name here (/etc/localtime is not a link into the zone database, or TZ is not a zone name)",
                    Some("write the zone's IANA name, e.g. \"Europe/Berlin\" (`timedatectl` shows it)".to_string()),
                );
                (z.get_ref().clone(), None)
            }
        };
    }
    match TimeZone::get(z.get_ref()) {
        Ok(tz) => (z.get_ref().clone(), Some(tz)),
        Err(_) => {
            cx.problem(
                at.key("timezone"),
                Some(z.span()),
                format!("unknown time zone {:?}", z.get_ref()),
                Some(unknown_zone_fix(z.get_ref())),
            );
            (z.get_ref().clone(), None)
        }
    }
}

/// This machine's zone (`TZ`, else `/etc/localtime`) and its IANA name,
/// when it has one the time zone database knows.
fn local_zone() -> Option<(String, TimeZone)> {
    let tz = TimeZone::try_system().ok()?;
    let name = tz.iana_name()?.to_string();
    let known = !name.eq_ignore_ascii_case("localtime") && TimeZone::get(&name).is_ok();
    known.then_some((name, tz))
}

/// Whether `name` is a zone of the time zone database.
pub(super) fn known_zone(name: &str) -> bool {
    TimeZone::get(name).is_ok()
}

/// Names people write for a zone that the time zone database does not
/// know, and the zone they mean (lower case; checked before the closest
/// name, which for `Asia/Beijing` would be `Asia/Beirut`).
const ZONE_ALIASES: [(&str, &str); 14] = [
    ("asia/beijing", "Asia/Shanghai"),
    ("beijing", "Asia/Shanghai"),
    ("asia/peking", "Asia/Shanghai"),
    ("china", "Asia/Shanghai"),
    ("china standard time", "Asia/Shanghai"),
    ("cst", "Asia/Shanghai"),
    ("utc+8", "Asia/Shanghai"),
    ("gmt+8", "Asia/Shanghai"),
    ("asia/guangzhou", "Asia/Shanghai"),
    ("asia/shenzhen", "Asia/Shanghai"),
    ("asia/mumbai", "Asia/Kolkata"),
    ("asia/new_delhi", "Asia/Kolkata"),
    ("europe/frankfurt", "Europe/Berlin"),
    ("america/san_francisco", "America/Los_Angeles"),
];

/// The fix for an unknown zone: the zone a common non-IANA name stands for,
/// else the closest name of the time zone database, when there is one
/// close enough.
pub(super) fn unknown_zone_fix(name: &str) -> String {
    let general =
        "time zones are IANA names such as \"Asia/Shanghai\", \"Europe/Berlin\" or \"UTC\"";
    let lower = name.trim().to_lowercase();
    if let Some((_, zone)) = ZONE_ALIASES.iter().find(|(alias, _)| *alias == lower) {
        let note = if lower == "cst" {
            " (China Standard Time; US Central time is \"America/Chicago\")"
        } else {
            ""
        };
        return format!("did you mean {zone:?}?{note} ({general})");
    }
    let names: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_string())
        .collect();
    match crate::domain::suggest::closest(name, names.iter().map(String::as_str)) {
        Some(best) => format!("did you mean {best:?}? ({general})"),
        None => format!("use an IANA name: {general}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_non_iana_names_suggest_the_zone_they_mean() {
        for name in [
            "Asia/Beijing",
            "Beijing",
            "China",
            "CST",
            "UTC+8",
            "asia/beijing",
        ] {
            let fix = unknown_zone_fix(name);
            assert!(
                fix.starts_with("did you mean \"Asia/Shanghai\"?"),
                "{name}: {fix}"
            );
        }
        assert!(unknown_zone_fix("CST").contains("America/Chicago"));
        // names the database knows are not rewritten; others still get the closest
        assert!(known_zone("PRC") && known_zone("Asia/Chongqing"));
        assert!(unknown_zone_fix("Europe/Berln").starts_with("did you mean \"Europe/Berlin\"?"));
    }
}
