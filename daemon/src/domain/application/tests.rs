//! Tests for the application state machine and photo checks.

use keys::UnixTime;

use super::{
    Application, ApplicationState, Channel, Photo, PhotoError, PhotoFormat, Ticket, check_photo,
};
use crate::domain::queue::Lane;

fn application(state: ApplicationState) -> Application {
    Application {
        holder_key: None,
        ticket: Ticket([1; 16]),
        licence: "11010519491231002X".parse().unwrap(),
        channel: Channel::App,
        client: "gateway".into(),
        photo: Photo::OnFile,
        state,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
        reissue: false,
        quoted: None,
        previous: None,
    }
}

#[test]
fn approve_reviewing() {
    let mut a = application(ApplicationState::Reviewing);
    a.approve(7, UnixTime(5)).unwrap();
    assert_eq!(
        a.state,
        ApplicationState::Queued {
            lane: Lane::First,
            sequence: 7
        }
    );
}
#[test]
fn approve_twice() {
    let mut a = application(ApplicationState::Reviewing);
    a.approve(7, UnixTime(5)).unwrap();
    assert!(a.approve(8, UnixTime(5)).is_err());
}
#[test]
fn issue_rejected() {
    let mut a = application(ApplicationState::Rejected { reason: "x".into() });
    assert!(a.issue("00".into(), UnixTime(5)).is_err());
}
#[test]
fn reject_issued() {
    let mut a = application(ApplicationState::Issued {
        credential_id: "00".into(),
    });
    assert!(a.reject("x".into(), UnixTime(5)).is_err());
}
#[test]
fn ticket_round_trip() {
    let t = Ticket([0xab; 16]);
    assert_eq!(t.to_string().parse::<Ticket>(), Ok(t));
    assert!("AB".repeat(16).parse::<Ticket>().is_err());
}

#[test]
fn tickets_in_json_are_their_digits_and_escapes_are_read() {
    let t = Ticket([0x0f; 16]);
    let text = "0f".repeat(16);
    assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{text}\""));
    assert_eq!(
        serde_json::from_str::<Ticket>(&format!("\"{text}\"")).unwrap(),
        t
    );
    // JSON may escape any character; what counts is the text it stands for.
    let escaped = format!("\"\\u0030{}\"", &text[1..]);
    assert_eq!(serde_json::from_str::<Ticket>(&escaped).unwrap(), t);
    for bad in [
        "0F".repeat(16),
        "0f".repeat(15),
        "0f".repeat(17),
        "0g".repeat(16),
    ] {
        let error = serde_json::from_str::<Ticket>(&format!("\"{bad}\"")).unwrap_err();
        assert!(
            error.to_string().contains("32 lowercase hex digits"),
            "{bad}: {error}"
        );
    }
    assert!(serde_json::from_str::<Ticket>("16").is_err());
}

#[track_caller]
fn check(bytes: &[u8], expected: Result<PhotoFormat, PhotoError>) {
    assert_eq!(check_photo(bytes, 64), expected);
}

#[test]
fn jpeg() {
    check(b"\xff\xd8\xff\xe0abcdef\xff\xd9", Ok(PhotoFormat::Jpeg))
}
#[test]
fn jpeg_truncated() {
    check(b"\xff\xd8\xff\xe0abcdef", Err(PhotoError::Damaged))
}
#[test]
fn png() {
    check(
        b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDRxxxxxxxxxxxxx\0\0\0\0IEND\xaeB`\x82",
        Ok(PhotoFormat::Png),
    )
}
#[test]
fn png_without_iend() {
    check(
        b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDRxxxxxxxxxxxxx",
        Err(PhotoError::Damaged),
    )
}
#[test]
fn gif() {
    check(b"GIF89a....", Err(PhotoError::Format))
}
#[test]
fn too_large() {
    check(
        &[0xff; 65],
        Err(PhotoError::TooLarge {
            size: 65,
            limit: 64,
        }),
    )
}
