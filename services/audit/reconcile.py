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
    """A service's visa record, in the log's terms (cancelled, superseded: ``cancelled_at``, ``superseded_at`` is a
    timestamp)."""
    return {name: record.get(name) for name in VISA_FIELDS} | {
        "cancelled": record.get("cancelled_at") is not None,
        "superseded": record.get("superseded_at") is not None,
    }


def _held_request(record: dict[str, Any]) -> dict[str, Any]:
    people = record.get("people") or {}
    return {"status": str(record.get("status")), "people": {pid: str(status) for pid, status in people.items()}}


def _difference(kind: str, key: str, log: Any, service: Any) -> dict[str, Any]:
    return {"kind": kind, "key": key, "log": log, "service": service}


def _compare(
    kinds: tuple[str, str, str], logged: dict[str, Any], held: dict[str, Any], normal, complete: bool
) -> list[dict[str, Any]]:
    """Differences between the log's account and a service's records of one kind, in key order."""
    missing_in_service, missing_in_log, differs = kinds
    differences = []
    for key in sorted(logged.keys() | held.keys()):
        in_log, in_service = logged.get(key), held.get(key)
        if in_service is None:
            differences.append(_difference(missing_in_service, key, in_log, None))
        elif in_log is None:
            if complete:  # a window that starts later may simply not hold it
                differences.append(_difference(missing_in_log, key, None, normal(in_service)))
        elif normal(in_service) != in_log:
            differences.append(_difference(differs, key, in_log, normal(in_service)))
    return differences


def reconcile(
    report: Report, visas_held: dict[str, dict[str, Any]], requests_held: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every difference, visas first, each kind's keys in order."""
    visa_kinds = ("visa-missing-in-service", "visa-missing-in-log", "visa-state-differs")
    request_kinds = ("request-missing-in-service", "request-missing-in-log", "status-differs")
    return [
        *_compare(visa_kinds, report.visas, visas_held, _held_visa, report.complete),
        *_compare(request_kinds, report.request_statuses, requests_held, _held_request, report.complete),
    ]
