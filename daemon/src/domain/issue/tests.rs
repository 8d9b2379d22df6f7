//! Tests for issuing and status derivation.

use keys::UnixTime;
use keys::licence::{LicenceState, PhotoDigest, Validity};
use keys::token::StatusReference;
use time::macros::date;

use super::{CredentialRecord, IssueError, IssueInput, LiveStatus, claims, expiry, live_status};
use crate::domain::application::Ticket;
use crate::domain::registry::LicenceRecord;

const DAY: u64 = 86_400;
// 2030-01-01T00:00:00Z
const NOW: UnixTime = UnixTime(1_893_456_000);

fn licence(until: Option<time::Date>, state: LicenceState) -> LicenceRecord {
    LicenceRecord {
        number: "11010519491231002X".parse().unwrap(),
        name: "张三".into(),
        classes: "C1".parse().unwrap(),
        validity: Validity::new(date!(2020 - 01 - 01), until).unwrap(),
        authority: "Beijing".into(),
        state,
        points: Default::default(),
        photo: Some(PhotoDigest::of(b"photo")),
    }
}

#[track_caller]
fn check_expiry(until: Option<time::Date>, expected: Option<UnixTime>) {
    assert_eq!(
        expiry(&licence(until, LicenceState::Normal), NOW, 30 * DAY),
        expected
    );
}

#[test]
fn expiry_capped_by_lifetime() {
    check_expiry(Some(date!(2035 - 01 - 01)), Some(NOW.plus(30 * DAY)))
}
#[test]
fn expiry_capped_by_licence() {
    // Valid until 2030-01-10 inclusive: ends at midnight starting 2030-01-11.
    check_expiry(Some(date!(2030 - 01 - 10)), Some(NOW.plus(10 * DAY)))
}
#[test]
fn expiry_long_term() {
    check_expiry(None, Some(NOW.plus(30 * DAY)))
}
#[test]
fn expiry_after_end() {
    check_expiry(Some(date!(2029 - 12 - 31)), None)
}

fn input(record: &LicenceRecord) -> IssueInput<'_> {
    IssueInput {
        licence: record,
        photo: record.photo,
        issuer: "EDL",
        credential_id: [7; 16],
        status: StatusReference {
            index: 5,
            uri: "http://x/v1/status-lists/0".into(),
        },
        now: NOW,
        lifetime: 30 * DAY,
    }
}

#[test]
fn claims_of_normal_licence() {
    let record = licence(None, LicenceState::Normal);
    let c = claims(&input(&record)).unwrap();
    assert_eq!(
        (c.issued_at, c.not_before, c.expires_at),
        (NOW, NOW, NOW.plus(30 * DAY))
    );
    assert_eq!(c.licence.name, "张三");
    assert_eq!(c.status.index, 5);
}
#[test]
fn claims_of_suspended_licence() {
    let record = licence(None, LicenceState::Suspended);
    assert_eq!(
        claims(&input(&record)),
        Err(IssueError::NotInForce(LicenceState::Suspended))
    );
}
#[test]
fn claims_without_photo() {
    let mut record = licence(None, LicenceState::Normal);
    record.photo = None;
    assert_eq!(claims(&input(&record)), Err(IssueError::NoPhoto));
}

fn credential(superseded: bool, expires_at: UnixTime) -> CredentialRecord {
    CredentialRecord {
        id: "00".repeat(16),
        licence: "11010519491231002X".parse().unwrap(),
        ticket: Ticket([0; 16]),
        list: 0,
        index: 0,
        issued_at: NOW,
        expires_at,
        superseded,
        token: String::new(),
        photo: PhotoDigest::of(b"photo"),
    }
}

#[track_caller]
fn check_status(superseded: bool, state: LicenceState, exp: UnixTime, expected: LiveStatus) {
    let record = licence(None, state);
    assert_eq!(
        live_status(&credential(superseded, exp), &record, NOW),
        expected
    );
}

#[test]
fn status_valid() {
    check_status(false, LicenceState::Normal, NOW.plus(1), LiveStatus::Valid)
}
#[test]
fn status_expired_token() {
    check_status(false, LicenceState::Normal, NOW, LiveStatus::Expired)
}
#[test]
fn status_superseded() {
    check_status(
        true,
        LicenceState::Normal,
        NOW.plus(1),
        LiveStatus::Superseded,
    )
}
#[test]
fn status_revoked_wins() {
    check_status(
        true,
        LicenceState::Revoked,
        NOW.plus(1),
        LiveStatus::Revoked,
    )
}
#[test]
fn status_cancelled() {
    check_status(
        false,
        LicenceState::Cancelled,
        NOW.plus(1),
        LiveStatus::Revoked,
    )
}
#[test]
fn status_suspended() {
    check_status(
        false,
        LicenceState::Suspended,
        NOW.plus(1),
        LiveStatus::Suspended,
    )
}
