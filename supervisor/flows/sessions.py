"""Every session of the user, of every kind, as one list (most idle first), and what an ID a person typed names:
csup's short id, Claude's session id or a background session's short id, a pid, or a terminal. Reads the
records and the census; pure otherwise."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from supervisor.claude.adapter import CliAdapter, LiveSession
from supervisor.core.errors import UsageError
from supervisor.flows.census import Census, UnmanagedSession, take_census
from supervisor.machine.paths import Paths
from supervisor.machine.record import Holder, live_holders

Kind = Literal["supervised", "unmanaged", "background"]
MIN_PREFIX = 4  # an id may be shortened to this many characters, when that is unambiguous


@dataclass(frozen=True)
class AnySession:
    """One session, whatever its kind, with what a person recognises it by."""

    kind: Kind
    id: str  # csup's short id, the daemon's short id, or the pid of an unmanaged session
    pid: int | None  # the CLI's
    tty: str
    cwd: str
    idle_seconds: float | None
    holder: Holder | None = None
    unmanaged: UnmanagedSession | None = None
    background: LiveSession | None = None

    def names(self) -> set[str]:
        """Every way a person may name it."""
        found = {self.id}
        if self.pid:
            found.add(str(self.pid))
        if self.tty:
            found |= {self.tty, self.tty.removeprefix("/dev/")}
        if self.holder is not None:
            found |= {self.holder.record.session_id, str(self.holder.record.csup.pid)}
            if self.holder.record.claude_session_id:
                found.add(self.holder.record.claude_session_id)
        if self.background is not None:
            found.add(self.background.conversation.id)
        return {name for name in found if name}


def short_id(session_id: str) -> str:
    return session_id[:8]


def everyone(paths: Paths, max_sessions: int, census: CliAdapter, found: Census | None = None) -> list[AnySession]:
    """Every session of the user, most idle first (an unknown idle time counts as the most idle)."""
    now, now_mono = time.time(), time.monotonic()
    holders = live_holders(paths.known_slots(max_sessions))
    managed = {h.record.cli.pid for h in holders if h.record.cli is not None}
    attached = {h.record.attached for h in holders if h.record.attached}
    found = found if found is not None else take_census(census, managed)
    for target in attached:
        found = found.without(target)
    sessions = [AnySession("supervised", short_id(h.record.session_id), h.record.cli.pid if h.record.cli else None,
                           h.record.tty, h.record.cwd, _holder_idle(h, now, now_mono), holder=h) for h in holders]
    sessions += [AnySession("unmanaged", str(s.pid), s.pid, s.tty, s.cwd, s.idle_seconds, unmanaged=s)
                 for s in found.unmanaged]
    sessions += [AnySession("background", s.short, s.pid, "", s.conversation.cwd, s.idle_for(now), background=s)
                 for s in found.background]
    return sorted(sessions, key=lambda s: -(s.idle_seconds if s.idle_seconds is not None else float("inf")))


def _holder_idle(holder: Holder, now: float, now_mono: float) -> float:
    record = holder.record
    if record.last_activity_mono is not None:
        return max(0.0, now_mono - record.last_activity_mono)  # machine-wide monotonic: sleep is not idle
    return max(0.0, now - record.last_activity_at)


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
