"""The line of terminals waiting for the session: one ticket file each in the runtime directory, takeovers
ahead of waiters, first come first served within each; a ticket whose process is gone is removed. Side effects:
ticket files."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from supervisor.core.identity import ProcessIdentity
from supervisor.machine import processes
from supervisor.machine.jsonfile import read_json
from supervisor.machine.paths import ensure_private_dir, open_private

TAKEOVER, WAIT = 0, 1


@dataclass(frozen=True)
class Ticket:
    path: Path
    owner: ProcessIdentity
    created_at: float  # wall clock, to tell which sessions started after it


def take_ticket(folder: Path, priority: int) -> Ticket:
    ensure_private_dir(folder)
    me = processes.identity_of(os.getpid()) or ProcessIdentity(os.getpid(), 0.0)
    now = time.time()
    path = folder / f"{priority}-{time.time_ns():020d}-{os.getpid()}.ticket"
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        os.write(fd, json.dumps(me.to_json()).encode())
    finally:
        os.close(fd)
    return Ticket(path, me, now)


def first_in_line(folder: Path) -> Path | None:
    """The ticket whose turn it is; tickets of processes that are gone are removed on the way."""
    try:
        names = sorted(name for name in os.listdir(folder) if name.endswith(".ticket"))
    except FileNotFoundError:
        return None
    for name in names:
        path = folder / name
        if _owner_alive(path):
            return path
        drop(path)
    return None


def position(folder: Path, ticket: Ticket) -> int:
    """How many live tickets are ahead of this one."""
    try:
        names = sorted(name for name in os.listdir(folder) if name.endswith(".ticket"))
    except FileNotFoundError:
        return 0
    return sum(1 for name in names if name < ticket.path.name and _owner_alive(folder / name))


def _owner_alive(path: Path) -> bool:
    owner = ProcessIdentity.from_json(read_json(path, limit=4096, private=True))
    return owner is not None and processes.is_running(owner)


def drop(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
