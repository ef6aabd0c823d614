"""`csup status`: gathers who holds the session, the claude sessions outside csup and the load into one value
(reads the record, the process table, the CLI's own state and tty times); the face renders it."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from supervisor.claude.adapter import CliAdapter, LiveSession
from supervisor.flows.census import UnmanagedSession, take_census
from supervisor.flows.sessions import AnySession, everyone, short_id
from supervisor.machine.paths import Paths
from supervisor.machine.record import SessionRecord, is_live, live_holders, read_record

SCHEMA_VERSION = 2  # 2: `sessions` lists every session of every kind; `max_sessions`


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
    claude_session_id: str | None
    attached: str | None = None  # the background session it shows, live


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
    watcher: dict[str, object] | None = None  # the running `csup watch`: pid, last_sweep, next_sweep

    @property
    def running(self) -> bool:
        return bool(self.sessions) or self.session is not None or bool(self.unmanaged) or bool(self.background)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "time": self.time, "running": self.running,
                "max_sessions": self.max_sessions,
                "sessions": [self._listed(session) for session in self.sessions],
                "session": asdict(self.session) if self.session else None,
                "unmanaged": [session.to_json() for session in self.unmanaged],
                "background": [background_json(session, self.time, self.background_idle_limit)
                               for session in self.background],
                "watcher": self.watcher, "load": list(self.load), "cores": self.cores}

    def _listed(self, session: AnySession) -> dict[str, Any]:
        common = {"kind": session.kind, "id": session.id, "pid": session.pid, "tty": session.tty,
                  "cwd": session.cwd, "idle_seconds": None if session.idle_seconds is None
                  else round(session.idle_seconds, 1)}
        if session.holder is not None:
            managed = next(m for m in self.supervised if m.csup_pid == session.holder.record.csup.pid)
            return common | {"state": managed.state, "idle_limit": managed.idle_limit, "time_left": managed.time_left,
                             "claude_session_id": managed.claude_session_id}
        if session.background is not None:
            return common | {"state": session.background.state or session.background.status,
                             "idle_limit": self.background_idle_limit,
                             "claude_session_id": session.background.conversation.id}
        return common | {"state": "unmanaged", "idle_limit": None, "claude_session_id": None}


def background_json(session: LiveSession, now: float, limit: float | None) -> dict[str, Any]:
    idle = session.idle_for(now)
    return {"kind": "background", "id": session.short, "name": session.name, "pid": session.pid,
            "cwd": session.conversation.cwd, "session_id": session.conversation.id, "status": session.status,
            "state": session.state, "needs": session.needs, "started_at": session.started_at,
            "idle_seconds": None if idle is None else round(idle, 1), "idle_limit": limit,
            "attached": session.attached}


def gather(paths: Paths, census_adapter: CliAdapter, background_idle_limit: float | None = None,
           max_sessions: int = 1) -> StatusReport:
    now, now_mono = time.time(), time.monotonic()
    slots = paths.known_slots(max_sessions)
    holders = live_holders(slots)
    supervised = [_managed(holder.record, now, now_mono) for holder in holders]
    # A record whose csup is gone while its CLI lives on: that CLI is an orphan, shown as such.
    stale = [record for record in (read_record(slot.record_file) for slot in slots)
             if record is not None and not is_live(record)]
    stale_cli = next((record.cli for record in stale if record.cli is not None), None)
    managed = {h.record.cli.pid for h in holders if h.record.cli is not None}
    found = take_census(census_adapter, managed, stale_cli)
    for holder in holders:
        found = found.without(holder.record.attached)
    sessions = everyone(paths, max_sessions, census_adapter, found)
    from supervisor.flows.watch import watcher_state

    return StatusReport(supervised[0] if supervised else None, found.unmanaged, os.getloadavg(),
                        os.cpu_count() or 1, now, found.background, background_idle_limit, supervised, sessions,
                        max_sessions, watcher_state(paths))


def _managed(record: SessionRecord, now: float, now_mono: float) -> ManagedSession:
    if record.last_activity_mono is not None:
        idle = max(0.0, now_mono - record.last_activity_mono)  # machine-wide monotonic: sleep is not idle
    else:
        idle = max(0.0, now - record.last_activity_at)
    left = None if record.idle_limit is None else max(0.0, record.idle_limit - idle)
    return ManagedSession(
        id=short_id(record.session_id), csup_pid=record.csup.pid, cli_pid=record.cli.pid if record.cli else None,
        tty=record.tty, cwd=record.cwd, started_at=record.started_at, idle_seconds=round(idle, 1),
        idle_limit=record.idle_limit, time_left=None if left is None else round(left, 1), state=record.state,
        claude_session_id=record.claude_session_id, attached=record.attached,
    )
