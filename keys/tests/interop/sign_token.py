"""Builds edl credential tokens with independent implementations (pycose, cbor2,
cryptography) and an edl private key file, for keys/tests/interop.rs to verify.

usage: sign_token.py PRIVATE.pem CLAIMS.json OUTDIR

Reads the PKCS#8 key edl-keys wrote, computes its kid (RFC 7638 thumbprint prefix) on its
own and prints it, then writes these tagged COSE_Sign1 tokens to OUTDIR:

  eddsa.cose           alg EdDSA (-8) and kid in the protected header: must verify
  ed25519.cose         alg Ed25519 (-19, RFC 9864): must verify
  es256.cose           a genuine ES256 (-7) token from a P-256 key, carrying our kid: refused
  modified-alg.cose    signed by our key but declaring alg ES256 (-7): refused
  unprotected-alg.cose alg EdDSA only in the unprotected header: refused
  critical.cose        a critical header parameter edl does not define: refused
"""

import base64
import hashlib
import json
import os
import sys

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from pycose.algorithms import CoseAlgorithm, EdDSA, Es256
from pycose.headers import KID, Algorithm, Critical
from pycose.keys import EC2Key, OKPKey
from pycose.keys.curves import P256
from pycose.messages import Sign1Message


@CoseAlgorithm.register_attribute()
class Ed25519Alg(EdDSA):
    """RFC 9864's fully specified Ed25519 (-19): EdDSA pinned to the Ed25519 curve. pycose
    1.1 predates it; signing is EdDSA's."""

    identifier = -19
    fullname = "ED25519"


def key_id(raw_public_key):
    x = base64.urlsafe_b64encode(raw_public_key).rstrip(b"=").decode()
    canonical = '{"crv":"Ed25519","kty":"OKP","x":"' + x + '"}'
    return hashlib.sha256(canonical.encode()).digest()[:8]


def claims_cbor(claims):
    licence = claims["licence"]
    licence_map = {
        1: licence["name"],
        2: licence["classes"],
        3: licence["valid_from"],
    }
    if licence.get("valid_until") is not None:
        licence_map[4] = licence["valid_until"]
    licence_map[5] = licence["authority"]
    licence_map[6] = bytes.fromhex(licence["photo"])
    return cbor2.dumps(
        {
            1: claims["iss"],
            2: claims["sub"],
            4: claims["exp"],
            5: claims["nbf"],
            6: claims["iat"],
            7: bytes.fromhex(claims["cti"]),
            -65537: licence_map,
            65535: {"status_list": {"idx": claims["status"]["idx"], "uri": claims["status"]["uri"]}},
        }
    )


def sign1(phdr, payload, key, uhdr=None):
    message = Sign1Message(phdr=phdr, uhdr=uhdr or {}, payload=payload)
    message.key = key
    return message.encode(tag=True)


def by_hand(private, protected, payload, unprotected=None):
    """A COSE_Sign1 assembled with cbor2 alone, for headers pycose will not sign."""
    protected_bytes = cbor2.dumps(protected)
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    signature = private.sign(to_be_signed)
    return cbor2.dumps(cbor2.CBORTag(18, [protected_bytes, unprotected or {}, payload, signature]))


def main(private_pem, claims_file, out_dir):
    with open(private_pem, "rb") as f:
        private = load_pem_private_key(f.read(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        sys.exit(f"{private_pem} is not an Ed25519 private key")
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = key_id(raw)
    with open(claims_file) as f:
        payload = claims_cbor(json.load(f))

    ours = OKPKey(crv="ED25519", x=raw, d=seed)
    p256 = EC2Key.generate_key(crv=P256)
    tokens = {
        "eddsa.cose": sign1({Algorithm: EdDSA, KID: kid}, payload, ours),
        "ed25519.cose": sign1({Algorithm: Ed25519Alg, KID: kid}, payload, ours),
        "es256.cose": sign1({Algorithm: Es256, KID: kid}, payload, p256),
        "modified-alg.cose": by_hand(private, {1: -7, 4: kid}, payload),
        "unprotected-alg.cose": by_hand(private, {4: kid}, payload, {1: -8}),
        "critical.cose": sign1({Algorithm: EdDSA, KID: kid, Critical: [-70000], -70000: 1}, payload, ours),
    }
    for name, token in tokens.items():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(token)
    print(kid.hex())


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
