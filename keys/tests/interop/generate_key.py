"""Generates an Ed25519 key with Python's cryptography (OpenSSL underneath), for
keys/tests/interop.rs to load.

usage: generate_key.py OUT.pem

Writes the private key as PKCS#8 PEM and prints the raw public key in hex.
"""

import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)


def main(out):
    key = Ed25519PrivateKey.generate()
    with open(out, "wb") as f:
        f.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    print(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
