from __future__ import annotations

import itertools

import pytest

from services.intake.progress import Status, advance, request_status


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        (Status.SUBMITTED, Status.UNDER_REVIEW, Status.UNDER_REVIEW),
        (Status.UNDER_REVIEW, Status.AUTHORIZED, Status.AUTHORIZED),
        (Status.AUTHORIZED, Status.ISSUED, Status.ISSUED),
        (Status.ISSUED, Status.AUTHORIZED, Status.ISSUED),  # the grant arrived after the visa
        (Status.ISSUED, Status.UNDER_REVIEW, Status.ISSUED),
        (Status.DENIED, Status.AUTHORIZED, Status.DENIED),  # a decision never flips
        (Status.AUTHORIZED, Status.DENIED, Status.AUTHORIZED),
        (Status.ISSUED, Status.CANCELLED, Status.CANCELLED),
        (Status.CANCELLED, Status.ISSUED, Status.CANCELLED),
        (Status.UNDER_REVIEW, Status.NOT_REQUIRED, Status.NOT_REQUIRED),  # a waiver treaty covers the stay
        (Status.SUBMITTED, Status.NOT_REQUIRED, Status.NOT_REQUIRED),  # answered at once, no review
        (Status.NOT_REQUIRED, Status.UNDER_REVIEW, Status.NOT_REQUIRED),  # the review notice arrived late
        (Status.NOT_REQUIRED, Status.AUTHORIZED, Status.NOT_REQUIRED),  # a decision never flips
        (Status.NOT_REQUIRED, Status.DENIED, Status.NOT_REQUIRED),
        (Status.DENIED, Status.NOT_REQUIRED, Status.DENIED),
        (Status.AUTHORIZED, Status.NOT_REQUIRED, Status.AUTHORIZED),
    ],
)
def test_a_person_only_moves_forward(current, reported, expected):
    assert advance(current, reported) is expected


def test_the_order_of_reports_does_not_change_the_outcome():
    reports = [Status.UNDER_REVIEW, Status.AUTHORIZED, Status.ISSUED]
    for order in itertools.permutations(reports):
        status = Status.SUBMITTED
        for reported in order:
            status = advance(status, reported)
        assert status is Status.ISSUED


@pytest.mark.parametrize(
    ("people", "expected"),
    [
        ([Status.ISSUED, Status.ISSUED], Status.ISSUED),
        ([Status.ISSUED, Status.AUTHORIZED], Status.AUTHORIZED),  # not done until everyone's visa is out
        ([Status.ISSUED, Status.DENIED], Status.ISSUED),  # the denied spouse does not hold the principal back
        ([Status.DENIED, Status.DENIED], Status.DENIED),
        ([Status.CANCELLED, Status.CANCELLED], Status.CANCELLED),
        ([Status.SUBMITTED], Status.SUBMITTED),
        ([Status.NOT_REQUIRED, Status.NOT_REQUIRED], Status.NOT_REQUIRED),
        ([Status.NOT_REQUIRED, Status.DENIED], Status.NOT_REQUIRED),  # never a refusal for a visa not needed
        ([Status.NOT_REQUIRED, Status.AUTHORIZED], Status.AUTHORIZED),  # the spouse's visa is still to come
        ([Status.NOT_REQUIRED, Status.ISSUED], Status.ISSUED),
        ([Status.NOT_REQUIRED, Status.UNDER_REVIEW], Status.UNDER_REVIEW),
        # By rank, not by name: "CANCELLED" sorts before "ISSUED", and "SUBMITTED" before "UNDER_REVIEW".
        ([Status.CANCELLED, Status.ISSUED], Status.ISSUED),
        ([Status.UNDER_REVIEW, Status.SUBMITTED], Status.SUBMITTED),
    ],
)
def test_the_request_status_follows_its_people(people, expected):
    assert request_status(people) is expected
