"""`csup status`: gathers who holds the session, the claude sessions outside csup and the load into one value
(reads the record, the process table, the CLI's own state and tty times); the face renders it."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from supervisor.claude.adapter import CliAdapter, LiveSession
from supervisor.flows.census import UnmanagedSession, take_census
from supervisor.machine.paths import Paths
from supervisor.machine.record import SessionRecord, is_live, read_record

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ManagedSession:
    csup_pid: int
    cli_pid: int | None
    tty: str
    cwd: str
    started_at: float
    idle_seconds: float
    idle_limit: float | None
    time_left: float | None
    state: str  # active, warning, ending
    claude_session_id: str | None
    attached: str | None = None  # the background session it shows, live

@dataclass(frozen=True)
class StatusReport:
    session: ManagedSession | None
    unmanaged: list[UnmanagedSession]
    load: tuple[float, float, float]
    cores: int
    time: float
    background: list[LiveSession] = field(default_factory=list)
    background_idle_limit: float | None = None

    @property
    def running(self) -> bool:
        return self.session is not None or bool(self.unmanaged) or bool(self.background)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "time": self.time, "running": self.running,
                "session": asdict(self.session) if self.session else None,
                "unmanaged": [session.to_json() for session in self.unmanaged],
                "background": [background_json(session, self.time, self.background_idle_limit)
                               for session in self.background],
                "load": list(self.load), "cores": self.cores}


def background_json(session: LiveSession, now: float, limit: float | None) -> dict[str, Any]:
    idle = session.idle_for(now)
    return {"kind": "background", "id": session.short, "name": session.name, "pid": session.pid,
            "cwd": session.conversation.cwd, "session_id": session.conversation.id, "status": session.status,
            "state": session.state, "needs": session.needs, "started_at": session.started_at,
            "idle_seconds": None if idle is None else round(idle, 1), "idle_limit": limit,
            "attached": session.attached}


def gather(paths: Paths, census_adapter: CliAdapter, background_idle_limit: float | None = None) -> StatusReport:
    now, now_mono = time.time(), time.monotonic()
    record = read_record(paths.record_file)
    live = record if record is not None and is_live(record) else None
    session = _managed(live, now, now_mono) if live else None
    stale_cli = record.cli if record is not None and live is None else None
    managed = {live.cli.pid} if live is not None and live.cli is not None else set()
    found = take_census(census_adapter, managed, stale_cli).without(live.attached if live else None)
    return StatusReport(session, found.unmanaged, os.getloadavg(), os.cpu_count() or 1, now, found.background,
                        background_idle_limit)


def _managed(record: SessionRecord, now: float, now_mono: float) -> ManagedSession:
    if record.last_activity_mono is not None:
        idle = max(0.0, now_mono - record.last_activity_mono)  # machine-wide monotonic: sleep is not idle
    else:
        idle = max(0.0, now - record.last_activity_at)
    left = None if record.idle_limit is None else max(0.0, record.idle_limit - idle)
    return ManagedSession(
        csup_pid=record.csup.pid, cli_pid=record.cli.pid if record.cli else None, tty=record.tty, cwd=record.cwd,
        started_at=record.started_at, idle_seconds=round(idle, 1), idle_limit=record.idle_limit,
        time_left=None if left is None else round(left, 1), state=record.state,
        claude_session_id=record.claude_session_id, attached=record.attached,
    )
