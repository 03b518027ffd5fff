"""A visa's visible digital seal (ICAO Doc 9303 Part 13, version 4, the visa's feature definition): its bytes.

Header, message zone, signature zone, byte by byte, with their sources: docs/domain/visa-document.md. Pure: no
key, no file, no clock. ``seal_bytes`` writes what a post signs; ``frame`` reads the structure of a payload
without trusting it (what the signature covers, the key it names), and ``decode`` its values, once verified.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from . import c40

MAGIC = 0xDC
VERSION_4 = 0x03  # Part 13 writes version 4 as 0x03
FEATURE_DEFINITION_VISA = 0x5D
DOCUMENT_CATEGORY_VISA = 0x01
SIGNATURE_TAG = 0xFF

TAG_MRZ_MRV_A = 0x01
TAG_DURATION_OF_STAY = 0x04
TAG_PASSPORT_NUMBER = 0x05
TAG_ADDITIONAL = 0x07  # opaque to Part 13; here the first day of validity (docs/domain/visa-document.md)

MRZ_LINE = 44
MRZ_IN_SEAL = 72  # line 1, and line 2 without its 16 characters of optional data
MRZ_OPTIONAL = MRZ_LINE * 2 - MRZ_IN_SEAL
PASSPORT_NUMBER_LENGTH = 9
SIGNATURE_LENGTH = 64  # ECDSA P-256: r and s, 32 bytes each
SIGNER_LENGTH = 4  # the signer identifier: a country's two letters and two characters of its choosing


class MalformedSeal(ValueError):
    """Bytes that are not a visa seal of this profile."""


@dataclass(frozen=True)
class Header:
    issuing_country: str  # three characters, as an MRZ writes the State ("PER")
    signer: str  # Part 13's signer identifier ("PERE")
    certificate_reference: str  # which key of the signer's: here the key id
    issued_on: dt.date  # the document's issue date
    signed_on: dt.date  # the signature's creation date


@dataclass(frozen=True)
class VisaFeatures:
    mrz: tuple[str, str]  # the visa's two MRV-A lines; the seal holds them without line 2's optional data
    passport_number: str  # the passport the visa is affixed to
    stay: tuple[int, int, int]  # the duration of stay: days, months, years
    valid_from: dt.date  # the first day of validity (the MRZ holds only the last)


@dataclass(frozen=True)
class VisaSeal:
    header: Header
    features: VisaFeatures


@dataclass(frozen=True)
class Framed:
    """A payload's structure, read without trusting it: what its signature covers, and the key it names."""

    signed: bytes  # header and message zone: the bytes the signature covers
    signature: bytes
    key_id: str  # the certificate reference
    signer: str
    header: bytes
    features: dict[int, bytes]  # tag -> value


# --- encoding ------------------------------------------------------------------------------------------------


def seal_bytes(seal: VisaSeal) -> bytes:
    """The header and the message zone: what the signature covers."""
    return _header(seal.header) + _message(seal.features)


def with_signature(signed: bytes, signature: bytes) -> bytes:
    """The whole payload: the signed bytes, then the signature zone."""
    if len(signature) != SIGNATURE_LENGTH:
        raise ValueError(f"a signature of {len(signature)} bytes, not {SIGNATURE_LENGTH}")
    return signed + bytes((SIGNATURE_TAG,)) + _length(len(signature)) + signature


def _header(header: Header) -> bytes:
    if len(header.signer) != SIGNER_LENGTH:
        raise ValueError(f"a signer identifier has {SIGNER_LENGTH} characters, not {header.signer!r}")
    reference = header.certificate_reference
    if not 1 <= len(reference) <= 0xFF:
        raise ValueError(f"certificate reference {reference!r} too long")
    return (
        bytes((MAGIC, VERSION_4))
        + c40.encode(_state(header.issuing_country))
        + c40.encode(f"{header.signer}{len(reference):02X}{reference}")
        + date_bytes(header.issued_on)
        + date_bytes(header.signed_on)
        + bytes((FEATURE_DEFINITION_VISA, DOCUMENT_CATEGORY_VISA))
    )


def _state(code: str) -> str:
    if len(code) != 3:
        raise ValueError(f"an issuing State is three characters, as an MRZ writes it, not {code!r}")
    return code


def _message(features: VisaFeatures) -> bytes:
    line1, line2 = features.mrz
    if len(line1) != MRZ_LINE or len(line2) != MRZ_LINE:
        raise ValueError("an MRV-A zone is two lines of 44 characters")
    if line2[MRZ_IN_SEAL - MRZ_LINE :].strip("<"):
        raise ValueError("the seal cannot hold the MRZ's optional data: it must be fillers")
    passport = features.passport_number.strip().upper()
    if not 1 <= len(passport) <= PASSPORT_NUMBER_LENGTH:
        raise ValueError(f"invalid passport number {passport!r}")
    days, months, years = features.stay
    if not all(0 <= part <= 0xFF for part in features.stay):
        raise ValueError(f"duration of stay out of range: {features.stay}")
    return (
        _feature(TAG_MRZ_MRV_A, c40.encode((line1 + line2)[:MRZ_IN_SEAL]))
        + _feature(TAG_DURATION_OF_STAY, bytes((days, months, years)))
        + _feature(TAG_PASSPORT_NUMBER, c40.encode(passport.ljust(PASSPORT_NUMBER_LENGTH, "<")))
        + _feature(TAG_ADDITIONAL, date_bytes(features.valid_from))
    )


def _feature(tag: int, value: bytes) -> bytes:
    return bytes((tag,)) + _length(len(value)) + value


def _length(length: int) -> bytes:
    """A length as DER writes it: one byte below 128, else 0x81 or 0x82 and the length."""
    if length < 0x80:
        return bytes((length,))
    if length <= 0xFF:
        return bytes((0x81, length))
    if length <= 0xFFFF:
        return bytes((0x82,)) + length.to_bytes(2, "big")
    raise ValueError(f"length {length} too large for a seal")


def date_bytes(day: dt.date) -> bytes:
    """A date in three bytes: the number MMDDYYYY, big-endian (25 March 1957 → 03251957 → 0x319EF5)."""
    return int(day.strftime("%m%d%Y")).to_bytes(3, "big")


def date_from(data: bytes) -> dt.date:
    digits = f"{int.from_bytes(data, 'big'):08d}"
    try:
        return dt.date(int(digits[4:]), int(digits[:2]), int(digits[2:4]))
    except ValueError:
        raise MalformedSeal(f"bytes {data.hex()} are no date") from None


def duration_of_stay(valid_from: dt.date, valid_until: dt.date) -> tuple[int, int, int]:
    """The days, months and years from ``valid_from`` to ``valid_until``, both days counted (2027-01-15 to
    2030-01-14 is 3 years; 2027-01-15 to 2027-04-14 is 3 months)."""
    end = valid_until + dt.timedelta(days=1)
    months = (end.year - valid_from.year) * 12 + end.month - valid_from.month
    if end.day < valid_from.day:
        months -= 1
    start = _add_months(valid_from, months)
    days = (end - start).days
    return days, months % 12, months // 12


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


# --- decoding ------------------------------------------------------------------------------------------------


def frame(payload: bytes) -> Framed:
    """The structure of ``payload``: header, features, signature; ``MalformedSeal`` when it is not one."""
    if len(payload) < 4 or payload[0] != MAGIC:
        raise MalformedSeal("not a visible digital seal (no magic constant 0xDC)")
    if payload[1] != VERSION_4:
        raise MalformedSeal(f"seal version byte {payload[1]:#04x}: only version 4 (0x03) is read")
    position = 4  # magic, version, issuing State (two bytes)
    try:
        head = c40.decode(payload[position : position + 4], filler=" ")  # signer and the reference's length
        reference_length = int(head[SIGNER_LENGTH:], 16)
        signer = head[:SIGNER_LENGTH]
        size = c40.encoded_length(SIGNER_LENGTH + 2 + reference_length)
        key_id = c40.decode(payload[position : position + size], filler=" ")[SIGNER_LENGTH + 2 :]
    except (c40.C40Error, ValueError, IndexError) as error:
        raise MalformedSeal(f"unreadable signer and certificate reference: {error}") from None
    if len(key_id) != reference_length or " " in key_id:
        raise MalformedSeal("truncated signer and certificate reference")
    position += size + 3 + 3  # issue date, signature date
    if len(payload) < position + 2:
        raise MalformedSeal("truncated header")
    if payload[position] != FEATURE_DEFINITION_VISA or payload[position + 1] != DOCUMENT_CATEGORY_VISA:
        raise MalformedSeal(
            f"feature definition {payload[position]:#04x}, category {payload[position + 1]:#04x}: not a visa's"
        )
    position += 2
    header = payload[:position]
    features: dict[int, bytes] = {}
    while True:
        if position >= len(payload):
            raise MalformedSeal("no signature zone")
        tag = payload[position]
        length, position = _read_length(payload, position + 1)
        value = payload[position : position + length]
        if len(value) != length:
            raise MalformedSeal(f"feature {tag:#04x} truncated")
        if tag == SIGNATURE_TAG:
            if position + length != len(payload):
                raise MalformedSeal("bytes after the signature")
            if length != SIGNATURE_LENGTH:
                raise MalformedSeal(f"signature of {length} bytes, not {SIGNATURE_LENGTH}")
            signed = payload[: position - 1 - len(_length(length))]
            return Framed(signed, value, key_id, signer, header, features)
        if tag in features:
            raise MalformedSeal(f"feature {tag:#04x} twice")
        features[tag] = value
        position += length


def _read_length(payload: bytes, position: int) -> tuple[int, int]:
    if position >= len(payload):
        raise MalformedSeal("truncated length")
    first = payload[position]
    if first < 0x80:
        return first, position + 1
    width = first - 0x80
    if width not in (1, 2) or position + 1 + width > len(payload):
        raise MalformedSeal(f"unreadable length byte {first:#04x}")
    return int.from_bytes(payload[position + 1 : position + 1 + width], "big"), position + 1 + width


def decode(framed: Framed) -> VisaSeal:
    """The values of a framed seal (call it once its signature holds: nothing here is trusted before)."""
    try:
        header = framed.header
        country = c40.decode(header[2:4])
        issued_on = date_from(header[-8:-5])
        signed_on = date_from(header[-5:-2])
        mrz = c40.decode(_required(framed, TAG_MRZ_MRV_A, c40.encoded_length(MRZ_IN_SEAL)))
        stay = tuple(_required(framed, TAG_DURATION_OF_STAY, 3))
        passport = c40.decode(_required(framed, TAG_PASSPORT_NUMBER, c40.encoded_length(PASSPORT_NUMBER_LENGTH)))
        valid_from = date_from(_required(framed, TAG_ADDITIONAL, 3))
    except c40.C40Error as error:
        raise MalformedSeal(str(error)) from None
    if len(mrz) != MRZ_IN_SEAL:
        raise MalformedSeal(f"an MRV-A zone of {len(mrz)} characters in the seal, not {MRZ_IN_SEAL}")
    lines = (mrz[:MRZ_LINE], mrz[MRZ_LINE:] + "<" * MRZ_OPTIONAL)
    return VisaSeal(
        Header(country, framed.signer, framed.key_id, issued_on, signed_on),
        VisaFeatures(lines, passport.rstrip("<"), (stay[0], stay[1], stay[2]), valid_from),
    )


def _required(framed: Framed, tag: int, length: int) -> bytes:
    value = framed.features.get(tag)
    if value is None:
        raise MalformedSeal(f"the visa's feature {tag:#04x} is missing")
    if len(value) != length:
        raise MalformedSeal(f"feature {tag:#04x} has {len(value)} bytes, not {length}")
    return value
