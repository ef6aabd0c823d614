"""Who gets the session: a plain `run` (now or refused), a waiter (in line), a takeover (ends the holder first),
and `stop` (ends it, takes nothing). The gate lock makes the line binding: whoever is first in line holds it, and
a plain `run` that cannot take the gate is refused, so nobody slips in between. Side effects: locks, tickets,
signals through `control`, and the live line on stderr."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from supervisor.claude import claude_code
from supervisor.core.durations import format_duration
from supervisor.core.errors import SessionBusy
from supervisor.core.settings import Config
from supervisor.flows.waitline import TAKEOVER, WAIT, Ticket, drop, first_in_line, position, take_ticket
from supervisor.machine import processes
from supervisor.machine.events import log_event
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths
from supervisor.machine.record import SessionRecord, read_record

STEP = 0.25  # how often a waiter looks at the line and refreshes its live line
Confirm = Callable[[str], bool]


def live_record(paths: Paths) -> SessionRecord | None:
    """The record, if the csup that wrote it (pid and start time) still runs; a stale one is ignored."""
    record = read_record(paths.record_file)
    if record is None or not processes.is_running(record.csup):
        return None
    return record


@dataclass
class Locks:
    session: FileFlock
    gate: FileFlock

    @classmethod
    def open(cls, paths: Paths) -> Locks:
        return cls(FileFlock(paths.lock_file), FileFlock(paths.gate_file))


def take_now(paths: Paths, locks: Locks) -> None:
    """A plain `run`: the session now, or SessionBusy naming who has it."""
    from supervisor.face import text

    if not locks.gate.try_acquire():
        raise SessionBusy(text.refusal_queued(live_record(paths), time.time()))
    try:
        if not locks.session.try_acquire():
            holder = live_record(paths)
            log_event(paths.log_file, "refused", holder=holder.session_id if holder else None)
            raise SessionBusy(text.refusal_held(holder, time.time()))
    finally:
        locks.gate.release()


def wait_turn(paths: Paths, locks: Locks, patience: float | None, show: Callable[[str], None]) -> None:
    """`run --wait`: queue behind the session (first come, first served) until it ends, or give up."""
    from supervisor.face import text

    ticket = take_ticket(paths.queue_dir, WAIT)
    started = time.monotonic()
    try:
        while True:
            if _first_with_gate(paths, locks, ticket) and locks.session.try_acquire(timeout=STEP):
                return
            show(text.waiting_line(live_record(paths), position(paths.queue_dir, ticket), time.time(),
                                     time.monotonic() - started))
            if patience is not None and time.monotonic() - started >= patience:
                raise SessionBusy(f"csup: gave up waiting after {format_duration(patience)}; the session is still "
                                  "running.\n  csup takeover      end it and carry the conversation on here")
            if not locks.gate.held:
                time.sleep(STEP)
    finally:
        locks.gate.release()
        drop(ticket.path)


def _first_with_gate(paths: Paths, locks: Locks, ticket: Ticket) -> bool:
    if first_in_line(paths.queue_dir) != ticket.path:
        locks.gate.release()  # someone ahead (a takeover) must get the gate
        return False
    return locks.gate.held or locks.gate.try_acquire()


@dataclass
class Handover:
    """What a takeover found: the session it ended (for resuming) and what it did."""

    previous: SessionRecord | None = None
    how: str = ""
    unmanaged_ended: list[int] = field(default_factory=list)
    resume_id: str | None = None
    resume_cwd: str | None = None


def take_over(paths: Paths, locks: Locks, cfg: Config, environ: Mapping[str, str], *, force: bool,
              confirm: Confirm | None, show: Callable[[str], None]) -> Handover:
    """End whatever holds the session (managed, or unmanaged with consent) and keep the lock for a new one."""
    from supervisor.flows import ending

    ticket = take_ticket(paths.queue_dir, TAKEOVER)
    handover = Handover()
    try:
        while not _first_with_gate(paths, locks, ticket):
            time.sleep(STEP)  # earlier takeovers go first
        current = _end_current(paths, locks, cfg, ticket, handover, show)
        handover.unmanaged_ended = end_unmanaged(cfg, force=force, confirm=confirm, environ=environ,
                                                 found=handover, how_to="csup takeover --force")
        if current is not None:
            handover.resume_id, handover.resume_cwd = current.claude_session_id, current.cwd
            if not ending.wait_gone(current.cli, cfg.term_wait) and current.cli is not None:
                processes.signal_verified(current.cli, signal.SIGKILL)
                ending.wait_gone(current.cli, ending.KILL_GRACE)
        return handover
    except BaseException:
        locks.session.release()
        raise
    finally:
        locks.gate.release()
        drop(ticket.path)


def _end_current(paths: Paths, locks: Locks, cfg: Config, ticket: Ticket, handover: Handover,
                 show: Callable[[str], None]) -> SessionRecord | None:
    """End the session that holds the lock, unless it was itself started after our ticket (a racing takeover
    won): then we refuse rather than take over the winner. A holder with no record yet is starting: wait."""
    from supervisor.face import text
    from supervisor.flows import ending

    deadline = time.monotonic() + cfg.stop_wait
    while True:
        current = live_record(paths)
        if current is not None and current.started_at > ticket.created_at:
            raise SessionBusy("csup: another takeover got the session first:\n  "
                              + text.describe_holder(current, time.time())
                              + "\n  csup takeover      take it over again")
        if locks.session.try_acquire():
            return current
        if current is not None:
            handover.previous = current
            handover.how = ending.end_holder(paths, current, "takeover", locks.session, cfg.stop_wait, show)
            log_event(paths.log_file, "took-over", holder=current.session_id, how=handover.how)
            return current
        if time.monotonic() >= deadline:
            raise SessionBusy(text.refusal_held(None, time.time()))
        time.sleep(STEP)


def end_unmanaged(cfg: Config, *, force: bool, confirm: Confirm | None, environ: Mapping[str, str],
                  how_to: str, found: Handover | None = None) -> list[int]:
    """Claude sessions outside csup: ended (SIGTERM, then SIGKILL with their trees) only with consent."""
    from supervisor.face import text

    matcher = processes.ClaudeMatcher.from_config(cfg)
    strays = processes.find_unmanaged(matcher, managed=())
    if not strays:
        return []
    details = [processes.describe(view.pid) for view in strays]
    question = text.refusal_unmanaged(strays, details, time.time()).splitlines()[0] + " End them?"
    if not force and (confirm is None or not confirm(question)):
        raise SessionBusy(text.refusal_unmanaged(strays, details, time.time(), how_to=how_to))
    if found is not None and found.previous is None and len(strays) == 1:
        entry = claude_code.read_registry(environ, strays[0].pid)
        if entry is not None and isinstance(entry.get("sessionId"), str) and isinstance(entry.get("cwd"), str):
            found.resume_id, found.resume_cwd = str(entry["sessionId"]), str(entry["cwd"])
    victims = []
    for view in strays:
        victims += [view.identity, *processes.descendants(view.pid)]
    processes.terminate(victims, cfg.term_wait)
    return [view.pid for view in strays]


@dataclass(frozen=True)
class StopOutcome:
    lines: list[str]
    stopped: bool


def stop(paths: Paths, cfg: Config, environ: Mapping[str, str], *, force: bool, patience: float | None,
         confirm: Confirm | None, show: Callable[[str], None]) -> StopOutcome:
    """`csup stop`: end the session from anywhere; start nothing."""
    from supervisor.face import text
    from supervisor.flows import ending

    lines: list[str] = []
    stopped = False
    holder = live_record(paths)
    session = FileFlock(paths.lock_file)
    if holder is not None:
        answer_within = patience if patience is not None else cfg.stop_wait
        how = ending.end_holder(paths, holder, "stop", session, answer_within, show)
        session.release()
        log_event(paths.log_file, "stopped", holder=holder.session_id, how=how)
        lines.append(f"csup: stopped the session (claude pid {holder.cli.pid if holder.cli else '?'}"
                     f"{', escalated to ' + how if how != 'asked' else ''}).")
        resume = holder.claude_session_id
        if resume and claude_code.transcript_path(environ, holder.cwd, resume).exists():
            lines.append(f"  resume it: cd {text.short_path(holder.cwd)} && {text.resume_command(resume)}")
        stopped = True
    ended = end_unmanaged(cfg, force=force, confirm=confirm, environ=environ, how_to="csup stop --force")
    if ended:
        lines.append(f"csup: ended {len(ended)} claude session(s) outside csup: pid {', '.join(map(str, ended))}.")
        stopped = True
    if not stopped:
        lines.append("csup: no session is running.")
    return StopOutcome(lines, stopped)


def stderr_line(text: str) -> None:
    """One live line on a terminal (rewritten in place); nothing when stderr is not a terminal."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K" + text[: _columns() - 1])
        sys.stderr.flush()


def _columns() -> int:
    import shutil

    return shutil.get_terminal_size((80, 24)).columns
