use super::*;

#[track_caller]
fn check_base45(bytes: &[u8], text: &str) {
    assert_eq!(base45::encode(bytes), text);
    assert_eq!(decode_base45(text).unwrap(), bytes);
    let qr = encode(bytes);
    assert_eq!(qr, format!("DL1:{text}"));
    assert_eq!(decode(&qr).unwrap(), bytes);
}

#[track_caller]
fn check_rejected(text: &str, expected: QrError) {
    assert_eq!(decode(text), Err(expected));
}

// RFC 9285 section 4.3.
#[test]
fn rfc9285_ab() {
    check_base45(b"AB", "BB8");
}

#[test]
fn rfc9285_hello() {
    check_base45(b"Hello!!", "%69 VD92EX0");
}

#[test]
fn rfc9285_base_45() {
    check_base45(b"base-45", "UJCLQE7W581");
}

#[test]
fn rfc9285_ietf() {
    check_base45(b"ietf!", "QED8WEX0");
}

#[test]
fn rfc9285_must_reject_ggw() {
    check_rejected("DL1:GGW", QrError::OutOfRange { position: 0 });
}

#[test]
fn largest_triplet_and_pair() {
    check_base45(&[0xff, 0xff], "FGW");
    check_base45(&[0xff], "U5");
}

#[test]
fn pair_out_of_range() {
    check_rejected("DL1:QED8WEZZ", QrError::OutOfRange { position: 6 });
    check_rejected("DL1:V5", QrError::OutOfRange { position: 0 });
}

#[test]
fn lowercase_is_rejected() {
    check_rejected(
        "DL1:qed8wex0",
        QrError::InvalidCharacter {
            position: 0,
            character: 'q',
        },
    );
}

#[test]
fn characters_outside_the_alphabet() {
    check_rejected(
        "DL1:QED8WEX0\n",
        QrError::InvalidCharacter {
            position: 8,
            character: '\n',
        },
    );
    check_rejected(
        "DL1:QE张",
        QrError::InvalidCharacter {
            position: 2,
            character: '张',
        },
    );
}

#[test]
fn dangling_character() {
    check_rejected("DL1:QED8WEX", QrError::DanglingCharacter);
    check_rejected("DL1:Q", QrError::DanglingCharacter);
}

#[test]
fn wrong_prefix() {
    check_rejected("DL3:QED8WEX0", QrError::WrongPrefix);
    check_rejected("dl1:QED8WEX0", QrError::WrongPrefix);
    check_rejected("dl2:QED8WEX0", QrError::WrongPrefix);
    check_rejected(" DL1:QED8WEX0", QrError::WrongPrefix);
    check_rejected("HC1:QED8WEX0", QrError::WrongPrefix);
    check_rejected("", QrError::WrongPrefix);
    check_rejected("DL1:", QrError::Empty);
}

#[test]
fn presentations_have_their_own_prefix() {
    let text = encode_presentation(b"ietf!");
    assert_eq!(text, "DL2:QED8WEX0");
    assert_eq!(decode_presentation(&text).unwrap(), b"ietf!");
    assert_eq!(parse(&text), Ok(QrText::Presentation(b"ietf!".to_vec())));
    assert_eq!(
        parse("DL1:QED8WEX0"),
        Ok(QrText::Credential(b"ietf!".to_vec()))
    );
    // Each decoder refuses the other kind, and says which it found.
    check_rejected(
        "DL2:QED8WEX0",
        QrError::WrongKind {
            expected: "DL1:",
            found: "DL2:",
        },
    );
    assert_eq!(
        decode_presentation("DL1:QED8WEX0"),
        Err(QrError::WrongKind {
            expected: "DL2:",
            found: "DL1:",
        })
    );
    // The same strictness after either prefix.
    assert_eq!(decode_presentation("DL2:"), Err(QrError::Empty));
    assert_eq!(
        decode_presentation("DL2:GGW"),
        Err(QrError::OutOfRange { position: 0 })
    );
    assert_eq!(
        decode_presentation("DL2:QED8WEx0"),
        Err(QrError::InvalidCharacter {
            position: 6,
            character: 'x'
        })
    );
    assert_eq!(parse("DL2:QED8WEX"), Err(QrError::DanglingCharacter));
    assert_eq!(parse("HC1:QED8WEX0"), Err(QrError::WrongPrefix));
}
