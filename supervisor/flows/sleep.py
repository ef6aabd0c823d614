"""Asleep: a session whose CLI's tree was ended while its terminal keeps its place. csup holds no slot for it (it
counts against no limit or budget), keeps a small record and an flock of its own (so status, stop and takeover
find it and can prove it), shows one block, and waits — no timeout, no wakeup — for a line on the terminal or a
signal. Enter wakes it through the one admission (a refusal keeps it asleep and says who holds the places) and
resumes the same conversation, unless that conversation is open elsewhere or its resume failed (then only a new
one is offered); q, Ctrl-D or Ctrl-C leave with 124 and the resume line; `csup stop` and `csup takeover` reach it
by request. Side effects: the record and lock files, the terminal (read in the user's own cooked mode), signals,
the log."""

from __future__ import annotations

import contextlib
import os
import select
import signal
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from supervisor.clis.adapter import Launcher, SessionSource
from supervisor.core.errors import ExitCode, SessionBusy
from supervisor.core.identity import ProcessIdentity
from supervisor.core.settings import Settings
from supervisor.core.sleep import draft_of, plan_wake, read_answer
from supervisor.flows import admission, ending
from supervisor.flows.live import Asleep
from supervisor.flows.reporting import AsleepNote, SessionEnd
from supervisor.machine import processes
from supervisor.machine.clock import Clock
from supervisor.machine.events import log_event
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths, Slot
from supervisor.machine.record import SessionRecord, write_record
from supervisor.machine.signals import drain, signal_wakeup
from supervisor.terminal.rawmode import get_attrs

if TYPE_CHECKING:
    from supervisor.flows.reporting import Reporter

ASLEEP_SIGNALS = (signal.SIGUSR1, signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
REFUSED_BY = {"LineAhead": "line", "GateBusy": "gate", "AtLimit": "limit", "SessionHeld": "limit"}


class Wake(NamedTuple):
    """Admitted again: the place it holds, and how the CLI starts."""

    locks: admission.Locks
    args: list[str]
    cwd: str
    draft: bytes  # what the user typed on the line that woke it
    woke_at: float  # monotonic: the moment of the Enter


def doze(paths: Paths, settings: Settings, launcher: Launcher, census: SessionSource, asleep: Asleep,
         world: admission.World, reporter: Reporter, clock: Clock, *, resume_failed: bool = False,
         gone_fd: int | None = None) -> Wake | int:
    """Asleep until a line wakes it (a Wake) or it leaves (csup's exit status). `gone_fd` reads as ended once
    the terminal's guardian is gone: the shell has the terminal back, and the session ends as for a closed one."""
    place = paths.asleep_place(asleep.session_id)
    lock = FileFlock(place.lock_file)
    lock.try_acquire()  # its own: proof for stop and takeover that this csup is the one asleep here
    now = clock.wall()
    record = SessionRecord(
        session_id=asleep.session_id, csup=processes.identity_of(os.getpid()) or ProcessIdentity(os.getpid(), 0.0),
        cli=None, tty=asleep.tty, cwd=asleep.cwd, argv=asleep.args, started_at=asleep.started_at,
        last_activity_at=now - asleep.idle, idle_limit=settings.idle_limit, warn_before=settings.warn_before,
        state="asleep", conversation_id=asleep.conversation_id, end_reason=asleep.reason, asleep_since=now,
        freed=asleep.freed.bytes, cli_name=asleep.cli)
    note = AsleepNote(asleep.reason, asleep.cwd, asleep.freed.bytes, asleep.resume,
                      offer="resume-failed" if resume_failed else "")
    try:
        write_record(place.record_file, record)
        reporter.asleep(note)
        with signal_wakeup(ASLEEP_SIGNALS) as wake_fd:
            while True:
                # No timeout: asleep costs no wakeups.
                ready, _, _ = select.select([0, wake_fd, *([] if gone_fd is None else [gone_fd])], [], [])
                if gone_fd is not None and gone_fd in ready:
                    return _leave(paths, asleep, reporter, "its terminal was closed", "signal",
                                  code=128 + signal.SIGHUP, quiet=True)
                if wake_fd in ready:
                    left = _on_signals(paths, drain(wake_fd), place, asleep, reporter)
                    if left is not None:
                        return left
                    continue
                try:
                    line = os.read(0, 4096)
                except OSError:
                    line = b""
                if not line and get_attrs(0) is None:  # the terminal hung up (no SIGHUP reached csup)
                    return _leave(paths, asleep, reporter, "its terminal was closed", "signal",
                                  code=128 + signal.SIGHUP, quiet=True)
                answer = read_answer(line)
                if answer != "leave" and not os.path.isdir(asleep.cwd):
                    reporter.session_ended(SessionEnd(
                        reason=f"its directory {asleep.cwd} is gone, so it cannot be woken there",
                        resume=None, code=int(ExitCode.IDLE_TIMEOUT), at_line_start=True))
                    return _leave(paths, asleep, reporter, "its directory was gone", "left", quiet=True)
                open_in = [s for s in census.live_sessions() if s.conversation.id == asleep.conversation_id]
                plan = plan_wake(answer, open_elsewhere=bool(open_in), resume_failed=resume_failed)
                if plan == "leave":
                    return _leave(paths, asleep, reporter, "you left", "left", at_line_start=True)
                if plan == "offer-new":
                    where = f"pid {open_in[0].pid}" if open_in else ""
                    note = replace(note, offer="open-elsewhere" if open_in else "resume-failed", open_in=where)
                    log_event(paths.log_file, "wake-refused", session=asleep.session_id, reason=note.offer,
                              where=where, conversation=asleep.conversation_id)
                    reporter.asleep(note)
                    continue
                woke_at = clock.mono()
                locks = admission.Locks.open(paths, settings.places)
                try:
                    admission.admit_now(paths, locks, settings, world, reporter)
                except SessionBusy as refused:  # at the limit: it stays asleep, and says who holds the places
                    log_event(paths.log_file, "wake-refused", session=asleep.session_id,
                              reason=REFUSED_BY.get(type(refused).__name__, "limit"),
                              conversation=asleep.conversation_id)
                    reporter.wake_refused(refused)
                    continue
                # A stop or takeover that came while admission decided is answered before anything starts.
                left = _on_signals(paths, drain(wake_fd), place, asleep, reporter)
                if left is not None:
                    locks.release()
                    return left
                args = [*asleep.args] if plan == "new" else \
                    [*launcher.resume_args(asleep.conversation_id), *asleep.args]
                return Wake(locks, args, asleep.cwd, draft_of(line, answer), woke_at)
    finally:
        # The record first (nobody new finds it), the lock given back (an asker waiting on it proceeds and
        # clears what it re-made), then its files: nothing of csup's stays behind.
        with contextlib.suppress(OSError):
            os.unlink(place.record_file)
        lock.release()
        for path in (place.lock_file, place.request_file, place.declined_file):
            with contextlib.suppress(OSError):
                os.unlink(path)


def _on_signals(paths: Paths, signums: bytes, place: Slot, asleep: Asleep,
                reporter: Reporter) -> int | None:
    """A request from another terminal (stop, takeover), Ctrl-C, or the end of the terminal: csup's exit status,
    or None when nothing asks it to leave."""
    for signum in dict.fromkeys(signums):
        if signum == signal.SIGUSR1:
            request = ending.take_request(place)
            if request is None:
                continue
            if request.kind == "takeover":
                return _leave(paths, asleep, reporter, request.describe(), "takeover", elsewhere=True,
                              code=128 + signal.SIGTERM)
            code = 128 + signal.SIGTERM if request.kind == ending.REPLACED else int(ExitCode.IDLE_TIMEOUT)
            return _leave(paths, asleep, reporter, request.describe(), request.kind, code=code)
        if signum == signal.SIGINT:
            return _leave(paths, asleep, reporter, "you left", "left")
        return _leave(paths, asleep, reporter, "its terminal was closed" if signum == signal.SIGHUP
                      else "csup received SIGTERM", "signal", code=128 + signum, quiet=signum == signal.SIGHUP)
    return None


def _leave(paths: Paths, asleep: Asleep, reporter: Reporter, reason: str, how: str, *, elsewhere: bool = False,
           code: int = int(ExitCode.IDLE_TIMEOUT), quiet: bool = False, at_line_start: bool = False) -> int:
    """The session ends while asleep: said on its terminal (with the resume line, unless the conversation went
    on in another terminal) and logged."""
    reason = f"{reason} while it was asleep"
    log_event(paths.log_file, "ended", session=asleep.session_id, how=how, code=code, reason=reason,
              cwd=asleep.cwd, started=asleep.started_at, idle=round(asleep.idle, 1),
              resume=None if elsewhere else asleep.resume)
    if not quiet:
        reporter.session_ended(SessionEnd(reason=reason, resume=None if elsewhere else
                                          asleep.resume, code=code, at_line_start=at_line_start,
                                          continued_elsewhere=reason if elsewhere else None, cwd=asleep.cwd))
    return code
