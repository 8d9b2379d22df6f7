"""Makes an edl presentation (DL2: QR text) with independent implementations: base45 reads
the credential's DL1: text, python-cwt reads the holder key out of its cnf claim (RFC 8747
COSE_Key), pycose signs the COSE_Sign1 and cbor2 writes the payload, as docs/FORMATS.md
section 8 specifies. For keys/tests/interop.rs to verify.

usage: make_presentation.py HOLDER.pem CREDENTIAL-QR-FILE SLOT-START SLOT-LENGTH OUT [CHALLENGE-HEX]

Refuses (exit 1) when the credential's cnf does not name HOLDER.pem's public key: a
presentation made with another key would be refused anyway, and the check reads edl's
COSE_Key with a second implementation.
"""

import sys

import base45
import cbor2
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from cwt import COSEKey
from pycose.algorithms import EdDSA
from pycose.headers import Algorithm
from pycose.keys import OKPKey
from pycose.messages import Sign1Message

TYP = 16
PRESENTATION_TYP = "application/edl-presentation+cbor"
CNF = 8


def fail(message):
    print(message)
    sys.exit(1)


def main(holder_pem, qr_file, slot_start, slot_length, out, challenge=None):
    with open(holder_pem, "rb") as f:
        private = load_pem_private_key(f.read(), password=None)
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with open(qr_file) as f:
        qr = f.read().strip()
    if not qr.startswith("DL1:"):
        fail(f"not a credential's QR text: {qr[:10]!r}")
    token = base45.b45decode(qr[4:])

    # The holder key, as python-cwt reads the credential's cnf COSE_Key. (Unverified here:
    # the holder's phone holds its own credential; the verifier checks the issuer.)
    outer = cbor2.loads(token)
    if isinstance(outer, cbor2.CBORTag) and outer.tag == 61:
        outer = outer.value
    claims = cbor2.loads(outer.value[2])
    if CNF not in claims:
        fail("the credential has no cnf: it is not holder-bound")
    cose_key = COSEKey.new(claims[CNF][1])
    if cose_key.to_dict()[-2] != public:
        fail("the credential is bound to another key")

    payload = {1: token, 2: int(slot_start), 3: int(slot_length)}
    if challenge is not None:
        payload[4] = bytes.fromhex(challenge)
    message = Sign1Message(phdr={Algorithm: EdDSA, TYP: PRESENTATION_TYP}, uhdr={}, payload=cbor2.dumps(payload))
    message.key = OKPKey(crv="ED25519", x=public, d=seed)
    presentation = message.encode(tag=True)
    with open(out, "w") as f:
        f.write("DL2:" + base45.b45encode(presentation).decode())


if __name__ == "__main__":
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    main(*sys.argv[1:])
