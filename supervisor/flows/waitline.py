"""The line of terminals waiting for the session: one ticket file each in the runtime directory, takeovers
ahead of waiters, first come first served within each; a ticket whose process is gone is removed. Side effects:
ticket files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import NamedTuple

from supervisor.core.errors import UnsafePath
from supervisor.core.identity import ProcessIdentity
from supervisor.machine import processes
from supervisor.machine.clock import SYSTEM, Clock
from supervisor.machine.jsonfile import read_json
from supervisor.machine.paths import ensure_private_dir, open_private

TAKEOVER, WAIT = 0, 1  # a takeover goes first


class Ticket(NamedTuple):
    path: Path
    owner: ProcessIdentity
    created_at: float  # wall clock, to tell which sessions started after it
    priority: int = WAIT
    tty: str = ""  # where the one waiting is: status shows the line


def take_ticket(folder: Path, priority: int, clock: Clock = SYSTEM) -> Ticket:
    ensure_private_dir(folder)
    me = processes.identity_of(os.getpid()) or ProcessIdentity(os.getpid(), 0.0)
    now = clock.wall()
    tty = processes.own_tty()
    path = folder / f"{priority}-{int(now * 1e9):020d}-{os.getpid()}.ticket"
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        os.write(fd, json.dumps(me.to_json() | {"tty": tty, "at": now}).encode())
    finally:
        os.close(fd)
    return Ticket(path, me, now, priority, tty)


def line(folder: Path) -> list[Ticket]:
    """Everyone in line, first first (tickets of processes that are gone are left out); nothing is removed."""
    found = []
    for name in _names(folder):
        data = read_json(folder / name, limit=4096, private=True)
        owner = ProcessIdentity.from_json(data)
        if owner is None or not processes.is_running(owner) or not isinstance(data, dict):
            continue
        at, tty = data.get("at"), data.get("tty")
        found.append(Ticket(folder / name, owner, float(at) if isinstance(at, int | float) and not isinstance(
            at, bool) and 0 <= at < 1e11 else 0.0, TAKEOVER if name.startswith("0-") else WAIT,
            tty[:64] if isinstance(tty, str) else ""))
    return found


def _names(folder: Path) -> list[str]:
    """The ticket files, in the order of the line; a `queue` that is not a real directory of ours is refused
    with what to remove (a file, a FIFO or a symlink planted there)."""
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        return []
    except OSError as err:
        raise UnsafePath(f"cannot read {folder}: {err.strerror}", path=str(folder)) from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise UnsafePath(f"{folder} is not a directory of yours; csup keeps its waiting line there",
                         hint=f"remove it: rm {folder}", path=str(folder))
    try:
        return sorted(name for name in os.listdir(folder) if name.endswith(".ticket"))
    except OSError as err:
        raise UnsafePath(f"cannot read {folder}: {err.strerror}", path=str(folder)) from None


def first_in_line(folder: Path) -> Path | None:
    """The ticket whose turn it is; tickets of processes that are gone are removed on the way."""
    for name in _names(folder):
        path = folder / name
        if _owner_alive(path):
            return path
        drop(path)
    return None


def position(folder: Path, ticket: Ticket) -> int:
    """How many live tickets are ahead of this one."""
    return sum(1 for name in _names(folder) if name < ticket.path.name and _owner_alive(folder / name))


def _owner_alive(path: Path) -> bool:
    owner = ProcessIdentity.from_json(read_json(path, limit=4096, private=True))
    return owner is not None and processes.is_running(owner)


def drop(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
