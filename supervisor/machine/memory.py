"""What a session's processes hold in memory, counted fairly: the CLI and every descendant (tool processes,
shells, MCP servers), each process's proportional set size (PSS: a page shared by N processes counts 1/N to each,
so the 380 MB native binary every session maps is not counted once per session) from /proc/PID/smaps_rollup on
Linux; elsewhere — macOS, and the suite's portable pass — psutil's unique set size (USS: what would be freed if
the process ended; shared pages are not counted at all). Read only when a decision or a report needs it.
Side effects: reads /proc (or asks psutil)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from supervisor.machine import processes
from supervisor.machine.system import fast_paths

MEASURE = "PSS" if fast_paths() else "USS"


@dataclass(frozen=True)
class TreeMemory:
    """A process tree's memory, and its members biggest first (pid, bytes, name)."""

    total: int
    members: list[tuple[int, int, str]] = field(default_factory=list)
    measure: str = MEASURE


def of_process(pid: int) -> int | None:
    """One process's fair share of memory in bytes; None when it is gone or cannot be read."""
    if fast_paths():
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Pss:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return _rss(pid)
    ps = processes.psutil_module()
    try:
        return int(ps.Process(pid).memory_full_info().uss)
    except (ps.NoSuchProcess, ps.ZombieProcess):
        return None
    except ps.AccessDenied:
        return _rss(pid)


def _rss(pid: int) -> int | None:
    """Where the fair figure cannot be read (a kernel without smaps_rollup, a process not ours): its RSS."""
    info = processes.describe(pid)
    rss = info.get("rss")
    return int(rss) if isinstance(rss, int) else None


def of_tree(pid: int) -> TreeMemory | None:
    """The process and all its descendants, each counted once."""
    return of_trees([pid]).get(pid)


def of_trees(pids: Iterable[int]) -> dict[int, TreeMemory]:
    """Each process's tree, from one look at who is whose child (one pass over the process table, however many
    sessions there are): {pid: its memory}, leaving out the ones that are gone."""
    children: dict[int, list[int]] = {}
    for child, parent in processes.parents():
        children.setdefault(parent, []).append(child)
    found = {}
    for pid in pids:
        members = []
        todo, seen = [pid], set()
        while todo:
            member = todo.pop()
            if member in seen:
                continue
            seen.add(member)
            todo += children.get(member, [])
            size = of_process(member)
            if size is not None:
                members.append((member, size, _name(member)))
        if members:
            members.sort(key=lambda item: -item[1])
            found[pid] = TreeMemory(sum(size for _, size, _ in members), members)
    return found


def _name(pid: int) -> str:
    args = processes.cmdline_of(pid)
    return os.path.basename(args[0]) if args else "?"
