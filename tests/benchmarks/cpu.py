"""CPU seconds of processes from their own accounting (``/proc/<pid>/stat``), for the benchmarks.

A process tree's time is its own user and system time, plus what its reaped children left in its ``cutime`` and
``cstime``, plus the same for each living child: a child that starts and ends inside a measured window counts,
one that ends inside it counts from the window's start. Linux only; psutil is not needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cpu:
    user: float = 0.0
    system: float = 0.0

    @property
    def total(self) -> float:
        return self.user + self.system

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(self.user + other.user, self.system + other.system)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.user - other.user, self.system - other.system)


def _fields(pid: int, tid: int | None = None) -> list[str]:
    text = Path(f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # [0] is field 3 (state): the name may hold spaces and ")"


def own(pid: int, *, reaped_children: bool = True) -> Cpu:
    """``pid``'s user and system seconds (all its threads), with its reaped children's unless told otherwise."""
    fields = _fields(pid)
    user, system, child_user, child_system = (int(value) / TICK for value in fields[11:15])
    if reaped_children:
        return Cpu(user + child_user, system + child_system)
    return Cpu(user, system)


def machine() -> Cpu:
    """Every CPU of the machine, busy (``/proc/stat``): what the measured processes used and what others did."""
    values = [int(v) / TICK for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return Cpu(user + nice, system + irq + softirq + steal)


def main_thread(pid: int) -> Cpu:
    """``pid``'s main thread alone (the event loop of a service); the rest of ``own(pid)`` is its other threads'
    (aiosqlite's, one per connection, AnyIO's workers), living or ended."""
    user, system = (int(value) / TICK for value in _fields(pid, pid)[11:13])
    return Cpu(user, system)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def tree(pid: int) -> Cpu:
    """``pid`` and its descendants, living or reaped; a process gone meanwhile counts as zero."""
    try:
        total = own(pid)
        descendants = children(pid)
    except (FileNotFoundError, ProcessLookupError):
        return Cpu()
    for child in descendants:
        total += tree(child)
    return total


def snapshot(pids: dict[str, list[int]]) -> dict[str, Cpu]:
    """The CPU so far of each named group of process trees."""
    result: dict[str, Cpu] = {}
    for name, group in pids.items():
        total = Cpu()
        for pid in group:
            total += tree(pid)
        result[name] = total
    return result


def since(before: dict[str, Cpu], after: dict[str, Cpu]) -> dict[str, Cpu]:
    return {name: after[name] - before[name] for name in before}


def _processes() -> list[tuple[int, int, str, str]]:
    """(pid, ppid, name, command line) of every process this user may read."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _fields(int(entry.name))
            name = (entry / "comm").read_text().strip()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        found.append((int(entry.name), int(fields[1]), name, command))
    return found


def roots(name: str, contains: str = "") -> list[int]:
    """The processes called ``name`` (whose command line holds ``contains``) whose parent is not called ``name``:
    the RabbitMQ node (``beam.smp``, ``rabbit``), the PostgreSQL postmaster (``postgres``), ``redis-server``."""
    processes = _processes()
    names = {pid: comm for pid, _ppid, comm, _cmd in processes}
    return [
        pid
        for pid, ppid, comm, command in processes
        if comm == name and contains in command and names.get(ppid) != name
    ]
