//! Tests for the lookup log.

use super::LookupLog;
use crate::auth::{Caller, Role};

fn officer() -> Caller {
    Caller {
        client: "officer-1".into(),
        role: Role::Officer,
    }
}

#[tokio::test]
async fn lookups_are_appended_one_line_each_and_a_torn_line_stands_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookups.jsonl");
    // A crash cut the last line short.
    std::fs::write(&path, "{\"at\":1,\"cli").unwrap();
    let log = LookupLog::open(dir.path()).unwrap();
    log.record(&officer(), keys::UnixTime(5), "L1", "c1")
        .await
        .unwrap();
    log.record(&officer(), keys::UnixTime(6), "L2", "c2")
        .await
        .unwrap();
    log.stop();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let second: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(second["action"], "status.lookup");
    assert_eq!(second["licence"], "L2");
    assert_eq!(second["client"], "officer-1");
    // After stop, nothing more is accepted.
    assert!(
        log.record(&officer(), keys::UnixTime(7), "L3", "c3")
            .await
            .is_err()
    );
}
