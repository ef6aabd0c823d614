"""`csup status`: the snapshot of every session (flows/sessions.py), the watcher that enforces the policy outside
csup's ptys, and the load, as one value; the face renders it."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from supervisor.clis.adapter import LiveSession, SessionSource
from supervisor.core.policy import spared, time_left
from supervisor.flows.census import UnmanagedSession
from supervisor.flows.sessions import AnySession, Snapshot, short_id, take_snapshot
from supervisor.flows.waitline import TAKEOVER, Ticket, line
from supervisor.machine.memory import MEASURE, of_trees
from supervisor.machine.paths import Paths

# 2: `sessions` lists every session of every kind; `max_sessions`. 3: memory. 4: `asleep`. 5: each session's
# `cli`, and editors' sessions (kind "editor", with `editor`).
SCHEMA_VERSION = 5


@dataclass(frozen=True)
class ManagedSession:
    id: str  # csup's short id for it
    csup_pid: int
    cli_pid: int | None
    tty: str
    cwd: str
    started_at: float
    idle_seconds: float
    idle_limit: float | None
    time_left: float | None
    state: str  # active, warning, suspended, ending
    conversation_id: str | None
    attached: str | None = None  # the background session it shows, live
    kept: str | None = None  # why no idle limit ends it now (busy, waiting for you…): the policy's word
    cli: str = ""  # which CLI runs there ("" for a program csup does not know)


@dataclass(frozen=True)
class StatusReport:
    session: ManagedSession | None  # the first supervised session (what schema 1 had; one with max_sessions 1)
    unmanaged: list[UnmanagedSession]
    load: tuple[float, float, float]
    cores: int
    time: float
    background: list[LiveSession] = field(default_factory=list)
    background_idle_limit: float | None = None
    supervised: list[ManagedSession] = field(default_factory=list)
    sessions: list[AnySession] = field(default_factory=list)  # every session, most idle first
    max_sessions: int = 1
    watcher: dict[str, object] | None = None  # the running `csup watch`: pid, mode, last_sweep, next_sweep
    waiting: list[Ticket] = field(default_factory=list)  # terminals in line for a place (run --wait, takeover)
    memory_budget: int | None = None
    asleep: list[AnySession] = field(default_factory=list)  # asleep sessions: no place held, nothing counted
    editors: list[UnmanagedSession] = field(default_factory=list)  # run by an editor: shown, counted by memory
    count_editors: bool = False  # whether editors' sessions count against max_sessions too
    own_limits: tuple[tuple[str, int], ...] = ()  # CLIs with a limit of their own (cli_limits)

    @property
    def memory_total(self) -> int:
        return sum(s.memory.total for s in self.sessions if s.memory is not None)

    @property
    def running(self) -> bool:
        return bool(self.sessions) or self.session is not None or bool(self.unmanaged) or bool(self.background)


    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "time": self.time, "running": self.running,
                "max_sessions": self.max_sessions,
                "sessions": [_with_legacy(self._listed(session)) for session in self.sessions],
                "session": _with_legacy(asdict(self.session)) if self.session else None,
                "unmanaged": [session.to_json() for session in self.unmanaged],
                "background": [background_json(session, self.background_idle_limit)
                               for session in self.sessions if session.background is not None],
                "memory": {"total": self.memory_total, "budget": self.memory_budget, "measure": MEASURE},
                "watcher": self.watcher, "enforcer": self.enforcer,
                "waiting": [{"pid": t.owner.pid, "tty": t.tty, "since": t.created_at,
                             "kind": "takeover" if t.priority == TAKEOVER else "wait"} for t in self.waiting],
                "asleep": [_with_legacy(asleep_json(session)) for session in self.asleep],
                "load": list(self.load), "cores": self.cores}

    @property
    def enforcer(self) -> str | None:
        """Who ends idle sessions outside csup's terminals: the watcher's mode, or None when nobody does."""
        return str(self.watcher.get("mode") or "watcher") if self.watcher is not None else None

    def _listed(self, session: AnySession) -> dict[str, Any]:
        common = {"kind": session.kind, "cli": session.cli or None, "id": session.id, "pid": session.pid,
                  "tty": session.tty,
                  "cwd": session.cwd, "idle_seconds": None if session.idle_seconds is None
                  else round(session.idle_seconds, 1),
                  "memory_bytes": session.memory.total if session.memory is not None else None}
        if session.holder is not None:
            managed = next(m for m in self.supervised if m.csup_pid == session.holder.record.csup.pid)
            return common | {"state": managed.state, "idle_limit": managed.idle_limit, "time_left": managed.time_left,
                             "conversation_id": managed.conversation_id, "kept_awake": managed.kept}
        if session.background is not None:
            return common | {"state": session.background.state or session.background.status,
                             "idle_limit": self.background_idle_limit,
                             "conversation_id": session.background.conversation.id}
        if session.kind == "editor" and session.unmanaged is not None:
            return common | {"state": "editor", "editor": session.unmanaged.editor, "idle_limit": None,
                             "conversation_id": None}
        return common | {"state": "unmanaged", "idle_limit": None, "conversation_id": None}


def _with_legacy(fields: dict[str, Any]) -> dict[str, Any]:
    """A value under its older name too, for the scripts that read an earlier schema."""
    from supervisor.clis.choose import legacy_fields

    return fields | {old: fields[new] for new, old in legacy_fields().items() if new in fields}


def background_json(listed: AnySession, limit: float | None) -> dict[str, Any]:
    session, idle = listed.background, listed.idle_seconds
    assert session is not None
    return {"kind": "background", "id": session.short, "name": session.name, "pid": session.pid,
            "cwd": session.conversation.cwd, "session_id": session.conversation.id, "status": session.status,
            "state": session.state, "needs": session.needs, "started_at": session.started_at,
            "idle_seconds": None if idle is None else round(idle, 1), "idle_limit": limit,
            "attached": session.attached}


def asleep_json(session: AnySession) -> dict[str, Any]:
    assert session.holder is not None
    record = session.holder.record
    return {"id": session.id, "cli": record.cli_name or None, "csup_pid": record.csup.pid, "tty": record.tty,
            "cwd": record.cwd,
            "asleep_since": record.asleep_since, "reason": record.end_reason, "freed_bytes": record.freed,
            "conversation_id": record.conversation_id, "started_at": record.started_at}


def gather(paths: Paths, census_adapter: SessionSource, background_idle_limit: float | None = None,
           max_sessions: int = 1, snapshot: Snapshot | None = None,
           memory_budget: int | None = None, waiting_limit: float | None = None,
           places: int | None = None, count_editors: bool = False,
           own_limits: tuple[tuple[str, int], ...] = ()) -> StatusReport:
    snap = snapshot or take_snapshot(paths, places or max_sessions, census_adapter, memory=of_trees)
    supervised = [_managed(session, waiting_limit) for session in snap.of_kind("supervised")]
    from supervisor.flows.watch import watcher_state

    return StatusReport(supervised[0] if supervised else None, snap.census.unmanaged, os.getloadavg(),
                        os.cpu_count() or 1, snap.time, snap.census.background, background_idle_limit, supervised,
                        snap.sessions, max_sessions, watcher_state(paths), line(paths.queue_dir), memory_budget,
                        snap.asleep, snap.census.editors, count_editors, own_limits)


def _managed(session: AnySession, waiting_limit: float | None) -> ManagedSession:
    assert session.holder is not None
    record = session.holder.record
    idle = session.idle_seconds or 0.0
    cwd = session.cwd  # an attach shows its background session's directory, not the attaching terminal's
    kept = spared(session.seen(), waiting_limit)
    left = None if kept is not None else time_left(idle, record.idle_limit)
    return ManagedSession(
        id=short_id(record.session_id), csup_pid=record.csup.pid, cli_pid=record.cli.pid if record.cli else None,
        tty=record.tty, cwd=cwd, started_at=record.started_at, idle_seconds=round(idle, 1),
        idle_limit=record.idle_limit, time_left=None if left is None else round(left, 1), state=record.state,
        conversation_id=record.conversation_id, attached=record.attached, kept=kept, cli=record.cli_label,
    )
