"""The printed visa (services/issuance/sticker.py), read back as a reader would: the page's size, its text, its
fonts, and the seal decoded from a 300 dpi rendering of the page (docs/domain/visa-document.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from services.issuance.settings import IssuanceSettings
from services.issuance.sticker import NotPrintable, Printer, StickerFontMissing, font_path
from shared.clock import FixedClock
from shared.seal import barcode
from shared.seal.keys import verify
from shared.seal.store import SealKeysMissing
from tests.support.documents import (
    embedded_fonts,
    make_seal_keys,
    mrz_lines,
    page_size_mm,
    rendered,
    sample_visa,
    text_lines,
)

TODAY = dt.date(2026, 11, 28)
CLOCK = FixedClock(dt.datetime(2026, 11, 28, 10, tzinfo=dt.UTC))


def printer(directory: Path, **settings) -> Printer:
    return Printer(
        IssuanceSettings(
            issuance_seal_public_keys=directory / "seal-keys.json", issuance_seal_keys=directory / "private", **settings
        ),
        CLOCK,
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_seal_keys(tmp_path_factory.mktemp("seal"), TODAY)


@pytest.fixture(scope="module")
def sticker(keys):
    return printer(keys.published_path.parent).sticker(sample_visa())


def test_the_page_is_an_mrv_a_sticker(sticker):
    width, height = page_size_mm(sticker.pdf)
    assert abs(width - 120.0) <= 0.1 and abs(height - 80.0) <= 0.1


def test_the_extracted_mrz_is_the_visa_s(sticker):
    visa = sample_visa()
    assert mrz_lines(sticker.pdf) == [visa.mrz_line1, visa.mrz_line2]


def test_the_holder_and_the_validity_are_printed(sticker):
    text = "\n".join(text_lines(sticker.pdf))
    for printed in ("PE0000001", "Eriksson", "Anna María", "D1234567", "27.11.2026", "14.01.2030", "12.08.1974"):
        assert printed in text


def test_the_mrz_is_set_in_the_embedded_ocr_b(sticker):
    assert "OCRB" in embedded_fonts(sticker.pdf)


def test_the_seal_read_from_the_printed_page_verifies(sticker, keys):
    payload = barcode.read(rendered(sticker.pdf, dpi=300))
    assert payload == sticker.seal
    verdict = verify(payload, keys.published(), TODAY)
    assert verdict.valid, verdict
    visa = sample_visa()
    assert verdict.seal.features.mrz == (visa.mrz_line1, visa.mrz_line2)
    assert verdict.seal.features.passport_number == visa.passport_number
    assert verdict.seal.header.signed_on == TODAY and verdict.key.post == "LIM"


def test_a_name_outside_latin_1_is_printed_transliterated(keys):
    pdf = printer(keys.published_path.parent).sticker(sample_visa(surnames="Wałęsa")).pdf
    assert "WALESA" in text_lines(pdf)


def test_a_cancelled_visa_is_not_printed(keys):
    visa = sample_visa()
    visa.cancelled_at = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
    with pytest.raises(NotPrintable, match="cancelled"):
        printer(keys.published_path.parent).sticker(visa)


def test_without_a_seal_key_nothing_is_printed(tmp_path):
    with pytest.raises(SealKeysMissing, match="visa seal-keys generate"):
        printer(tmp_path).sticker(sample_visa())


def test_without_the_font_the_message_says_how_to_get_it(tmp_path, keys):
    missing = tmp_path / "OCRB.otf"
    with pytest.raises(StickerFontMissing, match="fonts-ocr-b"):
        font_path(missing)
    with pytest.raises(StickerFontMissing):
        printer(keys.published_path.parent, issuance_sticker_font=missing).sticker(sample_visa())
    assert font_path(None).name == "OCRB.otf"
