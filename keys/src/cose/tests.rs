use coset::CoseSign1Builder;

use super::*;

/// The hand-written Sig_structure equals coset's for every size class of the byte strings.
#[test]
fn sig_structure_matches_coset() {
    for protected_len in [0usize, 1, 23, 24, 255, 256, 65_535, 65_536] {
        for payload_len in [0usize, 5, 23, 24, 300, 70_000] {
            let protected = vec![0xa0; protected_len];
            let payload = vec![7u8; payload_len];
            let mut message = CoseSign1Builder::new().payload(payload.clone()).build();
            message.protected.original_data = Some(protected.clone());
            assert_eq!(
                sig_structure(&protected, &payload),
                message.tbs_data(b""),
                "protected {protected_len}, payload {payload_len}"
            );
        }
    }
}
