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


def visa_request(*, family: list[dict[str, Any]] | None = None, **overrides: Any) -> dict[str, Any]:
    """A Diplomatic resident's request: arrival in ~2 months, a 3-year posting, note verbale a week old."""
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
    return body | overrides


def example_request(*, with_spouse: bool = True, surname: str = "ERIKSSON") -> dict[str, Any]:
    """The example request, for one family name: a principal, and a spouse unless ``with_spouse`` is False."""
    body = visa_request(family=[spouse(surnames=surname)] if with_spouse else [])
    return body | {"principal": body["principal"] | {"surnames": surname}}
