"""The printed visa: the MRV-A sticker a consular clerk prints and affixes to the passport, with its seal.

A PDF page of the sticker's size (ICAO Doc 9303 Part 7: 120.0 mm × 80.0 mm), the holder's data, the validity,
the visa number, the seal as a DataMatrix (``shared/seal``) and the machine readable zone set in OCR-B from its
font file. The layout and its sources: docs/domain/visa-document.md.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF

from shared import mrz
from shared.clock import Clock
from shared.seal import barcode, vds
from shared.seal.keys import COUNTRY, SIGNER, SealKey
from shared.seal.store import SealKeyFiles

from .models import Visa
from .settings import IssuanceSettings

WIDTH, HEIGHT = 120.0, 80.0  # MRV-A, millimetres (Doc 9303 Part 7)
MRZ_PITCH = 25.4 / 10  # OCR-B size 1: ten characters per 25.4 mm (Doc 9303 Part 3)
MRZ_LINE_SPACING = 25.4 / 6  # six lines per 25.4 mm: the project's layout
MRZ_BASELINES = (HEIGHT - 9.0, HEIGHT - 9.0 + MRZ_LINE_SPACING)  # the project's layout, within the bottom zone
MODULE = 0.5  # millimetres per DataMatrix module (above 0.3386 mm: docs/domain/visa-document.md)

# Where the OCR-B font is looked for when ISSUANCE_STICKER_FONT is not set: Debian's fonts-ocr-b package, as
# `make run` and `make test` unpack it into .tools/, or installed system-wide.
FONT_IN_PACKAGE = Path("usr/share/fonts/opentype/ocr-b/OCRB.otf")
FONT_PLACES = (
    Path(__file__).resolve().parents[2] / ".tools" / "fonts-ocr-b" / FONT_IN_PACKAGE,
    Path("/") / FONT_IN_PACKAGE,
)

STATUS_NAMES = {
    "DIPLOMATIC_RESIDENT": "DIPLOMÁTICA / DIPLOMATIC",
    "CONSULAR_RESIDENT": "CONSULAR / CONSULAR",
    "OFFICIAL_RESIDENT": "OFICIAL / OFFICIAL",
    "SHORT_STAY": "OFICIAL, CORTA ESTANCIA / OFFICIAL, SHORT STAY",
    "COOPERANT": "COOPERANTE / COOPERANT",
}


class StickerFontMissing(RuntimeError):
    """No OCR-B font file: the message says where it was looked for and how to get it."""


class NotPrintable(ValueError):
    """A visa that no longer stands is not printed: its seal would say it is valid."""


def font_path(setting: Path | None) -> Path:
    """The OCR-B font: ISSUANCE_STICKER_FONT, or the first of ``FONT_PLACES`` that exists."""
    places = (setting,) if setting is not None else FONT_PLACES
    for place in places:
        if place.is_file():
            return place
    raise StickerFontMissing(
        f"no OCR-B font at {' or '.join(str(place) for place in places)}: run `make run` or `make test`, which "
        "unpack Debian's fonts-ocr-b into .tools/fonts-ocr-b, or set ISSUANCE_STICKER_FONT to an OCR-B font file"
    )


@lru_cache(maxsize=4)
def _font_size_pt(path: Path) -> float:
    """The size at which OCR-B's fixed advance is the MRZ's pitch."""
    font = TTFont(path)
    advance, _ = font["hmtx"][font.getBestCmap()[ord("<")]]
    em_mm = MRZ_PITCH * font["head"].unitsPerEm / advance
    return em_mm * 72 / 25.4


# --- the seal of a visa --------------------------------------------------------------------------------------


def visa_seal(visa: Visa, key: SealKey, signed_on: dt.date) -> vds.VisaSeal:
    """What the seal of ``visa`` holds, signed by ``key`` on ``signed_on`` (docs/domain/visa-document.md)."""
    return vds.VisaSeal(
        vds.Header(
            issuing_country=COUNTRY,
            signer=SIGNER,
            certificate_reference=key.kid,
            issued_on=visa.issued_at.date(),
            signed_on=signed_on,
        ),
        vds.VisaFeatures(
            mrz=(visa.mrz_line1, visa.mrz_line2),
            passport_number=visa.passport_number,
            stay=vds.duration_of_stay(visa.valid_from, visa.valid_until),
            valid_from=visa.valid_from,
        ),
    )


def printable(visa: Visa) -> None:
    """Refuse (``NotPrintable``) a visa that was cancelled or superseded."""
    if visa.cancelled_at is not None:
        raise NotPrintable(f"visa {visa.number} was cancelled: it is not printed")
    if getattr(visa, "superseded_at", None) is not None:
        raise NotPrintable(f"visa {visa.number} was superseded: it is not printed")


# --- the page --------------------------------------------------------------------------------------------------


def _latin(text: str) -> str:
    """``text`` as the label font (PDF's Helvetica, Latin-1) can print it; otherwise its MRZ transliteration."""
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        try:
            return mrz.transliterate(text).replace("<", " ")
        except ValueError:
            return unicodedata.normalize("NFKD", text).encode("latin-1", "ignore").decode("latin-1")


def _date(day: dt.date) -> str:
    return day.strftime("%d.%m.%Y")


def _birth(line2: str, issued_on: dt.date) -> str:
    """The MRZ's date of birth (``YYMMDD``; the century that puts it before the issue), or blank if unknown."""
    text = line2[13:19]
    if not text.isdigit():
        return ""
    year = 2000 + int(text[:2])
    if year > issued_on.year:
        year -= 100
    try:
        return _date(dt.date(year, int(text[2:4]), int(text[4:])))
    except ValueError:
        return ""


def _stay(stay: tuple[int, int, int]) -> str:
    days, months, years = stay
    parts = [f"{years} A/Y" if years else "", f"{months} M" if months else "", f"{days} D" if days else ""]
    return " ".join(part for part in parts if part) or "-"


def render(visa: Visa, seal: vds.VisaSeal, payload: bytes, font: Path, post: str) -> bytes:
    """The sticker of ``visa`` as a one-page PDF, its seal ``payload`` as a DataMatrix."""
    pdf = FPDF(unit="mm", format=(WIDTH, HEIGHT))
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_title(f"Visa {visa.number}")
    pdf.set_creation_date(dt.datetime.combine(seal.header.signed_on, dt.time(), tzinfo=dt.UTC))
    pdf.add_page()
    pdf.add_font("OCRB", "", str(font))

    # Zone I: the issuing State, the document, its number.
    pdf.set_font("Helvetica", "B", 9)
    pdf.text(4, 7, "REPÚBLICA DEL PERÚ - REPUBLIC OF PERU")
    pdf.set_font("Helvetica", "B", 12)
    pdf.text(4, 12.5, "VISA")
    pdf.set_font("Helvetica", "", 6)
    pdf.text(86, 5, "No. / Number")
    pdf.set_font("OCRB", "", 11)
    pdf.text(86, 10, visa.number or "")

    # The seal, where a portrait would be.
    _datamatrix(pdf, payload, x=5, y=17)
    pdf.set_font("Helvetica", "", 4.5)
    pdf.text(5, 44, "SELLO DIGITAL / DIGITAL SEAL")
    pdf.text(5, 46.5, post)

    # Zone II and III: the visa, then its holder.
    line1, line2 = visa.mrz_line1, visa.mrz_line2
    issued_on = seal.header.issued_on
    fields = [
        ("VÁLIDA PARA / VALID FOR", "PERÚ / PERU"),
        ("DESDE / FROM", _date(visa.valid_from)),
        ("HASTA / UNTIL", _date(visa.valid_until)),
        ("TIPO / TYPE", STATUS_NAMES.get(visa.immigration_status, visa.immigration_status)),
        ("DURACIÓN / DURATION OF STAY", _stay(seal.features.stay)),
        ("EXPEDIDA EN / ISSUED AT", f"{post}, {_date(issued_on)}"),
        ("PASAPORTE / PASSPORT", visa.passport_number),
        ("APELLIDOS / SURNAMES", _latin(visa.surnames)),
        ("NOMBRES / GIVEN NAMES", _latin(visa.given_names)),
        ("NACIONALIDAD / NATIONALITY", visa.nationality),
        ("NACIMIENTO / DATE OF BIRTH", _birth(line2, issued_on)),
        ("SEXO / SEX", {"F": "F", "M": "M"}.get(line2[20], "X")),
    ]
    left, top, row = 34.0, 17.0, 4.3
    for index, (label, value) in enumerate(fields):
        column, line = divmod(index, 6)
        x, y = left + column * 43.0, top + line * 2 * row
        pdf.set_font("Helvetica", "", 5)
        pdf.text(x, y, label)
        pdf.set_font("Helvetica", "B", 7)
        pdf.text(x, y + 3.0, value[:34])

    # Zone VII: the machine readable zone, OCR-B at its pitch.
    pdf.set_font("OCRB", "", _font_size_pt(font))
    margin = (WIDTH - mrz.LINE_LENGTH * MRZ_PITCH) / 2
    for baseline, text in zip(MRZ_BASELINES, (line1, line2), strict=True):
        pdf.text(margin, baseline, text)
    return bytes(pdf.output())


def _datamatrix(pdf: FPDF, payload: bytes, *, x: float, y: float) -> None:
    """The DataMatrix of ``payload`` drawn as vector squares (runs of dark modules), ``MODULE`` mm each."""
    pdf.set_fill_color(0, 0, 0)
    for row, line in enumerate(barcode.modules(payload)):
        column = 0
        while column < len(line):
            if not line[column]:
                column += 1
                continue
            start = column
            while column < len(line) and line[column]:
                column += 1
            pdf.rect(x + start * MODULE, y + row * MODULE, (column - start) * MODULE, MODULE, style="F")


# --- printing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sticker:
    pdf: bytes
    seal: bytes  # the seal's payload, as the DataMatrix holds it


class Printer:
    """Prints a visa of this post: signs its seal with the post's key of the day, and lays out the sticker.

    Keys and font are read at each print: a key generated while the service runs is used at once, and a service
    without them still starts (and answers the other routes), naming the command that makes them.
    """

    def __init__(self, settings: IssuanceSettings, clock: Clock) -> None:
        self.post = settings.issuance_post
        self.keys = SealKeyFiles(settings.issuance_seal_public_keys, settings.issuance_seal_keys)
        self.font = settings.issuance_sticker_font
        self.clock = clock

    def sticker(self, visa: Visa) -> Sticker:
        printable(visa)
        today = self.clock.today()
        font = font_path(self.font)
        key = self.keys.signing_key(self.post, today)
        seal = visa_seal(visa, key, today)
        payload = key.sign(seal)
        return Sticker(render(visa, seal, payload, font, self.post), payload)
