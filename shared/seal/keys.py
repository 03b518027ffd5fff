"""Seal keys: each consular post's ECDSA P-256 key pair, the published public keys, and the verdict on a seal.

A post signs with its private key (``SealKey``); verifiers hold the published keys (``PublishedKeys``, a JSON
document anyone may download) and judge a payload offline (``verify``). The format and the reasons a seal is
refused: docs/domain/visa-document.md. Pure: no file, no clock (the caller says which day it is).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from . import vds

ALGORITHM = "ES256"  # ECDSA on P-256 with SHA-256, the signature as r || s (RFC 7518's name)
COUNTRY = "PER"  # the issuing State, as an MRZ writes it
SIGNER = "PERE"  # Part 13's signer identifier: Peru (PE), its Ministry of Foreign Affairs (RE)
_COORDINATE = 32


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _signature_algorithm() -> ec.ECDSA:
    # RFC 6979: the same visa signed on the same day by the same key gives the same seal, and no signature
    # depends on a random number generator's health.
    return ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def key_id(post: str, public: ec.EllipticCurvePublicKey) -> str:
    """The post's code and six hexadecimal digits of the public key's SHA-256: ``LIM3FA9C2``."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"{post}{hashlib.sha256(der).hexdigest()[:6].upper()}"


@dataclass(frozen=True)
class PublishedKey:
    """One public key of the published set: whose it is (which post), and the days it may sign on."""

    kid: str
    post: str
    public: ec.EllipticCurvePublicKey = field(repr=False, compare=False)
    valid_from: dt.date
    valid_until: dt.date | None = None  # the last day it may sign; None: until retired
    country: str = COUNTRY
    signer: str = SIGNER

    def signs_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def jwk(self) -> dict[str, str]:
        numbers = self.public.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(_COORDINATE, "big")),
            "y": _b64url(numbers.y.to_bytes(_COORDINATE, "big")),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }

    def to_document(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "post": self.post,
            "country": self.country,
            "signer": self.signer,
            "algorithm": ALGORITHM,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "public_key_pem": self.public_pem(),
            "jwk": self.jwk(),
        }

    @classmethod
    def from_document(cls, entry: dict[str, Any]) -> PublishedKey:
        if entry.get("algorithm", ALGORITHM) != ALGORITHM:
            raise ValueError(f"seal key {entry.get('kid')!r}: algorithm {entry.get('algorithm')!r}, not {ALGORITHM}")
        public = serialization.load_pem_public_key(entry["public_key_pem"].encode("ascii"))
        if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
            raise ValueError(f"seal key {entry.get('kid')!r} is not a P-256 public key")
        return cls(
            kid=entry["kid"],
            post=entry["post"],
            public=public,
            valid_from=dt.date.fromisoformat(entry["valid_from"]),
            valid_until=dt.date.fromisoformat(entry["valid_until"]) if entry.get("valid_until") else None,
            country=entry.get("country", COUNTRY),
            signer=entry.get("signer", SIGNER),
        )


@dataclass(frozen=True)
class PublishedKeys:
    """The public keys a verifier trusts, by key id."""

    entries: dict[str, PublishedKey] = field(default_factory=dict)

    def with_key(self, key: PublishedKey) -> PublishedKeys:
        return PublishedKeys({**self.entries, key.kid: key})

    def newest(self, post: str, day: dt.date) -> list[PublishedKey]:
        """``post``'s keys that may sign on ``day``, the most recent first."""
        keys = [key for key in self.entries.values() if key.post == post and key.signs_on(day)]
        return sorted(keys, key=lambda key: key.valid_from, reverse=True)

    def to_document(self) -> dict[str, Any]:
        return {"version": 1, "keys": [key.to_document() for key in self.entries.values()]}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> PublishedKeys:
        keys = [PublishedKey.from_document(entry) for entry in document.get("keys", [])]
        return cls({key.kid: key for key in keys})


@dataclass(frozen=True)
class SealKey:
    """A post's private key, known to verifiers by ``kid``."""

    kid: str
    post: str
    private: ec.EllipticCurvePrivateKey = field(repr=False)

    def sign(self, seal: vds.VisaSeal) -> bytes:
        """The whole payload of ``seal`` (whose certificate reference must be this key's id), signed."""
        if seal.header.certificate_reference != self.kid:
            raise ValueError(f"a seal naming key {seal.header.certificate_reference!r} signed by {self.kid!r}")
        signed = vds.seal_bytes(seal)
        r, s = decode_dss_signature(self.private.sign(signed, _signature_algorithm()))
        return vds.with_signature(signed, r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big"))

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def from_pem(cls, kid: str, post: str, pem: bytes) -> SealKey:
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, ec.SECP256R1):
            raise ValueError(f"seal key {kid} is not a P-256 private key")
        return cls(kid, post, private)

    @classmethod
    def generate(cls, post: str, valid_from: dt.date) -> tuple[SealKey, PublishedKey]:
        """A new key pair for ``post``, and its published entry, valid from ``valid_from``."""
        private = ec.generate_private_key(ec.SECP256R1())
        kid = key_id(post, private.public_key())
        return cls(kid, post, private), PublishedKey(kid, post, private.public_key(), valid_from)


# --- verification --------------------------------------------------------------------------------------------

MALFORMED = "malformed"
UNKNOWN_KEY = "unknown-key"
BAD_SIGNATURE = "bad-signature"
KEY_NOT_VALID = "key-not-valid"
EXPIRED = "expired"
NOT_YET_VALID = "not-yet-valid"


@dataclass(frozen=True)
class Verdict:
    """What a verifier concludes from a payload: ``reason`` is None when the seal is valid today."""

    reason: str | None
    detail: str
    seal: vds.VisaSeal | None = None  # the seal's data, once its signature holds
    key: PublishedKey | None = None

    @property
    def valid(self) -> bool:
        return self.reason is None


def verify(payload: bytes, keys: PublishedKeys, today: dt.date) -> Verdict:
    """Judge ``payload`` against the published ``keys`` on ``today``: its structure, its key, its signature, the
    key's validity on the day it was signed, and the visa's validity today."""
    try:
        framed = vds.frame(payload)
    except vds.MalformedSeal as error:
        return Verdict(MALFORMED, str(error))
    key = keys.entries.get(framed.key_id)
    if key is None:
        return Verdict(UNKNOWN_KEY, f"key {framed.key_id!r} is not among the published seal keys")
    if not _signed(key, framed):
        return Verdict(BAD_SIGNATURE, f"the signature does not match the seal's data and key {key.kid}", key=key)
    try:
        seal = vds.decode(framed)
    except vds.MalformedSeal as error:
        return Verdict(MALFORMED, str(error), key=key)
    header = seal.header
    if (header.issuing_country, header.signer) != (key.country, key.signer):
        return Verdict(
            UNKNOWN_KEY,
            f"key {key.kid} signs for {key.country} as {key.signer}, not {header.issuing_country} as {header.signer}",
            seal,
            key,
        )
    if not key.signs_on(header.signed_on):
        until = key.valid_until.isoformat() if key.valid_until else "retirement"
        return Verdict(
            KEY_NOT_VALID,
            f"key {key.kid} signs from {key.valid_from.isoformat()} to {until}, not on {header.signed_on.isoformat()}",
            seal,
            key,
        )
    valid_until = _valid_until(seal)
    if valid_until is None:
        return Verdict(MALFORMED, "the MRZ's date of expiry is unreadable", seal, key)
    if today > valid_until:
        return Verdict(EXPIRED, f"the visa expired after {valid_until.isoformat()}", seal, key)
    if today < seal.features.valid_from:
        return Verdict(NOT_YET_VALID, f"the visa is valid from {seal.features.valid_from.isoformat()}", seal, key)
    return Verdict(None, "VALID", seal, key)


def _signed(key: PublishedKey, framed: vds.Framed) -> bool:
    r = int.from_bytes(framed.signature[:_COORDINATE], "big")
    s = int.from_bytes(framed.signature[_COORDINATE:], "big")
    try:
        key.public.verify(encode_dss_signature(r, s), framed.signed, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _valid_until(seal: vds.VisaSeal) -> dt.date | None:
    """The last day of validity, from the MRZ (``YYMMDD``: the century is the one that puts it after the
    first day of validity)."""
    text = seal.features.mrz[1][21:27]
    if not text.isdigit():
        return None
    year, month, day = int(text[:2]), int(text[2:4]), int(text[4:])
    century = seal.features.valid_from.year // 100 * 100
    try:
        until = dt.date(century + year, month, day)
        return until if until >= seal.features.valid_from else dt.date(century + 100 + year, month, day)
    except ValueError:
        return None
