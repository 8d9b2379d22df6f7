"""Builds an edl credential as a CWT wrapped in the CWT tag, 61(18([...])) (RFC 8392
section 6), with python-cwt's COSE implementation and cbor2, for keys/tests/interop.rs to
verify.

usage: sign_cwt.py PRIVATE.pem CLAIMS.json OUT.cose [HOLDER-X-HEX]

Reads the PKCS#8 key, computes its kid (RFC 7638 thumbprint prefix) on its own, signs the
claims of CLAIMS.json (see sign_token.py) with alg EdDSA and the kid in the protected
header, wraps the COSE_Sign1 in tag 61 and writes it to OUT.cose. With HOLDER-X-HEX the
credential is holder-bound: cnf (claim 8) holds the COSE_Key of that Ed25519 public key,
built by python-cwt from the key's JWK. Prints the kid in hex.
"""

import base64
import json
import sys

import cbor2
from cwt import COSE, COSEKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

from sign_token import claims_cbor, key_id


def main(private_pem, claims_file, out, holder_x=None):
    with open(private_pem, "rb") as f:
        pem = f.read()
    raw = load_pem_private_key(pem, password=None).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = key_id(raw)
    with open(claims_file) as f:
        claims = cbor2.loads(claims_cbor(json.load(f)))
    if holder_x is not None:
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(bytes.fromhex(holder_x)).rstrip(b"=").decode()}
        holder = COSEKey.from_jwk(jwk).to_dict()
        # python-cwt adds the alg it assumes for the key (3: -8); edl's COSE_Key is exactly
        # kty, crv and x (docs/FORMATS.md section 3).
        cose_key = {label: holder[label] for label in (1, -1, -2)}
        # cnf goes between cti and the licence claim, where edl writes it.
        bound = {}
        for claim, value in claims.items():
            if claim == -65537:
                bound[8] = {1: cose_key}
            bound[claim] = value
        claims = bound
    signer = COSEKey.from_pem(pem, alg="EdDSA")
    sign1 = COSE.new().encode_and_sign(
        cbor2.dumps(claims), signer, protected={1: -8, 4: kid}, unprotected={}, out="cbor2/CBORTag"
    )
    with open(out, "wb") as f:
        f.write(cbor2.dumps(cbor2.CBORTag(61, sign1)))
    print(kid.hex())


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(*sys.argv[1:])
