"""Proof of origin: what a signature covers, what each rejection means, keys on disk, rotation."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import orjson
import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from shared.contracts.registry import owned_types, source_of
from shared.signing import KeyRing, SignatureRejected, SigningKey, canonical, canonical_form
from shared.signing.store import KeyFiles, KeysMissing, RingFile
from tests.support.histories import consistent_history

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
GRANTED = "pe.gob.rree.visa.authorization.granted.v1"


def event(**overrides) -> dict:
    return {
        "specversion": "1.0",
        "id": "e-1",
        "source": source_of("authorization"),
        "type": GRANTED,
        "time": "2026-06-01T12:00:00Z",
        "subject": "r-1",
        "data": {"request_id": "r-1", "who": "ÅSA MÜLLER"},
    } | overrides


@pytest.fixture
def keys():
    authorization, entry = SigningKey.generate("authorization", T0)
    intake, intake_entry = SigningKey.generate("intake", T0)
    return authorization, intake, KeyRing().with_entry(entry).with_entry(intake_entry)


def rejection(ring: KeyRing, signed: dict) -> str:
    with pytest.raises(SignatureRejected) as raised:
        ring.verify(signed)
    return raised.value.code


def test_a_signed_event_verifies_and_names_its_key(keys):
    authorization, _, ring = keys
    signed = authorization.sign(event())
    assert signed["sigkeyid"] == authorization.kid and signed["signature"]
    assert ring.verify(signed).service == "authorization"
    assert ring.verify(json.loads(json.dumps(signed, indent=2))).kid == authorization.kid  # bytes do not matter


@pytest.mark.parametrize(
    "change",
    [
        {"data": {"request_id": "r-1", "who": "ÅSA MÜLLER", "extra": 1}},
        {"subject": "r-2"},
        {"time": "2026-06-01T12:00:01Z"},
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},  # a new attribute
    ],
)
def test_every_attribute_and_the_data_are_covered(keys, change):
    authorization, _, ring = keys
    assert rejection(ring, authorization.sign(event()) | change) == "bad-signature"


def test_the_key_id_is_covered_too(keys):
    authorization, intake, ring = keys
    signed = authorization.sign(event())
    assert rejection(ring, signed | {"sigkeyid": intake.kid}) == "bad-signature"


def test_unsigned_unknown_key_and_garbage_signatures(keys):
    authorization, _, ring = keys
    assert rejection(ring, event()) == "unsigned"
    assert rejection(ring, event() | {"sigkeyid": authorization.kid}) == "unsigned"
    stranger, _ = SigningKey.generate("authorization", T0)
    assert rejection(ring, stranger.sign(event())) == "unknown-key"
    assert rejection(ring, authorization.sign(event()) | {"signature": "%%%"}) == "bad-signature"
    assert rejection(ring, authorization.sign(event()) | {"signature": "AAAA"}) == "bad-signature"


def test_a_genuine_key_may_sign_only_its_services_types_from_its_source(keys):
    _, intake, ring = keys
    assert rejection(ring, intake.sign(event(source=source_of("intake")))) == "not-owner"
    authorization = keys[0]
    assert rejection(ring, authorization.sign(event(source=source_of("issuance")))) == "not-owner"
    assert ring.verify(intake.sign(event(type=owned_types("intake")[0], source=source_of("intake"))))


def test_a_key_signs_only_within_its_validity(keys):
    authorization, _, ring = keys
    assert rejection(ring, authorization.sign(event(time="2025-12-31T23:59:59Z"))) == "key-not-valid"
    assert rejection(ring, authorization.sign(event(time="not a time"))) == "key-not-valid"
    entry = ring.entries[authorization.kid]
    retired = KeyRing().with_entry(
        type(entry)(
            entry.kid, entry.service, entry.public_key, entry.event_types, entry.valid_from, T0.replace(month=6)
        )
    )
    assert rejection(retired, authorization.sign(event(time="2026-06-01T00:00:00Z"))) == "key-not-valid"
    assert retired.verify(authorization.sign(event(time="2026-05-31T23:59:59Z")))


def test_the_signature_is_over_rfc_8785():
    key, entry = SigningKey.generate("authorization", T0)
    signed = key.sign(event())
    unsigned = {name: value for name, value in signed.items() if name != "signature"}
    assert canonical_form(signed) == rfc8785.dumps(unsigned)
    entry._verifier.verify(__import__("base64").urlsafe_b64decode(signed["signature"] + "=="), rfc8785.dumps(unsigned))


def rfc_8785(value) -> bytes | None:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError, TypeError):
        return None


# Any JSON value, with what tells the two writers apart: keys beyond U+D800 (UTF-16 sorts a surrogate pair before
# U+E000, UTF-8 after), lone surrogates, floats, integers beyond ECMAScript's safe range, controls and non-ASCII.
TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=8)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.sampled_from([2**53 - 1, -(2**53 - 1), 2**53, -(2**53)])
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(TEXT, JSON, max_size=6))
def test_the_canonical_form_is_rfc_8785_whichever_writer_wrote_it(value):
    expected = rfc_8785({name: item for name, item in value.items() if name != "signature"})
    if expected is None:  # beyond RFC 8785 (a lone surrogate in a key, an unsafe integer): refused, as rfc8785 does
        with pytest.raises((rfc8785.CanonicalizationError, ValueError, TypeError)):
            canonical_form(value)
    else:
        assert canonical_form(value) == expected


def test_the_systems_events_are_written_by_orjson(monkeypatch):
    history = consistent_history().events
    assert all(canonical._orjson_writes_rfc_8785(logged) for logged in history)
    expected = [
        rfc8785.dumps({name: value for name, value in logged.items() if name != "signature"}) for logged in history
    ]
    monkeypatch.setattr(canonical.rfc8785, "dumps", lambda value: pytest.fail("rfc8785 used for a system's event"))
    assert [canonical_form(logged) for logged in history] == expected
    assert [canonical.quick_canonical_form(logged) for logged in history] == expected


def test_what_orjson_would_write_otherwise_goes_to_rfc_8785(keys):
    authorization, _, ring = keys
    for data in ({"ratio": 1.0}, {"big": 2**53}, {"\ue000": 1, "\U0001f600": 2}, {"lone": "\udc00"}):
        unsigned = event(data={"request_id": "r-1", **data})
        assert not canonical._orjson_writes_rfc_8785(unsigned)
    signed = authorization.sign(event(data={"request_id": "r-1", "ratio": 1.0}))
    assert b'"ratio":1.0,' in orjson.dumps(signed, option=orjson.OPT_SORT_KEYS)
    assert b'"ratio":1,' in canonical_form(signed)  # RFC 8785 writes 1
    assert canonical.quick_canonical_form(signed) != canonical_form(signed)  # a verifier's first try fails
    assert ring.verify(signed).kid == authorization.kid  # and its second holds
    assert canonical.quick_canonical_form(event(data={"big": 2**70})) is None  # beyond orjson
    # UTF-16's order, not UTF-8's: the key beyond U+FFFF comes first
    assert canonical_form(event(data={"\ue000": 1, "\U0001f600": 2})).index(b"\xf0\x9f") < canonical_form(
        event(data={"\ue000": 1, "\U0001f600": 2})
    ).index(b"\xee\x80")


def test_a_ring_survives_its_file(keys):
    _, _, ring = keys
    again = KeyRing.from_document(json.loads(json.dumps(ring.to_document())))
    assert again.to_document() == ring.to_document()
    with pytest.raises(ValueError, match="algorithm"):
        KeyRing.from_document({"keys": [ring.to_document()["keys"][0] | {"algorithm": "RSA"}]})


def test_key_files_rotation_and_retirement(tmp_path):
    files = KeyFiles(tmp_path / "ring.json", tmp_path / "private")
    with pytest.raises(KeysMissing, match="visa keys generate"):
        files.signing_key("issuance")
    first = files.generate("issuance", T0)
    pem = files.private_dir / f"{first.kid}.pem"
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600 and stat.S_IMODE(os.stat(files.private_dir).st_mode) == 0o700
    assert "PRIVATE" not in files.ring_path.read_text()
    old_event = files.signing_key("issuance", T0).sign(
        event(type=owned_types("issuance")[0], source=source_of("issuance"), time="2026-01-02T00:00:00Z")
    )
    second = files.generate("issuance", T0 + dt.timedelta(days=30))
    assert files.signing_key("issuance", T0 + dt.timedelta(days=31)).kid == second.kid  # the newest signs
    assert files.ring().verify(old_event).kid == first.kid  # what the older key signed stays verifiable
    files.retire(second.kid, T0 + dt.timedelta(days=40))
    assert files.signing_key("issuance", T0 + dt.timedelta(days=41)).kid == first.kid
    pem.unlink()
    with pytest.raises(KeysMissing):
        files.signing_key("issuance", T0 + dt.timedelta(days=41))
    with pytest.raises(ValueError, match="nothing to sign"):
        files.generate("auditor")


def test_a_ring_file_is_read_again_when_it_changes(tmp_path):
    files = KeyFiles(tmp_path / "ring.json", tmp_path / "private")
    with pytest.raises(KeysMissing):
        RingFile(files.ring_path)
    files.generate("intake", T0)
    watched = RingFile(files.ring_path)
    assert not watched.refresh()
    added = files.generate("intake", T0 + dt.timedelta(days=1))
    assert watched.refresh() and added.kid in watched.ring.entries
