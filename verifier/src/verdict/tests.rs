//! Tests for the verdict: one `check` per case, with an injected time.

use keys::licence::{LicenceClass, LicenceClasses, PhotoDigest, Validity};
use keys::token::{CredentialClaims, CredentialId, LicenceDetails, StatusReference};
use keys::{KeyId, UnixTime};
use time::macros::date;

use keys::presentation::Slot;

use super::*;

const NOW: UnixTime = UnixTime(1_800_000_000);
const HOUR: u64 = 3600;
const POLICY: Policy = Policy {
    max_status_age: 24 * HOUR,
    clock_tolerance: 300,
    require_holder_binding: false,
    slot_skew: 30,
};

fn credential() -> Box<VerifiedCredential> {
    Box::new(VerifiedCredential {
        claims: CredentialClaims {
            issuer: "CN-11".into(),
            licence_number: "11010519491231002X".parse().unwrap(),
            credential_id: CredentialId([1; 16]),
            issued_at: NOW.minus(10 * 86_400),
            not_before: NOW.minus(10 * 86_400),
            expires_at: NOW.plus(20 * 86_400),
            licence: LicenceDetails {
                name: "张三".into(),
                classes: LicenceClasses::new(&[LicenceClass::C1]).unwrap(),
                validity: Validity::long_term(date!(2020 - 06 - 01)),
                authority: "北京市公安局公安交通管理局".into(),
                photo: PhotoDigest::of(b"photo"),
            },
            status: StatusReference {
                index: 7,
                uri: "https://edl.example/v1/status-lists/0".into(),
            },
        },
        key_id: KeyId([2; 8]),
    })
}

fn good() -> TokenCheck {
    TokenCheck::Verified(credential())
}

fn live(status: StatusValue) -> StatusEvidence {
    StatusEvidence::Live {
        status,
        server_time: NOW,
    }
}

fn cached(status: CredentialStatus, age: u64) -> StatusEvidence {
    StatusEvidence::Cached {
        status,
        issued_at: NOW.minus(age),
        expires_at: NOW.minus(age).plus(7 * 86_400),
    }
}

#[track_caller]
fn check(
    token: TokenCheck,
    evidence: StatusEvidence,
    expected: (Outcome, Option<Reason>),
) -> Verdict {
    let verdict = decide(
        Inputs {
            token,
            presentation: PresentationCheck::Bearer {
                holder_bound: false,
            },
            evidence,
            last_sync_server_time: None,
            notes: vec![],
        },
        &POLICY,
        NOW,
    );
    assert_eq!((verdict.outcome, verdict.reason), expected, "{verdict:#?}");
    verdict
}

use Outcome::{Indeterminate, NotValid, Valid};

#[test]
fn live_valid() {
    let v = check(good(), live(StatusValue::Valid), (Valid, None));
    assert_eq!(
        (v.status.source, v.status.age),
        (StatusSource::Live, Some(0))
    );
}
#[test]
fn live_revoked() {
    check(
        good(),
        live(StatusValue::Revoked),
        (NotValid, Some(Reason::Revoked)),
    );
}
#[test]
fn live_suspended() {
    check(
        good(),
        live(StatusValue::Suspended),
        (NotValid, Some(Reason::Suspended)),
    );
}
#[test]
fn live_superseded() {
    check(
        good(),
        live(StatusValue::Superseded),
        (NotValid, Some(Reason::Superseded)),
    );
}
#[test]
fn live_expired() {
    check(
        good(),
        live(StatusValue::Expired),
        (NotValid, Some(Reason::Expired)),
    );
}
#[test]
fn cached_fresh_valid() {
    let v = check(
        good(),
        cached(CredentialStatus::Valid, 3 * HOUR),
        (Valid, None),
    );
    assert_eq!(v.status.source, StatusSource::CachedList);
    assert_eq!(v.status.age, Some(3 * HOUR));
    assert_eq!(v.status.as_of, Some(NOW.minus(3 * HOUR)));
}
#[test]
fn cached_at_max_age_is_fresh() {
    check(
        good(),
        cached(CredentialStatus::Valid, 24 * HOUR),
        (Valid, None),
    );
}
#[test]
fn cached_stale_valid() {
    let v = check(
        good(),
        cached(CredentialStatus::Valid, 24 * HOUR + 1),
        (Indeterminate, Some(Reason::StatusStale)),
    );
    assert!(v.status.stale);
}
#[test]
fn cached_past_exp_is_stale() {
    check(
        good(),
        StatusEvidence::Cached {
            status: CredentialStatus::Valid,
            issued_at: NOW.minus(HOUR),
            expires_at: NOW,
        },
        (Indeterminate, Some(Reason::StatusStale)),
    );
}
#[test]
fn cached_fresh_revoked() {
    check(
        good(),
        cached(CredentialStatus::Invalid, HOUR),
        (NotValid, Some(Reason::Revoked)),
    );
}
#[test]
fn cached_fresh_suspended() {
    check(
        good(),
        cached(CredentialStatus::Suspended, HOUR),
        (NotValid, Some(Reason::Suspended)),
    );
}
#[test]
fn cached_fresh_superseded() {
    check(
        good(),
        cached(CredentialStatus::Superseded, HOUR),
        (NotValid, Some(Reason::Superseded)),
    );
}
#[test]
fn cached_stale_revoked_stays_indeterminate() {
    let v = check(
        good(),
        cached(CredentialStatus::Invalid, 30 * HOUR),
        (Indeterminate, Some(Reason::StatusStale)),
    );
    assert_eq!(v.status.value, StatusValue::Revoked);
    assert!(v.detail.contains("revoked"));
}
#[test]
fn status_unavailable() {
    check(
        good(),
        StatusEvidence::Unavailable,
        (Indeterminate, Some(Reason::StatusUnknown)),
    );
}
#[test]
fn server_does_not_know_credential() {
    check(
        good(),
        StatusEvidence::ServerUnknown,
        (Indeterminate, Some(Reason::StatusUnknown)),
    );
}

#[track_caller]
fn check_refused(error: VerifyError, expected: Reason) {
    let v = check(
        TokenCheck::refused(&error, None),
        live(StatusValue::Valid),
        (NotValid, Some(expected)),
    );
    assert_eq!(
        v.status.source,
        StatusSource::None,
        "status is not consulted"
    );
}

#[test]
fn refused_bad_signature() {
    check_refused(VerifyError::BadSignature, Reason::BadSignature)
}
#[test]
fn refused_unknown_key() {
    check_refused(VerifyError::UnknownKey(KeyId([3; 8])), Reason::UnknownKey)
}
#[test]
fn refused_key_revoked() {
    check_refused(VerifyError::KeyRevoked(KeyId([3; 8])), Reason::KeyRevoked)
}
#[test]
fn refused_key_not_valid() {
    check_refused(
        VerifyError::KeyNotValid {
            key_id: KeyId([3; 8]),
            signed_at: NOW,
        },
        Reason::KeyNotValid,
    )
}
#[test]
fn refused_expired() {
    check_refused(VerifyError::Expired(NOW), Reason::Expired)
}
#[test]
fn refused_not_yet_valid() {
    check_refused(VerifyError::NotYetValid(NOW), Reason::NotYetValid)
}
#[test]
fn refused_malformed() {
    check_refused(
        VerifyError::Claims(keys::FormatError::Missing("sub")),
        Reason::Malformed,
    )
}

#[track_caller]
fn check_clock(evidence: StatusEvidence, last_sync: Option<UnixTime>, expected: Option<i64>) {
    let verdict = decide(
        Inputs {
            token: good(),
            presentation: PresentationCheck::Bearer {
                holder_bound: false,
            },
            evidence,
            last_sync_server_time: last_sync,
            notes: vec![],
        },
        &POLICY,
        NOW,
    );
    assert_eq!(verdict.clock.map(|c| c.seconds), expected);
    assert_eq!(
        verdict.notes.iter().any(|n| n.contains("clock")),
        expected.is_some()
    );
}

#[test]
fn clock_in_tolerance() {
    check_clock(
        StatusEvidence::Live {
            status: StatusValue::Valid,
            server_time: NOW.plus(300),
        },
        None,
        None,
    )
}
#[test]
fn clock_behind_server() {
    check_clock(
        StatusEvidence::Live {
            status: StatusValue::Valid,
            server_time: NOW.plus(2 * HOUR),
        },
        None,
        Some(7200),
    )
}
#[test]
fn clock_ahead_of_server() {
    check_clock(
        StatusEvidence::Live {
            status: StatusValue::Valid,
            server_time: NOW.minus(3 * 86_400),
        },
        None,
        Some(-3 * 86_400),
    )
}
#[test]
fn clock_behind_cached_list() {
    check_clock(
        StatusEvidence::Cached {
            status: CredentialStatus::Valid,
            issued_at: NOW.plus(HOUR),
            expires_at: NOW.plus(5 * HOUR),
        },
        None,
        Some(3600),
    )
}
#[test]
fn clock_behind_last_sync() {
    check_clock(
        StatusEvidence::Unavailable,
        Some(NOW.plus(86_400)),
        Some(86_400),
    )
}
#[test]
fn clock_ahead_of_last_sync_is_normal() {
    check_clock(StatusEvidence::Unavailable, Some(NOW.minus(86_400)), None)
}

#[track_caller]
fn check_span(seconds: u64, expected: &str) {
    assert_eq!(format_span(seconds), expected);
}

#[test]
fn span_seconds() {
    check_span(45, "45 s")
}
#[test]
fn span_minutes() {
    check_span(12 * 60 + 5, "12 min")
}
#[test]
fn span_hours() {
    check_span(3 * 3600 + 5 * 60, "3 h 5 min")
}
#[test]
fn span_whole_hours() {
    check_span(2 * 3600, "2 h")
}
#[test]
fn span_days() {
    check_span(2 * 86_400 + 4 * 3600, "2 d 4 h")
}

#[test]
fn exit_codes() {
    assert_eq!(
        [Valid, NotValid, Indeterminate].map(Outcome::exit_code),
        [0, 1, 2]
    );
}

fn shown(presentation: PresentationCheck, evidence: StatusEvidence, policy: &Policy) -> Verdict {
    decide(
        Inputs {
            token: good(),
            presentation,
            evidence,
            last_sync_server_time: None,
            notes: vec![],
        },
        policy,
        NOW,
    )
}

fn slot() -> Slot {
    Slot::containing(NOW, 30).unwrap()
}

#[test]
fn a_fresh_presentation_is_valid_and_says_so() {
    let verdict = shown(
        PresentationCheck::Fresh { slot: slot() },
        live(StatusValue::Valid),
        &POLICY,
    );
    assert_eq!((verdict.outcome, verdict.reason), (Outcome::Valid, None));
    assert_eq!(
        verdict.presentation,
        PresentationReport {
            presented: true,
            holder_bound: Some(true),
            bound: true,
            fresh: true,
            slot: Some(slot()),
        }
    );
}

#[test]
fn a_refused_presentation_is_not_valid_whatever_the_status() {
    for status in [
        StatusValue::Valid,
        StatusValue::Revoked,
        StatusValue::Unknown,
    ] {
        for reason in [Reason::PresentationExpired, Reason::NotPresentedByHolder] {
            let verdict = shown(
                PresentationCheck::Refused {
                    reason,
                    detail: "x".into(),
                    slot: Some(slot()),
                    holder_bound: true,
                },
                live(status),
                &POLICY,
            );
            assert_eq!(
                (verdict.outcome, verdict.reason),
                (Outcome::NotValid, Some(reason))
            );
            assert!(!verdict.presentation.fresh);
            assert_eq!(verdict.outcome.exit_code(), 1);
        }
    }
}

#[test]
fn a_bound_credential_shown_alone_passes_only_without_the_policy() {
    let bound = PresentationCheck::Bearer { holder_bound: true };
    let lax = shown(bound.clone(), live(StatusValue::Valid), &POLICY);
    assert_eq!(lax.outcome, Outcome::Valid);
    assert_eq!(lax.presentation.holder_bound, Some(true));
    assert!(!lax.presentation.bound);
    let strict = Policy {
        require_holder_binding: true,
        ..POLICY
    };
    let refused = shown(bound, live(StatusValue::Valid), &strict);
    assert_eq!(
        (refused.outcome, refused.reason),
        (Outcome::NotValid, Some(Reason::NotPresentedByHolder))
    );
    // A bearer credential has no device to present it: the policy does not refuse it.
    let bearer = shown(
        PresentationCheck::Bearer {
            holder_bound: false,
        },
        live(StatusValue::Valid),
        &strict,
    );
    assert_eq!(bearer.outcome, Outcome::Valid);
}
