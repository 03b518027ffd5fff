"""The seal's bytes read and written without a key (shared/seal/vds.py): every boundary of the format and every
refusal in words. A signature of 64 arbitrary bytes stands in for a post's: nothing here verifies one."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from shared.seal import c40, vds
from tests.support.documents import ISSUED, MRZ

SIGNATURE = bytes(range(64))
HEADER_LENGTH = 18  # magic, version, State (2), "PERE02K1" in C40 (6), two dates (6), definition and category


def seal(kid: str = "K1", passport: str = "D1234567", stay: tuple[int, int, int] = (0, 0, 3)) -> vds.VisaSeal:
    return vds.VisaSeal(vds.Header("PER", "PERE", kid, ISSUED, ISSUED), vds.VisaFeatures(MRZ, passport, stay, ISSUED))


SIGNED = vds.seal_bytes(seal())
PAYLOAD = vds.with_signature(SIGNED, SIGNATURE)


def refusal(payload: bytes) -> str:
    with pytest.raises(vds.MalformedSeal) as refused:
        vds.frame(payload)
    return str(refused.value)


def test_a_payload_frames_and_decodes_back_to_its_seal():
    framed = vds.frame(PAYLOAD)
    assert (framed.signed, framed.signature, framed.key_id, framed.signer) == (SIGNED, SIGNATURE, "K1", "PERE")
    assert framed.header == SIGNED[:HEADER_LENGTH]
    assert vds.decode(framed) == seal()


@pytest.mark.parametrize("kid", ["K", "A" * 10, "A" * 16, "A" * 255], ids=["1", "10", "16", "255"])
def test_a_certificate_reference_of_any_length_its_hex_length_field_holds(kid):
    """The reference's length is two hex digits: 10 is "0A", 16 is "10" (not ten), 255 is "FF"."""
    framed = vds.frame(vds.with_signature(vds.seal_bytes(seal(kid)), SIGNATURE))
    assert framed.key_id == kid and vds.decode(framed).header.certificate_reference == kid


def test_a_passport_number_ending_in_x_keeps_it():
    framed = vds.frame(vds.with_signature(vds.seal_bytes(seal(passport="D123456X")), SIGNATURE))
    assert vds.decode(framed).features.passport_number == "D123456X"


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"", "not a visible digital seal (no magic constant 0xDC)"),
        (b"\xdc\x03\x00", "not a visible digital seal (no magic constant 0xDC)"),
        (b"\xdd" + PAYLOAD[1:], "not a visible digital seal (no magic constant 0xDC)"),
        (b"\xdc\x02" + PAYLOAD[2:], "seal version byte 0x02: only version 4 (0x03) is read"),
        (SIGNED[: HEADER_LENGTH - 1], "truncated header"),
        (SIGNED[: HEADER_LENGTH - 2], "truncated header"),
        (SIGNED[:HEADER_LENGTH], "no signature zone"),
        (SIGNED, "no signature zone"),
        (SIGNED[:16] + b"\x5e\x01", "feature definition 0x5e, category 0x01: not a visa's"),
        (SIGNED[:17] + b"\x02" + SIGNED[18:], "feature definition 0x5d, category 0x02: not a visa's"),
        (SIGNED + b"\xff", "truncated length"),
        (SIGNED + b"\xff\x80", "unreadable length byte 0x80"),
        (SIGNED + b"\xff\x83\x00\x00\x40", "unreadable length byte 0x83"),
        (SIGNED + b"\xff\x82\x00", "unreadable length byte 0x82"),
        (SIGNED + b"\xff\x82\x00\x40", "feature 0xff truncated"),
        (SIGNED + b"\xff\x40" + bytes(10), "feature 0xff truncated"),
        (SIGNED + b"\xff\x02\xaa\xbb\xcc", "bytes after the signature"),
        (SIGNED + b"\xff\x02\xaa\xbb", "signature of 2 bytes, not 64"),
        (SIGNED + b"\x01\x01\x00" + PAYLOAD[len(SIGNED) :], "feature 0x01 twice"),
    ],
    ids=[
        "empty",
        "short",
        "magic",
        "version",
        "header-1",
        "header-2",
        "header-only",
        "no-signature",
        "definition",
        "category",
        "no-length",
        "length-0x80",
        "length-0x83",
        "length-cut",
        "length-exact",
        "signature-cut",
        "after-signature",
        "signature-length",
        "twice",
    ],
)
def test_a_payload_that_is_no_visa_seal_is_refused_in_words(payload, why):
    assert refusal(payload) == why


def test_four_bytes_are_read_as_far_as_they_go():
    assert refusal(b"\xdc\x03\x00\x00").startswith("unreadable signer and certificate reference: ")


@pytest.mark.parametrize(
    ("kid", "keep"),
    [("K 1", None), ("A" * 16, 10)],
    ids=["a-space", "cut-short"],
)
def test_a_certificate_reference_with_a_space_or_cut_short_is_refused(kid, keep):
    signed = vds.seal_bytes(seal(kid))
    payload = signed[: 4 + keep] if keep else vds.with_signature(signed, SIGNATURE)
    assert refusal(payload) == "truncated signer and certificate reference"


@pytest.mark.parametrize(
    ("length", "written"), [(0, "00"), (127, "7f"), (128, "8180"), (255, "81ff"), (256, "820100"), (65535, "82ffff")]
)
def test_lengths_are_written_as_der_writes_them_and_read_back(length, written):
    assert vds._length(length).hex() == written
    value = bytes(length)
    framed = vds.frame(SIGNED + b"\x09" + vds._length(length) + value + PAYLOAD[len(SIGNED) :])
    assert framed.features[0x09] == value and framed.signature == SIGNATURE


def test_a_length_no_seal_can_hold_is_refused():
    with pytest.raises(ValueError, match="^length 65536 too large for a seal$"):
        vds._length(65536)


def test_what_the_seal_cannot_hold_is_refused_in_words():
    def refused(make) -> str:
        with pytest.raises(ValueError) as error:
            make()
        return str(error.value)

    line1, line2 = MRZ
    features = seal().features
    assert refused(lambda: vds.with_signature(SIGNED, bytes(63))) == "a signature of 63 bytes, not 64"
    assert refused(lambda: vds.seal_bytes(seal(kid=""))) == "certificate reference '' too long"
    assert refused(lambda: vds.seal_bytes(seal(kid="A" * 256))).startswith("certificate reference 'AAA")
    header = dataclasses.replace(seal().header, signer="PER")
    assert refused(lambda: vds.seal_bytes(vds.VisaSeal(header, features))) == (
        "a signer identifier has 4 characters, not 'PER'"
    )
    header = dataclasses.replace(seal().header, issuing_country="PE")
    assert refused(lambda: vds.seal_bytes(vds.VisaSeal(header, features))) == (
        "an issuing State is three characters, as an MRZ writes it, not 'PE'"
    )
    for lines in ((line1[:43], line2), (line1, line2[:43])):
        changed = dataclasses.replace(features, mrz=lines)
        assert refused(lambda: vds.seal_bytes(vds.VisaSeal(seal().header, changed))) == (  # noqa: B023
            "an MRV-A zone is two lines of 44 characters"
        )
    changed = dataclasses.replace(features, mrz=(line1, line2[:28] + "X" * 16))
    assert refused(lambda: vds.seal_bytes(vds.VisaSeal(seal().header, changed))) == (
        "the seal cannot hold the MRZ's optional data: it must be fillers"
    )
    assert refused(lambda: vds.seal_bytes(seal(passport="D123456789"))) == "invalid passport number 'D123456789'"
    assert refused(lambda: vds.seal_bytes(seal(passport=" "))) == "invalid passport number ''"
    assert refused(lambda: vds.seal_bytes(seal(stay=(256, 0, 0)))) == "duration of stay out of range: (256, 0, 0)"
    assert refused(lambda: vds.seal_bytes(seal(stay=(0, -1, 0)))) == "duration of stay out of range: (0, -1, 0)"


@pytest.mark.parametrize(("passport", "stay"), [("D", (0, 0, 0)), ("D12345678", (255, 255, 255))])
def test_the_extremes_the_seal_holds(passport, stay):
    framed = vds.frame(vds.with_signature(vds.seal_bytes(seal(passport=passport, stay=stay)), SIGNATURE))
    assert (vds.decode(framed).features.passport_number, vds.decode(framed).features.stay) == (passport, stay)


def test_a_date_that_is_none_is_refused_in_words():
    with pytest.raises(vds.MalformedSeal, match="^bytes ffffff are no date$"):
        vds.date_from(bytes.fromhex("ffffff"))


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "stay"),
    [
        (dt.date(2027, 3, 31), dt.date(2027, 4, 30), (1, 1, 0)),  # a month on lands on the 30th
        (dt.date(2028, 1, 31), dt.date(2028, 3, 1), (2, 1, 0)),  # and on 29 February in a leap year
    ],
)
def test_the_duration_of_stay_from_a_months_last_day(valid_from, valid_until, stay):
    assert vds.duration_of_stay(valid_from, valid_until) == stay


def test_decoding_refuses_features_that_are_not_a_visas_in_words():
    framed = vds.frame(PAYLOAD)

    def refused(**features: bytes | None) -> str:
        changed = {
            tag: value
            for tag, value in (framed.features | {int(k[1:], 16): v for k, v in features.items()}).items()
            if value is not None
        }
        with pytest.raises(vds.MalformedSeal) as error:
            vds.decode(dataclasses.replace(framed, features=changed))
        return str(error.value)

    assert refused(x01=bytes(48)) == "bytes 0x00 0x00 are no C40 triple"
    assert refused(x01=c40.encode("A" * 71)) == "an MRV-A zone of 71 characters in the seal, not 72"
    assert refused(x04=None) == "the visa's feature 0x04 is missing"
    assert refused(x04=b"\x00\x03") == "feature 0x04 has 2 bytes, not 3"
