"""Ending the session from another terminal (or none): a request file saying who asks and why, SIGUSR1 to the
holder's verified csup, and escalation when it does not answer. Side effects: files, signals, waiting."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from supervisor.core.errors import UnsafePath
from supervisor.machine import processes
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths, open_private
from supervisor.machine.record import SessionRecord

TERM_GRACE = 2.0  # after SIGTERM to an unresponsive holder
KILL_GRACE = 2.0  # after SIGKILL: the kernel frees the lock as soon as the process is gone
POLL = 0.1


@dataclass(frozen=True)
class StopRequest:
    kind: str  # "stop" or "takeover"
    by_pid: int
    by_tty: str
    at: float

    def describe(self) -> str:
        where = f"from {self.by_tty}" if self.by_tty else "from a process with no terminal"
        verb = "taken over" if self.kind == "takeover" else "stopped"
        return f"{verb} by `csup {self.kind}` {where} (pid {self.by_pid})"


def own_tty() -> str:
    for fd in (0, 1, 2):
        try:
            return os.ttyname(fd)
        except OSError:
            continue
    return ""


def send_request(paths: Paths, holder: SessionRecord, kind: str) -> bool:
    """Leave the request where the holder looks, then wake it; False when the holder is not the recorded one."""
    request = StopRequest(kind, os.getpid(), own_tty(), time.time())
    temp = paths.request_file.with_name(f".{paths.request_file.name}.{os.getpid()}.tmp")
    fd = open_private(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        os.write(fd, json.dumps(asdict(request)).encode())
    finally:
        os.close(fd)
    os.replace(temp, paths.request_file)
    return processes.signal_verified(holder.csup, signal.SIGUSR1)


def take_request(paths: Paths) -> StopRequest | None:
    """The holder's side: read and remove the request; None when there is none or it is not well-formed."""
    try:
        fd = open_private(paths.request_file, os.O_RDONLY)
    except (OSError, UnsafePath):
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(1 << 16))
        os.unlink(paths.request_file)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") not in ("stop", "takeover"):
        return None
    try:
        return StopRequest(str(data["kind"]), int(data["by_pid"]), str(data.get("by_tty", "")), float(data["at"]))
    except (KeyError, TypeError, ValueError):
        return None


def end_holder(paths: Paths, holder: SessionRecord, kind: str, lock: FileFlock, answer_within: float,
               tick: Callable[[str], None] = lambda _: None) -> str:
    """Ask the holder to end the session and wait until `lock` is ours; escalate when it does not answer.

    Returns how it ended: "asked", "SIGTERM" or "SIGKILL". Every signal goes to an identity checked by pid and
    start time; the record's processes are never signalled if they are no longer the ones recorded.
    """
    send_request(paths, holder, kind)
    tick("asked the session to end")
    if _wait_for(lock, answer_within):
        return "asked"
    tick("no answer: sending SIGTERM")
    processes.signal_verified(holder.csup, signal.SIGCONT)  # a stopped (Ctrl-Z, SIGSTOP) holder cannot answer
    processes.signal_verified(holder.csup, signal.SIGTERM)
    if _wait_for(lock, TERM_GRACE):
        return "SIGTERM"
    tick("still no answer: sending SIGKILL")
    processes.signal_verified(holder.csup, signal.SIGKILL)
    if holder.cli is not None and processes.is_running(holder.cli):
        try:
            os.killpg(holder.cli.pid, signal.SIGKILL)  # verified just above; the CLI leads its own group
        except (ProcessLookupError, PermissionError):
            pass
    if _wait_for(lock, KILL_GRACE):
        return "SIGKILL"
    raise TimeoutError("the session lock is still held after SIGKILL")


def _wait_for(lock: FileFlock, seconds: float) -> bool:
    return lock.try_acquire(timeout=seconds)


def wait_gone(identity: processes.ProcessIdentity | None, seconds: float) -> bool:
    """Wait for a process to end (two CLIs on one conversation corrupt it); True when it is gone."""
    if identity is None:
        return True
    deadline = time.monotonic() + seconds
    while processes.is_running(identity):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True
