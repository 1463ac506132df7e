//! The systemd units shipped in `systemd/`: `systemd-analyze verify` accepts
//! them without a single complaint, `systemd-analyze security --offline=true`
//! rates their sandbox 1.5 or better, and the sysusers.d file creates the user
//! they run as. Needs `systemd-analyze` and `systemd-sysusers` (Debian package
//! `systemd`); no running systemd is needed.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mna-reportd");
const INSTALLED_BIN: &str = "/usr/bin/mna-reportd";
const MAX_EXPOSURE: f64 = 1.5;
const SERVICE_USER: &str = "mna-reportd";

/// The units, and for each the name `verify` loads it under (a template
/// needs an instance).
const UNITS: [(&str, &str); 2] = [
    ("mna-reportd.service", "mna-reportd.service"),
    ("mna-reportd@.service", "mna-reportd@acme.service"),
];

fn systemd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd")
}

fn read_unit(file: &str) -> String {
    let path = systemd_dir().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Run a systemd tool with a fixed, plain output; fail with install advice
/// when it is missing.
fn systemd_tool(tool: &str, args: &[&str], dir: &Path) -> Output {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .env("SYSTEMD_LOG_LEVEL", "info")
        .env("SYSTEMD_LOG_COLOR", "0")
        .output();
    match out {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "`{tool}` is not installed: these tests check the units in systemd/ with it. \
             Install the Debian package `systemd` (apt-get install systemd); \
             no running systemd is needed"
        ),
        Err(e) => panic!("cannot run `{tool}`: {e}"),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `Key=value` assignments of a unit, in order, comments left out.
fn assignments(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter(|l| !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn values(unit: &str, key: &str) -> Vec<String> {
    assignments(unit)
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

fn value(unit: &str, key: &str) -> String {
    let v = values(unit, key);
    assert_eq!(v.len(), 1, "expected exactly one {key}=, found {v:?}");
    v.into_iter().next().expect("one value")
}

/// The unit with `ExecStart=` pointing at the binary cargo built, so that
/// `verify` can check that the command exists and is executable.
fn with_built_binary(unit: &str) -> String {
    let prefix = format!("ExecStart={INSTALLED_BIN} ");
    let starts = unit.lines().filter(|l| l.starts_with(&prefix)).count();
    assert_eq!(
        starts, 1,
        "the unit must start {INSTALLED_BIN} from exactly one ExecStart= line"
    );
    unit.replace(&prefix, &format!("ExecStart={BIN} "))
}

/// `systemd-analyze verify` on a copy of `unit_text` saved as `file` and
/// loaded as `load_as`: (exit code, every line that talks about the unit).
fn verify(file: &str, load_as: &str, unit_text: &str) -> (Option<i32>, Vec<String>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(file), unit_text).expect("write unit copy");
    let target = dir.path().join(load_as);
    let out = systemd_tool(
        "systemd-analyze",
        &[
            "verify",
            "--man=no",
            // Judge this unit only, not the distribution's units it is ordered against.
            "--recursive-errors=no",
            target.to_str().expect("utf-8 path"),
        ],
        dir.path(),
    );
    let all = text(&out);
    // Every complaint about the unit names it: "<path>:<line>: ..." for the
    // file, "<unit>: ..." for the loaded unit. Unknown keys and bad values
    // are only warnings (exit 0), so the lines decide as much as the status.
    let stem = file.split(['@', '.']).next().expect("unit name");
    let complaints = all
        .lines()
        .filter(|l| l.contains(stem))
        .map(str::to_string)
        .collect();
    (out.status.code(), complaints, all)
}

#[test]
fn verify_accepts_the_units() {
    for (file, load_as) in UNITS {
        let unit = with_built_binary(&read_unit(file));
        let (code, complaints, all) = verify(file, load_as, &unit);
        assert!(
            code == Some(0) && complaints.is_empty(),
            "systemd-analyze verify {load_as} (exit {code:?}) complains about systemd/{file}:\n{all}"
        );
    }
}

/// The verify check above would catch a broken unit: an unknown directive,
/// a bad value, a broken section header, a command that is not there.
#[test]
fn verify_catches_broken_units() {
    for (file, load_as) in UNITS {
        let good = with_built_binary(&read_unit(file));
        let broken = [
            (
                "unknown directive",
                good.replace(
                    "\nNoNewPrivileges=yes\n",
                    "\nNoNewPrivileges=yes\nNoNewPrivilegez=yes\n",
                ),
            ),
            (
                "bad value",
                good.replace("\nNoNewPrivileges=yes\n", "\nNoNewPrivileges=perhaps\n"),
            ),
            (
                "broken section header",
                good.replacen("\n[Service]\n", "\n[Service\n", 1),
            ),
            (
                "missing command",
                good.replace(BIN, "/nonexistent/mna-reportd"),
            ),
        ];
        for (what, unit) in broken {
            assert_ne!(unit, good, "{file}: could not make a unit with a {what}");
            let (code, complaints, all) = verify(file, load_as, &unit);
            assert!(
                code != Some(0) || !complaints.is_empty(),
                "systemd-analyze verify {load_as} did not notice a {what}:\n{all}"
            );
        }
    }
}

/// The overall exposure from `systemd-analyze security` text output:
/// "→ Overall exposure level for mna-reportd.service: 1.2 OK 🙂".
fn overall_exposure(report: &str) -> Option<f64> {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    let (_, after) = line.rsplit_once(": ")?;
    after.split_whitespace().next()?.parse().ok()
}

#[test]
fn parses_the_overall_exposure() {
    let report = "✗ UMask=   Files created by service are group-readable by default   0.1\n\n\
                  → Overall exposure level for mna-reportd@i.service: 1.2 OK 🙂\n";
    assert_eq!(overall_exposure(report), Some(1.2));
    assert_eq!(
        overall_exposure("→ Overall exposure level for x.service: 9.6 UNSAFE 😨"),
        Some(9.6)
    );
    assert_eq!(overall_exposure("no summary here"), None);
}

#[test]
fn security_exposure_is_at_most_1_5() {
    let dir = systemd_dir();
    for (file, _) in UNITS {
        let out = systemd_tool(
            "systemd-analyze",
            &[
                "security",
                "--offline=true",
                "--no-pager",
                &format!("./{file}"),
            ],
            &dir,
        );
        let report = text(&out);
        assert!(
            out.status.success(),
            "systemd-analyze security {file} failed:\n{report}"
        );
        let exposure = overall_exposure(&report)
            .unwrap_or_else(|| panic!("no overall exposure level for {file} in:\n{report}"));
        assert!(
            exposure <= MAX_EXPOSURE,
            "systemd/{file}: overall exposure {exposure} is above {MAX_EXPOSURE}:\n{report}"
        );
    }
}

/// What the daemon relies on, beyond what verify and security can tell.
#[test]
fn units_keep_the_daemon_contract() {
    for (file, _) in UNITS {
        let unit = read_unit(file);
        let template = file.contains('@');
        let at = |s: &str| {
            if template {
                format!("mna-reportd/%i{s}")
            } else {
                format!("mna-reportd{s}")
            }
        };

        assert_eq!(value(&unit, "Type"), "notify", "{file}");
        assert_eq!(value(&unit, "NotifyAccess"), "main", "{file}");
        assert_eq!(
            value(&unit, "ExecReload"),
            "/bin/kill -HUP $MAINPID",
            "{file}"
        );
        assert_eq!(value(&unit, "Restart"), "on-failure", "{file}");
        assert_eq!(value(&unit, "User"), SERVICE_USER, "{file}");
        assert_eq!(value(&unit, "UMask"), "0027", "{file}");
        assert_eq!(
            value(&unit, "ExecStart"),
            format!("{INSTALLED_BIN} --config /etc/{} run", at("/config.toml")),
            "{file}"
        );
        assert_eq!(value(&unit, "StateDirectory"), at(""), "{file}");
        assert_eq!(value(&unit, "StateDirectoryMode"), "0750", "{file}");
        assert_eq!(value(&unit, "ConfigurationDirectory"), at(""), "{file}");
        assert_eq!(
            values(&unit, "LoadCredential"),
            vec![
                format!("secret_id:/etc/{}", at("/secret_id")),
                format!("secret_key:/etc/{}", at("/secret_key")),
            ],
            "{file}: a LoadCredential= whose file may be missing stops the unit from starting"
        );

        let secs = |key: &str| -> u64 {
            let v = value(&unit, key);
            v.strip_suffix('s')
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{file}: {key}={v} is not in whole seconds"))
        };
        assert!(
            secs("WatchdogSec") >= 30,
            "{file}: the daemon pings at half of WatchdogSec"
        );
        assert!(
            secs("TimeoutStopSec") >= 35,
            "{file}: reports in flight get 20 s after SIGTERM; TimeoutStopSec must leave room"
        );

        // Idle connections to the listeners (256 at most each) must leave
        // descriptors to the daemon's own work, whatever the system default.
        let nofile: u64 = value(&unit, "LimitNOFILE")
            .parse()
            .unwrap_or_else(|e| panic!("{file}: LimitNOFILE is not one number: {e}"));
        assert!(
            nofile >= 4096,
            "{file}: LimitNOFILE={nofile} leaves too few descriptors beside two listeners"
        );

        // The daemon checks claims of other same-user processes through /proc:
        // it must see them, and see the boot id that they see.
        assert_eq!(value(&unit, "ProtectProc"), "invisible", "{file}");
        assert!(
            values(&unit, "ProcSubset").is_empty(),
            "{file}: ProcSubset= hides the boot id"
        );
        assert!(
            values(&unit, "PrivateUsers")
                .iter()
                .all(|v| v == "no" || v == "false"),
            "{file}: PrivateUsers= with ProtectProc=invisible hides the other mna-reportd processes"
        );
        assert!(
            values(&unit, "PrivateNetwork")
                .iter()
                .all(|v| v == "no" || v == "false"),
            "{file}: the daemon calls the API and downloads reports"
        );
        let families = value(&unit, "RestrictAddressFamilies");
        for family in ["AF_INET", "AF_INET6", "AF_UNIX"] {
            assert!(
                families.split_whitespace().any(|f| f == family),
                "{file}: {family} needed"
            );
        }
    }
}

/// The sysusers.d file creates the user the units run as.
#[test]
fn sysusers_creates_the_service_user() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(root.path().join("etc")).expect("mkdir etc");
    let conf = systemd_dir().join("mna-reportd.sysusers");
    let out = systemd_tool(
        "systemd-sysusers",
        &[
            &format!("--root={}", root.path().display()),
            conf.to_str().expect("utf-8 path"),
        ],
        root.path(),
    );
    let all = text(&out);
    assert!(out.status.success(), "systemd-sysusers failed:\n{all}");
    assert!(
        !all.lines().any(|l| l.contains("mna-reportd.sysusers")),
        "systemd-sysusers complains about the file:\n{all}"
    );
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).expect("passwd written");
    let group = std::fs::read_to_string(root.path().join("etc/group")).expect("group written");
    let user = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{SERVICE_USER}:")))
        .unwrap_or_else(|| panic!("no user {SERVICE_USER} in:\n{passwd}"));
    let fields: Vec<&str> = user.split(':').collect();
    assert!(
        group
            .lines()
            .any(|l| l.starts_with(&format!("{SERVICE_USER}:"))),
        "no group {SERVICE_USER} in:\n{group}"
    );
    let uid: u32 = fields[2].parse().expect("uid");
    assert!(
        uid > 0 && uid < 1000,
        "{SERVICE_USER} should be a system user, got uid {uid}"
    );
    assert!(
        fields[6].ends_with("nologin"),
        "{SERVICE_USER} needs no login shell: {user}"
    );
}
