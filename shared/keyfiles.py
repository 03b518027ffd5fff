"""How key files are written, for the event signing keys (``shared/signing``) and the seal keys (``shared/seal``)
alike: private halves readable by their owner only, public documents replaced atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_public(path: Path, document: dict[str, Any]) -> None:
    """Replace a public JSON document atomically: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, path)


def write_private(directory: Path, name: str, content: bytes) -> Path:
    """A new private key file, mode 0600 in a directory of mode 0700; never overwrites one."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    return path
