//! `edl-verify receipt FILE`: a receipt signed by the trust list's status key proves its
//! statement; one signed by another key, with any byte changed, or not a receipt at all
//! proves nothing.

use keys::SigningKey;
use keys::receipt::{LiveStatus, Receipt};
use keys::status_list::CredentialStatus;
use keys::token::CredentialId;

use crate::support::*;

fn receipt() -> Receipt {
    Receipt {
        credential_id: CredentialId([0x2a; 16]),
        status: LiveStatus::Revoked,
        at: NOW,
        client: "acme-insurance".into(),
        role: "insurer".into(),
        purpose: Some("claim 2031-0042".into()),
        audit_record: [0xab; 32],
    }
}

fn terminal(authority: &Authority) -> Terminal {
    let terminal = Terminal::new(authority, None, "");
    let list = authority.status_list(&[(7, CredentialStatus::Valid)], 60);
    terminal.seed_cache(authority, 1, &list, NOW.minus(60));
    terminal
}

fn run(terminal: &Terminal, bytes: &[u8]) -> Run {
    let file = terminal.cache_dir().with_file_name("receipt.cwt");
    std::fs::write(&file, bytes).unwrap();
    terminal.run(&["receipt", file.to_str().unwrap()], NOW)
}

#[test]
fn a_receipt_from_the_status_key_proves_its_statement() {
    let authority = Authority::new("https://edl.example");
    let terminal = terminal(&authority);
    let signed = keys::receipt::sign(&receipt(), &authority.status);
    let out = run(&terminal, &signed);
    assert_eq!(out.code, 0, "{out:?}");
    for shown in [
        "RECEIPT VALID",
        "credential 2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a was revoked",
        "acme-insurance (role insurer)",
        "claim 2031-0042",
        &"ab".repeat(32),
        &authority.status.key_id().to_string(),
    ] {
        assert!(out.stdout.contains(shown), "{shown}: {out:?}");
    }
}

#[test]
fn receipts_that_prove_nothing_are_refused() {
    let authority = Authority::new("https://edl.example");
    let terminal = terminal(&authority);
    let signed = keys::receipt::sign(&receipt(), &authority.status);
    // Another key, the credential key (not a status key), and garbage.
    for bad in [
        keys::receipt::sign(&receipt(), &SigningKey::from_seed(&[9; 32])),
        keys::receipt::sign(&receipt(), &authority.credential),
        b"not a receipt".to_vec(),
    ] {
        let out = run(&terminal, &bad);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(out.stdout.contains("RECEIPT NOT VALID"), "{out:?}");
    }
    // Any byte changed.
    for i in 0..signed.len() {
        let mut flipped = signed.clone();
        flipped[i] ^= 0x01;
        let out = run(&terminal, &flipped);
        assert_eq!(out.code, 1, "byte {i}: {out:?}");
    }
}

#[test]
fn a_receipt_needs_a_synced_trust_list() {
    let authority = Authority::new("https://edl.example");
    let terminal = Terminal::new(&authority, None, "");
    let signed = keys::receipt::sign(&receipt(), &authority.status);
    let out = run(&terminal, &signed);
    assert_eq!(out.code, verifier::exit::UNAVAILABLE, "{out:?}");
    assert!(out.stderr.contains("edl-verify sync"), "{out:?}");
}
