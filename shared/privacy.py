"""What a log line may say about a failure: its kind, never its message.

A driver's message quotes the statement's parameters, a validator's the value it refused: personal data
(names, passport numbers, dates of birth) that no log at INFO or above may carry.
"""

from __future__ import annotations


def failure_kind(error: BaseException) -> str:
    """The exception's class, and those it wraps (``DBAPIError <- OperationalError``): class names only."""
    names = [type(error).__name__]
    inner = getattr(error, "orig", None) or error.__cause__
    if inner is not None and type(inner).__name__ not in names:
        names.append(type(inner).__name__)
        cause = inner.__cause__
        if cause is not None and type(cause).__name__ not in names:
            names.append(type(cause).__name__)
    return " <- ".join(names)
