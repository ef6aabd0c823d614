"""One snapshot of every session of the user, whatever started it: supervised (the live slots' records and
their CLIs), background (a CLI's registry) and unmanaged (the census less the supervised CLIs and the
daemon's helpers) — each session exactly once, with one idle time (core/policy.idle_seconds) and one state.
Admission, refusals, status, stop and takeover, the enforcer and doctor all read it; none builds its own list.
Also what an ID a person typed names: csup's short id, a CLI's session id or a background session's short id,
a pid, or a terminal. Side effects: reads the records, the process table and the registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, NamedTuple

from supervisor.clis.adapter import Conversation, LiveSession, SessionSource
from supervisor.core.errors import UsageError
from supervisor.core.identity import ProcessIdentity
from supervisor.core.policy import Seen, idle_seconds
from supervisor.flows.census import Census, UnmanagedSession, take_census
from supervisor.flows.census import names as names_session
from supervisor.machine import processes
from supervisor.machine.clock import SYSTEM, Clock
from supervisor.machine.paths import Paths, Slot
from supervisor.machine.record import Holder, SessionRecord, is_live, live_holders, read_record

if TYPE_CHECKING:  # measured only when a decision or a report needs it: a plain run does not import it
    from supervisor.machine.memory import TreeMemory

Kind = Literal["supervised", "unmanaged", "background", "asleep", "editor"]
MIN_PREFIX = 4  # an id may be shortened to this many characters, when that is unambiguous


class AnySession(NamedTuple):
    """One session, whatever its kind, with what a person recognises it by."""

    kind: Kind
    id: str  # csup's short id, the daemon's short id, or the pid of an unmanaged session
    pid: int | None  # the CLI's
    tty: str
    cwd: str
    idle_seconds: float | None
    state: str = ""  # supervised: csup's (active, warning, suspended, ending); else what the CLI says
    holder: Holder | None = None
    unmanaged: UnmanagedSession | None = None
    background: LiveSession | None = None
    shows: LiveSession | None = None  # a supervised attach: the background session it shows
    cli_status: str = "unknown"  # a supervised session's CLI, in its own words (its registry): busy, waiting…
    memory: TreeMemory | None = None  # its process tree's memory, when the snapshot measured it

    def names(self) -> set[str]:
        """Every way a person may name it."""
        found = {self.id}
        if self.pid:
            found.add(str(self.pid))
        if self.tty:
            found |= {self.tty, self.tty.removeprefix("/dev/")}
        if self.holder is not None:
            found |= {self.holder.record.session_id, str(self.holder.record.csup.pid)}
            if self.holder.record.conversation_id:
                found.add(self.holder.record.conversation_id)
        for shown in (self.background, self.shows):
            if shown is not None:
                found |= {shown.conversation.id, shown.short}
        return {name for name in found if name}

    @property
    def cli(self) -> str:
        """Which CLI it is (clis/choose.py's names); "" for a program csup does not know."""
        if self.holder is not None:
            return self.holder.record.cli_label
        if self.background is not None:
            return self.background.cli
        return self.unmanaged.cli if self.unmanaged is not None else ""

    @property
    def key(self) -> str:
        """Stable while this very session lives, and never the key of another one (pids are reused)."""
        if self.holder is not None:
            return f"csup:{self.holder.record.session_id}"
        if self.background is not None:
            return f"bg:{self.background.short}"
        assert self.unmanaged is not None
        return f"pid:{self.unmanaged.pid}:{self.unmanaged.view.start_time}"

    def seen(self) -> Seen:
        """The session as the policy takes it."""
        held = self.memory.total if self.memory is not None else None
        if self.background is not None:
            bg = self.background
            return Seen("background", self.key, self.idle_seconds, busy=bg.status == "busy",
                        waiting=bg.status == "waiting", attached=bg.attached > 0, pinned=bg.pinned, memory=held,
                        cli=self.cli)
        if self.unmanaged is not None:
            return Seen("editor" if self.unmanaged.editor else "unmanaged", self.key, self.idle_seconds,
                        busy=self.unmanaged.status == "busy", waiting=self.unmanaged.status == "waiting",
                        memory=held, cli=self.cli)
        return Seen("supervised", self.key, self.idle_seconds, busy=self.cli_status == "busy",
                    waiting=self.cli_status == "waiting", memory=held, cli=self.cli)


class Snapshot(NamedTuple):
    """Every session at one moment, most idle first (an unknown idle time counts as the most idle)."""

    sessions: list[AnySession]
    time: float  # wall clock, when it was taken
    census: Census  # the unmanaged and background ones, with their details
    holders: list[Holder]
    orphan: ProcessIdentity | None = None  # a CLI whose csup is gone (SIGKILL), left running
    measured: bool = False  # whether each session's memory was measured
    asleep: list[AnySession] = []  # noqa: RUF012  # asleep sessions: they hold no place and count for nothing

    @property
    def nameable(self) -> list[AnySession]:
        """Every session a command may name: the running ones and the asleep ones."""
        return [*self.sessions, *self.asleep]

    @property
    def memory_total(self) -> int:
        return sum(s.memory.total for s in self.sessions if s.memory is not None)

    def of_kind(self, kind: Kind) -> list[AnySession]:
        return [session for session in self.sessions if session.kind == kind]

    def outside(self) -> Census:
        """The sessions outside csup's ptys, as the census found them."""
        return self.census

    def others_than(self, slot: Slot | None) -> list[AnySession]:
        """Every session but the one in `slot` (a csup asking about the others)."""
        return [s for s in self.sessions if s.holder is None or slot is None or s.holder.slot != slot]

    def by_key(self, key: str) -> AnySession | None:
        return next((session for session in self.sessions if session.key == key), None)


def short_id(session_id: str) -> str:
    return session_id[:8]


def supervised(paths: Paths, max_sessions: int) -> list[Holder]:
    """The live supervised sessions: the one place the slots are listed for reading."""
    return live_holders(paths.known_slots(max_sessions))


def supervised_sessions(paths: Paths, max_sessions: int, clock: Clock = SYSTEM) -> list[AnySession]:
    """The supervised sessions alone, from their records (no census): what a refusal at full places names."""
    now, now_mono = clock.both()
    found = [_supervised(holder, now, now_mono) for holder in supervised(paths, max_sessions)]
    return sorted(found, key=lambda s: -(s.idle_seconds or 0.0))


def take_snapshot(paths: Paths, max_sessions: int, adapter: SessionSource, *,
                  census: Callable[[set[int], ProcessIdentity | None], Census] | None = None,
                  clock: Clock = SYSTEM,
                  memory: Callable[[list[int]], dict[int, TreeMemory]] | None = None) -> Snapshot:
    """Every session of the user, now. With `memory` (machine/memory.of_trees, or a test's), each session's
    process tree is measured: only when a decision or a report needs it. `census` and `clock` are collaborators
    too: tests hand in their own views of the processes and the registry, and a clock."""
    now, now_mono = clock.both()
    slots = paths.known_slots(max_sessions)
    holders = live_holders(slots)  # as supervised() reads them: the slots are listed once for both
    managed = {h.record.cli.pid for h in holders if h.record.cli is not None}
    # A record whose csup is gone while its CLI lives on: that CLI is an orphan, shown as such.
    orphan = next((record.cli for record in (read_record(slot.record_file) for slot in slots)
                   if record is not None and record.cli is not None and not is_live(record)), None)
    def starting(pid: int) -> bool:
        """A csup that holds a place (its lock open) and has not written its record yet."""
        return processes.runs_csup(pid) and any(processes.holds_open(pid, slot.lock_file) for slot in slots)

    def counted(known: set[int], stale: ProcessIdentity | None) -> Census:
        return take_census(adapter, known, stale, starting, clock=clock)

    found = (census or counted)(managed, orphan)
    sessions = []
    for holder in holders:  # the background session a supervised attach shows is that session
        attached = holder.record.attached
        shown = next((s for s in found.background if attached and names_session(s, attached)), None)
        found = found.without(holder.record.attached)
        status = adapter.live_state(holder.record.cli.pid) if holder.record.cli is not None else None
        sessions.append(_supervised(holder, now, now_mono, shown, status.status if status else "unknown"))
    sessions += [AnySession("editor" if s.editor else "unmanaged", str(s.pid), s.pid, s.tty, s.cwd,
                            s.idle_seconds, s.status, unmanaged=s)
                 for s in (*found.unmanaged, *found.editors)]
    sessions += [AnySession("background", s.short, s.pid, "", s.conversation.cwd, s.idle_for(now),
                            "/".join(part for part in (s.status, s.state) if part and part != "unknown"),
                            background=s)
                 for s in found.background]
    if memory is not None:
        held = memory([s.pid for s in sessions if s.pid])
        sessions = [s._replace(memory=held.get(s.pid)) if s.pid else s for s in sessions]
    sessions.sort(key=lambda s: -(s.idle_seconds if s.idle_seconds is not None else float("inf")))
    asleep = [_supervised(holder, now, now_mono)._replace(kind="asleep", state="asleep")
              for holder in live_holders(paths.asleep_places())]
    return Snapshot(sessions, now, found, holders, orphan, measured=memory is not None, asleep=asleep)


def _supervised(holder: Holder, now: float, now_mono: float, shown: LiveSession | None = None,
                cli_status: str = "unknown") -> AnySession:
    record = holder.record
    idle = idle_seconds(now, now_mono, last_wall=record.last_activity_at, last_mono=record.last_activity_mono)
    return AnySession("supervised", short_id(record.session_id), record.cli.pid if record.cli else None,
                      record.tty, shown.conversation.cwd if shown is not None else record.cwd, idle, record.state,
                      holder=holder, shows=shown, cli_status=cli_status)


def resolve(sessions: list[AnySession], text: str) -> AnySession:
    """The one session `text` names, exactly or by an unambiguous prefix of an id; a UsageError (naming the
    candidates) when it names none or several."""
    wanted = text.strip()
    exact = [s for s in sessions if wanted in s.names()]
    if len(exact) == 1:
        return exact[0]
    matches = exact or ([s for s in sessions if any(name.startswith(wanted) for name in s.names())]
                        if len(wanted) >= MIN_PREFIX else [])
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no session matches {wanted!r}", hint="see them all: csup status")
    candidates = ", ".join(f"{s.kind} {s.id}" for s in matches)
    raise UsageError(f"{wanted!r} names {len(matches)} sessions: {candidates}", hint="name one of them by its id")


def conversation_in(record: SessionRecord) -> Conversation | None:
    """The conversation a supervised (or asleep) session has open, by its record, once known."""
    return Conversation(record.conversation_id, record.cwd, record.cli_name) if record.conversation_id else None


def resume_of(adapter: SessionSource, conversation: Conversation | None) -> str | None:
    """The command that reopens a conversation — only once its CLI has saved it (never a guess)."""
    return adapter.resume_command(conversation) if conversation is not None and adapter.can_resume(conversation) \
        else None
