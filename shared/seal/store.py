"""Seal key files: the published public keys (JSON, for every verifier) and each post's private keys (PEM).

Kept apart from the event signing keys (``shared/signing``): another algorithm, another audience. The published
file is written atomically, mode 0644; private keys are ``<kid>.pem``, mode 0600, in a directory (0700) of their
own. The format of both: docs/domain/visa-document.md.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from pathlib import Path

from shared.keyfiles import write_private, write_public

from .keys import PublishedKeys, SealKey


class SealKeysMissing(RuntimeError):
    """No usable seal key: the message says which command makes one."""


def read_published(path: Path) -> PublishedKeys:
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SealKeysMissing(f"no published seal keys at {path}: run `visa seal-keys generate`") from None
    except json.JSONDecodeError as error:
        raise SealKeysMissing(f"{path} is not a published seal key file: {error}") from None
    try:
        return PublishedKeys.from_document(document)
    except (KeyError, TypeError, ValueError) as error:
        raise SealKeysMissing(f"{path} is not a published seal key file: {error}") from None


def write_published(path: Path, keys: PublishedKeys) -> None:
    """Replace the file atomically: a reader sees the old file or the new one, never half of one."""
    write_public(path, keys.to_document())


@dataclass(frozen=True)
class SealKeyFiles:
    published_path: Path
    private_dir: Path

    def published(self) -> PublishedKeys:
        return read_published(self.published_path)

    def generate(self, post: str, today: dt.date) -> SealKey:
        """A new key for ``post``, valid from ``today``: its private half in ``private_dir``, its public half
        published. Older keys stay published, so that the seals they made stay verifiable (rotation)."""
        keys = read_published(self.published_path) if self.published_path.exists() else PublishedKeys()
        key, entry = SealKey.generate(post, today)
        write_private(self.private_dir, f"{key.kid}.pem", key.private_pem())
        write_published(self.published_path, keys.with_key(entry))
        return key

    def signing_key(self, post: str, today: dt.date) -> SealKey:
        """``post``'s newest published key that may sign ``today`` and whose private half is here."""
        keys = read_published(self.published_path)
        for entry in keys.newest(post, today):
            pem = self.private_dir / f"{entry.kid}.pem"
            if pem.exists():
                return SealKey.from_pem(entry.kid, post, pem.read_bytes())
        raise SealKeysMissing(
            f"no seal key of post {post} valid on {today.isoformat()} in {self.private_dir} "
            f"(published keys {self.published_path}): run `visa seal-keys generate`"
        )

    def retire(self, kid: str, last_day: dt.date) -> None:
        """End key ``kid``'s validity after ``last_day``: it signs nothing later; what it signed stays valid."""
        keys = read_published(self.published_path)
        if kid not in keys.entries:
            raise KeyError(f"no seal key {kid} in {self.published_path}")
        write_published(self.published_path, keys.with_key(replace(keys.entries[kid], valid_until=last_day)))

    def ensure(self, post: str, today: dt.date) -> SealKey | None:
        """A key for ``post`` when it has none usable here (``visa run`` on a new machine); None if it has."""
        try:
            self.signing_key(post, today)
        except SealKeysMissing:
            return self.generate(post, today)
        return None
