//! Test fixtures shared by the unit tests: fixed keys, a realistic credential, keyrings.

use crate::UnixTime;
use crate::key::{KeyUse, SigningKey};
use crate::keyring::{Keyring, TrustedKey};
use crate::licence::{LicenceClasses, LicenceNumber, PhotoDigest, Validity, parse_date};
use crate::token::{CredentialClaims, CredentialId, LicenceDetails, StatusReference};

/// 2026-11-01T00:00:00Z.
pub(crate) const NOW: UnixTime = UnixTime(1_793_491_200);
pub(crate) const DAY: u64 = 86_400;

pub(crate) fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

pub(crate) fn trusted(key: &SigningKey, key_use: KeyUse) -> TrustedKey {
    TrustedKey {
        public: key.public().clone(),
        key_use,
        not_before: NOW.minus(365 * DAY),
        not_after: NOW.plus(365 * DAY),
        revoked: false,
    }
}

pub(crate) fn keyring(keys: &[(&SigningKey, KeyUse)]) -> Keyring {
    Keyring::new(keys.iter().map(|(k, u)| trusted(k, *u)).collect())
}

pub(crate) fn claims() -> CredentialClaims {
    CredentialClaims {
        issuer: "https://dl.example.gov.cn".into(),
        licence_number: "11010519491231002X".parse::<LicenceNumber>().unwrap(),
        credential_id: CredentialId([7; 16]),
        issued_at: NOW.minus(DAY),
        not_before: NOW.minus(DAY),
        expires_at: NOW.plus(90 * DAY),
        licence: LicenceDetails {
            name: "张三".into(),
            classes: "C1 C2".parse::<LicenceClasses>().unwrap(),
            validity: Validity::new(
                parse_date("2020-03-01").unwrap(),
                Some(parse_date("2030-03-01").unwrap()),
            )
            .unwrap(),
            authority: "北京市公安局公安交通管理局".into(),
            photo: PhotoDigest::of(b"photo"),
        },
        status: StatusReference {
            index: 4242,
            uri: "https://dl.example.gov.cn/v1/status-lists/0".into(),
        },
    }
}
