"""Summaries of py-spy's raw profiles (``py-spy record --format raw``): where a service's CPU goes.

``python -m tests.benchmarks.profiles FILE... [--top 20]`` prints, per file: the share of samples of each
thread, of each package (own: the innermost frame is in it; total: any frame is) and the top functions by own
and by total samples. py-spy leaves idle threads out unless told (``--idle``), so a sample is CPU time of the
process, up to py-spy's guess of what idle is.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def thread_kind(label: str) -> str:
    """``thread (1234): Thread-7 (_connection_worker_thread)`` → ``Thread-N (_connection_worker_thread)``: the
    threads of one kind (aiosqlite's, one per connection; AnyIO's workers) together."""
    name = label.split("): ", 1)[1] if "): " in label else label
    return re.sub(r"-\d+", "-N", name)


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        stacks.append((stack.split(";"), int(count)))
    return stacks


def short_file(file: str) -> str:
    """py-spy names a file relative to its ``sys.path`` entry already (``aiosqlite/core.py``); absolute paths
    are cut the same way."""
    for marker in ("site-packages/", "/lib/python3."):
        if marker in file:
            file = file.split(marker, 1)[1]
            return file.split("/", 1)[1] if marker == "/lib/python3." else file
    return file


# OpenTelemetry's namespace packages lose their "opentelemetry/" in py-spy's names; sqlalchemy/engine.py is its
# SQLAlchemy instrumentation (SQLAlchemy's own engine is a directory).
OPENTELEMETRY = {"trace", "context", "_semconv", "attributes", "propagate", "metrics", "textmap", "asgi", "_decorator"}
STDLIB = set(sys.stdlib_module_names) | {"<frozen runpy>", "<frozen importlib._bootstrap>"}

# Where the time goes, inclusive (a sample counts for each layer one of its frames matches). Middlewares
# (OpenTelemetry's, Prometheus's) wrap whole handlers: their cost is their own time, under "packages, own".
LAYERS = {
    "consuming events (FastStream subscriber, handler included)": r"SubscriberUsecase\.consume \(faststream",
    "HTTP requests (uvicorn, Starlette, FastAPI, endpoint included)": r"\((uvicorn/protocols|starlette/|fastapi/)",
    "outbox relay (select, publish, confirm, update)": r"OutboxRelay\._publish_batch",
    "SQLAlchemy, all of it (drivers included)": r"\(sqlalchemy/(?!engine\.py)",
    "ORM flush (unit of work)": r"Session\._?flush \(",
    "SQL compilation and cache keys": r"\(sqlalchemy/sql/(compiler|cache_key)\.py",
    "connection pool (checkout, pre-ping, return)": r"\(sqlalchemy/pool/",
    "aiosqlite (the hop to its thread and back)": r"\(aiosqlite/",
    "asyncpg": r"\(asyncpg/",
    "publishing and consuming AMQP (aio-pika, aiormq, pamqp)": r"\((aio_pika|aiormq|pamqp)/",
    "pydantic validation and serialization": r"\(pydantic/",
    "signing and verifying events (Ed25519, RFC 8785)": r"\((shared/signing|rfc8785)/",
    "JSON": r"\((json|orjson)/",
    "logging": r"\(logging/",
}


def package(file: str) -> str:
    """The component a frame belongs to: its top-level package or module (the project's: two levels)."""
    short = short_file(file)
    if short == "sqlalchemy/engine.py":
        return "opentelemetry"
    parts = short.split("/")
    if parts[0] in ("services", "shared") and len(parts) > 1:
        return ".".join(parts[:2]).removesuffix(".py")
    top = parts[0].removesuffix(".py") or "?"
    return "opentelemetry" if top in OPENTELEMETRY else top


def function(frame: str) -> tuple[str, str]:
    match = FRAME.match(frame)
    if match is None:
        return frame, "?"
    return f"{match['function']} ({short_file(match['file'])})", package(match["file"])


def summarize(stacks: list[tuple[list[str], int]], top: int = 20) -> dict[str, Any]:
    total = sum(count for _stack, count in stacks) or 1
    threads, own_f, total_f, own_p, total_p, layers = Counter(), Counter(), Counter(), Counter(), Counter(), Counter()
    for stack, count in stacks:
        frames = stack
        label = FRAME.match(frames[0]) if frames else None
        if frames and (label is None or label["line"] is None):  # py-spy --threads: the thread comes first
            threads[thread_kind(frames[0])] += count
            frames = frames[1:]
        if not frames:
            continue
        named = [function(frame) for frame in frames]
        own_name, _ = named[-1]
        own_f[own_name] += count
        # A package's own time includes the standard library it calls: charged to the innermost other frame.
        own_p[next((pkg for _, pkg in reversed(named) if pkg not in STDLIB), named[-1][1])] += count
        for layer, pattern in LAYERS.items():
            if any(re.search(pattern, frame) for frame in frames):
                layers[layer] += count
        for name in {name for name, _ in named}:
            total_f[name] += count
        for name in {pkg for _, pkg in named}:
            total_p[name] += count

    def shares(counter: Counter, n: int | None = None) -> list[tuple[str, float]]:
        return [(name, count / total) for name, count in counter.most_common(n)]

    return {
        "samples": total,
        "threads": shares(threads),
        "layers": [(name, layers[name] / total) for name in LAYERS],
        "packages_own": shares(own_p, top),
        "packages_total": shares(total_p, top),
        "functions_own": shares(own_f, top),
        "functions_total": shares(total_f, top),
    }


def render(name: str, summary: dict[str, Any]) -> str:
    lines = [f"## {name}: {summary['samples']} samples"]
    for key, title in (
        ("threads", "threads"),
        ("layers", "layers, total"),
        ("packages_own", "packages, own (with the standard library they call)"),
        ("packages_total", "packages, total"),
        ("functions_own", "functions, own"),
        ("functions_total", "functions, total"),
    ):
        lines.append(f"### {title}")
        lines += [f"{share * 100:5.1f}%  {label}" for label, share in summary[key]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    for path in args.files:
        print(render(path.name, summarize(parse(path), args.top)), end="\n\n")


if __name__ == "__main__":
    main()
