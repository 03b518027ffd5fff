"""A key made before its service published a new type (an upgrade) is not used: the service would sign events
every verifier refuses. It refuses to start instead, naming the command that makes a key listing the type."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from shared.contracts import AuthorizationNotRequired
from shared.contracts.registry import owned_types
from shared.signing.store import KeyFiles, KeysMissing, write_ring

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_a_key_that_does_not_list_every_type_its_service_publishes_signs_nothing(tmp_path):
    files = KeyFiles(tmp_path / "ring.json", tmp_path / "private")
    old = files.generate("authorization", T0)
    assert AuthorizationNotRequired.event_type in old.event_types
    # The ring as a release before AuthorizationNotRequired wrote it.
    before = tuple(t for t in owned_types("authorization") if t != AuthorizationNotRequired.event_type)
    ring = files.ring()
    write_ring(files.ring_path, ring.with_entry(dataclasses.replace(ring.entries[old.kid], event_types=before)))

    with pytest.raises(
        KeysMissing, match=rf"key {old.kid} does not list every type .*visa keys generate authorization"
    ):
        files.signing_key("authorization", T0 + dt.timedelta(days=1))

    new = files.generate("authorization", T0 + dt.timedelta(days=2))  # the rotation the message asks for
    assert files.signing_key("authorization", T0 + dt.timedelta(days=3)).kid == new.kid
    assert files.ring().entries[old.kid].event_types == before  # what the old key signed stays verifiable
