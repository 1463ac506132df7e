use super::*;
use std::collections::HashMap;

struct FakeEnv {
    vars: HashMap<String, String>,
    home: Option<PathBuf>,
}

impl Env for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn home(&self) -> Option<PathBuf> {
        self.home.clone()
    }
}

fn env(vars: &[(&str, &str)], home: Option<&Path>) -> FakeEnv {
    FakeEnv {
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        home: home.map(Path::to_path_buf),
    }
}

fn settings() -> CredentialSettings {
    CredentialSettings {
        secret_id_file: None,
        secret_key_file: None,
        token_file: None,
        profile: "default".to_string(),
        cvm_role: false,
        metadata_endpoint: reqwest::Url::parse("http://127.0.0.1:1/latest/meta-data/")
            .expect("url"),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, text).expect("write");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    p
}

fn id_of(found: &Found) -> String {
    match found {
        Found::Static(c) => c.secret_id.clone(),
        Found::CvmRole => "cvm".to_string(),
    }
}

#[test]
fn config_files_come_first() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut s = settings();
    s.secret_id_file = Some(write(d.path(), "id", "AKIDfromfile\n"));
    s.secret_key_file = Some(write(d.path(), "key", "keyfromfile\n"));
    let creddir = d.path().join("creds");
    write(&creddir, "secret_id", "AKIDfromsystemd");
    write(&creddir, "secret_key", "k");
    let e = env(
        &[
            ("CREDENTIALS_DIRECTORY", creddir.to_str().expect("utf8")),
            ("TENCENTCLOUD_SECRET_ID", "AKIDfromenv"),
            ("TENCENTCLOUD_SECRET_KEY", "k"),
        ],
        None,
    );
    let (source, found) = resolve(&s, &e).expect("resolve");
    assert!(matches!(source, Source::ConfigFiles { .. }));
    assert_eq!(id_of(&found), "AKIDfromfile");
    if let Found::Static(c) = found {
        assert_eq!(c.secret_key.expose_secret(), "keyfromfile");
    }
}

#[test]
fn systemd_credentials_before_environment_with_token() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "secret_id", "AKIDsystemd");
    write(d.path(), "secret_key", "k");
    write(d.path(), "token", "tok-1");
    let e = env(
        &[
            ("CREDENTIALS_DIRECTORY", d.path().to_str().expect("utf8")),
            ("TENCENTCLOUD_SECRET_ID", "AKIDfromenv"),
            ("TENCENTCLOUD_SECRET_KEY", "k"),
        ],
        None,
    );
    let (source, found) = resolve(&settings(), &e).expect("resolve");
    assert_eq!(source, Source::CredentialsDirectory(d.path().to_path_buf()));
    let Found::Static(c) = found else {
        panic!("static expected")
    };
    assert_eq!(c.secret_id, "AKIDsystemd");
    assert_eq!(
        c.token.as_ref().map(|t| t.expose_secret().to_string()),
        Some("tok-1".to_string())
    );
}

#[test]
fn incomplete_credentials_directory_falls_through_to_environment() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "secret_id", "AKIDsystemd");
    let e = env(
        &[
            ("CREDENTIALS_DIRECTORY", d.path().to_str().expect("utf8")),
            ("TENCENTCLOUD_SECRET_ID", "AKIDfromenv"),
            ("TENCENTCLOUD_SECRET_KEY", "k"),
            ("TENCENTCLOUD_TOKEN", "t"),
        ],
        None,
    );
    let (source, found) = resolve(&settings(), &e).expect("resolve");
    assert_eq!(source, Source::Environment);
    let Found::Static(c) = found else {
        panic!("static expected")
    };
    assert_eq!(c.secret_id, "AKIDfromenv");
    assert!(c.token.is_some());
}

#[test]
fn environment_before_profile_file() {
    let home = tempfile::tempdir().expect("tempdir");
    write(
        home.path(),
        ".tencentcloud/credentials",
        "[default]\nsecret_id = AKIDini\nsecret_key = k\n",
    );
    let e = env(
        &[
            ("TENCENTCLOUD_SECRET_ID", "AKIDenv"),
            ("TENCENTCLOUD_SECRET_KEY", "k"),
        ],
        Some(home.path()),
    );
    assert_eq!(
        resolve(&settings(), &e).expect("resolve").0,
        Source::Environment
    );
    // only half of the environment: the profile file wins
    let e = env(&[("TENCENTCLOUD_SECRET_ID", "AKIDenv")], Some(home.path()));
    let (source, found) = resolve(&settings(), &e).expect("resolve");
    assert!(matches!(source, Source::ProfileFile { .. }));
    assert_eq!(id_of(&found), "AKIDini");
}

#[test]
fn profile_file_sections_and_explicit_path() {
    let d = tempfile::tempdir().expect("tempdir");
    let f = write(
        d.path(),
        "creds.ini",
        "[default]\nsecret_id = AKIDdefault\nsecret_key = k\n\n[prod]\nsecret_id = AKIDprod\nsecret_key = k2\n",
    );
    let e = env(
        &[("TENCENTCLOUD_CREDENTIALS_FILE", f.to_str().expect("utf8"))],
        None,
    );
    let mut s = settings();
    assert_eq!(id_of(&resolve(&s, &e).expect("resolve").1), "AKIDdefault");
    s.profile = "prod".to_string();
    assert_eq!(id_of(&resolve(&s, &e).expect("resolve").1), "AKIDprod");
    s.profile = "absent".to_string();
    assert!(matches!(
        resolve(&s, &e),
        Err(CredentialError::NotFound { .. })
    ));
}

/// A credentials file is read with a cap: one that never ends (a FIFO, a
/// device) or is huge is refused, not read into memory.
#[test]
fn a_credentials_file_over_its_cap_is_refused_unread() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut text = String::from("[default]\nsecret_id = AKIDbig\nsecret_key = k\n");
    text.push_str(&"# padding\n".repeat(120_000));
    let f = write(d.path(), "creds.ini", &text);
    let e = env(
        &[("TENCENTCLOUD_CREDENTIALS_FILE", f.to_str().expect("utf8"))],
        None,
    );
    match resolve(&settings(), &e) {
        Err(CredentialError::Read { error, .. }) => {
            assert!(error.to_string().contains("larger than"), "{error}")
        }
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn explicit_profile_file_that_does_not_exist_is_an_error() {
    let e = env(
        &[("TENCENTCLOUD_CREDENTIALS_FILE", "/nonexistent/creds")],
        None,
    );
    assert!(matches!(
        resolve(&settings(), &e),
        Err(CredentialError::Read { .. })
    ));
}

#[test]
fn cvm_role_is_the_last_resort() {
    let mut s = settings();
    s.cvm_role = true;
    let (source, found) = resolve(&s, &env(&[], None)).expect("resolve");
    assert!(matches!(source, Source::CvmRole { .. }));
    assert!(matches!(found, Found::CvmRole));
    // any earlier source wins over it
    let e = env(
        &[
            ("TENCENTCLOUD_SECRET_ID", "AKIDenv"),
            ("TENCENTCLOUD_SECRET_KEY", "k"),
        ],
        None,
    );
    assert_eq!(resolve(&s, &e).expect("resolve").0, Source::Environment);
}

#[test]
fn nothing_found_says_where_it_looked_and_what_to_do() {
    let home = tempfile::tempdir().expect("tempdir");
    let err = resolve(&settings(), &env(&[], Some(home.path()))).expect_err("no credentials");
    let text = err.to_string();
    assert!(text.contains("TENCENTCLOUD_SECRET_ID"), "{text}");
    assert!(text.contains("fix:"), "{text}");
}

#[test]
fn configured_file_that_is_missing_is_an_error_not_a_fallthrough() {
    let mut s = settings();
    s.secret_id_file = Some(PathBuf::from("/nonexistent/id"));
    s.secret_key_file = Some(PathBuf::from("/nonexistent/key"));
    let e = env(
        &[
            ("TENCENTCLOUD_SECRET_ID", "AKIDenv"),
            ("TENCENTCLOUD_SECRET_KEY", "k"),
        ],
        None,
    );
    assert!(matches!(resolve(&s, &e), Err(CredentialError::Read { .. })));
}

#[test]
fn debug_never_shows_the_key() {
    let c = Credentials {
        secret_id: "AKIDabcdefghijkl".to_string(),
        secret_key: SecretString::from("super-secret-key-value"),
        token: Some(SecretString::from("super-secret-token")),
    };
    let shown = format!("{c:?}");
    assert!(!shown.contains("super-secret"), "{shown}");
    assert!(!shown.contains("AKIDabcdefghijkl"), "{shown}");
    assert!(shown.contains("AKID"), "{shown}");
}

#[test]
fn an_empty_token_credential_means_no_token() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "secret_id", "AKIDsystemd");
    write(d.path(), "secret_key", "k");
    write(d.path(), "token", "\n");
    let e = env(
        &[("CREDENTIALS_DIRECTORY", d.path().to_str().expect("utf8"))],
        None,
    );
    let (_, found) = resolve(&settings(), &e).expect("resolve");
    let Found::Static(c) = found else {
        panic!("static expected")
    };
    assert!(c.token.is_none());
}

#[test]
fn key_files_are_read_with_a_size_limit() {
    let mut s = settings();
    s.secret_id_file = Some(PathBuf::from("/dev/zero"));
    s.secret_key_file = Some(PathBuf::from("/dev/zero"));
    match resolve(&s, &env(&[], None)) {
        Err(e @ CredentialError::Read { .. }) => {
            assert!(e.to_string().contains("/dev/zero"), "{e}");
            assert!(e.to_string().contains("larger than"), "{e}");
        }
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn control_characters_inside_a_key_are_refused_naming_the_source_not_the_value() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut s = settings();
    s.secret_id_file = Some(write(d.path(), "id", "AKIDfromfile\n"));
    s.secret_key_file = Some(write(d.path(), "key", "hidden\tvalue\n"));
    let e = resolve(&s, &env(&[], None)).expect_err("a tab inside the key");
    let text = e.to_string();
    assert!(matches!(e, CredentialError::Invalid { .. }), "{text}");
    assert!(
        text.contains("SecretKey") && text.contains("a tab at character 7"),
        "{text}"
    );
    assert!(
        text.contains(&d.path().join("key").display().to_string()),
        "{text}"
    );
    assert!(
        !text.contains("hidden") && !text.contains("value\n"),
        "{text}"
    );
}

#[test]
fn a_bom_before_a_key_is_dropped() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut s = settings();
    s.secret_id_file = Some(write(d.path(), "id", "\u{feff}AKIDfromfile\r\n"));
    s.secret_key_file = Some(write(d.path(), "key", "\u{feff}keyfromfile"));
    let (_, found) = resolve(&s, &env(&[], None)).expect("found");
    let Found::Static(c) = found else {
        panic!("static keys expected")
    };
    assert_eq!(c.secret_id, "AKIDfromfile");
    assert_eq!(c.secret_key.expose_secret(), "keyfromfile");
}

#[test]
fn secret_files_other_users_may_read_are_refused_with_the_chmod() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().expect("tempdir");
    let mut s = settings();
    s.secret_id_file = Some(write(d.path(), "id", "AKIDfromfile\n"));
    let key = write(d.path(), "key", "key-from-file\n");
    s.secret_key_file = Some(key.clone());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = resolve(&s, &env(&[], None)).expect_err("a world-readable key");
    assert!(matches!(e, CredentialError::Exposed(_)), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("fix: chmod 600 {}", key.display())),
        "{e}"
    );
    // Group-readable, as the unit installs them: taken.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    assert!(resolve(&s, &env(&[], None)).is_ok());
    // The profile file too.
    let ini = write(
        d.path(),
        "home/.tencentcloud/credentials",
        "[default]\nsecret_id = AKIDprofile\nsecret_key = key-profile\n",
    );
    std::fs::set_permissions(&ini, std::fs::Permissions::from_mode(0o604)).expect("chmod");
    let e = resolve(&settings(), &env(&[], Some(&d.path().join("home"))))
        .expect_err("a world-readable profile file");
    assert!(matches!(e, CredentialError::Exposed(_)), "{e}");
}
