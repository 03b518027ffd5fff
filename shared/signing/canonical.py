"""The bytes a signature covers: the event without its ``signature``, canonicalized by RFC 8785.

RFC 8785 (JSON Canonicalization Scheme) sorts object keys by their UTF-16 code units, writes numbers as ECMAScript
does and strings with JSON's minimal escapes. ``rfc8785`` implements it in Python, at a cost the services pay on
every event they sign and verify. orjson with sorted keys writes the very same bytes for a value made only of
objects whose keys lie below U+D800 (where UTF-8's order, orjson's, is UTF-16's), strings, booleans, nulls, arrays
and integers of ECMAScript's safe range: no float (orjson writes ``1.0`` where RFC 8785 writes ``1``). Every event
this system writes is such a value, and ``canonical_form`` takes that way for it; anything else goes to
``rfc8785``, which also refuses what RFC 8785 cannot represent (tests/unit/test_signing.py compares the two on
generated values). Checking a value costs more than writing it: a verifier writes it unchecked first
(``quick_canonical_form``), and checks only where that fails.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

SIGNATURE = "signature"  # base64url (no padding) of the 64-byte Ed25519 signature
SIGNATURE_KEY_ID = "sigkeyid"  # the key ring's id of the key that made it

_SAFE_INTEGER = 2**53  # RFC 8785 writes integers as IEEE doubles: exact only below this magnitude
_FIRST_SURROGATE = "\ud800"  # below it, UTF-8's order of keys is UTF-16's


def canonical_form(event: dict[str, Any]) -> bytes:
    """RFC 8785 JSON of ``event`` minus its signature: the same bytes for the signer and every verifier."""
    unsigned = {name: value for name, value in event.items() if name != SIGNATURE}
    if _orjson_writes_rfc_8785(unsigned):
        return orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)
    return rfc8785.dumps(unsigned)


def quick_canonical_form(event: dict[str, Any]) -> bytes | None:
    """orjson's sorted JSON of ``event`` minus its signature, unchecked: RFC 8785's bytes for every event this system
    writes, and a few microseconds where checking that costs more. A verifier tries it first and falls back to
    ``canonical_form`` before it calls a signature bad, so a difference costs time, never a verdict; None where
    orjson cannot write ``event``."""
    try:
        return orjson.dumps(
            {name: value for name, value in event.items() if name != SIGNATURE}, option=orjson.OPT_SORT_KEYS
        )
    except (orjson.JSONEncodeError, TypeError):
        return None


def _orjson_writes_rfc_8785(value: Any) -> bool:
    """Whether orjson with sorted keys writes ``value`` as RFC 8785 does (see the module's docstring)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        # A string with a lone surrogate is not UTF-8: orjson refuses it, rfc8785 escapes it.
        return kind is not str or value.isascii() or _utf8(value)
    if kind is int:
        return -_SAFE_INTEGER < value < _SAFE_INTEGER
    if kind is dict:
        return all(
            type(key) is str
            and (key.isascii() or (_utf8(key) and max(key) < _FIRST_SURROGATE))
            and _orjson_writes_rfc_8785(item)
            for key, item in value.items()
        )
    if kind is list:
        return all(_orjson_writes_rfc_8785(item) for item in value)
    return False  # floats, tuples, subclasses and anything else: RFC 8785's own implementation decides


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
