"""Doctor's rules, pure: what the machine's agent processes and sessions show (the facts doctor gathered) turned
into findings — each a severity, a code and the values it is about; the face words them and names the command
that fixes each. Every supervised session counts, not only the first. Tested as tables (tests/test_units.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

MANY_CONNECTIONS = 10  # a session at its prompt keeps a handful; 20+ is the pile-up csup exists to prevent
BIG_RSS = 1 << 30  # 1 GiB: idle sessions have been reported growing to several
LOW_MEMORY = 0.10  # available memory below this share of the total
LONG_IDLE = 3600.0
AGENTS_BUSY = 0.5  # cores: the agents' processes using this much now may be what loads the machine
HEAVIEST = 3  # sessions named with their biggest processes
SESSION_KINDS = ("managed", "unmanaged", "orphaned", "background")


class AgentProcess(NamedTuple):
    """One agent CLI process as doctor measured it."""

    pid: int
    kind: str  # managed, unmanaged, orphaned, background, editor; or a helper: daemon, pty host, spare, client
    age_seconds: float
    cpu_seconds: float | None
    cpu_percent: float | None  # over the process's lifetime
    rss_bytes: int | None
    idle_seconds: float | None
    tcp_connections: int | None  # established
    https_connections: int | None  # established to port 443
    cpu_now_percent: float | None = None  # of one core, over a short sample now (what weighs on the load now)
    cli: str = ""  # which CLI ("" for a helper, whose CLI its role says)


class SupervisedFacts(NamedTuple):
    id: str
    idle_seconds: float
    idle_limit: float | None
    state: str


class HeldMemory(NamedTuple):
    """What one session's process tree holds, and its biggest members (pid, bytes, name)."""

    kind: str
    id: str
    total: int
    measure: str
    members: tuple[tuple[int, int, str], ...]


class Facts(NamedTuple):
    processes: Sequence[AgentProcess]
    supervised: Sequence[SupervisedFacts]
    memory: Sequence[HeldMemory]  # each measured session
    load: float  # the 1-minute load average
    cores: int
    memory_total: int
    memory_available: int
    watcher_runs: bool
    sessions_outside: bool  # unmanaged or background sessions exist (someone must end them)
    idle_limit: float | None
    background_idle_limit: float | None
    max_sessions: int = 1
    memory_budget: int | None = None
    notify_wanted: bool = False  # the notify setting is on
    can_notify: bool = True  # and this machine has a way to show one (notify-send with a display, osascript)


class Finding(NamedTuple):
    severity: str  # action, warn, info, ok
    code: str  # what kind of finding (the face words each kind)
    data: dict[str, Any]


def findings(facts: Facts) -> list[Finding]:
    """Every finding, most pressing first; "ok" when nothing needs attention."""
    found: list[Finding] = []
    sessions = [p for p in facts.processes if p.kind in SESSION_KINDS]
    # An editor's session is neither: the rule does not count it, and it is no CLI's machinery.
    helpers = [p for p in facts.processes if p.kind not in (*SESSION_KINDS, "editor")]
    outside = [p for p in sessions if p.kind in ("unmanaged", "orphaned")]
    orphans = [p.pid for p in outside if p.kind == "orphaned"]
    if orphans:
        found.append(Finding("action", "orphans", {"pids": orphans}))
    if len(outside) > len(orphans):
        found.append(Finding("action", "outside", {"count": len(outside) - len(orphans)}))
    if len(sessions) > facts.max_sessions:
        found.append(Finding("action", "over-limit", {"count": len(sessions), "max_sessions": facts.max_sessions}))
    background_limit = facts.background_idle_limit if facts.background_idle_limit is not None else LONG_IDLE
    for proc in sessions:
        if proc.kind == "background" and proc.idle_seconds is not None and proc.idle_seconds >= background_limit:
            found.append(Finding("warn", "background-idle", {"pid": proc.pid, "idle": proc.idle_seconds}))
    if not facts.watcher_runs and facts.sessions_outside:
        found.append(Finding("info", "no-watcher", {}))
    if helpers:
        roles = {role: sum(1 for p in helpers if p.kind == role) for role in dict.fromkeys(p.kind for p in helpers)}
        found.append(Finding("info", "machinery", {
            "roles": roles, "memory": sum(p.rss_bytes or 0 for p in helpers),
            "in_use": any(p.kind == "background" for p in sessions)}))
    long_idle = facts.idle_limit if facts.idle_limit is not None else LONG_IDLE
    for proc in sessions:
        if proc.tcp_connections is not None and proc.tcp_connections >= MANY_CONNECTIONS:
            found.append(Finding("warn", "connections", {"pid": proc.pid, "count": proc.tcp_connections}))
        if proc.rss_bytes is not None and proc.rss_bytes >= BIG_RSS:
            found.append(Finding("warn", "big-memory", {"pid": proc.pid, "bytes": proc.rss_bytes}))
        if proc.kind in ("unmanaged", "orphaned") and proc.idle_seconds is not None \
                and proc.idle_seconds >= long_idle:
            found.append(Finding("warn", "outside-idle", {"pid": proc.pid, "idle": proc.idle_seconds}))
    only = len(facts.supervised) == 1
    for session in facts.supervised:
        which = {"id": session.id, "only": only}
        if session.idle_limit is None:
            found.append(Finding("warn", "no-idle-limit", which))
        if session.idle_seconds > LONG_IDLE:
            found.append(Finding("warn", "supervised-idle", which | {"idle": session.idle_seconds}))
        if session.state == "suspended":
            found.append(Finding("warn", "suspended", which))
    if facts.load > facts.cores:
        agents_cpu = sum(p.cpu_now_percent or 0.0 for p in facts.processes)
        load = {"load": facts.load, "cores": facts.cores, "cpu": agents_cpu}
        found.append(Finding("warn", "load-agents", load) if agents_cpu >= AGENTS_BUSY * 100
                     else Finding("info", "load-elsewhere", load))
    for held in sorted(facts.memory, key=lambda m: -m.total)[:HEAVIEST]:
        found.append(Finding("info", "heaviest", held._asdict()))
    total = sum(m.total for m in facts.memory)
    if facts.memory_budget is not None and total > facts.memory_budget:
        found.append(Finding("warn", "over-budget", {"held": total, "budget": facts.memory_budget}))
    if facts.memory_total and facts.memory_available / facts.memory_total < LOW_MEMORY:
        found.append(Finding("warn", "low-memory", {"available": facts.memory_available}))
    if facts.notify_wanted and not facts.can_notify:
        found.append(Finding("info", "no-notifications", {}))
    if not any(finding.severity in ("action", "warn") for finding in found):
        found.append(Finding("ok", "ok", {}))
    return found


def needs_action(found: Sequence[Finding]) -> bool:
    return any(finding.severity == "action" for finding in found)
