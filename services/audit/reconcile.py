"""Where the services' records and the event log's account of them disagree.

The log's account is the ``Report``'s ``visas`` and ``request_statuses`` (``history.py``); the services'
records are what ``records.py`` reads from issuance and intake. Both sides are plain dicts, so this is pure.

When the log's window is not complete, a visa or request the services hold but the log does not may
simply predate the window: those two kinds (``visa-missing-in-log``, ``request-missing-in-log``) are
reported only for a complete window. Everything the log does know is compared either way.
"""

from __future__ import annotations

from typing import Any

from .history import Report

VISA_FIELDS = ("request_id", "authorization_id", "person_id")


def _held_visa(record: dict[str, Any]) -> dict[str, Any]:
    """A service's visa record, in the log's terms (cancelled: ``cancelled_at`` is a timestamp)."""
    return {name: record.get(name) for name in VISA_FIELDS} | {"cancelled": record.get("cancelled_at") is not None}


def _held_request(record: dict[str, Any]) -> dict[str, Any]:
    people = record.get("people") or {}
    return {"status": str(record.get("status")), "people": {pid: str(status) for pid, status in people.items()}}


def _difference(kind: str, key: str, log: Any, service: Any) -> dict[str, Any]:
    return {"kind": kind, "key": key, "log": log, "service": service}


def reconcile(
    report: Report, visas_held: dict[str, dict[str, Any]], requests_held: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every difference, visas first, each kind's keys in order."""
    differences = []
    for number in sorted(report.visas.keys() | visas_held.keys()):
        logged, held = report.visas.get(number), visas_held.get(number)
        if held is None:
            differences.append(_difference("visa-missing-in-service", number, logged, None))
        elif logged is None:
            if report.complete:
                differences.append(_difference("visa-missing-in-log", number, None, _held_visa(held)))
        elif _held_visa(held) != logged:
            differences.append(_difference("visa-state-differs", number, logged, _held_visa(held)))
    for request_id in sorted(report.request_statuses.keys() | requests_held.keys()):
        logged, held = report.request_statuses.get(request_id), requests_held.get(request_id)
        if held is None:
            differences.append(_difference("request-missing-in-service", request_id, logged, None))
        elif logged is None:
            if report.complete:
                differences.append(_difference("request-missing-in-log", request_id, None, _held_request(held)))
        elif _held_request(held) != logged:
            differences.append(_difference("status-differs", request_id, logged, _held_request(held)))
    return differences
