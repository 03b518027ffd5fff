"""Requests as a sponsor sends them (the public API's example), with dates relative to today so tests never age."""

from __future__ import annotations

import datetime as dt
from typing import Any


def days(n: int) -> str:
    return (dt.date.today() + dt.timedelta(days=n)).isoformat()


def passport(number: str, *, type: str = "DIPLOMATIC", expires_in_days: int = 5 * 365) -> dict[str, Any]:
    return {"number": number, "type": type, "issuing_state": "SWE", "expires_on": days(expires_in_days)}


def spouse(**overrides: Any) -> dict[str, Any]:
    member = {
        "relationship": "SPOUSE",
        "surnames": "ERIKSSON",
        "given_names": "LARS",
        "sex": "M",
        "date_of_birth": "1972-03-02",
        "nationality": "SWE",
        "passport": passport("D7654321", expires_in_days=5 * 365 - 200),
    }
    return member | overrides


# A staff category that may ask for each status (services/authorization/rulebook/staff.toml): a request names
# the one that fits its status unless the test says otherwise.
STAFF_FOR = {
    "DIPLOMATIC_RESIDENT": "DIPLOMATIC_AGENT",
    "CONSULAR_RESIDENT": "CONSULAR_OFFICER_OR_EMPLOYEE",
    "OFFICIAL_RESIDENT": "ADMINISTRATIVE_TECHNICAL_STAFF",
    "SHORT_STAY": "DIPLOMATIC_AGENT",
    "COOPERANT": "COOPERANT",
}


def apci_registration(**overrides: Any) -> dict[str, Any]:
    """An ENIEX's registration with APCI, the evidence a Cooperante request carries."""
    return {"number": "ENIEX-0421", "date": "2019-06-12"} | overrides


def visa_request(*, family: list[dict[str, Any]] | None = None, **overrides: Any) -> dict[str, Any]:
    """A Diplomatic resident's request: arrival in ~2 months, a 3-year posting, note verbale a week old; the
    principal's staff category the one that fits the status (``STAFF_FOR``), and for a Cooperante the ENIEX's
    APCI registration."""
    body = {
        "immigration_status": "DIPLOMATIC_RESIDENT",
        "note_verbale": {"number": "NV-123/2026", "date": days(-7)},
        "function": "First Secretary",
        "intended_arrival": days(60),
        "posting_end": days(60 + 3 * 365 - 1),
        "principal": {
            "surnames": "ERIKSSON",
            "given_names": "ANNA MARIA",
            "sex": "F",
            "date_of_birth": "1974-08-12",
            "nationality": "SWE",
            "passport": passport("D1234567"),
        },
        "family": [spouse()] if family is None else family,
    }
    body |= overrides
    body.setdefault("staff_category", STAFF_FOR.get(body["immigration_status"], "DIPLOMATIC_AGENT"))
    if body["immigration_status"] == "COOPERANT":
        body.setdefault("apci_registration", apci_registration())
    return body


def example_request(*, with_spouse: bool = True, surname: str = "ERIKSSON") -> dict[str, Any]:
    """The example request, for one family name: a principal, and a spouse unless ``with_spouse`` is False."""
    body = visa_request(family=[spouse(surnames=surname)] if with_spouse else [])
    return body | {"principal": body["principal"] | {"surnames": surname}}
