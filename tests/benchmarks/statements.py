"""Run a service with every SQL statement it sends counted: the benchmark's ``--count-statements`` mode.

``python -m tests.benchmarks.statements OUT serve intake`` installs SQLAlchemy event listeners on every engine
of the process (``Engine``'s class, so the async engines' sync engines too), then runs ``services.cli`` with the
remaining arguments. Each statement is counted under its text (whitespace collapsed, ``IN`` lists and savepoint
names folded) with the wall time from sending it to its result (for aiosqlite: the hop to its thread and back
included); transactions begun, commits and rollbacks are counted too. The totals so far are written to ``OUT`` (JSON) every second
and at exit, so the benchmark can take the difference over its measured window. Nothing of the
services' code changes; the listeners cost a few microseconds a statement.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import runpy
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

_counts: Counter[str] = Counter()
_seconds: Counter[str] = Counter()
_lock = threading.Lock()


def normalize(statement: str) -> str:
    text = " ".join(statement.split())
    text = re.sub(r"\bIN \((?:[^()]|\([^()]*\))*\)", "IN (…)", text)
    text = re.sub(r"\b(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) \w+", r"\1 …", text)
    return text[:240]


def _note(key: str, seconds: float = 0.0) -> None:
    with _lock:
        _counts[key] += 1
        _seconds[key] += seconds


@event.listens_for(Engine, "before_cursor_execute")
def _before(conn, cursor, statement, parameters, context, executemany) -> None:
    conn.info.setdefault("bench_started", []).append(time.perf_counter())


@event.listens_for(Engine, "after_cursor_execute")
def _after(conn, cursor, statement, parameters, context, executemany) -> None:
    started = conn.info["bench_started"].pop()
    _note(normalize(statement), time.perf_counter() - started)


@event.listens_for(Engine, "handle_error")
def _error(context) -> None:
    stack = context.connection.info.get("bench_started") if context.connection is not None else None
    if stack:
        stack.pop()
    _note("(statement failed)")


@event.listens_for(Engine, "begin")
def _begin(conn) -> None:
    _note("(begin)")  # on PostgreSQL the driver's BEGIN; on SQLite the BEGIN IMMEDIATE below is its statement


@event.listens_for(Engine, "commit")
def _commit(conn) -> None:
    _note("(commit)")


@event.listens_for(Engine, "rollback")
def _rollback(conn) -> None:
    _note("(rollback)")


def write(path: Path) -> None:
    with _lock:
        data = {key: [_counts[key], _seconds[key]] for key in _counts}
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps({"pid": os.getpid(), "statements": data}))
    partial.replace(path)


def read(path: Path) -> dict[str, list[float]]:
    try:
        return json.loads(path.read_text())["statements"]
    except FileNotFoundError:
        return {}


def difference(before: dict[str, list[float]], after: dict[str, list[float]]) -> dict[str, list[float]]:
    """Count and seconds of each statement between two readings, the most frequent first."""
    changed = {
        key: [count - before.get(key, [0, 0.0])[0], seconds - before.get(key, [0, 0.0])[1]]
        for key, (count, seconds) in after.items()
    }
    return dict(sorted(((k, v) for k, v in changed.items() if v[0]), key=lambda item: -item[1][0]))


def main() -> None:
    out = Path(sys.argv[1])

    def every_second() -> None:
        while True:
            time.sleep(1)
            write(out)

    threading.Thread(target=every_second, name="statement-counts", daemon=True).start()
    atexit.register(write, out)
    sys.argv = ["services.cli", *sys.argv[2:]]
    runpy.run_module("services.cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
