use super::*;
use crate::fixtures;

fn holder() -> PublicKey {
    fixtures::key(9).public().clone()
}

fn cose_key(entries: Vec<(i64, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(label, value)| (cbor::int(label), value))
            .collect(),
    )
}

fn x() -> Value {
    Value::Bytes(holder().to_bytes().to_vec())
}

fn cnf(key: Value) -> Value {
    Value::Map(vec![(cbor::int(1), key)])
}

#[track_caller]
fn check_refused(value: Value, field: &str) {
    match decode_cnf(value) {
        Err(FormatError::Domain { field: f, .. })
        | Err(FormatError::Invalid { field: f, .. })
        | Err(FormatError::Missing(f))
        | Err(FormatError::DuplicateKey(f)) => assert_eq!(f, field),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_encoding_is_fixed() {
    let bytes = cbor::encode(&encode_cnf(&holder()));
    let mut expected = hex::decode("a101a3010120062158 20".replace(' ', "")).unwrap();
    expected.extend_from_slice(&holder().to_bytes());
    assert_eq!(bytes, expected);
    assert_eq!(decode_cnf(cbor::decode(&bytes).unwrap()), Ok(holder()));
}

#[test]
fn labels_in_any_order_read_the_same() {
    let key = cose_key(vec![(-2, x()), (-1, cbor::int(6)), (1, cbor::int(1))]);
    assert_eq!(decode_cnf(cnf(key)), Ok(holder()));
}

#[test]
fn other_key_types_and_curves_are_refused() {
    // EC2 (2) with P-256 (1); OKP with X25519 (4); kty as text.
    check_refused(
        cnf(cose_key(vec![
            (1, cbor::int(2)),
            (-1, cbor::int(1)),
            (-2, x()),
        ])),
        "cnf COSE_Key kty",
    );
    check_refused(
        cnf(cose_key(vec![
            (1, cbor::int(1)),
            (-1, cbor::int(4)),
            (-2, x()),
        ])),
        "cnf COSE_Key crv",
    );
    check_refused(
        cnf(cose_key(vec![
            (1, cbor::text("OKP")),
            (-1, cbor::int(6)),
            (-2, x()),
        ])),
        "cnf COSE_Key kty",
    );
}

#[test]
fn missing_labels_are_refused() {
    check_refused(
        cnf(cose_key(vec![(1, cbor::int(1)), (-1, cbor::int(6))])),
        "cnf COSE_Key x",
    );
    check_refused(
        cnf(cose_key(vec![(1, cbor::int(1)), (-2, x())])),
        "cnf COSE_Key crv",
    );
    check_refused(
        cnf(cose_key(vec![(-1, cbor::int(6)), (-2, x())])),
        "cnf COSE_Key kty",
    );
}

#[test]
fn bad_x_is_refused() {
    for bad in [
        Value::Bytes(vec![1; 31]),
        Value::Bytes(vec![1; 33]),
        cbor::text("not bytes"),
        // The identity point, of small order.
        Value::Bytes({
            let mut identity = vec![0; 32];
            identity[0] = 1;
            identity
        }),
    ] {
        check_refused(
            cnf(cose_key(vec![
                (1, cbor::int(1)),
                (-1, cbor::int(6)),
                (-2, bad),
            ])),
            "cnf COSE_Key x",
        );
    }
}

#[test]
fn extra_labels_are_refused() {
    // A private key (d, -4) above all; also kid (2) and alg (3).
    for (label, value) in [
        (-4, Value::Bytes(vec![7; 32])),
        (2, Value::Bytes(vec![1; 8])),
        (3, cbor::int(-8)),
    ] {
        check_refused(
            cnf(cose_key(vec![
                (1, cbor::int(1)),
                (-1, cbor::int(6)),
                (-2, x()),
                (label, value),
            ])),
            "cnf COSE_Key",
        );
    }
}

#[test]
fn duplicate_labels_are_refused() {
    check_refused(
        cnf(cose_key(vec![
            (1, cbor::int(1)),
            (-1, cbor::int(6)),
            (-2, x()),
            (-2, x()),
        ])),
        "cnf COSE_Key",
    );
    let key = cose_key(vec![(1, cbor::int(1)), (-1, cbor::int(6)), (-2, x())]);
    check_refused(
        Value::Map(vec![(cbor::int(1), key.clone()), (cbor::int(1), key)]),
        "cnf",
    );
}

#[test]
fn other_confirmation_methods_are_refused() {
    let key = cose_key(vec![(1, cbor::int(1)), (-1, cbor::int(6)), (-2, x())]);
    // Encrypted_COSE_Key (2) and kid (3), alone or beside a COSE_Key.
    check_refused(
        Value::Map(vec![(cbor::int(3), Value::Bytes(vec![1; 8]))]),
        "cnf",
    );
    check_refused(
        Value::Map(vec![
            (cbor::int(1), key),
            (cbor::int(3), Value::Bytes(vec![1; 8])),
        ]),
        "cnf",
    );
    check_refused(Value::Array(vec![]), "cnf");
    check_refused(cnf(Value::Bytes(vec![0; 32])), "cnf COSE_Key");
}
