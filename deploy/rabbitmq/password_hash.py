"""Print a RabbitMQ password hash for definitions.json (rabbit_password_hashing_sha256).

    python deploy/rabbitmq/password_hash.py            # asks for the password, does not echo it
    python deploy/rabbitmq/password_hash.py --check HASH

The hash is base64(salt + SHA-256(salt + UTF-8 password)) with a random 4-byte salt: what
``rabbitmqctl hash_password`` prints and what RabbitMQ stores for its internal users. Standard
library only, so it runs on an operator's workstation without the project installed.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import os
import sys


def password_hash(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(4) if salt is None else salt
    if len(salt) != 4:
        raise ValueError("RabbitMQ salts are 4 bytes")
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode("utf-8")).digest()).decode("ascii")


def verify(password: str, encoded: str) -> bool:
    raw = base64.b64decode(encoded, validate=True)
    if len(raw) != 36:
        return False
    return hmac.compare_digest(raw, base64.b64decode(password_hash(password, raw[:4])))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", metavar="HASH", help="verify the password against this hash instead")
    args = parser.parse_args()
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        parser.error("empty password")
    if args.check:
        ok = verify(password, args.check)
        print("match" if ok else "no match")
        return 0 if ok else 1
    print(password_hash(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
