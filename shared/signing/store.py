"""Key files: the public key ring (JSON, shareable) and each service's private keys (PEM, never shared).

The ring is ``keyring.json``; private keys are ``<kid>.pem`` files, mode 0600, in a directory of their
own (a Secret in deployment), so that a service holds its own keys and nobody else's.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from pathlib import Path

from shared import clock
from shared.contracts.registry import owned_types
from shared.keyfiles import write_private, write_public

from .keyring import KeyEntry, KeyRing, SigningKey


class KeysMissing(RuntimeError):
    """No usable key: the message says which command makes one."""


def read_ring(path: Path) -> KeyRing:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeysMissing(f"no key ring at {path}: run `visa keys generate <service>`") from None
    return KeyRing.from_document(document)


def write_ring(path: Path, ring: KeyRing) -> None:
    """Replace the ring atomically: a reader sees the old file or the new one, never half of one."""
    write_public(path, ring.to_document())


@dataclass(frozen=True)
class KeyFiles:
    ring_path: Path
    private_dir: Path

    def ring(self) -> KeyRing:
        return read_ring(self.ring_path)

    def generate(self, service: str, now: dt.datetime | None = None) -> KeyEntry:
        """A new signing key for ``service``: its private half in ``private_dir``, its public half in the ring.

        Older keys stay in the ring, so the events they signed stay verifiable (rotation).
        """
        ring = read_ring(self.ring_path) if self.ring_path.exists() else KeyRing()
        key, entry = SigningKey.generate(service, now or clock.current().now())
        write_private(self.private_dir, f"{key.kid}.pem", key.private_pem())
        write_ring(self.ring_path, ring.with_entry(entry))
        return entry

    def retire(self, kid: str, at: dt.datetime) -> KeyEntry:
        """End key ``kid``'s validity at ``at``: it signs nothing after, what it signed before stays valid."""
        ring = read_ring(self.ring_path)
        if kid not in ring.entries:
            raise KeyError(f"no key {kid} in {self.ring_path}")
        entry = replace(ring.entries[kid], valid_until=at)
        write_ring(self.ring_path, ring.with_entry(entry))
        return entry

    def signing_key(self, service: str, now: dt.datetime | None = None) -> SigningKey:
        """``service``'s newest key valid now whose private half is here, and whose ring entry lists every type
        the service publishes: a key made before a type was added (an upgrade) would sign events every verifier
        refuses (``not-owner``), so the service refuses to start instead, naming the command that makes one."""
        ring = read_ring(self.ring_path)
        owned, outdated = set(owned_types(service)), []
        for entry in ring.newest(service, now or clock.current().now()):
            pem = self.private_dir / f"{entry.kid}.pem"
            if pem.exists() and not owned <= set(entry.event_types):
                outdated.append(entry.kid)
            elif pem.exists():
                return SigningKey.from_pem(entry.kid, pem.read_bytes())
        unlisted = f" (key {', '.join(outdated)} does not list every type {service} publishes)" if outdated else ""
        raise KeysMissing(
            f"no valid signing key of {service} in {self.private_dir} (key ring {self.ring_path}){unlisted}: "
            f"run `visa keys generate {service}`"
        )


class RingFile:
    """The key ring a consumer verifies with, read again when the file changes (a key was added)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self.ring = KeyRing()
        self.refresh()

    def refresh(self) -> bool:
        """Read the file again if it changed since; True when it did."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise KeysMissing(f"no key ring at {self.path}: run `visa keys generate <service>`") from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return False
        self.ring, self._stamp = read_ring(self.path), stamp
        return True
