//! Tests for configuration parsing: one table per field kind.

use std::time::Duration;

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

#[track_caller]
fn check_duration(text: &str, expected: Result<u64, ()>) {
    assert_eq!(
        parse_duration(text)
            .map(|d| d.as_millis() as u64)
            .map_err(|_| ()),
        expected,
        "{text:?}"
    );
}

#[test]
fn duration_bare_seconds() {
    check_duration("90", Ok(90_000))
}
#[test]
fn duration_millis() {
    check_duration("1500ms", Ok(1500))
}
#[test]
fn duration_minutes() {
    check_duration("5m", Ok(300_000))
}
#[test]
fn duration_hours() {
    check_duration("36h", Ok(129_600_000))
}
#[test]
fn duration_days() {
    check_duration("7d", Ok(604_800_000))
}
#[test]
fn duration_unknown_unit() {
    check_duration("5y", Err(()))
}
#[test]
fn duration_negative() {
    check_duration("-5s", Err(()))
}
#[test]
fn duration_empty() {
    check_duration("", Err(()))
}

#[track_caller]
fn check_server(url: &str, expected: Result<&str, ()>) {
    assert_eq!(
        check_url(url).as_deref().map_err(|_| ()),
        expected,
        "{url:?}"
    );
}

#[test]
fn url_https() {
    check_server("https://edl.example:8443/", Ok("https://edl.example:8443"))
}
#[test]
fn url_http_loopback() {
    check_server("http://127.0.0.1:8080", Ok("http://127.0.0.1:8080"))
}
#[test]
fn url_http_localhost() {
    check_server("http://localhost:8080", Ok("http://localhost:8080"))
}
#[test]
fn url_http_v6_loopback() {
    check_server("http://[::1]:8080", Ok("http://[::1]:8080"))
}
#[test]
fn url_http_remote_refused() {
    check_server("http://edl.example", Err(()))
}
#[test]
fn url_ftp_refused() {
    check_server("ftp://edl.example", Err(()))
}
#[test]
fn url_relative_refused() {
    check_server("edl.example", Err(()))
}

#[track_caller]
fn check_config(toml_text: &str, expected: Result<(), &str>) -> Option<Config> {
    let raw: Result<RawConfig, _> = toml::from_str(toml_text);
    let config = match raw {
        Ok(raw) => Config::from_raw(raw, None, &no_env).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match (&config, expected) {
        (Ok(_), Ok(())) => {}
        (Err(error), Err(part)) => assert!(error.contains(part), "{error:?} lacks {part:?}"),
        (got, want) => panic!("got {got:?}, want {want:?}"),
    }
    config.ok()
}

#[test]
fn config_empty_has_defaults() {
    let config = check_config("", Ok(())).unwrap();
    assert_eq!(config.max_status_age, DEFAULT_MAX_STATUS_AGE);
    assert_eq!(config.live_timeout, Duration::from_secs(2));
    assert!(config.roots.is_empty() && config.server.is_none());
    assert_eq!(config.cache_dir, PathBuf::from("/var/cache/edl-verify"));
}
#[test]
fn config_unknown_field() {
    check_config("sever = \"https://x\"", Err("unknown field"));
}
#[test]
fn config_inline_root() {
    let key = keys::SigningKey::from_seed(&[7; 32]);
    let text = format!("roots = [\"\"\"{}\"\"\"]", key.public().to_spki_pem());
    let config = check_config(&text, Ok(())).unwrap();
    assert_eq!(config.roots, vec![key.public().clone()]);
}
#[test]
fn config_bad_root() {
    check_config(
        "roots = [\"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\"]",
        Err("roots"),
    );
}
#[test]
fn config_missing_root_file() {
    check_config("roots = [\"/nonexistent/root.pem\"]", Err("reading"));
}
#[test]
fn config_two_credentials() {
    check_config("api_key = \"a\"\napi_key_file = \"b\"", Err("give one of"));
}
#[test]
fn config_cert_without_key() {
    check_config("client_cert = \"c.pem\"", Err("go together"));
}
#[test]
fn config_zero_timeout() {
    check_config("[timeouts]\nlive_status = \"0s\"", Err("more than zero"));
}
#[test]
fn config_api_key_is_not_printed() {
    let config = check_config("api_key = \"s3cret\"", Ok(())).unwrap();
    assert!(!format!("{config:?}").contains("s3cret"));
}
#[test]
fn config_cache_dir_from_home() {
    let env = |name: &str| (name == "HOME").then(|| "/home/officer".to_owned());
    let config = Config::from_raw(RawConfig::default(), None, &env).unwrap();
    assert_eq!(
        config.cache_dir,
        PathBuf::from("/home/officer/.cache/edl-verify")
    );
}
#[test]
fn config_api_key_file_read_only_when_needed() {
    // An officer's shell cannot read the 0600 key: loading the configuration (for an
    // offline check) must not try.
    let dir = tempfile::tempdir().unwrap();
    let text = "api_key_file = \"verify-api-key\"";
    let raw: RawConfig = toml::from_str(text).unwrap();
    let config = Config::from_raw(raw, Some(dir.path().join("verify.toml")), &no_env).unwrap();
    let Credentials::ApiKeyFile {
        path,
        empty_is_none: false,
    } = &config.credentials
    else {
        panic!("{:?}", config.credentials);
    };
    assert_eq!(path, &dir.path().join("verify-api-key"));
    assert!(read_api_key_file(path, false).is_err());
    std::fs::write(path, "k3y\n").unwrap();
    assert_eq!(
        read_api_key_file(path, false).unwrap().as_deref(),
        Some("k3y")
    );
}
#[test]
fn config_api_key_file_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let handed = dir.path().join("credential");
    let env =
        |name: &str| (name == API_KEY_FILE_ENV).then(|| handed.to_string_lossy().into_owned());
    for text in [
        "",
        "api_key_file = \"/etc/edl/verify-api-key\"",
        "api_key = \"x\"",
    ] {
        let raw: RawConfig = toml::from_str(text).unwrap();
        let config = Config::from_raw(raw, None, &env).unwrap();
        let Credentials::ApiKeyFile {
            path,
            empty_is_none: true,
        } = &config.credentials
        else {
            panic!("{text}: {:?}", config.credentials);
        };
        assert_eq!(path, &handed);
    }
    // systemd's empty fallback when the terminal has no key: no key, not an error.
    std::fs::write(&handed, "").unwrap();
    assert_eq!(read_api_key_file(&handed, true).unwrap(), None);
    assert!(read_api_key_file(&handed, false).is_err());
    std::fs::write(&handed, "s3cret\n").unwrap();
    assert_eq!(
        read_api_key_file(&handed, true).unwrap().as_deref(),
        Some("s3cret")
    );
}
