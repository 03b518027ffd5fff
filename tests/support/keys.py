"""Signing keys for tests: one per producing service, in a directory of the test session's own."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.contracts import Envelope
from shared.contracts.registry import PRODUCERS, producer_of, source_of
from shared.signing import KeyEntry, SigningKey
from shared.signing.store import KeyFiles, read_ring, write_ring


def make_keys(directory: Path) -> KeyFiles:
    files = KeyFiles(directory / "keyring.json", directory / "private")
    for service in PRODUCERS:
        files.generate(service)
    return files


def sign_as(files: KeyFiles, event: Envelope | dict[str, Any], service: str | None = None) -> bytes:
    """``event`` as ``service`` (by default its type's owner) publishes it: from its source, signed."""
    if isinstance(event, Envelope):
        event = json.loads(event.to_json())
    service = service or producer_of(event["type"])
    event = event | {"source": source_of(service)}
    return json.dumps(files.signing_key(service).sign(event)).encode()


def key_for(files: KeyFiles, service: str, event_types: tuple[str, ...]) -> SigningKey:
    """A key of ``service`` for ``event_types`` (say, types a future release will publish), added to the ring."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = f"{service}-test-{public.hex()[:8]}"
    entry = KeyEntry(kid, service, public, event_types, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    write_ring(files.ring_path, read_ring(files.ring_path).with_entry(entry))
    return SigningKey(kid, private)
