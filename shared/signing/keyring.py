"""Signing keys, and the public key ring that says which service each key speaks for, and until when."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.contracts.registry import owned_types, source_of

from .canonical import SIGNATURE, SIGNATURE_KEY_ID, canonical_form, quick_canonical_form

ALGORITHM = "Ed25519"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _time(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class SignatureRejected(Exception):
    """Why an event's proof of origin does not hold; ``code`` is stable, for logs and audit reports."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class KeyEntry:
    """One public key of the ring: whose it is, what it may sign, and when."""

    kid: str
    service: str
    public_key: bytes
    event_types: tuple[str, ...]
    valid_from: dt.datetime
    valid_until: dt.datetime | None = None
    _verifier: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_verifier", Ed25519PublicKey.from_public_bytes(self.public_key))

    def valid_at(self, moment: dt.datetime) -> bool:
        return self.valid_from <= moment and (self.valid_until is None or moment < self.valid_until)

    def to_document(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "service": self.service,
            "algorithm": ALGORITHM,
            "public_key": _b64(self.public_key),
            "event_types": list(self.event_types),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }

    @classmethod
    def from_document(cls, entry: dict[str, Any]) -> KeyEntry:
        if entry.get("algorithm", ALGORITHM) != ALGORITHM:
            raise ValueError(f"key {entry.get('kid')}: algorithm {entry['algorithm']} is not {ALGORITHM}")
        return cls(
            kid=entry["kid"],
            service=entry["service"],
            public_key=_unb64(entry["public_key"]),
            event_types=tuple(entry["event_types"]),
            valid_from=_time(entry["valid_from"]),
            valid_until=_time(entry["valid_until"]) if entry.get("valid_until") else None,
        )


def _signed(entry: KeyEntry, signature: str, event: dict[str, Any]) -> bool:
    try:
        raw = _unb64(signature)
    except ValueError:
        return False
    # The quick form first; RFC 8785's own before any verdict of forgery.
    for form in (quick_canonical_form, canonical_form):
        try:
            signed_bytes = form(event)
            if signed_bytes is not None:
                entry._verifier.verify(raw, signed_bytes)
                return True
        except (InvalidSignature, ValueError):
            continue
    return False


@dataclass(frozen=True)
class KeyRing:
    """The public keys every verifier trusts, by key id."""

    entries: dict[str, KeyEntry] = field(default_factory=dict)

    def with_entry(self, entry: KeyEntry) -> KeyRing:
        return KeyRing({**self.entries, entry.kid: entry})

    def newest(self, service: str, moment: dt.datetime) -> list[KeyEntry]:
        """``service``'s keys valid at ``moment``, the most recent first."""
        keys = [entry for entry in self.entries.values() if entry.service == service and entry.valid_at(moment)]
        return sorted(keys, key=lambda entry: entry.valid_from, reverse=True)

    def verify(self, event: dict[str, Any]) -> KeyEntry:
        """The key that signed ``event``, once its signature, its owner and its validity hold."""
        kid, signature = event.get(SIGNATURE_KEY_ID), event.get(SIGNATURE)
        if not isinstance(kid, str) or not isinstance(signature, str) or not kid or not signature:
            raise SignatureRejected("unsigned", "no sigkeyid and signature attributes")
        entry = self.entries.get(kid)
        if entry is None:
            raise SignatureRejected("unknown-key", f"key {kid!r} is not in the key ring")
        if not _signed(entry, signature, event):
            raise SignatureRejected("bad-signature", f"signature by {kid} does not match the event")
        event_type = event.get("type")
        if event_type not in entry.event_types or event.get("source") != source_of(entry.service):
            raise SignatureRejected(
                "not-owner", f"{entry.service}'s key {kid} may not sign {event_type} from {event.get('source')}"
            )
        try:
            moment = _time(str(event.get("time")))
        except ValueError as error:
            raise SignatureRejected("key-not-valid", f"event time {event.get('time')!r} unreadable") from error
        if not entry.valid_at(moment):
            raise SignatureRejected("key-not-valid", f"key {kid} was not valid at {moment.isoformat()}")
        return entry

    def to_document(self) -> dict[str, Any]:
        return {"version": 1, "keys": [entry.to_document() for entry in self.entries.values()]}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> KeyRing:
        entries = [KeyEntry.from_document(entry) for entry in document.get("keys", [])]
        return cls({entry.kid: entry for entry in entries})


@dataclass(frozen=True)
class SigningKey:
    """A service's private key, known to verifiers by ``kid``."""

    kid: str
    private: Ed25519PrivateKey = field(repr=False)

    def sign(self, event: dict[str, Any]) -> dict[str, Any]:
        """``event`` with ``sigkeyid`` and ``signature`` set (the key id is covered by the signature)."""
        unsigned = {name: value for name, value in event.items() if name != SIGNATURE} | {SIGNATURE_KEY_ID: self.kid}
        return unsigned | {SIGNATURE: _b64(self.private.sign(canonical_form(unsigned)))}

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def from_pem(cls, kid: str, pem: bytes) -> SigningKey:
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"key {kid} is not an Ed25519 private key")
        return cls(kid, private)

    @classmethod
    def generate(cls, service: str, valid_from: dt.datetime) -> tuple[SigningKey, KeyEntry]:
        """A new key for ``service``, and its ring entry for the types ``service`` owns."""
        if not owned_types(service):
            raise ValueError(f"{service} publishes no event type: it has nothing to sign")
        private = Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        kid = f"{service}-{valid_from:%Y%m%d}-{hashlib.sha256(public).hexdigest()[:8]}"
        entry = KeyEntry(kid, service, public, owned_types(service), valid_from)
        return cls(kid, private), entry
