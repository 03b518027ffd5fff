"""The visa's seal (shared/seal): its bytes as ICAO Doc 9303 Part 13 writes them, its signature, and every reason a
verifier refuses one (docs/domain/visa-document.md). No file, no network: keys are made in memory."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest

from shared.seal import c40, vds
from shared.seal.keys import (
    BAD_SIGNATURE,
    EXPIRED,
    KEY_NOT_VALID,
    MALFORMED,
    NOT_YET_VALID,
    UNKNOWN_KEY,
    PublishedKeys,
    SealKey,
    verify,
)
from shared.seal.store import SealKeyFiles, SealKeysMissing
from tests.support.documents import ISSUED, MRZ, UNTIL


def visa_seal(key: SealKey, *, signed_on: dt.date = ISSUED, kid: str | None = None) -> vds.VisaSeal:
    return vds.VisaSeal(
        vds.Header("PER", "PERE", kid or key.kid, ISSUED, signed_on),
        vds.VisaFeatures(MRZ, "D1234567", vds.duration_of_stay(ISSUED, UNTIL), ISSUED),
    )


@pytest.fixture(scope="module")
def post_key() -> tuple[SealKey, PublishedKeys]:
    key, entry = SealKey.generate("LIM", ISSUED)
    return key, PublishedKeys().with_key(entry)


# --- C40 and dates, against the public worked examples -------------------------------------------------------


def test_c40_matches_the_worked_examples():
    # BSI TR-03137 Part 1, Annex B (docs/domain/visa-document.md): "XK<CD" and "XKCD".
    assert c40.encode("XK<CD") == bytes.fromhex("eb0466a9")
    assert c40.encode("XKCD") == bytes.fromhex("eb11fe45")
    assert c40.decode(bytes.fromhex("eb0466a9")) == "XK<CD"
    assert c40.decode(bytes.fromhex("eb11fe45")) == "XKCD"
    # Annex F: a visa seal's signer and certificate reference, and its passport number.
    assert c40.decode(bytes.fromhex("6d32c8a72cb1"), filler=" ") == "DETS0232"
    assert c40.encode("47110815P") == bytes.fromhex("33be1fed20c6")
    with pytest.raises(c40.C40Error):
        c40.encode("a-b")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xeb", "C40 comes in pairs of bytes, not 1 bytes"),
        (b"\xfe\x42\xeb\x04", "a single character may only end C40 data"),
        (b"\xfe\x01", "byte 0x01 after 0xfe is no C40 character"),
        (b"\x00\x00", "bytes 0x00 0x00 are no C40 triple"),
        (b"\xfa\x01", "bytes 0xfa 0x01 are no C40 triple"),  # 64000: one past the largest triple (39, 39, 39)
        (b"\x00\x01", "C40 shift value 0 is not used in a seal"),  # 0: the smallest value, a triple of shifts
        (b"\x06\xbc", "C40 shift value 1 is not used in a seal"),
    ],
    ids=["odd", "unlatch-not-last", "unlatch-no-character", "below", "above", "zero", "shift"],
)
def test_c40_refuses_what_is_not_c40_and_says_why(data, why):
    with pytest.raises(c40.C40Error) as refused:
        c40.decode(data)
    assert str(refused.value) == why


def test_c40_refuses_a_character_it_cannot_hold_and_names_it():
    with pytest.raises(c40.C40Error) as refused:
        c40.encode("AB-C")
    assert str(refused.value) == "C40 holds A-Z, 0-9, space and '<' only, not '-'"
    assert c40.decode(bytes.fromhex("fa00")) == "ZZZ"  # 63999, the largest triple: bytes 0xfa 0x00


def test_dates_are_mmddyyyy_in_three_bytes():
    assert vds.date_bytes(dt.date(1957, 3, 25)) == bytes.fromhex("319ef5")  # Part 13's own example
    assert vds.date_from(bytes.fromhex("0f7134")) == dt.date(2020, 1, 1)
    with pytest.raises(vds.MalformedSeal):
        vds.date_from(bytes.fromhex("ffffff"))


def test_the_duration_of_stay_is_the_validity_in_days_months_years():
    assert vds.duration_of_stay(dt.date(2027, 1, 15), dt.date(2030, 1, 14)) == (0, 0, 3)
    assert vds.duration_of_stay(dt.date(2027, 1, 15), dt.date(2027, 4, 14)) == (0, 3, 0)
    assert vds.duration_of_stay(dt.date(2027, 1, 15), dt.date(2027, 1, 15)) == (1, 0, 0)
    assert vds.duration_of_stay(dt.date(2027, 1, 31), dt.date(2027, 3, 1)) == (2, 1, 0)


# --- the bytes ---------------------------------------------------------------------------------------------------


def test_the_payload_is_a_part_13_visa_seal(post_key):
    key, _ = post_key
    payload = key.sign(visa_seal(key))
    assert payload[:2] == bytes((0xDC, 0x03))  # magic constant, version 4
    assert c40.decode(payload[2:4]) == "PER"
    framed = vds.frame(payload)
    assert (framed.signer, framed.key_id) == ("PERE", key.kid)
    assert framed.header[-2:] == bytes((0x5D, 0x01))  # the visa's feature definition, category "visa"
    assert framed.header[-8:-2] == vds.date_bytes(ISSUED) * 2
    assert sorted(framed.features) == [0x01, 0x04, 0x05, 0x07]
    assert len(framed.features[0x01]) == 48 and len(framed.features[0x05]) == 6
    assert payload[len(framed.signed) :][:2] == bytes((0xFF, 0x40)) and len(framed.signature) == 64


def test_a_seal_round_trips(post_key):
    key, keys = post_key
    verdict = verify(key.sign(visa_seal(key)), keys, ISSUED)
    assert verdict.valid and verdict.detail == "VALID"
    assert verdict.seal == visa_seal(key)
    assert verdict.seal.features.mrz == MRZ
    assert verdict.key.post == "LIM"


def test_signing_is_deterministic(post_key):
    key, _ = post_key
    assert key.sign(visa_seal(key)) == key.sign(visa_seal(key))


def test_one_changed_byte_anywhere_is_refused(post_key):
    key, keys = post_key
    payload = key.sign(visa_seal(key))
    framed = vds.frame(payload)
    mrz_at = payload.index(framed.features[0x01])
    signature_at = len(payload) - 64
    for position in range(len(payload)):
        changed = bytearray(payload)
        changed[position] ^= 0x01
        verdict = verify(bytes(changed), keys, ISSUED)
        assert not verdict.valid, position
        assert verdict.reason in {MALFORMED, UNKNOWN_KEY, BAD_SIGNATURE}, (position, verdict)
        if mrz_at <= position < mrz_at + 48 or position >= signature_at:
            assert verdict.reason == BAD_SIGNATURE, (position, verdict)


def test_a_seal_of_an_unpublished_key_is_refused(post_key):
    _, keys = post_key
    stranger, _ = SealKey.generate("LIM", ISSUED)
    verdict = verify(stranger.sign(visa_seal(stranger)), keys, ISSUED)
    assert (verdict.reason, verdict.seal) == (UNKNOWN_KEY, None)
    assert stranger.kid in verdict.detail


def test_a_stranger_naming_a_published_key_is_refused(post_key):
    key, keys = post_key
    stranger, _ = SealKey.generate("LIM", ISSUED)
    forged = SealKey(key.kid, "LIM", stranger.private)
    assert verify(forged.sign(visa_seal(forged)), keys, ISSUED).reason == BAD_SIGNATURE


def test_an_expired_visa_is_refused_with_its_data(post_key):
    key, keys = post_key
    payload = key.sign(visa_seal(key))
    assert verify(payload, keys, UNTIL).valid
    verdict = verify(payload, keys, UNTIL + dt.timedelta(days=1))
    assert verdict.reason == EXPIRED and verdict.seal is not None and "2030-01-14" in verdict.detail
    assert verify(payload, keys, ISSUED - dt.timedelta(days=1)).reason == NOT_YET_VALID


def test_a_seal_signed_outside_its_key_validity_is_refused():
    key, entry = SealKey.generate("LIM", ISSUED)
    retired = PublishedKeys().with_key(entry.__class__(**{**entry.__dict__, "valid_until": ISSUED}))
    assert verify(key.sign(visa_seal(key)), retired, ISSUED).valid
    late = key.sign(visa_seal(key, signed_on=ISSUED + dt.timedelta(days=1)))
    assert verify(late, retired, ISSUED + dt.timedelta(days=2)).reason == KEY_NOT_VALID
    early = key.sign(visa_seal(key, signed_on=ISSUED - dt.timedelta(days=1)))
    assert verify(early, retired, ISSUED).reason == KEY_NOT_VALID


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xdc", b"hello, world", bytes.fromhex("dc02") + bytes(40), bytes.fromhex("dc03") + bytes(10)],
)
def test_malformed_payloads_are_refused(payload):
    assert verify(payload, PublishedKeys(), ISSUED).reason == MALFORMED


def test_truncated_or_padded_payloads_are_malformed(post_key):
    key, keys = post_key
    payload = key.sign(visa_seal(key))
    assert verify(payload[:-1], keys, ISSUED).reason == MALFORMED
    assert verify(payload + b"\x00", keys, ISSUED).reason == MALFORMED
    no_signature = vds.seal_bytes(visa_seal(key))
    assert verify(no_signature, keys, ISSUED).reason == MALFORMED


def test_the_seal_refuses_what_it_cannot_hold(post_key):
    key, _ = post_key
    line1, line2 = MRZ
    with pytest.raises(ValueError, match="optional data"):
        key.sign(
            vds.VisaSeal(
                visa_seal(key).header,
                vds.VisaFeatures((line1, line2[:28] + "X" * 16), "D1234567", (0, 0, 3), ISSUED),
            )
        )
    with pytest.raises(ValueError):
        key.sign(visa_seal(key, kid="LIM000000"))  # a seal naming another key


# --- published keys and key files --------------------------------------------------------------------------------


def test_published_keys_round_trip_as_json(post_key):
    key, keys = post_key
    document = json.loads(json.dumps(keys.to_document()))
    entry = document["keys"][0]
    assert entry["kid"] == key.kid and entry["post"] == "LIM" and entry["algorithm"] == "ES256"
    assert entry["jwk"]["crv"] == "P-256" and entry["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert verify(key.sign(visa_seal(key)), PublishedKeys.from_document(document), ISSUED).valid


def test_key_files_keep_private_keys_private_and_rotate(tmp_path):
    files = SealKeyFiles(tmp_path / "seal-keys.json", tmp_path / "private")
    with pytest.raises(SealKeysMissing, match="visa seal-keys generate"):
        files.signing_key("LIM", ISSUED)
    first = files.generate("LIM", ISSUED)
    assert stat.S_IMODE(os.stat(files.private_dir / f"{first.kid}.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(files.private_dir).st_mode) == 0o700
    assert "PRIVATE" not in files.published_path.read_text()
    assert files.signing_key("LIM", ISSUED).kid == first.kid
    assert files.ensure("LIM", ISSUED) is None
    later = ISSUED + dt.timedelta(days=30)
    second = files.generate("LIM", later)
    assert files.signing_key("LIM", later).kid == second.kid
    assert set(files.published().entries) == {first.kid, second.kid}  # the first's seals stay verifiable
    files.retire(second.kid, later)
    with pytest.raises(SealKeysMissing):
        files.signing_key("OTHER", later)
    assert files.signing_key("LIM", later + dt.timedelta(days=1)).kid == first.kid
