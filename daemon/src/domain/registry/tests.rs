//! Tests for registry line checks and state transitions.

use keys::licence::LicenceState;

use super::{RegistryLine, StateAction, transition};

#[track_caller]
fn check(json: &str, expected: Result<(), &str>) {
    let line: RegistryLine = serde_json::from_str(json).unwrap();
    match (line.into_record(None), expected) {
        (Ok(_), Ok(())) => {}
        (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{e} lacks {part:?}"),
        (r, e) => panic!("{r:?} vs {e:?}"),
    }
}

const OK: &str = r#""number":"11010519491231002X","name":"张三","classes":["C1"],"valid_from":"2020-01-01","authority":"Beijing""#;

#[test]
fn minimal() {
    check(&format!("{{{OK}}}"), Ok(()))
}
#[test]
fn classes_as_text() {
    check(
        r#"{"number":"11010519491231002X","name":"A","classes":"C1 D","valid_from":"2020-01-01","authority":"B"}"#,
        Ok(()),
    )
}
#[test]
fn bad_check_character() {
    check(
        r#"{"number":"110105194912310021","name":"A","classes":"C1","valid_from":"2020-01-01","authority":"B"}"#,
        Err("number: licence number check character"),
    )
}
#[test]
fn unknown_class() {
    check(
        r#"{"number":"11010519491231002X","name":"A","classes":"C9","valid_from":"2020-01-01","authority":"B"}"#,
        Err("classes: unknown licence class"),
    )
}
#[test]
fn bad_date() {
    check(
        r#"{"number":"11010519491231002X","name":"A","classes":"C1","valid_from":"2020-02-30","authority":"B"}"#,
        Err("valid_from"),
    )
}
#[test]
fn reversed_validity() {
    check(
        &format!("{{{OK},\"valid_until\":\"2019-01-01\"}}"),
        Err("valid_until"),
    )
}
#[test]
fn empty_name() {
    check(
        r#"{"number":"11010519491231002X","name":" ","classes":"C1","valid_from":"2020-01-01","authority":"B"}"#,
        Err("name: must not be empty"),
    )
}
#[test]
fn too_many_points() {
    check(&format!("{{{OK},\"points\":13}}"), Err("points"))
}
#[test]
fn bad_state() {
    check(&format!("{{{OK},\"state\":\"gone\"}}"), Err("state"))
}

#[track_caller]
fn check_transition(from: LicenceState, action: StateAction, expected: Option<LicenceState>) {
    assert_eq!(transition(from, action).ok(), expected);
}

#[test]
fn suspend_normal() {
    check_transition(
        LicenceState::Normal,
        StateAction::Suspend,
        Some(LicenceState::Suspended),
    )
}
#[test]
fn reinstate_suspended() {
    check_transition(
        LicenceState::Suspended,
        StateAction::Reinstate,
        Some(LicenceState::Normal),
    )
}
#[test]
fn reinstate_revoked() {
    check_transition(LicenceState::Revoked, StateAction::Reinstate, None)
}
#[test]
fn revoke_suspended() {
    check_transition(
        LicenceState::Suspended,
        StateAction::Revoke,
        Some(LicenceState::Revoked),
    )
}
#[test]
fn suspend_cancelled() {
    check_transition(LicenceState::Cancelled, StateAction::Suspend, None)
}
