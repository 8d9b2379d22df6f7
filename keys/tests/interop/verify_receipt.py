"""Checks an edl status receipt with independent implementations: pycose for the
COSE_Sign1 (RFC 9052) and its Ed25519 signature, cbor2 for the CWT claims (RFC 8392),
cryptography for the status key's SPKI file, as docs/FORMATS.md section 9 specifies.

usage: verify_receipt.py STATUS-PUBLIC.pem RECEIPT-FILE EXPECTED.json

EXPECTED.json holds what the receipt must state (see keys/tests/interop.rs). Prints "ok"
and exits 0 when the signature verifies and everything matches; otherwise prints what
differs and exits 1.
"""

import base64
import hashlib
import json
import sys

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys import OKPKey
from pycose.messages import Sign1Message

TYP = 16
RECEIPT_TYP = "application/edl-receipt+cwt"
IAT, LOOKUP = 6, -65538
STATUSES = {"valid", "suspended", "revoked", "superseded", "expired"}


def fail(message):
    print(message)
    sys.exit(1)


def check(what, found, expected):
    if found != expected:
        fail(f"{what}: found {found!r}, expected {expected!r}")


def key_id(raw_public_key):
    x = base64.urlsafe_b64encode(raw_public_key).rstrip(b"=").decode()
    canonical = '{"crv":"Ed25519","kty":"OKP","x":"' + x + '"}'
    return hashlib.sha256(canonical.encode()).digest()[:8]


def main(public_pem, receipt_file, expected_file):
    with open(public_pem, "rb") as f:
        public = load_pem_public_key(f.read())
    if not isinstance(public, Ed25519PublicKey):
        fail(f"{public_pem} is not an Ed25519 public key")
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    with open(receipt_file, "rb") as f:
        signed = f.read()
    with open(expected_file) as f:
        expected = json.load(f)

    outer = cbor2.loads(signed)
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != 18:
        fail("not a tagged COSE_Sign1")
    message = Sign1Message.decode(signed)
    check("protected alg", message.phdr.get(Algorithm), EdDSA)
    check("protected kid", message.phdr.get(KID), key_id(raw))
    check("protected typ", cbor2.loads(outer.value[0]).get(TYP), RECEIPT_TYP)
    message.key = OKPKey(crv="ED25519", x=raw)
    if not message.verify_signature():
        fail("signature does not verify")

    claims = cbor2.loads(message.payload)
    check("claim keys", sorted(claims), sorted([IAT, LOOKUP]))
    check("time (iat)", claims[IAT], expected["at"])
    lookup = claims[LOOKUP]
    check("credential id (1)", lookup.get(1), bytes.fromhex(expected["credential"]))
    if lookup.get(2) not in STATUSES:
        fail(f"status (2) {lookup.get(2)!r} is not one of {sorted(STATUSES)}")
    check("status (2)", lookup[2], expected["status"])
    check("client (3)", lookup.get(3), expected["client"])
    check("role (4)", lookup.get(4), expected["role"])
    check("purpose (5)", lookup.get(5), expected["purpose"])
    check("audit record hash (6)", lookup.get(6), bytes.fromhex(expected["audit_record"]))
    wanted = {1, 2, 3, 4, 6} | ({5} if expected["purpose"] is not None else set())
    check("lookup keys", set(lookup), wanted)
    print("ok")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        fail(__doc__)
    main(*sys.argv[1:])
