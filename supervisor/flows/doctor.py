"""`csup doctor`: the manual investigation csup replaces, automated — every claude process with its CPU, memory,
age and open TCP connections, the load against the cores, memory, and a verdict per finding with the command
that fixes it. Gathering reads the process table; judging (`findings`) is pure."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from supervisor.core.durations import format_duration
from supervisor.core.settings import Config
from supervisor.flows.status import StatusReport, gather
from supervisor.machine import processes
from supervisor.machine.paths import Paths

SCHEMA_VERSION = 1
MANY_CONNECTIONS = 10  # a session at its prompt keeps a handful; 20+ is the pile-up csup exists to prevent
BIG_RSS = 1 << 30  # 1 GiB: idle sessions have been reported growing to several
LOW_MEMORY = 0.10  # available memory below this share of the total


@dataclass(frozen=True)
class ClaudeProcess:
    pid: int
    kind: str  # managed, unmanaged, orphaned
    age_seconds: float
    cpu_seconds: float | None
    cpu_percent: float | None  # over the process's lifetime
    rss_bytes: int | None
    idle_seconds: float | None
    tcp_connections: int | None  # established
    https_connections: int | None  # established to port 443


@dataclass(frozen=True)
class Finding:
    severity: str  # action, warn, ok
    what: str
    fix: str | None = None


@dataclass(frozen=True)
class Checkup:
    processes: list[ClaudeProcess]
    load: tuple[float, float, float]
    cores: int
    memory_total: int
    memory_available: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def needs_action(self) -> bool:
        return any(finding.severity == "action" for finding in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "needs_action": self.needs_action,
                "processes": [asdict(p) for p in self.processes], "load": list(self.load), "cores": self.cores,
                "memory": {"total": self.memory_total, "available": self.memory_available},
                "findings": [asdict(f) for f in self.findings]}


def examine(paths: Paths, cfg: Config, environ: Mapping[str, str]) -> Checkup:
    import psutil

    status = gather(paths, cfg, environ)
    processes = _processes(status)
    memory = psutil.virtual_memory()
    checkup = Checkup(processes, status.load, status.cores, memory.total, memory.available)
    return Checkup(processes, status.load, status.cores, memory.total, memory.available,
                   findings(checkup, status))


def _processes(status: StatusReport) -> list[ClaudeProcess]:
    now = time.time()
    found = []
    if status.session is not None and status.session.cli_pid is not None:
        info = processes.describe(status.session.cli_pid)
        found.append(_process(status.session.cli_pid, "managed", info, status.session.idle_seconds, now))
    for stray in status.unmanaged:
        info = processes.describe(stray.pid)
        found.append(_process(stray.pid, "orphaned" if stray.orphaned else "unmanaged", info, stray.idle_seconds,
                              now))
    return found


def _process(pid: int, kind: str, info: dict[str, Any], idle: float | None, now: float) -> ClaudeProcess:
    age = max(0.0, now - info.get("start_time", now))
    cpu = info.get("cpu_seconds")
    tcp, https = processes.tcp_connections(pid)
    return ClaudeProcess(pid=pid, kind=kind, age_seconds=round(age, 1), cpu_seconds=cpu,
                         cpu_percent=round(100 * cpu / age, 2) if cpu is not None and age > 0 else None,
                         rss_bytes=info.get("rss"), idle_seconds=idle, tcp_connections=tcp, https_connections=https)


def findings(checkup: Checkup, status: StatusReport) -> list[Finding]:
    """The verdicts, each with the command that fixes it."""
    found = []
    strays = [p for p in checkup.processes if p.kind != "managed"]
    orphans = [p for p in strays if p.kind == "orphaned"]
    if orphans:
        found.append(Finding("action", f"{len(orphans)} orphaned claude process(es) (their csup is gone): pid "
                             + ", ".join(str(p.pid) for p in orphans), "csup stop --force"))
    if len(strays) > len(orphans):
        found.append(Finding("action", f"{len(strays) - len(orphans)} claude session(s) running outside csup",
                             "csup takeover (continue here) or csup stop --force"))
    if len(checkup.processes) > 1:
        found.append(Finding("action", f"{len(checkup.processes)} claude sessions on one machine (the rule is one)",
                             "csup stop --force, then use `claude` through csup (csup init)"))
    for proc in checkup.processes:
        if proc.tcp_connections is not None and proc.tcp_connections >= MANY_CONNECTIONS:
            found.append(Finding("warn", f"claude pid {proc.pid} holds {proc.tcp_connections} TCP connections",
                                 "csup takeover (a fresh process resumes the same conversation)"))
        if proc.rss_bytes is not None and proc.rss_bytes >= BIG_RSS:
            found.append(Finding("warn", f"claude pid {proc.pid} uses {proc.rss_bytes / 2**30:.1f} GiB of memory",
                                 "csup takeover (a fresh process resumes the same conversation)"))
    session = status.session
    if session is not None and session.idle_limit is None:
        found.append(Finding("warn", "the running session has no idle limit", "csup run --idle-limit 30m"))
    if session is not None and session.idle_seconds > 3600:
        found.append(Finding("warn", f"the session has been idle {format_duration(session.idle_seconds)}",
                             "csup stop"))
    one_minute = checkup.load[0]
    if one_minute > checkup.cores:
        found.append(Finding("warn", f"load {one_minute:.2f} is above the {checkup.cores} core(s)",
                             "csup stop (if the session is idle), or find the busy process: top"))
    if checkup.memory_total and checkup.memory_available / checkup.memory_total < LOW_MEMORY:
        found.append(Finding("warn", f"only {checkup.memory_available / 2**30:.1f} GiB of memory available",
                             None))
    if not found:
        found.append(Finding("ok", "nothing needs attention"))
    return found


def render(checkup: Checkup) -> str:
    lines = [f"claude processes: {len(checkup.processes)}"]
    for proc in checkup.processes:
        cpu = "cpu ?" if proc.cpu_percent is None else f"cpu {proc.cpu_percent:.1f}%"
        rss = "rss ?" if proc.rss_bytes is None else f"rss {proc.rss_bytes / 2**20:.0f} MiB"
        idle = "idle ?" if proc.idle_seconds is None else f"idle {format_duration(proc.idle_seconds)}"
        tcp = "tcp ?" if proc.tcp_connections is None else \
            f"tcp {proc.tcp_connections} ({proc.https_connections} to :443)"
        lines.append(f"  pid {proc.pid:<7} {proc.kind:<9} up {format_duration(proc.age_seconds):<7} {cpu}, "
                     f"{rss}, {idle}, {tcp}")
    one, five, fifteen = checkup.load
    lines.append(f"load {one:.2f} {five:.2f} {fifteen:.2f} on {checkup.cores} core(s); memory "
                 f"{checkup.memory_available / 2**30:.1f} of {checkup.memory_total / 2**30:.1f} GiB available")
    marks = {"action": "✗", "warn": "!", "ok": "✓"}
    for finding in checkup.findings:
        fix = f"  → {finding.fix}" if finding.fix else ""
        lines.append(f"{marks[finding.severity]} {finding.what}{fix}")
    return "\n".join(lines)

