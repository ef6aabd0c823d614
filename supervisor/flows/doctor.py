"""`csup doctor`: the manual investigation csup replaces, automated — every agent CLI process with its CPU, memory,
age and open TCP connections, the load against the cores, and memory — gathered as facts for the rules in
core/checkup.py; the face words the findings. Reads the process table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supervisor.clis.adapter import SessionSource
from supervisor.core.checkup import AgentProcess, Facts, Finding, HeldMemory, SupervisedFacts, findings
from supervisor.core.settings import Settings
from supervisor.flows.status import StatusReport, gather
from supervisor.machine import processes
from supervisor.machine.clock import SYSTEM, Clock
from supervisor.machine.notify import available as notify_available
from supervisor.machine.paths import Paths

# 2: each finding has a code (and the processes every supervised session, not the first). 3: the load finding
# is `load-agents` (every agent CLI's processes), each process says its `cli`, and editors' sessions are listed.
SCHEMA_VERSION = 3
SAMPLE = 0.3  # seconds: how long doctor watches the agent processes' CPU


@dataclass(frozen=True)
class Checkup:
    processes: list[AgentProcess]
    load: tuple[float, float, float]
    cores: int
    memory_total: int
    memory_available: int
    status: StatusReport
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "processes": [p._asdict() for p in self.processes],
                "load": list(self.load), "cores": self.cores,
                "memory": {"total": self.memory_total, "available": self.memory_available},
                "sessions_memory": [
                    {"kind": s.kind, "id": s.id, "bytes": s.memory.total, "measure": s.memory.measure,
                     "processes": [{"pid": pid, "bytes": size, "name": name} for pid, size, name in s.memory.members]}
                    for s in self.status.sessions if s.memory is not None]}


def examine(paths: Paths, census: SessionSource, settings: Settings, clock: Clock = SYSTEM) -> Checkup:
    import psutil

    status = gather(paths, census, max_sessions=settings.max_sessions, memory_budget=settings.memory_budget,
                    places=settings.places)
    memory = psutil.virtual_memory()
    sessions = _processes(status)
    found = _sample_cpu(sessions + _helpers(census, status, {p.pid for p in sessions}), clock)
    facts = Facts(
        processes=found,
        supervised=[SupervisedFacts(s.id, s.idle_seconds, s.idle_limit, s.state) for s in status.supervised],
        memory=[HeldMemory(s.kind, s.id, s.memory.total, s.memory.measure, tuple(s.memory.members))
                for s in status.sessions if s.memory is not None],
        load=status.load[0], cores=status.cores, memory_total=memory.total, memory_available=memory.available,
        watcher_runs=status.watcher is not None, sessions_outside=bool(status.unmanaged or status.background),
        idle_limit=settings.idle_limit, background_idle_limit=settings.background_idle_limit,
        # Every session of every CLI at once: max_sessions and the limits CLIs have of their own, together.
        max_sessions=settings.places, memory_budget=settings.memory_budget, notify_wanted=settings.notify,
        can_notify=notify_available())
    return Checkup(found, status.load, status.cores, memory.total, memory.available, status, findings(facts))


def _sample_cpu(found: list[AgentProcess], clock: Clock, span: float = SAMPLE) -> list[AgentProcess]:
    """Each process's CPU now, over a short sample: a lifetime average blames a session that was busy an hour
    ago for a load it no longer makes."""
    import psutil

    procs: dict[int, psutil.Process] = {}
    for proc in found:
        try:
            procs[proc.pid] = psutil.Process(proc.pid)
            procs[proc.pid].cpu_percent(None)
        except psutil.Error:
            continue
    clock.sleep(span if procs else 0)
    sampled = []
    for proc in found:
        now = None
        try:
            now = round(procs[proc.pid].cpu_percent(None), 1) if proc.pid in procs else None
        except psutil.Error:
            pass
        sampled.append(proc._replace(cpu_now_percent=now))
    return sampled


def _helpers(census: SessionSource, status: StatusReport, sessions: set[int]) -> list[AgentProcess]:
    """The CLI's processes that are not sessions (its daemon, pty hosts, spares, attach clients): no session
    counts them, but the machine pays for them."""
    found = []
    for view in processes.iter_process_views(census.process_hints()):
        role = census.helper_role(view)
        if role is not None and view.pid not in sessions:  # a claimed spare keeps a spare's title
            found.append(_process(view.pid, role, processes.describe(view.pid), None, status.time))
    return found


def _processes(status: StatusReport) -> list[AgentProcess]:
    now = status.time
    found = []
    for managed in status.supervised:  # every supervised session
        if managed.cli_pid is not None:
            found.append(_process(managed.cli_pid, "managed", processes.describe(managed.cli_pid),
                                  managed.idle_seconds, now, managed.cli))
    for session in status.unmanaged:
        info = processes.describe(session.pid)
        kind = "orphaned" if session.orphaned else "unmanaged"
        found.append(_process(session.pid, kind, info, session.idle_seconds, now, session.cli))
    for editor in status.editors:  # not sessions of the rule, but the machine pays for them
        found.append(_process(editor.pid, "editor", processes.describe(editor.pid), editor.idle_seconds, now,
                              editor.cli))
    for background in status.background:
        found.append(_process(background.pid, "background", processes.describe(background.pid),
                              background.idle_for(now), now, background.cli))
    return found


def _process(pid: int, kind: str, info: dict[str, Any], idle: float | None, now: float,
             cli: str = "") -> AgentProcess:
    age = max(0.0, now - info.get("start_time", now))
    cpu = info.get("cpu_seconds")
    tcp, https = processes.tcp_connections(pid)
    return AgentProcess(pid=pid, kind=kind, age_seconds=round(age, 1), cpu_seconds=cpu,
                         cpu_percent=round(100 * cpu / age, 2) if cpu is not None and age > 0 else None,
                         rss_bytes=info.get("rss"), idle_seconds=idle, tcp_connections=tcp, https_connections=https,
                         cli=cli)
