"""Requests as a sponsor sends them, with dates relative to today so that tests never age."""

from __future__ import annotations

import copy
import datetime as dt


def example_request(*, spouse: bool = True, surname: str = "ERIKSSON") -> dict:
    today = dt.date.today()

    def days(n: int) -> str:
        return (today + dt.timedelta(days=n)).isoformat()

    body = {
        "immigration_status": "DIPLOMATIC_RESIDENT",
        "note_verbale": {"number": "NV-123/2026", "date": days(-6)},
        "function": "First Secretary",
        "intended_arrival": days(50),
        "posting_end": days(50 + 3 * 365),
        "principal": {
            "surnames": surname,
            "given_names": "ANNA MARIA",
            "sex": "F",
            "date_of_birth": "1974-08-12",
            "nationality": "SWE",
            "passport": {
                "number": "D1234567",
                "type": "DIPLOMATIC",
                "issuing_state": "SWE",
                "expires_on": days(5 * 365),
            },
        },
        "family": [],
    }
    if spouse:
        body["family"].append(
            {
                "relationship": "SPOUSE",
                "surnames": surname,
                "given_names": "LARS",
                "sex": "M",
                "date_of_birth": "1972-03-02",
                "nationality": "SWE",
                "passport": {
                    "number": "D7654321",
                    "type": "DIPLOMATIC",
                    "issuing_state": "SWE",
                    "expires_on": days(4 * 365),
                },
            }
        )
    return copy.deepcopy(body)
