"""Checks an edl credential with independent implementations: base45 for the QR text,
pycose for the COSE_Sign1 (RFC 9052) and its Ed25519 signature, cbor2 for the CWT claims
(RFC 8392), cryptography for the SPKI public key file.

usage: verify_token.py PUBLIC.pem QR-TEXT-FILE EXPECTED.json

EXPECTED.json holds the claims the token must carry (see keys/tests/interop.rs). Prints
"ok" and exits 0 when everything matches; otherwise prints what differs and exits 1.
"""

import base64
import hashlib
import json
import sys

import base45
import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys import OKPKey
from pycose.messages import Sign1Message

# CWT claim keys (RFC 8392) and edl's private claims (docs/FORMATS.md).
ISS, SUB, EXP, NBF, IAT, CTI = 1, 2, 4, 5, 6, 7
LICENCE, STATUS = -65537, 65535
LICENCE_KEYS = {"name": 1, "classes": 2, "valid_from": 3, "valid_until": 4, "authority": 5, "photo": 6}


def fail(message):
    print(message)
    sys.exit(1)


def check(what, found, expected):
    if found != expected:
        fail(f"{what}: found {found!r}, expected {expected!r}")


def key_id(raw_public_key):
    """The first 8 bytes of the RFC 7638 JWK thumbprint."""
    x = base64.urlsafe_b64encode(raw_public_key).rstrip(b"=").decode()
    canonical = '{"crv":"Ed25519","kty":"OKP","x":"' + x + '"}'
    return hashlib.sha256(canonical.encode()).digest()[:8]


def main(public_pem, qr_file, expected_file):
    with open(public_pem, "rb") as f:
        public = load_pem_public_key(f.read())
    if not isinstance(public, Ed25519PublicKey):
        fail(f"{public_pem} is not an Ed25519 public key")
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    with open(expected_file) as f:
        expected = json.load(f)
    with open(qr_file) as f:
        qr = f.read().strip()

    # The QR text: DL1: and base45 of the token, alphanumeric only.
    if not qr.startswith("DL1:"):
        fail(f"QR text does not start with DL1: {qr[:10]!r}")
    alphabet = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    if not set(qr) <= alphabet:
        fail("QR text has characters outside the QR alphanumeric set")
    token = base45.b45decode(qr[4:])

    # A tagged COSE_Sign1 (tag 18).
    outer = cbor2.loads(token)
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != 18:
        fail(f"not a tagged COSE_Sign1: {type(outer).__name__}")

    message = Sign1Message.decode(token)
    check("protected alg", message.phdr.get(Algorithm), EdDSA)
    check("protected kid", message.phdr.get(KID), bytes.fromhex(expected["kid"]))
    check("kid is the RFC 7638 thumbprint prefix", key_id(raw), bytes.fromhex(expected["kid"]))
    message.key = OKPKey(crv="ED25519", x=raw)
    if not message.verify_signature():
        fail("signature does not verify")

    # The same bytes with one payload byte changed must not verify.
    tampered = Sign1Message.decode(token)
    tampered.payload = tampered.payload[:-1] + bytes([tampered.payload[-1] ^ 1])
    tampered.key = message.key
    if tampered.verify_signature():
        fail("a tampered payload verifies")

    claims = cbor2.loads(message.payload)
    check("claim keys", sorted(claims), sorted([ISS, SUB, EXP, NBF, IAT, CTI, LICENCE, STATUS]))
    check("iss", claims[ISS], expected["iss"])
    check("sub", claims[SUB], expected["sub"])
    check("exp", claims[EXP], expected["exp"])
    check("nbf", claims[NBF], expected["nbf"])
    check("iat", claims[IAT], expected["iat"])
    check("cti", claims[CTI], bytes.fromhex(expected["cti"]))
    check("cti length", len(claims[CTI]), 16)

    licence = expected["licence"]
    wanted = {
        LICENCE_KEYS["name"]: licence["name"],
        LICENCE_KEYS["classes"]: licence["classes"],
        LICENCE_KEYS["valid_from"]: licence["valid_from"],
        LICENCE_KEYS["authority"]: licence["authority"],
        LICENCE_KEYS["photo"]: bytes.fromhex(licence["photo"]),
    }
    if licence.get("valid_until") is not None:
        wanted[LICENCE_KEYS["valid_until"]] = licence["valid_until"]
    check("licence claim -65537", claims[LICENCE], wanted)
    check(
        "status claim 65535",
        claims[STATUS],
        {"status_list": {"idx": expected["status"]["idx"], "uri": expected["status"]["uri"]}},
    )
    print("ok")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        fail(__doc__)
    main(*sys.argv[1:])
