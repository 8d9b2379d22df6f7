//! Tests for configuration checks: one line per case.

use super::{Config, ConfigError, Overrides, RawConfig};

#[track_caller]
fn check(extra: &str, expected: Result<(), &str>) {
    let text = format!("{}\n{extra}", super::DEFAULT_TOML);
    let result = RawConfig::parse(&text).and_then(Config::try_from);
    match (result, expected) {
        (Ok(_), Ok(())) => {}
        (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{e} lacks {part:?}"),
        (Ok(_), Err(part)) => panic!("accepted, expected an error containing {part:?}"),
        (Err(e), Ok(())) => panic!("refused: {e}"),
    }
}

#[test]
fn embedded_defaults() {
    check("", Ok(()))
}
#[test]
fn unknown_key() {
    check("colour = \"blue\"", Err("unknown field `colour`"))
}
#[test]
fn unknown_section_key() {
    check("[issuance]\nspeed = 3", Err("unknown field `speed`"))
}
#[test]
fn zero_batch() {
    check("[issuance]\nbatch = 0", Err("issuance.batch = 0"))
}
#[test]
fn status_validity_shorter_than_cadence() {
    check(
        "[status_lists]\nvalidity_secs = 60\nresign_every_secs = 60",
        Err("status_lists.validity_secs"),
    )
}
#[test]
fn missing_tls_files() {
    check(
        "[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"",
        Err("tls.cert"),
    )
}

#[test]
fn non_loopback_without_tls() {
    let overrides = Overrides {
        listen: Some("0.0.0.0:8080".into()),
        ..Overrides::default()
    };
    let err = Config::load(None, &overrides).unwrap_err();
    assert!(
        matches!(err, ConfigError::PlainTextBeyondLoopback(_)),
        "{err}"
    );
}

#[test]
fn admin_must_be_loopback() {
    let overrides = Overrides {
        admin_listen: Some("192.0.2.1:8081".into()),
        ..Overrides::default()
    };
    let err = Config::load(None, &overrides).unwrap_err();
    assert!(matches!(err, ConfigError::AdminNotLoopback(_)), "{err}");
}

#[test]
fn node_flag_names_the_postgres_node() {
    let overrides = Overrides {
        store: Some("postgresql://edl@127.0.0.1:5433/edl".into()),
        node: Some("edld-b".into()),
        ..Overrides::default()
    };
    let config = Config::load(None, &overrides).unwrap();
    match config.store {
        crate::config::StoreConfig::Postgres(pg) => assert_eq!(pg.node, "edld-b"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_address() {
    let overrides = Overrides {
        listen: Some("localhost".into()),
        ..Overrides::default()
    };
    let err = Config::load(None, &overrides).unwrap_err();
    assert!(err.to_string().contains("listen = \"localhost\""), "{err}");
}
#[test]
fn throttle_tables() {
    check(
        "[throttle.drain]\nrate = 250\nburst = 10\n[throttle.client]\nmode = \"shadow\"\n[throttle.lanes]\nfirst = 2\n[throttle]\nopening_at = 2030-03-17T17:46:40Z",
        Ok(()),
    );
    let text = format!(
        "{}\n[throttle.drain]\nrate = 250\n[throttle.queue]\nmax_wait = 60\n",
        super::DEFAULT_TOML
    );
    let config = RawConfig::parse(&text).and_then(Config::try_from).unwrap();
    assert_eq!(config.throttle.drain.rate, 250.0);
    assert_eq!(config.throttle.admission.max_wait_seconds, 60);
}
#[test]
fn throttle_refusals_name_the_setting() {
    check(
        "[throttle.drain]\nrate = 0",
        Err("throttle.drain.rate = \"0\": expected signatures per second"),
    );
    check(
        "[throttle.drain]\nspeed = 1",
        Err("unknown setting \"drain.speed\""),
    );
}

/// `[tls]` with files that exist (their contents are read only at start) and `extra`.
fn tls(extra: &str) -> String {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    format!("[tls]\ncert = \"{file}\"\nkey = \"{file}\"\n{extra}")
        .replace("CA", &format!("client_ca = \"{file}\""))
}
#[test]
fn client_certificates() {
    check(
        &tls(
            "CA\n[[tls.clients]]\nou = \"roadside\"\nrole = \"officer\"\n[[tls.clients]]\ndns = \"gw.example\"\nrole = \"gateway\"\nclient = \"app\"",
        ),
        Ok(()),
    )
}
#[test]
fn client_ca_without_mapping() {
    check(&tls("CA"), Err("tls.client_ca"))
}
#[test]
fn mapping_without_client_ca() {
    check(
        &tls("[[tls.clients]]\ncn = \"t\"\nrole = \"officer\""),
        Err("needs tls.client_ca"),
    )
}
#[test]
fn mapping_with_two_names() {
    check(
        &tls("CA\n[[tls.clients]]\ncn = \"t\"\nou = \"u\"\nrole = \"officer\""),
        Err("exactly one of cn, ou or dns"),
    )
}
#[test]
fn mapping_with_unknown_role() {
    check(
        &tls("CA\n[[tls.clients]]\ncn = \"t\"\nrole = \"admin\""),
        Err("unknown variant `admin`"),
    )
}
#[test]
fn header_limit_above_the_cap() {
    check(
        "[limits]\nmax_header_bytes = 65536",
        Err("limits.max_header_bytes"),
    )
}
#[test]
fn zero_body_timeout() {
    check(
        "[limits]\nbody_timeout_secs = 0",
        Err("limits.body_timeout_secs"),
    )
}

#[test]
fn record_cache_is_the_embedded_engines() {
    let load = |extra: &str| {
        let text = format!("{}\n{extra}", super::DEFAULT_TOML);
        RawConfig::parse(&text).and_then(Config::try_from)
    };
    let sled = |config: Config| match config.store {
        crate::config::StoreConfig::Sled(sled) => sled.record_cache_mib,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        sled(load("").unwrap()),
        crate::config::DEFAULT_RECORD_CACHE_MIB
    );
    assert_eq!(sled(load("[store]\nrecord_cache_mib = 0").unwrap()), 0);
    assert_eq!(
        sled(load("[store]\nengine = \"sled\"\nrecord_cache_mib = 2048").unwrap()),
        2048
    );
    check(
        "[store]\nrecord_cache_mib = 1048577",
        Err("store.record_cache_mib"),
    );
    check("[store]\nrecord_cache_mib = -1", Err("record_cache_mib"));
    check(
        "[store]\nengine = \"postgres\"\nurl = \"postgresql://edl@127.0.0.1/edl\"\nrecord_cache_mib = 64",
        Err("store.record_cache_mib: is for engine = \"sled\""),
    );
}
