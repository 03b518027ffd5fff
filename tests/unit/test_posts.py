"""The consular posts list (shared/posts.py), the header that routes authorizations to a post, and the rule of
who may send a case to another post."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.authorization.cases import (
    AssignedToAnother,
    CaseState,
    NotPending,
    RenewalKeepsPost,
    post_after_assignment,
)
from services.issuance.settings import IssuanceSettings
from shared import posts
from shared.contracts.registry import ISSUANCE, issuance_queue, routing_headers
from shared.i18n import translate

LIST = """
default = "ROM"

[[post]]
code = "LIM"
name = "Lima"
visa_prefix = "PE"

[[post]]
code = "ROM"
name = "Rome"
visa_prefix = "PR"
"""


def test_the_packaged_list_loads_and_its_default_is_lima():
    packaged = posts.load()
    assert packaged.codes == ("LIM", "ROM")
    assert packaged.default == "LIM"
    assert packaged.get("ROM") == posts.Post("ROM", "Rome", "PR")
    assert "LIM" in packaged and "XYZ" not in packaged


def test_a_request_goes_to_the_chosen_post_or_the_default(tmp_path: Path):
    path = tmp_path / "posts.toml"
    path.write_text(LIST)
    configured = posts.load(path)
    assert configured.chosen(None) == "ROM"
    assert configured.chosen("LIM") == "LIM"
    with pytest.raises(posts.UnknownPost) as unknown:
        configured.chosen("CUZ")
    assert isinstance(unknown.value, ValueError)
    assert str(unknown.value) == "is not a consular post of this system: one of LIM, ROM"
    assert translate(unknown.value.message.msgid, "es", **unknown.value.message.params).startswith("no es una")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no [[post]] entry"),
        ('[[post]]\ncode = "lim"\nname = "Lima"\nvisa_prefix = "PE"', "code 'lim' must match"),
        ('[[post]]\ncode = "LIM"\nname = "Lima"\nvisa_prefix = "PE1"', "visa_prefix 'PE1' must match"),
        ('[[post]]\ncode = "LIM"\nvisa_prefix = "PE"', "name must be a non-empty string"),
        ('[[post]]\ncode = "LIM"\nname = "Lima"\nvisa_prefix = "PE"\nprefix = "X"', "unknown keys ['prefix']"),
        ('default = "ROM"\n[[post]]\ncode = "LIM"\nname = "Lima"\nvisa_prefix = "PE"', "default post 'ROM'"),
        (LIST + '[[post]]\ncode = "LIM"\nname = "Lima again"\nvisa_prefix = "PL"', "appears twice"),
        (LIST + '[[post]]\ncode = "CUZ"\nname = "Cusco"\nvisa_prefix = "PE"', "share a visa prefix"),
        ("default = ", "Invalid"),  # not TOML
    ],
)
def test_a_malformed_list_is_refused_naming_the_file_and_the_problem(tmp_path: Path, text: str, problem: str):
    path = tmp_path / "posts.toml"
    path.write_text(text)
    with pytest.raises(posts.PostsError) as refused:
        posts.load(path)
    assert str(path) in str(refused.value) and problem in str(refused.value)


def test_a_missing_file_is_refused():
    with pytest.raises(posts.PostsError, match="no such file"):
        posts.load(Path("/nonexistent/posts.toml"))


def test_the_file_is_read_again_when_it_changes_and_a_broken_change_keeps_the_last_list(tmp_path: Path):
    path = tmp_path / "posts.toml"
    path.write_text(LIST)
    watched = posts.PostsFile(path)
    assert watched.current().codes == ("LIM", "ROM")
    path.write_text(LIST + '\n[[post]]\ncode = "CUZ"\nname = "Cusco"\nvisa_prefix = "PC"\n')
    os.utime(path, ns=(1, 1))  # a change the modification time shows, however fast the test runs
    assert watched.current().codes == ("LIM", "ROM", "CUZ")
    path.write_text("default = ")
    os.utime(path, ns=(2, 2))
    assert watched.current().codes == ("LIM", "ROM", "CUZ")


def test_issuance_numbers_with_its_posts_prefix_unless_the_deprecated_setting_overrides_it():
    packaged = posts.load()
    assert IssuanceSettings(_env_file=None).visa_prefix(packaged) == "PE"
    assert IssuanceSettings(_env_file=None, issuance_post="ROM").visa_prefix(packaged) == "PR"
    assert IssuanceSettings(_env_file=None, issuance_post="ROM", issuance_visa_prefix="X").visa_prefix(packaged) == "X"
    with pytest.raises(posts.UnknownPost):
        IssuanceSettings(_env_file=None, issuance_post="CUZ").visa_prefix(packaged)


def test_each_post_has_its_own_queue_bound_by_its_header():
    assert ISSUANCE.for_post("ROM").consumes == issuance_queue("ROM")
    assert issuance_queue("ROM").name == "issuance.rom.authorizations"
    assert issuance_queue("ROM").receives("visa.authorization.revoked", {"post": "ROM"})
    assert not issuance_queue("ROM").receives("visa.authorization.revoked", {"post": "LIM"})


def test_only_an_authorization_event_carries_the_post_header_and_only_from_its_data():
    granted = {"type": "pe.gob.rree.visa.authorization.granted.v1", "data": {"post": "ROM"}}
    assert routing_headers(granted) == {"post": "ROM"}
    assert routing_headers({**granted, "data": {}}) == {}
    assert routing_headers({**granted, "post": "LIM", "data": {}}) == {}  # an attribute is not the data
    assert routing_headers({"type": "pe.gob.rree.visa.request.submitted.v1", "data": {"post": "ROM"}}) == {}
    assert routing_headers({"type": "pe.gob.rree.visa.issued.v1", "data": {"post": "ROM"}}) == {}


def test_who_may_send_a_case_to_another_post():
    assert post_after_assignment(CaseState.PENDING, None, "o1", "ROM") == "ROM"
    assert post_after_assignment(CaseState.PENDING, "o1", "o1", "ROM") == "ROM"
    with pytest.raises(AssignedToAnother):
        post_after_assignment(CaseState.PENDING, "o2", "o1", "ROM")
    for decided in (CaseState.GRANTED, CaseState.DENIED, CaseState.NOT_REQUIRED, CaseState.REVOKED):
        with pytest.raises(NotPending):
            post_after_assignment(decided, None, "o1", "ROM")
    with pytest.raises(
        RenewalKeepsPost, match="^a renewal is issued by the consular post that issued the visas it renews$"
    ):
        post_after_assignment(CaseState.PENDING, None, "o1", "ROM", renewal=True)
    # Who may comes first: a decided renewal is not pending, another officer's renewal is theirs.
    with pytest.raises(NotPending, match="^a GRANTED case cannot be sent to another post: only a PENDING case can$"):
        post_after_assignment(CaseState.GRANTED, None, "o1", "ROM", renewal=True)
    with pytest.raises(AssignedToAnother):
        post_after_assignment(CaseState.PENDING, "o2", "o1", "ROM", renewal=True)
