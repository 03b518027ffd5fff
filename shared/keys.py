"""API keys for sponsors and officers: shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

from fastapi import HTTPException, Request, status


def new_key(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def key_hash(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_key(request: Request) -> str:
    """The key of ``Authorization: Bearer <key>``, or 401."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise unauthorized("missing bearer key: send 'Authorization: Bearer <key>'")
    return key.strip()


def unauthorized(detail: str = "unknown key") -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})
