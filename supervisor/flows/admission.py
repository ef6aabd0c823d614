"""Who gets the session: a plain `run` (now or refused), a waiter (in line), a takeover (ends the holder first).
The gate lock makes the line binding: whoever is first in line holds it, and a plain `run` that cannot take the
gate is refused, so nobody slips in between. Side effects: locks, tickets, signals through `ending`, the log."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field

from supervisor.claude.adapter import CliAdapter, Conversation, LiveSession
from supervisor.core.settings import Settings
from supervisor.flows import ending
from supervisor.flows.census import take_census
from supervisor.flows.refusals import GaveUpWaiting, LineAhead, SessionHeld, TakeoverLost
from supervisor.flows.reporting import Reporter, WaitProgress
from supervisor.flows.stop import end_others
from supervisor.flows.waitline import TAKEOVER, WAIT, Ticket, drop, first_in_line, position, take_ticket
from supervisor.machine import processes
from supervisor.machine.events import log_event
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths
from supervisor.machine.record import SessionRecord, live_record

STEP = 0.25  # how often a waiter looks at the line and refreshes its live line


@dataclass
class Locks:
    session: FileFlock
    gate: FileFlock

    @classmethod
    def open(cls, paths: Paths) -> Locks:
        return cls(FileFlock(paths.lock_file), FileFlock(paths.gate_file))


def take_now(paths: Paths, locks: Locks) -> None:
    """A plain `run`: the session now, or SessionBusy naming who has it."""
    if not locks.gate.try_acquire():
        holder = live_record(paths.record_file)
        log_event(paths.log_file, "refused", reason="line", holder=holder.session_id if holder else None)
        raise LineAhead(holder)
    try:
        if not locks.session.try_acquire():
            holder = live_record(paths.record_file)
            log_event(paths.log_file, "refused", reason="held", holder=holder.session_id if holder else None)
            raise SessionHeld(holder)
    finally:
        locks.gate.release()


def wait_turn(paths: Paths, locks: Locks, patience: float | None, reporter: Reporter) -> None:
    """`run --wait`: queue behind the session (first come, first served) until it ends, or give up."""
    ticket = take_ticket(paths.queue_dir, WAIT)
    started = time.monotonic()
    try:
        while True:
            if _first_with_gate(paths, locks, ticket) and locks.session.try_acquire(timeout=STEP):
                return
            reporter.waiting(WaitProgress(live_record(paths.record_file), position(paths.queue_dir, ticket),
                                          time.monotonic() - started))
            if patience is not None and time.monotonic() - started >= patience:
                log_event(paths.log_file, "refused", reason="gave-up-waiting", waited=round(patience, 1))
                raise GaveUpWaiting(patience)
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
    """What a takeover found and did: the session it ended, the unmanaged ones, and the conversations they had
    (most recently active first), of which the first is carried on."""

    previous: SessionRecord | None = None
    unmanaged_ended: list[int] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    attach: LiveSession | None = None  # a background session to bring here, live, instead of a resume


def take_over(paths: Paths, locks: Locks, settings: Settings, adapter: CliAdapter, *, force: bool,
              reporter: Reporter) -> Handover:
    """End whatever holds the session (managed, or unmanaged with consent) and keep the lock for a new one."""
    ticket = take_ticket(paths.queue_dir, TAKEOVER)
    handover = Handover()
    try:
        while not _first_with_gate(paths, locks, ticket):
            time.sleep(STEP)  # earlier takeovers go first
        current = _end_current(paths, locks, settings, ticket, handover, reporter)
        found = take_census(adapter)
        if current is None and found.background:
            # A background session is brought here live (attach): no restart, no second writer.
            handover.attach = max(found.background, key=lambda s: s.last_activity or 0.0)
            found = found.without(handover.attach.short)
        ended = end_others(paths, settings, adapter, found, force=force, reporter=reporter,
                           how_to="csup takeover --force", cause="takeover")
        handover.unmanaged_ended = [session.pid for session in ended.sessions]
        if current is not None:
            if current.claude_session_id:
                handover.conversations.append(Conversation(current.claude_session_id, current.cwd))
            if not ending.wait_gone(current.cli, settings.term_wait) and current.cli is not None:
                processes.signal_verified(current.cli, signal.SIGKILL)
                ending.wait_gone(current.cli, ending.KILL_GRACE)
        handover.conversations += ended.conversations
        return handover
    except BaseException:
        locks.session.release()
        raise
    finally:
        locks.gate.release()
        drop(ticket.path)


def _end_current(paths: Paths, locks: Locks, settings: Settings, ticket: Ticket, handover: Handover,
                 reporter: Reporter) -> SessionRecord | None:
    """End the session that holds the lock, unless it was itself started after our ticket (a racing takeover
    won): then we refuse rather than take over the winner. A holder with no record yet is starting: wait."""
    deadline = time.monotonic() + settings.stop_wait
    while True:
        current = live_record(paths.record_file)
        if current is not None and current.started_at > ticket.created_at:
            raise TakeoverLost(current)
        if locks.session.try_acquire():
            return None  # nobody held it: a record without its lock proves nothing, and nothing is signalled
        if current is not None:
            handover.previous = current
            how = ending.end_holder(paths, current, "takeover", locks.session, settings.stop_wait,
                                    reporter.escalation)
            log_event(paths.log_file, "took-over", holder=current.session_id, how=how)
            return current
        if time.monotonic() >= deadline:
            raise SessionHeld(None)
        time.sleep(STEP)
