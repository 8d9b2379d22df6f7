//! Lowercase hex digits of fixed-size values (digests, hashes, tickets) on the stack.
//!
//! Written here because each live-status lookup reads and writes several of them, and the
//! `hex` crate reads uppercase as well (which these forms refuse), decodes one digit at a
//! time through a `match`, and builds a `String` one character at a time when encoding.

/// The value of each lowercase hex digit; `NOT_HEX` for every other byte.
const VALUES: [u8; 256] = {
    let mut values = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        values[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        values[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    values
};
const NOT_HEX: u8 = 0x10;
const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The `N` bytes that `2 × N` lowercase hex digits stand for, or `None` for any other text
/// (another length, an uppercase digit, anything not a digit).
pub fn decode<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut bytes = [0u8; N];
    // Every value is below 16 unless a byte is not a lowercase digit: one test at the end.
    let mut seen = 0u8;
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        let high = VALUES[usize::from(pair[0])];
        let low = VALUES[usize::from(pair[1])];
        seen |= high | low;
        *byte = (high << 4) | (low & 0x0f);
    }
    (seen < NOT_HEX).then_some(bytes)
}

/// Writes the lowercase hex digits of `bytes` into `out`, two per byte; `out` must be
/// exactly twice as long as `bytes` (digits beyond either are not written).
pub fn encode_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

/// The 64 lowercase hex digits of a 32-byte value (a SHA-256 digest).
pub fn encode32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut text = [0u8; 64];
    encode_into(bytes, &mut text);
    text
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn digits_are_what_the_hex_crate_writes_and_read_back(bytes in any::<[u8; 32]>()) {
            let text = encode32(&bytes);
            let expected = hex::encode(bytes);
            prop_assert_eq!(&text[..], expected.as_bytes());
            prop_assert_eq!(decode::<32>(&text), Some(bytes));
        }

        #[test]
        fn decoding_agrees_with_the_hex_crate_on_lowercase_input(text in proptest::collection::vec(any::<u8>(), 0..40)) {
            let expected = (!text.iter().any(u8::is_ascii_uppercase))
                .then(|| hex::decode(&text).ok())
                .flatten()
                .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok());
            prop_assert_eq!(decode::<16>(&text), expected);
        }

        #[test]
        fn one_byte_not_a_lowercase_digit_is_refused(bytes in any::<[u8; 16]>(), at in 0..32usize, bad in any::<u8>()) {
            prop_assume!(!bad.is_ascii_digit() && !(b'a'..=b'f').contains(&bad));
            let mut text = [0u8; 32];
            encode_into(&bytes, &mut text);
            text[at] = bad;
            prop_assert_eq!(decode::<16>(&text), None);
        }
    }

    #[test]
    fn lengths_other_than_twice_the_bytes_are_refused() {
        assert_eq!(decode::<2>(b"abc"), None);
        assert_eq!(decode::<2>(b"abcde"), None);
        assert_eq!(decode::<2>(b"abcd"), Some([0xab, 0xcd]));
        assert_eq!(decode::<0>(b""), Some([]));
    }
}
