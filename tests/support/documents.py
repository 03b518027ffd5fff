"""The printed visa in tests: seal keys of the test's own, a visa record to print, and the PDF read back the way
a reader would (its text with pypdf, its page rendered by pypdfium2 and the seal decoded from that image)."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pypdf
import pypdfium2
from PIL import Image

from services.issuance.models import Visa
from shared import mrz
from shared.seal.store import SealKeyFiles

POST = "LIM"
# An example visa's dates and MRZ, for the seal's tests.
ISSUED = dt.date(2026, 11, 27)
UNTIL = dt.date(2030, 1, 14)
MRZ = mrz.mrv_a(
    document_number="PE0000001",
    type_letter="D",
    surnames="ERIKSSON",
    given_names="ANNA MARIA",
    nationality="SWE",
    date_of_birth=dt.date(1974, 8, 12),
    sex="F",
    valid_until=UNTIL,
)
MM_PER_POINT = 25.4 / 72


def make_seal_keys(directory: Path, today: dt.date, post: str = POST) -> SealKeyFiles:
    """A published key file and one key for ``post``, valid from ``today``, under ``directory``."""
    files = SealKeyFiles(directory / "seal-keys.json", directory / "private")
    files.generate(post, today)
    return files


def sample_visa(
    number: str = "PE0000001",
    *,
    issued_on: dt.date = dt.date(2026, 11, 27),
    valid_until: dt.date = dt.date(2030, 1, 14),
    surnames: str = "Eriksson",
    given_names: str = "Anna María",
) -> Visa:
    """A diplomatic resident's visa as issuance records it (Doc 9303 Part 7's specimen holder)."""
    line1, line2 = mrz.mrv_a(
        document_number=number,
        type_letter="D",
        surnames=surnames,
        given_names=given_names,
        nationality="SWE",
        date_of_birth=dt.date(1974, 8, 12),
        sex="F",
        valid_until=valid_until,
    )
    return Visa(
        number=number,
        request_id="5f0c3a8e-0000-4000-8000-000000000001",
        authorization_id="5f0c3a8e-0000-4000-8000-000000000002",
        person_id="5f0c3a8e-0000-4000-8000-000000000003",
        surnames=surnames,
        given_names=given_names,
        nationality="SWE",
        passport_number="D1234567",
        immigration_status="DIPLOMATIC_RESIDENT",
        valid_from=issued_on,
        valid_until=valid_until,
        mrz_line1=line1,
        mrz_line2=line2,
        issued_at=dt.datetime.combine(issued_on, dt.time(15), tzinfo=dt.UTC),
    )


def page_size_mm(pdf: bytes) -> tuple[float, float]:
    box = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    return float(box.width) * MM_PER_POINT, float(box.height) * MM_PER_POINT


def text_lines(pdf: bytes) -> list[str]:
    """The page's text as pypdf extracts it, one line each."""
    return [line.strip() for line in pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text().splitlines()]


def mrz_lines(pdf: bytes) -> list[str]:
    """The extracted lines that have an MRZ line's shape: 44 characters of A-Z, 0-9 and ``<``."""
    return [line for line in text_lines(pdf) if re.fullmatch(rf"[A-Z0-9<]{{{mrz.LINE_LENGTH}}}", line)]


def embedded_fonts(pdf: bytes) -> set[str]:
    """The base names of the page's fonts that are embedded (subset prefix removed)."""
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    names = set()
    for font in page["/Resources"]["/Font"].values():
        font = font.get_object()
        for descendant in font.get("/DescendantFonts", []):
            descriptor = descendant.get_object()["/FontDescriptor"].get_object()
            if any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
                names.add(str(font["/BaseFont"]).lstrip("/").split("+")[-1])
    return names


def rendered(pdf: bytes, dpi: int = 300) -> Image.Image:
    """The page as a printer at ``dpi`` would lay it down (pypdfium2)."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        return document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()
