use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::fixtures::{self, DAY, NOW};

#[track_caller]
fn check_vector(bits: u8, statuses: &[u8], bytes: &str, draft_lst: &str) {
    let mut list = StatusList::new(bits, statuses.len()).unwrap();
    for (i, &s) in statuses.iter().enumerate() {
        list.set(i as u64, s).unwrap();
    }
    assert_eq!(hex::encode(list.as_bytes()), bytes);
    for (i, &s) in statuses.iter().enumerate() {
        assert_eq!(list.get(i as u64), Some(s), "entry {i}");
    }
    // The draft's own compressed bytes decode to the same list, and ours round-trip.
    let theirs = StatusList::decompress(bits, &URL_SAFE_NO_PAD.decode(draft_lst).unwrap()).unwrap();
    assert_eq!(theirs, list);
    assert_eq!(
        StatusList::decompress(bits, &list.compress()).unwrap(),
        list
    );
}

/// draft-ietf-oauth-status-list, section 4.1: 16 one-bit entries.
#[test]
fn draft_one_bit_vector() {
    check_vector(
        1,
        &[1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1],
        "b9a3",
        "eNrbuRgAAhcBXQ",
    );
}

/// draft-ietf-oauth-status-list, section 4.1: 12 two-bit entries.
#[test]
fn draft_two_bit_vector() {
    check_vector(
        2,
        &[1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3],
        "c944f9",
        "eNo76fITAAPfAgc",
    );
}

#[test]
fn bounds_and_widths() {
    let mut list = StatusList::new(2, MIN_ENTRIES).unwrap();
    assert_eq!(list.len(), MIN_ENTRIES);
    assert_eq!(list.as_bytes().len(), MIN_ENTRIES / 4);
    assert_eq!(list.get(MIN_ENTRIES as u64), None);
    assert_eq!(
        list.set(MIN_ENTRIES as u64, 1),
        Err(StatusListError::IndexOutOfRange {
            index: MIN_ENTRIES as u64,
            len: MIN_ENTRIES
        })
    );
    assert_eq!(
        list.set(0, 4),
        Err(StatusListError::ValueTooLarge { value: 4, bits: 2 })
    );
    list.set(5, 3).unwrap();
    list.set(5, 1).unwrap();
    assert_eq!(list.get(5), Some(1));
    assert_eq!(list.get(4), Some(0));
    assert_eq!(list.get(6), Some(0));
    assert_eq!(
        StatusList::new(3, 8).err(),
        Some(StatusListError::BadBits(3))
    );
    assert_eq!(
        StatusList::decompress(2, b"not zlib").err(),
        Some(StatusListError::BadCompression)
    );
}

#[test]
fn a_cut_short_or_damaged_stream_is_refused() {
    // Lists of sizes around the reader's buffer sizes read whole; the same streams cut short
    // anywhere or with a wrong checksum refused.
    for len in [4096 * 4, 8192 * 4, 131_072, 131_072 + 4] {
        let mut list = StatusList::new(2, len).unwrap();
        list.set(len as u64 - 1, 3).unwrap();
        list.set(7, 1).unwrap();
        let compressed = list.compress();
        assert_eq!(StatusList::decompress(2, &compressed).unwrap(), list);
        let mut bad_checksum = compressed.clone();
        *bad_checksum.last_mut().unwrap() ^= 1;
        assert_eq!(
            StatusList::decompress(2, &bad_checksum).err(),
            Some(StatusListError::BadCompression)
        );
        for cut in [
            1,
            2,
            compressed.len() / 2,
            compressed.len() - 4,
            compressed.len() - 1,
        ] {
            assert_eq!(
                StatusList::decompress(2, &compressed[..cut]).err(),
                Some(StatusListError::BadCompression),
                "{len} entries cut at {cut}"
            );
        }
    }
}

#[test]
fn lists_too_large_to_read_are_not_built() {
    assert!(StatusList::new(8, usize::MAX).is_err());
    assert!(StatusList::new(2, usize::MAX / 2).is_err());
    assert!(StatusList::new(8, MAX_DECOMPRESSED + 1).is_err());
    assert!(StatusList::new(8, MAX_DECOMPRESSED).is_ok());
}

#[test]
fn a_zlib_bomb_is_refused() {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&vec![0u8; MAX_DECOMPRESSED + 1]).unwrap();
    let huge = encoder.finish().unwrap();
    assert!(huge.len() < 200_000);
    assert_eq!(
        StatusList::decompress(8, &huge).err(),
        Some(StatusListError::BadCompression)
    );
}

const URI: &str = "https://dl.example.gov.cn/v1/status-lists/0";

fn token(key: &SigningKey) -> Vec<u8> {
    let mut list = StatusList::new(2, MIN_ENTRIES).unwrap();
    list.set(4242, CredentialStatus::Invalid.value()).unwrap();
    sign(
        &StatusListClaims {
            uri: URI.into(),
            issued_at: NOW,
            expires_at: NOW.plus(DAY),
            ttl: 3600,
            list,
        },
        key,
    )
}

#[track_caller]
fn check_verify(
    token: &[u8],
    keyring: &Keyring,
    now: UnixTime,
    uri: Option<&str>,
    expected: Result<u8, StatusListError>,
) {
    let result = verify(token, keyring, &VerifyPolicy::at(now), uri)
        .map(|v| v.claims.list.get(4242).unwrap());
    assert_eq!(result, expected);
}

#[test]
fn signed_list_verifies() {
    let status = fixtures::key(2);
    let token = token(&status);
    let keyring = fixtures::keyring(&[(&status, KeyUse::Status)]);
    check_verify(&token, &keyring, NOW, Some(URI), Ok(1));
    let verified = verify(&token, &keyring, &VerifyPolicy::at(NOW), None).unwrap();
    assert_eq!(verified.key_id, status.key_id());
    assert_eq!(verified.claims.ttl, 3600);
    assert_eq!(verified.claims.list.len(), MIN_ENTRIES);
}

#[test]
fn list_checks() {
    let status = fixtures::key(2);
    let token = token(&status);
    let keyring = fixtures::keyring(&[(&status, KeyUse::Status)]);
    check_verify(
        &token,
        &keyring,
        NOW,
        Some("https://elsewhere/v1/status-lists/0"),
        Err(StatusListError::WrongUri {
            expected: "https://elsewhere/v1/status-lists/0".into(),
            found: URI.into(),
        }),
    );
    check_verify(
        &token,
        &keyring,
        NOW.plus(2 * DAY),
        Some(URI),
        Err(StatusListError::Expired(NOW.plus(DAY))),
    );
    check_verify(
        &token,
        &keyring,
        NOW.minus(DAY),
        Some(URI),
        Err(StatusListError::IssuedInFuture(NOW)),
    );
}

#[test]
fn a_credential_key_cannot_sign_status_lists() {
    let credential = fixtures::key(1);
    let token = token(&credential);
    let keyring = fixtures::keyring(&[(&credential, KeyUse::Credential)]);
    check_verify(
        &token,
        &keyring,
        NOW,
        Some(URI),
        Err(StatusListError::UnknownKey(credential.key_id())),
    );
}

#[test]
fn a_revoked_status_key_is_refused() {
    let status = fixtures::key(2);
    let token = token(&status);
    let mut trusted = fixtures::trusted(&status, KeyUse::Status);
    trusted.revoked = true;
    check_verify(
        &token,
        &Keyring::new(vec![trusted]),
        NOW,
        Some(URI),
        Err(StatusListError::KeyRevoked(status.key_id())),
    );
}

#[test]
fn a_credential_token_is_not_a_status_list() {
    let status = fixtures::key(2);
    let credential = crate::token::sign(&fixtures::claims(), &status);
    let keyring = fixtures::keyring(&[(&status, KeyUse::Status)]);
    assert!(matches!(
        verify(&credential, &keyring, &VerifyPolicy::at(NOW), None),
        Err(StatusListError::Envelope(EnvelopeError::WrongType { .. }))
    ));
}

#[test]
fn only_two_bit_lists_of_the_minimum_size_are_edl_lists() {
    let status = fixtures::key(2);
    let keyring = fixtures::keyring(&[(&status, KeyUse::Status)]);
    for (bits, len) in [(1, MIN_ENTRIES), (2, MIN_ENTRIES - 8), (8, MIN_ENTRIES)] {
        let token = sign(
            &StatusListClaims {
                uri: URI.into(),
                issued_at: NOW,
                expires_at: NOW.plus(DAY),
                ttl: 3600,
                list: StatusList::new(bits, len).unwrap(),
            },
            &status,
        );
        assert_eq!(
            verify(&token, &keyring, &VerifyPolicy::at(NOW), Some(URI)).err(),
            Some(StatusListError::NotEdlList { bits, len }),
        );
    }
}
