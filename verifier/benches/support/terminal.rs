//! A ready terminal for benchmarks, the QR corpus and the scan latency measurement: fixed
//! test keys, a cache as a sync would leave it (trust list and an all-valid status list
//! signed "now"), a configuration, and real credential tokens signed with the test
//! credential key. Shared by `benches/batch.rs` and `examples/fixture.rs`.

use keys::licence::{LicenceClass, LicenceClasses, PhotoDigest, Validity};
use keys::status_list::{self, StatusList, StatusListClaims};
use keys::token::{CredentialClaims, CredentialId, LicenceDetails, StatusReference};
use keys::trust_list::TrustList;
use keys::{KeyUse, SigningKey, TrustedKey, UnixTime};
use verifier::cache::{self, Generation, ListMeta, Meta, TrustListMeta};

/// The status list every fixture credential points into.
pub(crate) const URI: &str = "https://edl.example/v1/status-lists/0";

/// The fixture's root, credential and status keys (fixed test seeds).
pub(crate) fn keys() -> (SigningKey, SigningKey, SigningKey) {
    (
        SigningKey::from_seed(&[1; 32]),
        SigningKey::from_seed(&[2; 32]),
        SigningKey::from_seed(&[3; 32]),
    )
}

/// The claims of fixture credential `i`, issued a day before `now`, valid 30 days.
pub(crate) fn claims(i: u64, now: UnixTime) -> CredentialClaims {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&i.to_be_bytes());
    CredentialClaims {
        issuer: "CN-11".into(),
        licence_number: "11010519491231002X".parse().unwrap(),
        credential_id: CredentialId(id),
        issued_at: now.minus(86_400),
        not_before: now.minus(86_400),
        expires_at: now.plus(30 * 86_400),
        licence: LicenceDetails {
            name: "张三".into(),
            classes: LicenceClasses::new(&[LicenceClass::C1]).unwrap(),
            validity: Validity::long_term(time::macros::date!(2020 - 06 - 01)),
            authority: "北京市公安局公安交通管理局".into(),
            photo: PhotoDigest::of(b"photo"),
        },
        status: StatusReference {
            index: i % status_list::MIN_ENTRIES as u64,
            uri: URI.into(),
        },
    }
}

/// Writes `verify.toml`, `root.pem` and a synced `cache/` into `dir`.
pub(crate) fn seed_terminal(
    dir: &std::path::Path,
    root: &SigningKey,
    credential: &SigningKey,
    status: &SigningKey,
    now: UnixTime,
) {
    let key = |k: &SigningKey, key_use| TrustedKey {
        public: k.public().clone(),
        key_use,
        not_before: now.minus(365 * 86_400),
        not_after: now.plus(365 * 86_400),
        revoked: false,
    };
    let trust_list = TrustList {
        sequence: 1,
        issued_at: now.minus(60),
        next_update: now.plus(7 * 86_400),
        issuer: "CN-11".into(),
        keys: vec![
            key(credential, KeyUse::Credential),
            key(status, KeyUse::Status),
        ],
        status_lists: vec![URI.into()],
    }
    .sign(root);
    // A list signed "now" and valid for 30 days: the fixture stays usable for a while.
    let list = status_list::sign(
        &StatusListClaims {
            uri: URI.into(),
            issued_at: now.minus(60),
            expires_at: now.plus(30 * 86_400),
            ttl: 3600,
            list: StatusList::new(2, status_list::MIN_ENTRIES).unwrap(),
        },
        status,
    );
    let meta = Meta {
        version: 1,
        server: "https://edl.example".into(),
        synced_at: now.0,
        server_time: None,
        trust_list: TrustListMeta {
            sequence: 1,
            etag: None,
            fetched_at: now.0,
        },
        status_lists: vec![ListMeta {
            uri: URI.into(),
            file: cache::list_file(0),
            etag: None,
            fetched_at: now.0,
            ttl: 3600,
            issued_at: now.minus(60).0,
        }],
    };
    cache::commit(
        &dir.join("cache"),
        &Generation {
            meta,
            trust_list: &trust_list,
            lists: vec![&list],
        },
    )
    .unwrap();
    std::fs::write(dir.join("root.pub.pem"), root.public().to_spki_pem()).unwrap();
    std::fs::write(
        dir.join("verify.toml"),
        "roots = [\"root.pub.pem\"]\ncache_dir = \"cache\"\nmax_status_age = \"30d\"\n\
         scan_log = \"scans.jsonl\"\n",
    )
    .unwrap();
}
