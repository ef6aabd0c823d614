"""`csup status`: gathers who holds the session, the claude sessions outside csup and the load into one value
(reads the record, the process table, the CLI's own state and tty times); the face renders it."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from supervisor.claude.adapter import CliAdapter
from supervisor.core.identity import ProcessIdentity, ProcessView
from supervisor.flows.reporting import UnmanagedSession
from supervisor.machine import processes
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


@dataclass(frozen=True)
class StatusReport:
    session: ManagedSession | None
    unmanaged: list[UnmanagedSession]
    load: tuple[float, float, float]
    cores: int
    time: float

    @property
    def running(self) -> bool:
        return self.session is not None or bool(self.unmanaged)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "time": self.time, "running": self.running,
                "session": asdict(self.session) if self.session else None,
                "unmanaged": [session.to_json() for session in self.unmanaged],
                "load": list(self.load), "cores": self.cores}


def gather(paths: Paths, census: CliAdapter) -> StatusReport:
    now, now_mono = time.time(), time.monotonic()
    record = read_record(paths.record_file)
    live = record if record is not None and is_live(record) else None
    session = _managed(live, now, now_mono) if live else None
    stale_cli = record.cli if record is not None and live is None else None
    managed = {live.cli.pid} if live is not None and live.cli is not None else set()
    unmanaged = [describe_unmanaged(view, census, now, stale_cli)
                 for view in processes.find_unmanaged(census, managed)]
    return StatusReport(session, unmanaged, os.getloadavg(), os.cpu_count() or 1, now)


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
        claude_session_id=record.claude_session_id,
    )


def describe_unmanaged(view: ProcessView, census: CliAdapter, now: float,
                       stale_cli: ProcessIdentity | None) -> UnmanagedSession:
    """A session outside csup with its terminal, directory, cost and idle time (from the CLI's own state, else
    the last input on its terminal, as `w` reads it)."""
    info = processes.describe(view.pid)
    tty = str(info.get("tty") or "")
    idle, source = None, "unknown"
    state = census.live_state(view.pid)
    if state is not None:
        if state.status == "busy":
            idle, source = 0.0, "registry"
        elif state.changed_wall is not None:
            idle, source = max(0.0, now - state.changed_wall), "registry"
    if idle is None and tty:
        try:
            idle, source = max(0.0, now - os.stat(tty).st_atime), "tty"
        except OSError:
            pass
    orphaned = stale_cli is not None and stale_cli.pid == view.pid and processes.is_running(stale_cli)
    start = info.get("start_time")
    return UnmanagedSession(
        view, tty=tty, cwd=str(info.get("cwd") or ""), started_at=float(start) if start is not None else None,
        cpu_seconds=info.get("cpu_seconds"), rss_bytes=info.get("rss"),
        idle_seconds=None if idle is None else round(idle, 1), idle_source=source, orphaned=orphaned,
    )
