//! Property tests of the keys codecs: every encoder round-trips through its decoder, and
//! every corruption of signed bytes (one flipped byte, a truncation) is refused with an
//! error, never accepted and never a panic. For presentations and receipts a few
//! documents have every byte flipped on every run.
//!
//! Signature checks dominate the run time (milliseconds each in an unoptimised build), so
//! each corrupted document gets a few random flips. With `RUN_SLOW_TESTS` set, every byte
//! of every document is flipped instead.

// Strategies build values from ranges chosen to make them valid, as a test's fixtures do;
// lints treat only `#[test]` functions as tests, so they are allowed here for the file.
#![allow(clippy::expect_used)]

use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::sample::{Index, subsequence};
use time::Date;
use time::macros::date;

use keys::danger;
use keys::licence::{LicenceClass, LicenceClasses, LicenceNumber, PhotoDigest, Validity};
use keys::presentation::{self, Challenge, PresentationPolicy, Slot};
use keys::qr;
use keys::receipt::{self, LiveStatus, Receipt};
use keys::status_list::{self, StatusList, StatusListClaims};
use keys::token::{self, CredentialId, LicenceDetails, StatusReference};
use keys::trust_list::{self, TrustList};
use keys::{CredentialClaims, KeyUse, Keyring, SigningKey, TrustedKey, UnixTime, VerifyPolicy};

/// Cases for the round trips that verify a signature.
const SIGNED_ROUND_TRIP_CASES: u32 = 32;

/// Cases for the byte flip properties: each case is one freshly signed document.
const FLIP_CASES: u32 = 100;

/// Cases for the truncation properties: each case cuts one document at every length, which
/// costs a parse per byte.
const TRUNCATION_CASES: u32 = 32;

/// Single-byte corruptions tried per document (unless `RUN_SLOW_TESTS` asks for all): a
/// random position with a random nonzero xor each.
const FLIPS_PER_DOCUMENT: usize = 2;

/// Presentations and receipts whose every byte is flipped even without `RUN_SLOW_TESTS`:
/// they are what a verifier trusts a stranger's phone or a relying party for.
const EVERY_FLIP_CASES: u32 = 4;

/// Whether to flip every byte of every document rather than a few.
static EXHAUSTIVE: LazyLock<bool> = LazyLock::new(|| std::env::var_os("RUN_SLOW_TESTS").is_some());

/// Keys a verifier trusts besides the one under test, of both uses.
static OTHER_KEYS: LazyLock<Vec<TrustedKey>> = LazyLock::new(|| {
    (1..=3u8)
        .flat_map(|n| {
            [KeyUse::Credential, KeyUse::Status]
                .map(|key_use| trusted(&SigningKey::from_seed(&[n; 32]), key_use))
        })
        .collect()
});

/// The characters a QR code holds in alphanumeric mode.
const QR_ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

// Strategies.

fn seed() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

/// A calendar date in `from..=until`.
fn date_in(from: Date, until: Date) -> impl Strategy<Value = Date> {
    (from.to_julian_day()..=until.to_julian_day())
        .prop_map(|day| Date::from_julian_day(day).expect("julian day within the range"))
}

fn licence_number() -> impl Strategy<Value = LicenceNumber> {
    (
        0..=999_999u32,
        date_in(date!(1900 - 01 - 01), date!(2099 - 12 - 31)),
        0..=999u16,
    )
        .prop_map(|(region, birth, sequence)| {
            LicenceNumber::from_parts(region, birth, sequence).expect("parts within range")
        })
}

fn classes() -> impl Strategy<Value = LicenceClasses> {
    subsequence(LicenceClass::ALL.to_vec(), 1..=LicenceClass::ALL.len())
        .prop_shuffle()
        .prop_map(|classes| LicenceClasses::new(&classes).expect("non-empty and distinct"))
}

/// Names as registries hold them: Han characters, Latin letters with the odd accent, and
/// anything at all (the token carries any UTF-8).
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\u{4e00}-\u{9fff}]{1,4}",
        "[\u{4e00}-\u{9fff}]{1,3}·[A-Za-z]{1,12}",
        "[A-Z][a-zé'-]{0,15} [A-Z][a-zü-]{0,15}",
        any::<String>(),
    ]
}

fn validity() -> impl Strategy<Value = Validity> {
    (
        date_in(date!(1950 - 01 - 01), date!(2150 - 12 - 31)),
        proptest::option::of(0..=36_600i64),
    )
        .prop_map(|(from, days)| {
            let until = days.map(|days| from + time::Duration::days(days));
            Validity::new(from, until).expect("until is not before from")
        })
}

fn licence_details() -> impl Strategy<Value = LicenceDetails> {
    (name(), classes(), validity(), name(), any::<[u8; 32]>()).prop_map(
        |(name, classes, validity, authority, photo)| LicenceDetails {
            name,
            classes,
            validity,
            authority,
            photo: PhotoDigest::from_bytes(photo),
        },
    )
}

/// Claims that verify at `not_before`: `iat` up to a day before it, `exp` after it. Times
/// stay far enough from `u64::MAX` for the clock skew to be added without saturating.
fn credential_claims() -> impl Strategy<Value = CredentialClaims> {
    (
        (
            "[a-z]{1,8}:[ -~]{0,40}",
            licence_number(),
            any::<[u8; 16]>(),
        ),
        (0..u64::MAX / 2, 0..=86_400u64, 1..=20 * 365 * 86_400u64),
        licence_details(),
        (any::<u64>(), "https://[a-z.]{1,20}/[ -~]{0,30}"),
    )
        .prop_map(
            |((issuer, licence_number, id), (not_before, early, lifetime), licence, status)| {
                CredentialClaims {
                    issuer,
                    licence_number,
                    credential_id: CredentialId(id),
                    issued_at: UnixTime(not_before - early.min(not_before)),
                    not_before: UnixTime(not_before),
                    expires_at: UnixTime(not_before + lifetime),
                    licence,
                    status: StatusReference {
                        index: status.0,
                        uri: status.1,
                    },
                }
            },
        )
}

/// A list of any width with some entries set: (index, value) writes, in order.
fn status_list_with_writes() -> impl Strategy<Value = (StatusList, Vec<(u64, u8)>)> {
    (prop::sample::select(vec![1u8, 2, 4, 8]), 1..4_096usize).prop_flat_map(|(bits, len)| {
        let list = StatusList::new(bits, len).expect("valid width");
        let entries = list.len() as u64;
        let max = (1u16 << bits) - 1;
        let writes =
            prop::collection::vec((0..entries, 0..=max).prop_map(|(i, v)| (i, v as u8)), 0..64);
        (Just(list), writes)
    })
}

fn status_list() -> impl Strategy<Value = StatusList> {
    status_list_with_writes().prop_map(|(mut list, writes)| {
        for (index, value) in writes {
            list.set(index, value).expect("index and value in range");
        }
        list
    })
}

/// A list as edl signs them: two bits per entry, at least `MIN_ENTRIES` entries, some set.
fn edl_status_list() -> impl Strategy<Value = StatusList> {
    (
        1usize..=3,
        proptest::collection::vec((0u64..status_list::MIN_ENTRIES as u64, 0u8..4), 0..64),
    )
        .prop_map(|(multiple, entries)| {
            let mut list = StatusList::new(2, status_list::MIN_ENTRIES * multiple)
                .expect("two bits is a valid width");
            for (index, value) in entries {
                list.set(index, value).expect("index and value in range");
            }
            list
        })
}

fn status_list_claims() -> impl Strategy<Value = StatusListClaims> {
    (
        "https://[a-z.]{1,20}/[ -~]{0,30}",
        0..u64::MAX / 2,
        1..=400 * 86_400u64,
        any::<u64>(),
        edl_status_list(),
    )
        .prop_map(|(uri, issued_at, lifetime, ttl, list)| StatusListClaims {
            uri,
            issued_at: UnixTime(issued_at),
            expires_at: UnixTime(issued_at + lifetime),
            ttl,
            list,
        })
}

/// A trusted key as drawn: its seed, use and window. The key is built in the test, since
/// a `SigningKey` is deliberately not `Debug`.
fn trusted_key() -> impl Strategy<Value = ([u8; 32], KeyUse, u64, u64, bool)> {
    (
        seed(),
        prop::sample::select(vec![KeyUse::Credential, KeyUse::Status]),
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
    )
}

fn trust_list() -> impl Strategy<Value = TrustList> {
    (
        (any::<u64>(), any::<u64>(), any::<u64>(), name()),
        prop::collection::vec(trusted_key(), 0..6),
        prop::collection::vec("https://[a-z.]{1,20}/[ -~]{0,30}", 0..4),
    )
        .prop_map(
            |((sequence, issued_at, next_update, issuer), keys, status_lists)| TrustList {
                sequence,
                issued_at: UnixTime(issued_at),
                next_update: UnixTime(next_update),
                issuer,
                keys: keys
                    .into_iter()
                    .map(
                        |(seed, key_use, not_before, not_after, revoked)| TrustedKey {
                            public: SigningKey::from_seed(&seed).public().clone(),
                            key_use,
                            not_before: UnixTime(not_before),
                            not_after: UnixTime(not_after),
                            revoked,
                        },
                    )
                    .collect(),
                status_lists,
            },
        )
}

/// A slot of any length a presentation may declare, anywhere in time a `u64` second count
/// reaches without overflowing (its end plus a skew stays below `u64::MAX`).
fn slot() -> impl Strategy<Value = Slot> {
    (1..=presentation::MAX_SLOT_LENGTH).prop_flat_map(|length| {
        (0..u64::MAX / 4 / length).prop_map(move |n| {
            Slot::new(UnixTime(n * length), length).expect("aligned and in range")
        })
    })
}

fn challenge() -> impl Strategy<Value = Option<Challenge>> {
    proptest::option::of(
        prop::collection::vec(any::<u8>(), 1..=presentation::MAX_CHALLENGE_LEN)
            .prop_map(|bytes| Challenge::new(bytes).expect("1 to 32 bytes")),
    )
}

/// A credential that verifies during `slot` (its validity spans it), bound to `holder`,
/// signed by `issuer`: with a presentation of it and the policy that accepts it.
fn presented(
    mut claims: CredentialClaims,
    issuer: &SigningKey,
    holder: &SigningKey,
    slot: Slot,
    challenge: Option<Challenge>,
) -> (Vec<u8>, Vec<u8>, PresentationPolicy) {
    claims.issued_at = slot.start();
    claims.not_before = slot.start();
    claims.expires_at = slot.end().plus(1);
    let token = token::sign_bound(&claims, holder.public(), issuer);
    let presentation = presentation::present(&token, holder, slot, challenge.as_ref());
    let policy = PresentationPolicy {
        challenge,
        ..PresentationPolicy::at(slot.start())
    };
    (token, presentation, policy)
}

fn live_status() -> impl Strategy<Value = LiveStatus> {
    prop::sample::select(vec![
        LiveStatus::Valid,
        LiveStatus::Suspended,
        LiveStatus::Revoked,
        LiveStatus::Superseded,
        LiveStatus::Expired,
    ])
}

fn status_receipt() -> impl Strategy<Value = Receipt> {
    (
        any::<[u8; 16]>(),
        live_status(),
        0..u64::MAX / 2,
        (name(), "[a-z]{1,12}", proptest::option::of(name())),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(id, status, at, (client, role, purpose), audit_record)| Receipt {
                credential_id: CredentialId(id),
                status,
                at: UnixTime(at),
                client,
                role,
                purpose,
                audit_record,
            },
        )
}

/// Positions and xors for the byte flips of one document.
fn flips() -> impl Strategy<Value = Vec<(Index, u8)>> {
    prop::collection::vec((any::<Index>(), 1..=u8::MAX), FLIPS_PER_DOCUMENT)
}

/// The xor for an exhaustive sweep at `position`: varied, never zero.
fn sweep_xor(position: usize, flips: &[(Index, u8)]) -> u8 {
    let (_, xor) = flips[position % flips.len()];
    xor.rotate_left(position as u32)
}

// Helpers.

/// A keyring trusting `key` for `key_use` forever, beside unrelated keys of both uses (a
/// verifier's keyring always holds several).
fn keyring(key: &SigningKey, key_use: KeyUse) -> Keyring {
    let mut keys = OTHER_KEYS.clone();
    keys.insert(2, trusted(key, key_use));
    Keyring::new(keys)
}

fn trusted(key: &SigningKey, key_use: KeyUse) -> TrustedKey {
    TrustedKey {
        public: key.public().clone(),
        key_use,
        not_before: UnixTime(0),
        not_after: UnixTime(u64::MAX),
        revoked: false,
    }
}

/// Runs `verify` on `signed` with one byte flipped, at each drawn position or, with
/// `RUN_SLOW_TESTS`, at every position. Every one must be refused.
fn assert_flips_refused<E: std::fmt::Debug, T: std::fmt::Debug>(
    signed: &[u8],
    flips: &[(Index, u8)],
    verify: impl Fn(&[u8]) -> Result<T, E>,
) -> Result<(), TestCaseError> {
    assert_flips_refused_at(signed, flips, *EXHAUSTIVE, verify)
}

/// [`assert_flips_refused`], flipping every byte when `every_byte`.
fn assert_flips_refused_at<E: std::fmt::Debug, T: std::fmt::Debug>(
    signed: &[u8],
    flips: &[(Index, u8)],
    every_byte: bool,
    verify: impl Fn(&[u8]) -> Result<T, E>,
) -> Result<(), TestCaseError> {
    let positions: Vec<(usize, u8)> = if every_byte {
        (0..signed.len())
            .map(|at| (at, sweep_xor(at, flips)))
            .collect()
    } else {
        flips
            .iter()
            .map(|(at, xor)| (at.index(signed.len()), *xor))
            .collect()
    };
    for (at, xor) in positions {
        let mut corrupted = signed.to_vec();
        corrupted[at] ^= xor;
        let outcome = verify(&corrupted);
        prop_assert!(
            outcome.is_err(),
            "byte {at} of {} xor {xor:#04x} still verifies: {outcome:?}",
            signed.len()
        );
    }
    Ok(())
}

/// Runs `verify` on every strict prefix of `signed`; each must be refused.
fn assert_truncations_refused<E: std::fmt::Debug, T: std::fmt::Debug>(
    signed: &[u8],
    verify: impl Fn(&[u8]) -> Result<T, E>,
) -> Result<(), TestCaseError> {
    for len in 0..signed.len() {
        let outcome = verify(&signed[..len]);
        prop_assert!(
            outcome.is_err(),
            "the first {len} of {} bytes verify: {outcome:?}",
            signed.len()
        );
    }
    Ok(())
}

// Credential tokens.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(SIGNED_ROUND_TRIP_CASES))]

    #[test]
    fn token_round_trips(claims in credential_claims(), seed in seed()) {
        let key = SigningKey::from_seed(&seed);
        let signed = token::sign(&claims, &key);
        let keyring = keyring(&key, KeyUse::Credential);
        let verified = token::verify(&signed, &keyring, &VerifyPolicy::at(claims.not_before));
        let verified = verified.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&verified.claims, &claims);
        prop_assert_eq!(verified.key_id, key.key_id());
    }
}

proptest! {
    /// Inspection reads any claims back, times included, without checking them.
    #[test]
    fn token_inspects(
        mut claims in credential_claims(),
        times in (any::<u64>(), any::<u64>(), any::<u64>()),
        seed in seed(),
    ) {
        let (not_before, expires_at) = (times.0.min(times.1), times.0.max(times.1));
        claims.issued_at = UnixTime(times.2);
        claims.not_before = UnixTime(not_before);
        claims.expires_at = UnixTime(expires_at);
        let key = SigningKey::from_seed(&seed);
        let inspected = danger::inspect_credential(&token::sign(&claims, &key))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(inspected.key_id, key.key_id());
        prop_assert_eq!(inspected.claims, claims);
    }

    /// The QR text carries a token unchanged.
    #[test]
    fn token_round_trips_through_qr(claims in credential_claims(), seed in seed()) {
        let key = SigningKey::from_seed(&seed);
        let signed = token::sign(&claims, &key);
        let text = qr::encode(&signed);
        prop_assert_eq!(qr::decode(&text), Ok(signed));
    }
}

proptest! {
    // The signed documents drawn here are the ones the round trips show to verify.
    #![proptest_config(ProptestConfig::with_cases(FLIP_CASES))]

    #[test]
    fn token_flips_are_refused(
        claims in credential_claims(),
        seed in seed(),
        flips in flips(),
    ) {
        let key = SigningKey::from_seed(&seed);
        let signed = token::sign(&claims, &key);
        let keyring = keyring(&key, KeyUse::Credential);
        let policy = VerifyPolicy::at(claims.not_before);
        let verify = |bytes: &[u8]| token::verify(bytes, &keyring, &policy);
        assert_flips_refused(&signed, &flips, verify)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(TRUNCATION_CASES))]

    #[test]
    fn token_truncations_are_refused(claims in credential_claims(), seed in seed()) {
        let key = SigningKey::from_seed(&seed);
        let signed = token::sign(&claims, &key);
        let keyring = keyring(&key, KeyUse::Credential);
        let policy = VerifyPolicy::at(claims.not_before);
        assert_truncations_refused(&signed, |bytes| token::verify(bytes, &keyring, &policy))?;
        assert_truncations_refused(&signed, danger::inspect_credential)?;
    }
}

// Holder-bound credentials and presentations.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(SIGNED_ROUND_TRIP_CASES))]

    #[test]
    fn bound_token_round_trips(claims in credential_claims(), seeds in (seed(), seed())) {
        let (issuer, holder) = (SigningKey::from_seed(&seeds.0), SigningKey::from_seed(&seeds.1));
        let signed = token::sign_bound(&claims, holder.public(), &issuer);
        let keyring = keyring(&issuer, KeyUse::Credential);
        let verified = token::verify_token(&signed, &keyring, &VerifyPolicy::at(claims.not_before))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&verified.credential.claims, &claims);
        prop_assert_eq!(verified.holder_key.as_ref(), Some(holder.public()));
        // Unbound, the same claims name no holder.
        let bearer = token::sign(&claims, &issuer);
        let verified = token::verify_token(&bearer, &keyring, &VerifyPolicy::at(claims.not_before))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&verified.credential.claims, &claims);
        prop_assert_eq!(verified.holder_key, None);
    }

    #[test]
    fn presentation_round_trips(
        claims in credential_claims(),
        seeds in (seed(), seed()),
        slot in slot(),
        challenge in challenge(),
    ) {
        let (issuer, holder) = (SigningKey::from_seed(&seeds.0), SigningKey::from_seed(&seeds.1));
        let (token, presentation, policy) =
            presented(claims, &issuer, &holder, slot, challenge.clone());
        let keyring = keyring(&issuer, KeyUse::Credential);
        let verified = presentation::verify(&presentation, &keyring, &policy)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&verified.holder_key, holder.public());
        prop_assert_eq!(verified.slot, slot);
        prop_assert_eq!(&verified.challenge, &challenge);
        let inspected = danger::inspect_presentation(&presentation)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(inspected.token, token);
        let text = qr::encode_presentation(&presentation);
        prop_assert_eq!(qr::decode_presentation(&text), Ok(presentation));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(FLIP_CASES))]

    #[test]
    fn presentation_flips_are_refused(
        claims in credential_claims(),
        seeds in (seed(), seed()),
        slot in slot(),
        challenge in challenge(),
        flips in flips(),
    ) {
        let (issuer, holder) = (SigningKey::from_seed(&seeds.0), SigningKey::from_seed(&seeds.1));
        let (_, presentation, policy) = presented(claims, &issuer, &holder, slot, challenge);
        let keyring = keyring(&issuer, KeyUse::Credential);
        assert_flips_refused(&presentation, &flips, |bytes| {
            presentation::verify(bytes, &keyring, &policy)
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(EVERY_FLIP_CASES))]

    /// Every single-byte flip of a presentation is refused: the credential, the slot, the
    /// challenge, the headers, the CBOR framing and both signatures.
    #[test]
    fn every_byte_flip_of_a_presentation_is_refused(
        claims in credential_claims(),
        seeds in (seed(), seed()),
        slot in slot(),
        challenge in challenge(),
        flips in flips(),
    ) {
        let (issuer, holder) = (SigningKey::from_seed(&seeds.0), SigningKey::from_seed(&seeds.1));
        let (_, presentation, policy) = presented(claims, &issuer, &holder, slot, challenge);
        let keyring = keyring(&issuer, KeyUse::Credential);
        assert_flips_refused_at(&presentation, &flips, true, |bytes| {
            presentation::verify(bytes, &keyring, &policy)
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(TRUNCATION_CASES))]

    #[test]
    fn presentation_truncations_are_refused(
        claims in credential_claims(),
        seeds in (seed(), seed()),
        slot in slot(),
    ) {
        let (issuer, holder) = (SigningKey::from_seed(&seeds.0), SigningKey::from_seed(&seeds.1));
        let (_, presentation, policy) = presented(claims, &issuer, &holder, slot, None);
        let keyring = keyring(&issuer, KeyUse::Credential);
        assert_truncations_refused(&presentation, |bytes| {
            presentation::verify(bytes, &keyring, &policy)
        })?;
        assert_truncations_refused(&presentation, danger::inspect_presentation)?;
    }
}

// Status receipts.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(SIGNED_ROUND_TRIP_CASES))]

    #[test]
    fn receipt_round_trips(receipt in status_receipt(), seed in seed()) {
        let key = SigningKey::from_seed(&seed);
        let signed = receipt::sign(&receipt, &key);
        let verified = receipt::verify(&signed, &keyring(&key, KeyUse::Status))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(verified.receipt, receipt);
        prop_assert_eq!(verified.key_id, key.key_id());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(FLIP_CASES))]

    #[test]
    fn receipt_flips_are_refused(receipt in status_receipt(), seed in seed(), flips in flips()) {
        let key = SigningKey::from_seed(&seed);
        let signed = receipt::sign(&receipt, &key);
        let keyring = keyring(&key, KeyUse::Status);
        assert_flips_refused(&signed, &flips, |bytes| receipt::verify(bytes, &keyring))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(EVERY_FLIP_CASES))]

    /// A receipt tampered in any one byte is refused.
    #[test]
    fn every_byte_flip_of_a_receipt_is_refused(
        receipt in status_receipt(),
        seed in seed(),
        flips in flips(),
    ) {
        let key = SigningKey::from_seed(&seed);
        let signed = receipt::sign(&receipt, &key);
        let keyring = keyring(&key, KeyUse::Status);
        assert_flips_refused_at(&signed, &flips, true, |bytes| receipt::verify(bytes, &keyring))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(TRUNCATION_CASES))]

    #[test]
    fn receipt_truncations_are_refused(receipt in status_receipt(), seed in seed()) {
        let key = SigningKey::from_seed(&seed);
        let signed = receipt::sign(&receipt, &key);
        let keyring = keyring(&key, KeyUse::Status);
        assert_truncations_refused(&signed, |bytes| receipt::verify(bytes, &keyring))?;
    }
}

// QR text.

proptest! {
    /// Any non-empty bytes (no token is empty: `DL1:` alone is refused as empty).
    #[test]
    fn qr_round_trips(bytes in prop::collection::vec(any::<u8>(), 1..600)) {
        let text = qr::encode(&bytes);
        prop_assert!(text.bytes().all(|b| QR_ALPHANUMERIC.contains(&b)), "{}", text);
        prop_assert_eq!(qr::decode(&text), Ok(bytes));
    }

    /// Any text decodes or is refused without a panic, and whatever decodes is the one
    /// canonical spelling of its bytes.
    #[test]
    fn qr_decodes_any_text(text in prop_oneof![
        any::<String>(),
        "DL1:[0-9A-Z $%*+./:-]{0,40}",
        "DL1:[0-9A-Z $%*+./:a-z-]{0,40}",
    ]) {
        if let Ok(bytes) = qr::decode(&text) {
            prop_assert_eq!(qr::encode(&bytes), text);
        }
    }
}

// Status lists.

proptest! {
    #[test]
    fn status_list_set_get((mut list, writes) in status_list_with_writes()) {
        let mut model = vec![0u8; list.len()];
        for (index, value) in writes {
            list.set(index, value).map_err(|e| TestCaseError::fail(e.to_string()))?;
            model[index as usize] = value;
        }
        for (index, value) in model.iter().enumerate() {
            prop_assert_eq!(list.get(index as u64), Some(*value), "entry {}", index);
        }
        prop_assert_eq!(list.get(list.len() as u64), None);
        let too_large = (list.bits() < 8).then(|| 1u8 << list.bits());
        if let Some(value) = too_large {
            prop_assert!(list.set(0, value).is_err());
        }
        prop_assert!(list.set(list.len() as u64, 0).is_err());
    }

    #[test]
    fn status_list_compression_round_trips(list in status_list()) {
        let compressed = list.compress();
        prop_assert_eq!(StatusList::decompress(list.bits(), &compressed), Ok(list));
    }

    /// A list's stream with bytes changed or cut short is read exactly as an independent
    /// zlib reader (flate2's) reads it: the same bytes when both accept, refused when it
    /// refuses (a damaged checksum included).
    #[test]
    fn damaged_status_lists_are_judged_as_zlib_judges_them(
        list in status_list(),
        damage in proptest::collection::vec((any::<Index>(), any::<u8>()), 0..4),
        cut in proptest::option::of(any::<Index>()),
    ) {
        use std::io::Read;
        let mut stream = list.compress();
        for (at, byte) in damage {
            let at = at.index(stream.len());
            stream[at] = byte;
        }
        if let Some(cut) = cut {
            stream.truncate(cut.index(stream.len()));
        }
        let mut theirs = Vec::new();
        let zlib = flate2::read::ZlibDecoder::new(stream.as_slice()).read_to_end(&mut theirs);
        let ours = StatusList::decompress(list.bits(), &stream);
        match (zlib, ours) {
            (Ok(_), Ok(read)) => prop_assert_eq!(read.as_bytes(), theirs.as_slice()),
            (Err(_), Err(_)) => {}
            (zlib, ours) => prop_assert!(false, "zlib: {:?}, ours: {:?}", zlib.map(|_| theirs.len()), ours.err()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(SIGNED_ROUND_TRIP_CASES))]

    #[test]
    fn status_list_token_round_trips(claims in status_list_claims(), seed in seed()) {
        let key = SigningKey::from_seed(&seed);
        let signed = status_list::sign(&claims, &key);
        let keyring = keyring(&key, KeyUse::Status);
        let policy = VerifyPolicy::at(claims.issued_at);
        let verified = status_list::verify(&signed, &keyring, &policy, Some(&claims.uri))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(verified.claims, claims);
        prop_assert_eq!(verified.key_id, key.key_id());
    }
}

proptest! {
    // The signed documents drawn here are the ones the round trips show to verify.
    #![proptest_config(ProptestConfig::with_cases(FLIP_CASES))]

    #[test]
    fn status_list_token_flips_are_refused(
        claims in status_list_claims(),
        seed in seed(),
        flips in flips(),
    ) {
        let key = SigningKey::from_seed(&seed);
        let signed = status_list::sign(&claims, &key);
        let keyring = keyring(&key, KeyUse::Status);
        let policy = VerifyPolicy::at(claims.issued_at);
        let verify = |bytes: &[u8]| status_list::verify(bytes, &keyring, &policy, None);
        assert_flips_refused(&signed, &flips, verify)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(TRUNCATION_CASES))]

    #[test]
    fn status_list_token_truncations_are_refused(claims in status_list_claims(), seed in seed()) {
        let key = SigningKey::from_seed(&seed);
        let signed = status_list::sign(&claims, &key);
        let keyring = keyring(&key, KeyUse::Status);
        let policy = VerifyPolicy::at(claims.issued_at);
        let verify = |bytes: &[u8]| status_list::verify(bytes, &keyring, &policy, None);
        assert_truncations_refused(&signed, verify)?;
    }
}

// Trust lists.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(SIGNED_ROUND_TRIP_CASES))]

    #[test]
    fn trust_list_round_trips(list in trust_list(), root in seed(), seen in any::<u64>()) {
        let root = SigningKey::from_seed(&root);
        let signed = list.sign(&root);
        let roots = [SigningKey::from_seed(&[9; 32]).public().clone(), root.public().clone()];
        let verified = trust_list::verify(&signed, &roots, Some(seen.min(list.sequence)))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(verified, list);
    }
}

proptest! {
    // The signed documents drawn here are the ones the round trips show to verify.
    #![proptest_config(ProptestConfig::with_cases(FLIP_CASES))]

    #[test]
    fn trust_list_flips_are_refused(list in trust_list(), root in seed(), flips in flips()) {
        let root = SigningKey::from_seed(&root);
        let signed = list.sign(&root);
        let roots = [root.public().clone()];
        let verify = |bytes: &[u8]| trust_list::verify(bytes, &roots, None);
        assert_flips_refused(&signed, &flips, verify)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(TRUNCATION_CASES))]

    #[test]
    fn trust_list_truncations_are_refused(list in trust_list(), root in seed()) {
        let root = SigningKey::from_seed(&root);
        let signed = list.sign(&root);
        let roots = [root.public().clone()];
        let verify = |bytes: &[u8]| trust_list::verify(bytes, &roots, None);
        assert_truncations_refused(&signed, verify)?;
    }
}
