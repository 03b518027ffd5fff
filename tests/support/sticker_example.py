"""The README's example sticker: ``.venv/bin/python -m tests.support.sticker_example [docs/visa-sticker.png]``.

Prints the fixture visa (``documents.sample_visa``, Doc 9303 Part 7's specimen holder) with a seal key made for
the occasion in a scratch directory (the key is thrown away: the picture's seal verifies against nothing
published), and renders the page at 200 dpi with pypdfium2.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

from services.issuance.settings import IssuanceSettings
from services.issuance.sticker import Printer
from shared.clock import FixedClock
from tests.support.documents import make_seal_keys, rendered, sample_visa

DAY = dt.datetime(2026, 11, 27, 16, tzinfo=dt.UTC)


def main(target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        keys = make_seal_keys(Path(scratch), DAY.date())
        settings = IssuanceSettings(issuance_seal_public_keys=keys.published_path, issuance_seal_keys=keys.private_dir)
        sticker = Printer(settings, FixedClock(DAY)).sticker(sample_visa())
    rendered(sticker.pdf, dpi=200).convert("L").save(target, optimize=True)
    print(target)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/visa-sticker.png"))
