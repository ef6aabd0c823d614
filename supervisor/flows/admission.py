"""Who gets a session: a plain `run` (now or refused), a waiter (in line), a takeover (ends a session first).
Each supervised session holds one of `max_sessions` slot locks. The gate lock makes the line binding: whoever
is first in line holds it while waiting, a plain `run` admits itself only while holding it, so nobody slips in
between. Side effects: locks, tickets, signals through `ending`, the log."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from supervisor.claude.adapter import CliAdapter, Conversation, LiveSession
from supervisor.core.settings import Settings
from supervisor.flows.refusals import GaveUpWaiting, LineAhead, SessionHeld, TakeoverLost
from supervisor.flows.sessions import supervised
from supervisor.flows.waitline import TAKEOVER, WAIT, Ticket, drop, first_in_line, position, take_ticket
from supervisor.machine import processes
from supervisor.machine.events import log_event
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths, Slot
from supervisor.machine.record import Holder, SessionRecord, live_record

if TYPE_CHECKING:  # a plain `run` (every aliased `claude`) needs none of these: imported where used
    from supervisor.flows.reporting import Reporter, RoomMade
    from supervisor.flows.sessions import AnySession
    from supervisor.flows.stop import OthersEnded

STEP = 0.25  # how often a waiter looks at the line and refreshes its live line
GATE_PATIENCE = 2.0  # a plain run waits this long for another plain run's admission (it takes milliseconds)


class Locks:
    """The gate and the slot locks; `slot` is the one this csup holds once admitted."""

    def __init__(self, gate: FileFlock, slots: list[tuple[Slot, FileFlock]]) -> None:
        self.gate = gate
        self.slots = slots
        self.slot: Slot | None = None
        self.others_held = 0  # places held by other csups when ours was claimed (some may not have a record yet)

    @classmethod
    def open(cls, paths: Paths, max_sessions: int) -> Locks:
        return cls(FileFlock(paths.gate_file), [(slot, FileFlock(slot.lock_file))
                                                for slot in paths.known_slots(max_sessions)])

    @property
    def session(self) -> FileFlock:
        assert self.slot is not None, "not admitted"
        return self._lock_of(self.slot)

    def _lock_of(self, slot: Slot) -> FileFlock:
        return next(lock for candidate, lock in self.slots if candidate == slot)

    def claim_free(self, max_sessions: int) -> bool:
        """Take a free slot when fewer than `max_sessions` are held (one attempt each; the gate is ours)."""
        held = 0
        free: list[tuple[Slot, FileFlock]] = []
        for slot, lock in self.slots:
            if lock.try_acquire():
                free.append((slot, lock))
            else:
                held += 1
        chosen = next(((slot, lock) for slot, lock in free if slot.number < max_sessions), None)
        if held >= max_sessions:
            chosen = None
        for slot, lock in free:
            if chosen is None or slot != chosen[0]:
                lock.release()
        if chosen is None:
            return False
        self.slot, self.others_held = chosen[0], held
        return True

    def claim(self, slot: Slot, wait: float) -> bool:
        lock = self._lock_of(slot)
        if lock.try_acquire(timeout=wait):
            self.slot, self.others_held = slot, 0
            return True
        return False

    def release(self) -> None:
        if self.slot is not None:
            self.session.release()
            self.slot = None


def take_now(paths: Paths, locks: Locks, max_sessions: int) -> None:
    """A plain `run`: a place now, or SessionBusy naming who has them."""
    if first_in_line(paths.queue_dir) is not None or not locks.gate.try_acquire(timeout=GATE_PATIENCE):
        holders = supervised(paths, max_sessions)
        log_event(paths.log_file, "refused", reason="line", holder=holders[0].record.session_id if holders else None,
                  cwd=os.getcwd())
        raise LineAhead(holders[0].record if holders else None)
    try:
        if not locks.claim_free(max_sessions):
            _refuse_full(paths, max_sessions)
    except BaseException:
        locks.gate.release()
        raise
    # Admitted to a place: the gate stays ours until the policy has decided (the caller releases it), so racing
    # starts are decided one at a time and none counts another, still deciding, as already starting.


def _refuse_full(paths: Paths, max_sessions: int) -> NoReturn:
    """Every place is held by a supervised session: say who holds them (their records alone: no census)."""
    from supervisor.flows.sessions import supervised_sessions

    sessions = supervised_sessions(paths, max_sessions)
    log_event(paths.log_file, "refused", reason="held", holders=[s.id for s in sessions], cwd=os.getcwd())
    raise SessionHeld(sessions, max_sessions)


def take_making_room(paths: Paths, locks: Locks, settings: Settings, adapter: CliAdapter,
                     reporter: Reporter) -> RoomMade | None:
    """Every place is held and `make_room` is on: under the gate (so that racing starts decide one at a time),
    end the most idle supervised session the policy allows and take its place. None when a place freed by
    itself meanwhile."""
    from supervisor.flows.room import make_room
    from supervisor.flows.sessions import take_snapshot

    if first_in_line(paths.queue_dir) is not None or not locks.gate.try_acquire(timeout=GATE_PATIENCE):
        holders = supervised(paths, settings.max_sessions)
        raise LineAhead(holders[0].record if holders else None)
    try:
        if locks.claim_free(settings.max_sessions):
            return None
        from supervisor.machine.memory import of_trees

        snapshot = take_snapshot(paths, settings.max_sessions, adapter,
                                 memory=of_trees if settings.memory_budget is not None else None)
        made = make_room(paths, settings, adapter, reporter, snapshot, snapshot.sessions, supervised_only=True)
        if not locks.claim_free(settings.max_sessions):
            _refuse_full(paths, settings.max_sessions)
        return made  # the gate stays ours until the policy has decided, as in take_now
    except BaseException:
        locks.gate.release()
        raise


def wait_turn(paths: Paths, locks: Locks, max_sessions: int, patience: float | None, reporter: Reporter) -> None:
    """`run --wait`: queue behind the sessions (first come, first served) until one ends, or give up."""
    from supervisor.flows.reporting import WaitProgress

    ticket = take_ticket(paths.queue_dir, WAIT)
    started = time.monotonic()
    try:
        while True:
            if _first_with_gate(paths, locks, ticket) and locks.claim_free(max_sessions):
                return  # with the gate, as in take_now: the caller releases it once the policy has decided
            holders = supervised(paths, max_sessions)
            reporter.waiting(WaitProgress(holders[0].record if holders else None,
                                          position(paths.queue_dir, ticket), time.monotonic() - started))
            if patience is not None and time.monotonic() - started >= patience:
                log_event(paths.log_file, "refused", reason="gave-up-waiting", waited=round(patience, 1))
                raise GaveUpWaiting(patience)
            time.sleep(STEP)
    except BaseException:
        locks.gate.release()
        raise
    finally:
        drop(ticket.path)


def _first_with_gate(paths: Paths, locks: Locks, ticket: Ticket) -> bool:
    if first_in_line(paths.queue_dir) != ticket.path:
        locks.gate.release()  # someone ahead (a takeover) must get the gate
        return False
    return locks.gate.held or locks.gate.try_acquire()


@dataclass
class Handover:
    """What a takeover found and did: the sessions it ended, and the conversations they had (most recently active
    first), of which the first is carried on — or the background session it brings here instead."""

    previous: SessionRecord | None = None
    unmanaged_ended: list[int] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    attach: LiveSession | None = None  # a background session to bring here, live, instead of a resume


def take_over(paths: Paths, locks: Locks, settings: Settings, adapter: CliAdapter, *, force: bool,
              reporter: Reporter, named: str | None = None) -> Handover:
    """End what holds the session — the session `named`; with one session allowed, everything there is
    (unmanaged ones with consent); else the most idle one — and keep a slot for the new one. Which one is decided
    first in line, so racing takeovers each take a different session."""
    from supervisor.flows import ending
    from supervisor.flows.census import Census
    from supervisor.flows.sessions import take_snapshot
    from supervisor.flows.stop import end_others

    ticket = take_ticket(paths.queue_dir, TAKEOVER)
    handover = Handover()
    try:
        while not _first_with_gate(paths, locks, ticket):
            time.sleep(STEP)  # earlier takeovers go first
        target = _target(paths, settings, adapter, named, reporter)
        if target is not None and target.kind == "background" and target.background is not None:
            handover.attach = target.background  # brought here, not ended
            _claim_slot(paths, locks, settings, ticket)
            return handover
        if target is not None and target.unmanaged is not None:
            one = end_others(paths, settings, adapter, Census([target.unmanaged], []), force=True,
                             reporter=reporter, how_to="csup takeover --force", cause="takeover")
            handover.unmanaged_ended = [s.pid for s in one.sessions]
            handover.conversations = one.conversations
            _claim_slot(paths, locks, settings, ticket)
            return handover
        holder = target.holder if target is not None else None
        ended: OthersEnded | None = None
        current = _end_holder(paths, locks, settings, ticket, handover, reporter, holder)
        if target is None:
            found = take_snapshot(paths, settings.max_sessions, adapter).census
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
        if ended is not None:
            handover.conversations += ended.conversations
        return handover
    except BaseException:
        locks.release()
        raise
    finally:
        locks.gate.release()
        drop(ticket.path)


def _target(paths: Paths, settings: Settings, census: CliAdapter, named: str | None,
            reporter: Reporter) -> AnySession | None:
    from supervisor.flows.sessions import resolve, take_snapshot

    if named is None and settings.max_sessions == 1:
        return None
    found = take_snapshot(paths, settings.max_sessions, census).sessions
    if named is not None:
        return resolve(found, named)
    if not found:
        return None
    reporter.chosen(found[0])
    return found[0]


def _claim_slot(paths: Paths, locks: Locks, settings: Settings, ticket: Ticket) -> None:
    if not locks.claim_free(settings.max_sessions):
        _refuse_full(paths, settings.max_sessions)


def _end_holder(paths: Paths, locks: Locks, settings: Settings, ticket: Ticket, handover: Handover,
                reporter: Reporter, chosen: Holder | None) -> SessionRecord | None:
    """End the supervised session in `chosen` (by default the one in slot 0) and take its slot — unless it was
    itself started after our ticket (a racing takeover won): then refuse rather than take over the winner. A
    holder with no record yet is starting: wait. A free slot needs no ending (with room for one more)."""
    from supervisor.flows import ending

    slot = chosen.slot if chosen is not None else paths.slot(0)
    deadline = time.monotonic() + settings.stop_wait
    while True:
        current = live_record(slot.record_file)
        if current is not None and current.started_at > ticket.created_at:
            raise TakeoverLost(current)
        if locks.claim(slot, 0):
            return None  # nobody held it: a record without its lock proves nothing, and nothing is signalled
        if current is not None:
            handover.previous = current
            how = ending.end_holder(paths, slot, current, "takeover", locks._lock_of(slot), settings.stop_wait,
                                    reporter.escalation)
            locks.slot = slot
            log_event(paths.log_file, "took-over", holder=current.session_id, how=how)
            return current
        if time.monotonic() >= deadline:
            raise SessionHeld([])
        time.sleep(STEP)
