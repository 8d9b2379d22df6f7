use super::*;
use crate::UnixTime;
use crate::key::{KeyUse, SigningKey};
use crate::keyring::TrustedKey;
use crate::trust_list::{self, TrustList};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

fn signed_list(root: &SigningKey, sequence: u64) -> Vec<u8> {
    TrustList {
        sequence,
        issued_at: UnixTime(1_800_000_000),
        next_update: UnixTime(1_800_086_400),
        issuer: "CN-11".into(),
        keys: vec![TrustedKey {
            public: key(9).public().clone(),
            key_use: KeyUse::Credential,
            not_before: UnixTime(1_700_000_000),
            not_after: UnixTime(1_900_000_000),
            revoked: false,
        }],
        status_lists: vec!["https://edl.example/v1/status-lists/0".into()],
    }
    .sign(root)
}

#[test]
fn a_verification_is_remembered_and_carried_to_the_next_process() {
    let root = key(1);
    let roots = [root.public().clone()];
    let list = signed_list(&root, 5);
    let memo = SignatureMemo::new();
    assert_eq!(memo.to_bytes(), None, "nothing verified, nothing to write");
    let (fresh, _) = trust_list::verify_remembered(&list, &roots, None, Some(&memo)).unwrap();
    let written = memo.to_bytes().expect("a new verification is written");
    let text = String::from_utf8(written.clone()).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.starts_with("edl-signature-memo 1\n"), "{text}");

    // The next process: the same list verifies from the memo, and there is nothing new.
    let next = SignatureMemo::from_bytes(&written);
    let (again, _) = trust_list::verify_remembered(&list, &roots, None, Some(&next)).unwrap();
    assert_eq!(again, fresh);
    assert_eq!(next.to_bytes(), None);
}

#[test]
fn a_memo_vouches_for_its_exact_key_bytes_and_signature_only() {
    let root = key(1);
    let roots = [root.public().clone()];
    let list = signed_list(&root, 5);
    let memo = SignatureMemo::new();
    trust_list::verify_remembered(&list, &roots, None, Some(&memo)).unwrap();
    let memo = SignatureMemo::from_bytes(&memo.to_bytes().unwrap());

    // Any byte of the signature or of the signed bytes changed: verified in full, refused.
    for at in (list.len() - 64..list.len()).chain([list.len() / 2]) {
        let mut changed = list.clone();
        changed[at] ^= 0x01;
        assert!(
            trust_list::verify_remembered(&changed, &roots, None, Some(&memo)).is_err(),
            "byte {at}"
        );
    }
    // Another list by the same root: verified in full, accepted, and remembered in its
    // place (what this process did not use falls away).
    let other = signed_list(&root, 6);
    trust_list::verify_remembered(&other, &roots, None, Some(&memo)).unwrap();
    let kept = SignatureMemo::from_bytes(&memo.to_bytes().unwrap());
    assert_eq!(kept.known.len(), 1);
    trust_list::verify_remembered(&other, &roots, None, Some(&kept)).unwrap();
    assert_eq!(kept.to_bytes(), None);
    // A list signed by another key under the root's kid is not the remembered one.
    let impostor = key(2);
    let forged = signed_list(&impostor, 5);
    let mut forged_as_root = list.clone();
    let signature_at = forged_as_root.len() - 64;
    forged_as_root[signature_at..].copy_from_slice(&forged[forged.len() - 64..]);
    assert!(trust_list::verify_remembered(&forged_as_root, &roots, None, Some(&memo)).is_err());
    // Rollback and every other check still run on a remembered signature.
    assert!(trust_list::verify_remembered(&list, &roots, Some(6), Some(&memo)).is_err());
}

/// What the memo is for, and why it must be private: an entry read is trusted. A list
/// changed after signing does not verify; with an entry for exactly its bytes and
/// signature under the root, it is accepted.
#[test]
fn an_entry_read_is_trusted_so_the_memo_must_be_private() {
    let root = key(1);
    let roots = [root.public().clone()];
    let mut forged = signed_list(&root, 5);
    let at = forged.windows(5).position(|w| w == b"CN-11").unwrap() + 4;
    forged[at] = b'2';
    let memo = SignatureMemo::new();
    assert!(trust_list::verify_remembered(&forged, &roots, None, Some(&memo)).is_err());
    assert_eq!(
        memo.to_bytes(),
        None,
        "a failed verification is not remembered"
    );

    let planted = format!(
        "edl-signature-memo 1\n{}\n",
        crate::danger::memo_entry(&forged, trust_list::TYP, root.public()).unwrap()
    );
    let memo = SignatureMemo::from_bytes(planted.as_bytes());
    let (list, _) = trust_list::verify_remembered(&forged, &roots, None, Some(&memo)).unwrap();
    assert_eq!(list.issuer, "CN-12");
}

#[test]
fn malformed_memos_read_as_empty() {
    let root = key(1);
    let roots = [root.public().clone()];
    let list = signed_list(&root, 5);
    let memo = SignatureMemo::new();
    trust_list::verify_remembered(&list, &roots, None, Some(&memo)).unwrap();
    let good = memo.to_bytes().unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    for bad in [
        b"".to_vec(),
        b"\xff\xfe".to_vec(),
        text.replace("memo 1", "memo 2").into_bytes(),
        format!("{text}zz\n").into_bytes(),
        text.to_uppercase().into_bytes(),
        good[..good.len() - 3].to_vec(),
    ] {
        let memo = SignatureMemo::from_bytes(&bad);
        assert!(memo.known.is_empty(), "{:?}", String::from_utf8_lossy(&bad));
        // Still verifies in full.
        trust_list::verify_remembered(&list, &roots, None, Some(&memo)).unwrap();
    }
}

#[test]
fn signatures_of_the_wrong_length_are_refused_before_the_memo_is_asked() {
    let root = key(1);
    let memo = SignatureMemo::new();
    let message = b"message";
    let signature = root.sign(message);
    assert!(memo.verify(root.public(), message, &signature));
    let mut longer = signature.to_vec();
    longer.push(0);
    assert!(!memo.verify(root.public(), message, &longer));
    assert!(!memo.verify(root.public(), message, &signature[..63]));
}
