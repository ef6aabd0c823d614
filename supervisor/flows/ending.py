"""Ending the session held by another csup (stop, takeover): a request file saying who asks and why, SIGUSR1 to
the holder's csup once it is proven to be one, and escalation when it does not answer. Side effects: files,
signals, waiting."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from supervisor.core.errors import SessionBusy
from supervisor.core.identity import ProcessIdentity
from supervisor.machine import processes
from supervisor.machine.clock import SYSTEM, Clock, wait_until
from supervisor.machine.events import log_event
from supervisor.machine.jsonfile import read_json, write_json_atomic
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths, Slot
from supervisor.machine.record import SessionRecord

if TYPE_CHECKING:
    from supervisor.flows.reporting import Escalation

TERM_GRACE = 2.0  # after SIGTERM to an unresponsive holder
KILL_GRACE = 2.0  # after SIGKILL: the kernel frees the lock as soon as the process is gone
POLL = 0.1
MAX_REQUEST_BYTES = 4096
DETACH_WAIT = 5.0  # a supervised attach leaves once its background session has exited
BACKGROUND_WAIT = 8.0  # the daemon's stop: it escalates to SIGKILL by itself after ~5.3 s


MAKE_ROOM = "make-room"  # a new session at the limit ends the most idle one (the make_room setting)
MEMORY = "memory"  # the enforcer ends the most idle one while all sessions hold more than the memory budget
# A takeover that starts a new conversation (`--no-resume`, or another CLI): the ended terminal's conversation
# goes on nowhere else, so its resume line is said there.
REPLACED = "replaced"


class HolderUnresponsive(SessionBusy):
    """The session lock outlived SIGKILL of its holder (a process stuck in the kernel)."""


@dataclass(frozen=True)
class StopRequest:
    kind: str  # "stop" or "takeover"
    by_pid: int
    by_tty: str
    at: float
    # Making room or the memory budget chose the session as idle at least this long, from its record (written
    # every few seconds): the session itself knows better, and declines when it is not (its answer: `declined`).
    min_idle: float | None = None

    def describe(self) -> str:
        if self.kind == MAKE_ROOM:
            return f"made room for pid {self.by_pid} on {self.by_tty or 'no terminal'} (make_room)"
        if self.kind == MEMORY:
            return "the sessions held more than the memory budget, and this one was the most idle (csup watch)"
        where = f"from {self.by_tty}" if self.by_tty else "from a process with no terminal"
        if self.kind == REPLACED:
            return f"taken over by `csup takeover` {where} (pid {self.by_pid}), which starts a new conversation"
        verb = "taken over" if self.kind == "takeover" else "stopped"
        return f"{verb} by `csup {self.kind}` {where} (pid {self.by_pid})"


def is_proven_holder(holder: SessionRecord, lock_file: Path) -> bool:
    """The record's csup is a running csup of ours that has the session lock open (not a pid someone wrote into
    a forged record), and the CLI it names, if any, is that csup's own child. Only then is it signalled."""
    pid = holder.csup.pid
    if not processes.is_running(holder.csup) or not processes.runs_csup(pid) \
            or not processes.holds_open(pid, lock_file):
        return False
    return holder.cli is None or not processes.is_running(holder.cli) \
        or processes.parent_of(holder.cli.pid) == holder.csup.pid


def send_request(slot: Slot, holder: SessionRecord, kind: str, clock: Clock = SYSTEM,
                 min_idle: float | None = None) -> bool:
    """Leave the request where the holder looks, then wake it; False when the holder is not a proven csup."""
    _forget_answer(slot)  # an answer to an earlier request is no answer to this one
    if not is_proven_holder(holder, slot.lock_file):
        return False
    write_json_atomic(slot.request_file, asdict(StopRequest(kind, os.getpid(), processes.own_tty(), clock.wall(),
                                                            min_idle)))
    sent = processes.signal_verified(holder.csup, signal.SIGUSR1)
    # A holder suspended in its shell (Ctrl-Z) gets the request only once it runs: continue it. It ends the
    # session in the background, without taking the terminal from the shell.
    processes.signal_verified(holder.csup, signal.SIGCONT)
    return sent


def take_request(slot: Slot) -> StopRequest | None:
    """The holder's side: read and remove the request; None when there is none or it is not well-formed."""
    data = read_json(slot.request_file, limit=MAX_REQUEST_BYTES, private=True)
    try:
        os.unlink(slot.request_file)
    except OSError:
        pass
    if not isinstance(data, dict) or data.get("kind") not in ("stop", "takeover", REPLACED, MAKE_ROOM, MEMORY):
        return None
    by_pid, by_tty, at = data.get("by_pid"), data.get("by_tty", ""), data.get("at")
    if type(by_pid) is not int or not isinstance(by_tty, str) or not isinstance(at, int | float):
        return None
    min_idle = data.get("min_idle")
    if not isinstance(min_idle, int | float) or isinstance(min_idle, bool) or not 0 <= min_idle < 1e9:
        min_idle = None
    return StopRequest(str(data["kind"]), by_pid, by_tty[:64], float(at), min_idle)


def decline(slot: Slot, why: str) -> None:
    """The holder's side: it was asked as an idle session and is not one; the asker reads this."""
    write_json_atomic(slot.declined_file, {"why": why[:200]})


def end_holder(paths: Paths, slot: Slot, holder: SessionRecord, kind: str, lock: FileFlock, answer_within: float,
               report: Callable[[Escalation], None], min_idle: float | None = None) -> Escalation | None:
    """Ask the holder to end the session and wait until `lock` is ours; escalate when it does not answer.

    Returns how it ended. Signals go only to a proven holder (see is_proven_holder), each checked by pid and
    start time right before it is sent; a forged or stale record gets none, and then only the lock is waited for.
    """
    proven = send_request(slot, holder, kind, min_idle=min_idle)
    report("asked")
    if min_idle is None:
        if _wait_for(lock, answer_within):
            return "asked"
    else:  # it may decline: one wait for either answer, the lock or its word
        answered = wait_until(lambda: lock.try_acquire() or slot.declined_file.exists(), answer_within,
                              every=POLL)
        if answered and lock.held:
            _forget_answer(slot)
            return "asked"
        if answered:
            _forget_answer(slot)
            return None  # in use after all: it stays, and nothing is escalated
    if not proven:
        raise HolderUnresponsive("the session lock is held by a process csup cannot prove is a csup",
                                 hint="see who holds it: csup status")
    report("SIGTERM")
    processes.signal_verified(holder.csup, signal.SIGCONT)  # a stopped (Ctrl-Z, SIGSTOP) holder cannot answer
    processes.signal_verified(holder.csup, signal.SIGTERM)
    if _wait_for(lock, TERM_GRACE):
        return "SIGTERM"
    report("SIGKILL")
    processes.signal_verified(holder.csup, signal.SIGKILL)
    if holder.cli is not None and processes.is_running(holder.cli):
        processes.signal_group_verified(holder.cli, signal.SIGKILL)  # the CLI leads its own group
    if _wait_for(lock, KILL_GRACE):
        # The holder cannot log its own end after SIGKILL: every session that ends is one event, so say it here.
        log_event(paths.log_file, "ended", session=holder.session_id, how=kind, code=128 + signal.SIGKILL,
                  reason=f"`csup {kind}` escalated to SIGKILL: the session did not answer", cli_pid=holder.cli.pid
                  if holder.cli else None)
        return "SIGKILL"
    raise HolderUnresponsive("the session lock is still held after SIGKILL of its csup",
                             hint="see what holds it: csup status")


def clear_asleep_place(slot: Slot) -> None:
    """An asleep session's place whose csup has gone (its lock now the asker's): its files go, so that nothing a
    lock attempt re-made stays behind."""
    for path in (slot.lock_file, slot.record_file, slot.request_file, slot.declined_file):
        try:
            os.unlink(path)
        except OSError:
            pass


def _forget_answer(slot: Slot) -> None:
    try:
        os.unlink(slot.declined_file)
    except OSError:
        pass


def _wait_for(lock: FileFlock, seconds: float) -> bool:
    return lock.try_acquire(timeout=seconds)


def wait_gone(identity: ProcessIdentity | None, seconds: float, clock: Clock = SYSTEM) -> bool:
    """Wait for a process to end (two CLIs on one conversation corrupt it); True when it is gone."""
    if identity is None:
        return True
    return wait_until(lambda: not processes.is_running(identity), seconds, clock, POLL)
