"""Who gets a session, decided in one place under one gate: a plain `run` (now or refused), a waiter (in line), a
takeover (ends a session first), a background start, and a wake. Each supervised session holds one of `max_sessions`
slot locks; the gate lock in front of them is held by one start at a time from the claim of a place to the
policy's final word, making room included, so racing starts are decided one after another on fresh snapshots and
none slips in between. Whoever takes the gate gives it back; nothing else releases it. What admission reads and
acts on (the snapshot, how a session is ended, the clock) is a `World` passed in: tests hand in their own.
Side effects: locks, tickets, the log, and ending a session through the world."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from supervisor.clis.adapter import Conversation, LiveSession, SessionSource
from supervisor.core.errors import TerminalGone
from supervisor.core.settings import Settings
from supervisor.flows.refusals import GateBusy, GaveUpWaiting, LineAhead, SessionHeld, TakeoverLost
from supervisor.flows.sessions import supervised
from supervisor.flows.waitline import TAKEOVER, WAIT, Ticket, drop, first_in_line, position, take_ticket
from supervisor.machine import processes
from supervisor.machine.clock import SYSTEM, Clock
from supervisor.machine.events import log_event
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths, Slot
from supervisor.machine.record import Holder, SessionRecord, live_record

if TYPE_CHECKING:  # a plain `run` (every aliased CLI) needs none of these: imported where used
    from supervisor.flows.reporting import Reporter, RoomMade
    from supervisor.flows.sessions import AnySession, Snapshot
    from supervisor.flows.stop import OthersEnded

STEP = 0.25  # how often a waiter looks at the line and refreshes its live line
GATE_POLL = 0.05  # how often a start asks for the gate while another one decides
GATE_MARGIN = 5.0  # beyond the longest a decision that makes room may take (ask, SIGTERM, the CLI's exit)


class Locks:
    """The gate and the slot locks; `slot` is the one this csup holds once admitted."""

    def __init__(self, gate: FileFlock, slots: list[tuple[Slot, FileFlock]]) -> None:
        self.gate = gate
        self.slots = slots
        self.slot: Slot | None = None

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
        if self.slot is not None:
            return True
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
        self.slot = chosen[0]
        return True

    def held_by_others(self) -> int:
        """Places other csups hold now: each is a session, or one about to start (no record written yet)."""
        held = 0
        for slot, lock in self.slots:
            if slot == self.slot:
                continue
            if lock.try_acquire():
                lock.release()
            else:
                held += 1
        return held

    def claim(self, slot: Slot, wait: float) -> bool:
        lock = self._lock_of(slot)
        if lock.try_acquire(timeout=wait):
            self.slot = slot
            return True
        return False

    def release(self) -> None:
        if self.slot is not None:
            self.session.release()
            self.slot = None


class World(NamedTuple):
    """What admission reads and acts on: every session now, how one is ended (for a reason; returns whether it
    is gone and the command that brings it back), and the clock."""

    snapshot: Callable[[], Snapshot]
    end: Callable[[AnySession, str], tuple[bool, str | None]]
    clock: Clock = SYSTEM
    abandoned: Callable[[], bool] = lambda: False  # nobody waits for this start any more (its terminal is gone)


def world_of(paths: Paths, settings: Settings, adapter: SessionSource, reporter: Reporter,
             clock: Clock = SYSTEM) -> World:
    """The real world: the snapshot of every session (measured where a memory budget needs it), and a session
    ended its kind's way (flows/room.py)."""
    from supervisor.flows.room import end_session
    from supervisor.flows.sessions import take_snapshot

    def snapshot() -> Snapshot:
        measure = None
        if settings.memory_budget is not None:  # only with a budget: it reads every tree (and imports its reader)
            from supervisor.machine.memory import of_trees

            measure = of_trees
        return take_snapshot(paths, settings.places, adapter, memory=measure, clock=clock)

    def end(session: AnySession, reason: str) -> tuple[bool, str | None]:
        from supervisor.flows.ending import MAKE_ROOM

        return end_session(paths, settings, adapter, reporter, session, reason, MAKE_ROOM, clock=clock)

    return World(snapshot, end, clock)


# --- the gate -------------------------------------------------------------------------------------------------


def gate_patience(settings: Settings) -> float:
    """How long a start waits for the gate: another start's decision takes milliseconds, but one that makes
    room waits for a session to end (asked, then SIGTERM), and a start refused then would be refused falsely."""
    return settings.stop_wait + settings.term_wait + GATE_MARGIN


def take_gate(paths: Paths, locks: Locks, settings: Settings, clock: Clock) -> None:
    """The gate, for a start that does not queue: taken once no other start is deciding. Refused only for a true
    reason: someone in line goes first (LineAhead), or the gate stayed held past all patience (GateBusy)."""
    deadline = clock.mono() + gate_patience(settings)
    while True:
        if first_in_line(paths.queue_dir) is not None:
            holders = supervised(paths, settings.places)
            log_event(paths.log_file, "refused", reason="line",
                      holder=holders[0].record.session_id if holders else None, cwd=os.getcwd())
            raise LineAhead(holders[0].record if holders else None)
        if locks.gate.try_acquire():
            return
        if clock.mono() >= deadline:
            log_event(paths.log_file, "refused", reason="gate", waited=round(gate_patience(settings), 1),
                      cwd=os.getcwd())
            raise GateBusy(gate_patience(settings))
        clock.sleep(GATE_POLL)


def admit_now(paths: Paths, locks: Locks, settings: Settings, world: World, reporter: Reporter,
              bringing_here: str | None = None) -> RoomMade | None:
    """A plain start (`run`, a background start, a wake): the gate, then the one decision; a place held, or refused."""
    take_gate(paths, locks, settings, world.clock)
    try:
        return decide(paths, locks, settings, world, reporter, bringing_here)
    except BaseException:
        locks.release()
        raise
    finally:
        locks.gate.release()


# --- the decision ---------------------------------------------------------------------------------------------


def decide(paths: Paths, locks: Locks, settings: Settings, world: World, reporter: Reporter,
           bringing_here: str | None = None, *, quiet: bool = False) -> RoomMade | None:
    """The gate is ours: claim a place, then the policy (core/policy.admit) decides over every other session. At
    the limit with `make_room`, the session it names is ended its kind's way and waited for, and it decides
    again, once, on a fresh snapshot. Returns what was ended to make room (None: nothing was). Refused: every
    place held by a supervised session (SessionHeld, from the records alone: a refusal stays fast), or the
    policy's AtLimit. `quiet`: a waiter asks again and again, and its refusals are not events."""
    from supervisor.clis.choose import cli_of
    from supervisor.core.policy import Limits, admit, may_end
    from supervisor.flows.refusals import AtLimit

    made: RoomMade | None = None
    while True:
        claimed = locks.claim_free(settings.places)
        # Every place held: refused from the records alone (fast) — unless CLIs have limits of their own, where
        # the policy says which limit is reached, and whose sessions fill it.
        if not claimed and (settings.make_room is None or made is not None) and not settings.cli_limits:
            _refuse_full(paths, settings.places, quiet, cli_of(settings))
        snapshot = world.snapshot()
        others = others_than_this(snapshot, settings, locks, bringing_here)
        starting = max(0, locks.held_by_others() - sum(1 for s in others if s.kind == "supervised"))
        decision = admit([s.seen() for s in others],
                         Limits(settings.max_sessions, settings.cli_limits, settings.count_editor_sessions),
                         starting=starting, make_room_after=settings.make_room if made is None else None,
                         may_end=may_end(settings.end_unmanaged, free_place=claimed),
                         memory_budget=settings.memory_budget, waiting_limit=settings.waiting_limit,
                         cli=cli_of(settings))
        if decision.admitted and claimed:
            return made
        if decision.admitted:  # the policy has room, but every place is held (a start racing this one)
            _refuse_full(paths, settings.places, quiet, cli_of(settings))
        chosen = snapshot.by_key(decision.make_room.key) if decision.make_room is not None else None
        if chosen is None:
            if not quiet:
                log_event(paths.log_file, "refused", reason="memory" if decision.over == "memory" else "limit",
                          cli=cli_of(settings), count=decision.total, limit=decision.limit,
                          max_sessions=settings.max_sessions, held=decision.memory,
                          memory_budget=settings.memory_budget, sessions=[f"{s.kind} {s.id}" for s in others],
                          cwd=os.getcwd())
            # Over the count, the sessions counted with it, against its limit; over the memory, every session.
            keys = {seen.key for seen in decision.counted}
            named = others if decision.over == "memory" else [s for s in others if s.key in keys]
            raise AtLimit(named, decision.limit, over=decision.over or "count", held=decision.memory,
                          budget=settings.memory_budget, end_unmanaged=settings.end_unmanaged,
                          make_room=settings.make_room if made is None else None)
        made = _make_room(paths, settings, world, reporter, chosen, others)


def _make_room(paths: Paths, settings: Settings, world: World, reporter: Reporter, chosen: AnySession,
               others: list[AnySession]) -> RoomMade:
    """End the session the policy named, and wait until it is gone; the usual refusal when it would not go."""
    from supervisor.flows.refusals import AtLimit
    from supervisor.flows.reporting import RoomMade

    reason = f"made room for pid {os.getpid()} on {processes.own_tty() or 'no terminal'} (make_room)"
    idle = chosen.idle_seconds or 0.0
    gone, resume = world.end(chosen, reason)
    log_event(paths.log_file, "made-room", kind=chosen.kind, id=chosen.id, cli_pid=chosen.pid, cwd=chosen.cwd,
              idle=round(idle, 1), gone=gone, resume=resume, reason=reason)
    if not gone:
        raise AtLimit(others, settings.max_sessions)
    made = RoomMade(chosen, idle, resume, chosen.cwd)
    reporter.room_made(made)
    return made


def others_than_this(snapshot: Snapshot, settings: Settings, locks: Locks,
                     bringing_here: str | None) -> list[AnySession]:
    """Every session but this start's own: not its place, not the background session it brings here (an
    attach X` is that session), and with allow_unmanaged only the supervised ones."""
    from supervisor.flows.census import resolve_target

    shown = resolve_target(snapshot.census.background, bringing_here)
    others = [s for s in snapshot.others_than(locks.slot)
              if not (s.background is not None and s.background.short == shown)]
    return [s for s in others if s.kind == "supervised"] if settings.allow_unmanaged else others


def _refuse_full(paths: Paths, max_sessions: int, quiet: bool = False, cli: str | None = None) -> NoReturn:
    """Every place is held by a supervised session: say who holds them (their records alone: no census)."""
    from supervisor.flows.sessions import supervised_sessions

    sessions = supervised_sessions(paths, max_sessions)
    if not quiet:
        log_event(paths.log_file, "refused", reason="held", holders=[s.id for s in sessions], cwd=os.getcwd(),
                  cli=cli)
    raise SessionHeld(sessions, max_sessions)


# --- in line ----------------------------------------------------------------------------------------------------


def wait_for_room(paths: Paths, locks: Locks, settings: Settings, world: World, reporter: Reporter,
                  patience: float | None, bringing_here: str | None = None) -> RoomMade | None:
    """`run --wait`: in line (first come, first served; takeovers first) until the one decision admits it — a
    place free and, with a memory budget, room — or patience runs out. First in line, it keeps the gate, so
    nobody who came later slips in; a refused decision gives its place back and keeps its turn."""
    from supervisor.flows.refusals import AtLimit
    from supervisor.flows.reporting import WaitProgress

    clock = world.clock
    started = clock.mono()
    with in_line(paths, locks, WAIT, clock) as turn:
        while True:
            claimed = False
            if turn.first_with_gate():
                try:
                    return decide(paths, locks, settings, world, reporter, bringing_here, quiet=True)
                except (SessionHeld, AtLimit) as refused:
                    claimed = isinstance(refused, AtLimit)  # a place was free: the sessions fill the limit
                    locks.release()
            if world.abandoned():
                log_event(paths.log_file, "refused", reason="terminal-gone")
                raise TerminalGone("its terminal was given back to the shell while it waited; nothing was started")
            waited = clock.mono() - started
            holders = supervised(paths, settings.places)
            reporter.waiting(WaitProgress(holders[0].record if holders else None,
                                          position(paths.queue_dir, turn.ticket), waited))
            if patience is not None and waited >= patience:
                log_event(paths.log_file, "refused", reason="gave-up-waiting", waited=round(patience, 1))
                raise GaveUpWaiting(patience)
            # A place frees by a lock (cheap to look at); room by a session ending (a snapshot: look less often).
            clock.sleep(STEP * 4 if claimed else STEP)


class Turn:
    """A place in the waiting line: its ticket, and the gate while it is this place's turn."""

    def __init__(self, paths: Paths, locks: Locks, ticket: Ticket) -> None:
        self.paths, self.locks, self.ticket = paths, locks, ticket
        self.have_gate = False

    def first_with_gate(self) -> bool:
        """First in line, and holding the gate (kept from then on, so nobody who came later slips in)."""
        if first_in_line(self.paths.queue_dir) != self.ticket.path:
            if self.have_gate:
                self.locks.gate.release()  # someone ahead (a takeover) must get the gate
                self.have_gate = False
            return False
        self.have_gate = self.have_gate or self.locks.gate.try_acquire()
        return self.have_gate


@contextmanager
def in_line(paths: Paths, locks: Locks, priority: int, clock: Clock) -> Iterator[Turn]:
    """A ticket in the line for as long as the block runs; on the way out the gate (if it was ours) is given
    back and the ticket removed, and on an error the place too."""
    turn = Turn(paths, locks, take_ticket(paths.queue_dir, priority, clock))
    try:
        yield turn
    except BaseException:
        locks.release()
        raise
    finally:
        if turn.have_gate:
            locks.gate.release()
        drop(turn.ticket.path)


# --- taking over ------------------------------------------------------------------------------------------------


@dataclass
class Handover:
    """What a takeover found and did: the sessions it ended, and the conversations they had (most recently active
    first), of which the first is carried on — or the background session it brings here instead."""

    previous: SessionRecord | None = None
    unmanaged_ended: list[int] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    attach: LiveSession | None = None  # a background session to bring here, live, instead of a resume


def take_over(paths: Paths, locks: Locks, settings: Settings, adapter: SessionSource, *, force: bool,
              reporter: Reporter, named: str | None = None, clock: Clock = SYSTEM, resume: bool = True) -> Handover:
    """End what holds the session — the session `named`; with one session allowed, everything there is
    (unmanaged ones with consent); else the one the policy chooses (the most idle one nobody uses) — and keep a
    slot for the new one. Which one is decided first in line, under the gate, so racing takeovers each take a
    different session."""
    from supervisor.flows import ending
    from supervisor.flows.census import Census
    from supervisor.flows.sessions import take_snapshot
    from supervisor.flows.stop import end_others

    handover = Handover()
    with in_line(paths, locks, TAKEOVER, clock) as turn:
        while not turn.first_with_gate():  # earlier takeovers go first
            clock.sleep(STEP)
        target = _target(paths, settings, adapter, named, reporter, clock)
        if target is not None and target.kind == "asleep" and target.holder is not None:
            # Asleep: its CLI is gone already; its csup is asked to leave, and its conversation comes here.
            asleep = target.holder
            lock = FileFlock(asleep.slot.lock_file)
            try:
                if not lock.try_acquire():
                    ending.end_holder(paths, asleep.slot, asleep.record, _takeover_kind(settings, asleep.record,
                                                                                        resume),
                                      lock, settings.stop_wait, reporter.escalation)
                ending.clear_asleep_place(asleep.slot)
            finally:
                lock.release()
            handover.previous = asleep.record
            if asleep.record.conversation_id:
                handover.conversations.append(Conversation(asleep.record.conversation_id, asleep.record.cwd,
                                                          asleep.record.cli_name))
            # Its conversation comes back here as a new session: the one admission decides (the gate is ours).
            decide(paths, locks, settings, world_of(paths, settings, adapter, reporter, clock), reporter)
            return handover
        if target is not None and target.kind == "background" and target.background is not None:
            handover.attach = target.background  # brought here, not ended
            _claim_slot(paths, locks, settings)
            return handover
        if target is not None and target.unmanaged is not None:
            one = end_others(paths, settings, adapter, Census([target.unmanaged], []), force=True,
                             reporter=reporter, how_to="csup takeover --force", cause="takeover")
            handover.unmanaged_ended = [s.pid for s in one.sessions]
            handover.conversations = one.conversations
            _claim_slot(paths, locks, settings)
            return handover
        holder = target.holder if target is not None else None
        ended: OthersEnded | None = None
        current = _end_holder(paths, locks, settings, turn.ticket, handover, reporter, holder, clock, resume)
        if target is None:
            found = take_snapshot(paths, settings.places, adapter, clock=clock).census
            if current is None and found.background:
                # A background session is brought here live (attach): no restart, no second writer.
                handover.attach = max(found.background, key=lambda s: s.last_activity or 0.0)
                found = found.without(handover.attach.short)
            ended = end_others(paths, settings, adapter, found, force=force, reporter=reporter,
                               how_to="csup takeover --force", cause="takeover")
            handover.unmanaged_ended = [session.pid for session in ended.sessions]
        if current is not None:
            if current.conversation_id:
                handover.conversations.append(Conversation(current.conversation_id, current.cwd, current.cli_name))
            if not ending.wait_gone(current.cli, settings.term_wait, clock) and current.cli is not None:
                processes.signal_verified(current.cli, signal.SIGKILL)  # two CLIs on one conversation corrupt it
                ending.wait_gone(current.cli, ending.KILL_GRACE, clock)
        if ended is not None:
            handover.conversations += ended.conversations
        return handover


def _target(paths: Paths, settings: Settings, census: SessionSource, named: str | None,
            reporter: Reporter, clock: Clock) -> AnySession | None:
    """The session a takeover ends: the one named (an asleep one too); with nothing running, the session that
    fell asleep last (its conversation is what a new terminal wants back); with one session allowed, none in
    particular (all of them); else the policy's choice, said first — or, when every session is in use, a
    refusal listing why."""
    from supervisor.flows.sessions import resolve, take_snapshot

    snapshot = take_snapshot(paths, settings.places, census, clock=clock)
    if named is not None:
        return resolve(snapshot.nameable, named)
    if not snapshot.sessions and snapshot.asleep:
        return max(snapshot.asleep, key=lambda s: (s.holder.record.asleep_since or 0.0) if s.holder else 0.0)
    if settings.places == 1:
        return None
    from supervisor.clis.choose import cli_of
    from supervisor.flows.stop import choose

    return choose(snapshot, settings, reporter, for_cli=cli_of(settings))


def _takeover_kind(settings: Settings, holder: SessionRecord, resume: bool) -> str:
    """What the ended terminal is told: its conversation goes on here (`takeover`), or nowhere — a new one starts
    here (`--no-resume`, or another CLI, which cannot open it) and its resume line is said there."""
    from supervisor.clis.choose import cli_of
    from supervisor.flows import ending

    carried = resume and holder.cli_name in ("", cli_of(settings))
    return "takeover" if carried else ending.REPLACED


def _claim_slot(paths: Paths, locks: Locks, settings: Settings) -> None:
    if not locks.claim_free(settings.places):
        _refuse_full(paths, settings.places)


def _end_holder(paths: Paths, locks: Locks, settings: Settings, ticket: Ticket, handover: Handover,
                reporter: Reporter, chosen: Holder | None, clock: Clock, resume: bool = True) -> SessionRecord | None:
    """End the supervised session in `chosen` (by default the one in slot 0) and take its slot — unless it was
    itself started after our ticket (a racing takeover won): then refuse rather than take over the winner. A
    holder with no record yet is starting: wait. A free slot needs no ending (with room for one more)."""
    from supervisor.flows import ending

    slot = chosen.slot if chosen is not None else paths.slot(0)
    deadline = clock.mono() + settings.stop_wait
    while True:
        current = live_record(slot.record_file)
        if current is not None and current.started_at > ticket.created_at:
            raise TakeoverLost(current)
        if locks.claim(slot, 0):
            return None  # nobody held it: a record without its lock proves nothing, and nothing is signalled
        if current is not None:
            handover.previous = current
            how = ending.end_holder(paths, slot, current, _takeover_kind(settings, current, resume),
                                    locks._lock_of(slot), settings.stop_wait, reporter.escalation)
            locks.slot = slot
            log_event(paths.log_file, "took-over", holder=current.session_id, how=how)
            return current
        if clock.mono() >= deadline:
            raise SessionHeld([])
        clock.sleep(STEP)
