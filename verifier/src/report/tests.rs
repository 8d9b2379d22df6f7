//! Tests for the human and JSON reports.

use keys::licence::{LicenceClass, LicenceClasses, PhotoDigest, Validity};
use keys::token::{
    CredentialClaims, CredentialId, LicenceDetails, StatusReference, VerifiedCredential,
};
use keys::{KeyId, UnixTime};
use time::macros::date;

use super::*;
use crate::verdict::{
    ClockOffset, Inputs, Policy, PresentationCheck, StatusEvidence, TokenCheck, decide,
};

const NOW: UnixTime = UnixTime(1_800_000_000);
const POLICY: Policy = Policy {
    max_status_age: 86_400,
    clock_tolerance: 300,
    require_holder_binding: false,
    slot_skew: 30,
};

fn verdict(evidence: StatusEvidence) -> Verdict {
    let credential = VerifiedCredential {
        claims: CredentialClaims {
            issuer: "CN-11".into(),
            licence_number: "11010519491231002X".parse().unwrap(),
            credential_id: CredentialId([0xab; 16]),
            issued_at: NOW.minus(100),
            not_before: NOW.minus(100),
            expires_at: NOW.plus(100),
            licence: LicenceDetails {
                name: "张三".into(),
                classes: LicenceClasses::new(&[LicenceClass::C1, LicenceClass::A2]).unwrap(),
                validity: Validity::new(date!(2020 - 06 - 01), Some(date!(2030 - 06 - 01)))
                    .unwrap(),
                authority: "Beijing".into(),
                photo: PhotoDigest::of(b""),
            },
            status: StatusReference {
                index: 42,
                uri: "https://edl.example/v1/status-lists/0".into(),
            },
        },
        key_id: KeyId([0x11; 8]),
    };
    decide(
        Inputs {
            token: TokenCheck::Verified(Box::new(credential)),
            presentation: PresentationCheck::Bearer {
                holder_bound: false,
            },
            evidence,
            last_sync_server_time: None,
            notes: vec![],
        },
        &POLICY,
        NOW,
    )
}

fn human(verdict: &Verdict, style: Style) -> String {
    let mut out = Vec::new();
    write_human(&mut out, verdict, POLICY.max_status_age, style).unwrap();
    String::from_utf8(out).unwrap()
}

const ASCII: Style = Style {
    colour: false,
    utf8: false,
    chinese: false,
};

#[test]
fn ascii_terminal() {
    let text = human(&verdict(StatusEvidence::Unavailable), ASCII);
    assert!(text.is_ascii(), "{text}");
    assert!(text.starts_with("== INDETERMINATE =="), "{text}");
    assert!(text.contains("Name        \\u{5f20}\\u{4e09}"), "{text}");
    assert!(text.contains("Classes     A2 C1"), "{text}");
    assert!(
        text.contains("Valid       2020-06-01 .. 2030-06-01"),
        "{text}"
    );
}

#[test]
fn chinese_terminal() {
    let style = Style::for_locale(Some("zh_CN.UTF-8"), false, false);
    assert_eq!(
        style,
        Style {
            colour: false,
            utf8: true,
            chinese: true
        }
    );
    let text = human(
        &verdict(StatusEvidence::Live {
            status: StatusValue::Revoked,
            server_time: NOW,
        }),
        style,
    );
    assert!(text.starts_with("== NOT VALID 无效 =="), "{text}");
    assert!(text.contains("姓名     张三"), "{text}");
    assert!(
        text.contains("revoked (live, checked 2027-01-15T08:00:00Z)"),
        "{text}"
    );
}

#[test]
fn colour_only_when_asked() {
    let style = Style::for_locale(Some("en_GB.UTF-8"), true, false);
    assert!(style.colour && style.utf8 && !style.chinese);
    let text = human(&verdict(StatusEvidence::Unavailable), style);
    assert!(
        text.starts_with("\x1b[1;30;43m INDETERMINATE 无法确定 \x1b[0m"),
        "{text:?}"
    );
    assert!(
        !Style::for_locale(Some("C"), true, true).colour,
        "NO_COLOR wins"
    );
    assert!(
        !Style::for_locale(None, false, false).colour,
        "not a terminal"
    );
}

#[test]
fn stale_status_says_so() {
    let text = human(
        &verdict(StatusEvidence::Cached {
            status: keys::status_list::CredentialStatus::Valid,
            issued_at: NOW.minus(2 * 86_400),
            expires_at: NOW.minus(3600),
        }),
        ASCII,
    );
    assert!(text.contains("valid (cached list signed 2027-01-13T08:00:00Z, 2 d old) - TOO OLD: the limit is 1 d, the list expired 2027-01-15T07:00:00Z"), "{text}");
}

#[test]
fn control_characters_are_not_printed() {
    let mut v = verdict(StatusEvidence::Unavailable);
    v.notes.push("evil\x1b[2Jnote".into());
    let utf8 = Style {
        colour: false,
        utf8: true,
        chinese: false,
    };
    assert!(!human(&v, utf8).contains('\x1b'));
    assert!(human(&v, ASCII).contains("evil\\u{1b}[2Jnote"));
}

#[test]
fn json_schema() {
    let mut v = verdict(StatusEvidence::Cached {
        status: keys::status_list::CredentialStatus::Valid,
        issued_at: NOW.minus(3600),
        expires_at: NOW.plus(3600),
    });
    v.clock = Some(ClockOffset {
        seconds: 400,
        reference: crate::verdict::ClockReference::StatusList,
    });
    let json: serde_json::Value = serde_json::from_str(&to_json(&v, 86_400, Some(3))).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "schema": 1,
            "line": 3,
            "verdict": "valid",
            "reason": null,
            "detail": "signature, validity and status check out",
            "checked_at": 1_800_000_000u64,
            "credential": {
                "id": "abababababababababababababababab",
                "issuer": "CN-11",
                "licence_number": "11010519491231002X",
                "name": "张三",
                "classes": ["A2", "C1"],
                "valid_from": "2020-06-01",
                "valid_until": "2030-06-01",
                "authority": "Beijing",
                "issued_at": 1_799_999_900u64,
                "not_before": 1_799_999_900u64,
                "expires_at": 1_800_000_100u64,
                "key_id": "1111111111111111",
                "status_list": {"uri": "https://edl.example/v1/status-lists/0", "index": 42}
            },
            "status": {
                "value": "valid",
                "source": "cached_list",
                "as_of": 1_799_996_400u64,
                "age_seconds": 3600,
                "max_age_seconds": 86_400,
                "stale": false,
                "list_expires_at": 1_800_003_600u64
            },
            "presentation": {
                "presented": false, "holder_bound": false, "bound": false, "fresh": false,
                "slot_start": null, "slot_length": null
            },
            "clock": {"offset_seconds": 400, "reference": "status_list"},
            "notes": []
        })
    );
}

#[test]
fn json_error_line() {
    assert_eq!(
        error_json(7, "the line is not UTF-8 text"),
        r#"{"schema":1,"line":7,"error":"the line is not UTF-8 text"}"#
    );
}

#[test]
fn the_screen_says_how_the_qr_was_shown() {
    let mut v = verdict(StatusEvidence::Live {
        status: StatusValue::Valid,
        server_time: NOW,
    });
    let plain = Style {
        colour: false,
        utf8: true,
        chinese: false,
    };
    let zh = Style {
        chinese: true,
        ..plain
    };
    assert!(human(&v, plain).contains("bearer credential: a screenshot would pass"));
    assert!(human(&v, zh).contains("截屏也能通过"));
    v.presentation = PresentationReport {
        presented: true,
        holder_bound: Some(true),
        bound: true,
        fresh: true,
        slot: Some(keys::presentation::Slot::new(UnixTime(1_800_000_030), 30).unwrap()),
    };
    let text = human(&v, plain);
    assert!(
        text.contains("presented by the holder's device, fresh (slot 08:00:30, 30 s)"),
        "{text}"
    );
    assert!(human(&v, zh).contains("由持证人设备出示，实时有效（时段 08:00:30，30 秒）"));
    let json: serde_json::Value = serde_json::from_str(&to_json(&v, 86_400, None)).unwrap();
    assert_eq!(
        json["presentation"],
        serde_json::json!({
            "presented": true, "holder_bound": true, "bound": true, "fresh": true,
            "slot_start": 1_800_000_030u64, "slot_length": 30
        })
    );
}
