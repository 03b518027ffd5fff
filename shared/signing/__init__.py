"""Proof of origin: every event is signed (Ed25519) by the service that owns its type.

The signature covers the RFC 8785 (JSON Canonicalization Scheme) serialization of the whole CloudEvent
(every attribute, ``data`` included, the key id ``sigkeyid`` too) except the ``signature`` attribute
itself. Both travel as CloudEvents extension attributes, so any CloudEvents reader keeps them.
"""

from .canonical import SIGNATURE, SIGNATURE_KEY_ID, canonical_form
from .keyring import KeyEntry, KeyRing, SignatureRejected, SigningKey

__all__ = [
    "SIGNATURE",
    "SIGNATURE_KEY_ID",
    "KeyEntry",
    "KeyRing",
    "SignatureRejected",
    "SigningKey",
    "canonical_form",
]
