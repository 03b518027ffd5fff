"""The bytes a signature covers: the event without its ``signature``, canonicalized by RFC 8785."""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

SIGNATURE = "signature"  # base64url (no padding) of the 64-byte Ed25519 signature
SIGNATURE_KEY_ID = "sigkeyid"  # the key ring's id of the key that made it


def canonical_form(event: dict[str, Any]) -> bytes:
    """RFC 8785 JSON of ``event`` minus its signature: the same bytes for the signer and every verifier."""
    return rfc8785.dumps({name: value for name, value in event.items() if name != SIGNATURE})


def quick_canonical_form(event: dict[str, Any]) -> bytes | None:
    """The same bytes as ``canonical_form`` for the events this system writes (ASCII keys, no floats), some
    thirty times faster; None where orjson cannot say. A verifier tries it first and falls back to
    ``canonical_form`` before it calls a signature bad, so a difference costs time, never a verdict."""
    try:
        return orjson.dumps(
            {name: value for name, value in event.items() if name != SIGNATURE}, option=orjson.OPT_SORT_KEYS
        )
    except (orjson.JSONEncodeError, TypeError):
        return None
