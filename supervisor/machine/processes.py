"""Process facts through psutil: identities (pid + start time), verified signals, process trees, and the census
of claude processes. Side effects: reads /proc (or the OS equivalent) and sends signals."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from supervisor.claude.claude_code import is_session_invocation

# Start stamps are stable for one process, but a record stores them as JSON: compare with a tolerance below one
# clock tick (10 ms), far below any real pid-reuse interval.
_START_TIME_TOLERANCE = 0.005
_INTERPRETERS = frozenset({"node", "nodejs", "bun", "deno", "python", "python3"})


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as csup verifies it: a pid alone can be reused, a pid with its start time cannot."""

    pid: int
    start_time: float

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_time": self.start_time}

    @classmethod
    def from_json(cls, data: Any) -> ProcessIdentity | None:
        if not isinstance(data, dict):
            return None
        pid, start = data.get("pid"), data.get("start_time")
        if type(pid) is not int or pid <= 0 or not isinstance(start, int | float):
            return None
        return cls(pid, float(start))


def _psutil() -> Any:
    import psutil  # lazily: ~25 ms of start-up that the relay's hot path never needs

    return psutil


_LINUX = sys.platform.startswith("linux")
_TICKS = os.sysconf("SC_CLK_TCK") if _LINUX else 100


def _read_proc(path: str) -> bytes:
    """A small /proc file in one read, without the buffered file object (a census reads thousands)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def _stat_fields(pid: int) -> list[bytes]:
    """Fields 3… of /proc/PID/stat (after the command name, which may itself hold spaces and parentheses)."""
    data = _read_proc(f"/proc/{pid}/stat")
    return data[data.rindex(b")") + 2:].split()


def _parent_of(pid: int) -> int | None:
    if _LINUX:
        try:
            return int(_stat_fields(pid)[1])
        except (OSError, ValueError, IndexError):
            return None
    ps = _psutil()
    try:
        return int(ps.Process(pid).ppid())
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
        return None


def _stamp(pid: int) -> tuple[float, bool] | None:
    """(start stamp, is a zombie) of a process of ours, or None when it is gone or not ours.

    The stamp identifies the process together with its pid and is compared only with stamps from here: on
    Linux it is the start time in seconds since boot (immune to wall-clock changes, and read from /proc
    without psutil); elsewhere psutil's creation time.
    """
    if _LINUX:
        try:
            if os.stat(f"/proc/{pid}").st_uid != os.getuid():
                return None
            fields = _stat_fields(pid)
        except (OSError, ValueError):
            return None
        return int(fields[19]) / _TICKS, fields[0] == b"Z"
    ps = _psutil()
    try:
        proc = ps.Process(pid)
        if proc.uids().real != os.getuid():
            return None
        return proc.create_time(), proc.status() == ps.STATUS_ZOMBIE
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
        return None


def identity_of(pid: int) -> ProcessIdentity | None:
    """The identity of a live process of ours, or None if it is gone or not ours."""
    stamp = _stamp(pid)
    return None if stamp is None else ProcessIdentity(pid, stamp[0])


def is_running(identity: ProcessIdentity) -> bool:
    """True when this exact process (same pid, same start, our user) still runs and is not a zombie."""
    stamp = _stamp(identity.pid)
    return stamp is not None and not stamp[1] and abs(stamp[0] - identity.start_time) <= _START_TIME_TOLERANCE


def signal_verified(identity: ProcessIdentity, signum: int) -> bool:
    """Send `signum` only if the process is still the one recorded; True when it was sent.

    The check and the kill are two steps; the window between them is microseconds, far below the time for a
    pid to be recycled on a machine that does not fork thousands of processes per millisecond.
    """
    if identity.pid in (os.getpid(), os.getppid()) or identity.pid <= 1:
        return False
    if not is_running(identity):
        return False
    try:
        os.kill(identity.pid, signum)
    except ProcessLookupError:
        return False
    return True


def descendants(pid: int) -> list[ProcessIdentity]:
    """A snapshot of every descendant, even those that left the process group or session (setsid)."""
    ps = _psutil()
    try:
        children = ps.Process(pid).children(recursive=True)
    except (ps.NoSuchProcess, ps.AccessDenied):
        return []
    return [identity for identity in map(identity_of, (child.pid for child in children)) if identity is not None]


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


# --- the census of claude processes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessView:
    """What the census needs to know of one process; tests build these directly."""

    pid: int
    ppid: int
    uid: int
    start_time: float
    cmdline: tuple[str, ...]
    exe: str = ""

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.start_time)


@dataclass(frozen=True)
class ClaudeMatcher:
    """Recognises a claude session by its command line and executable path, never by process name alone (the
    native binary often shows its version string as its name)."""

    names: frozenset[str]
    passthrough_commands: frozenset[str]

    @classmethod
    def from_config(cls, cfg: Any) -> ClaudeMatcher:
        return cls(frozenset(cfg.claude_names), frozenset(cfg.passthrough_commands))

    def hints(self) -> tuple[bytes, ...]:
        """Substrings every matching command line contains: a cheap filter before a process is read further."""
        return (*(name.encode(errors="surrogateescape") for name in self.names), b"/claude/versions/",
                b"claude-code")

    def is_claude(self, view: ProcessView) -> bool:
        args = view.cmdline
        if not args:
            return False
        first = os.path.basename(args[0])
        if first in self.names or "/claude/versions/" in args[0]:
            return True
        if first.rstrip("0123456789.") in _INTERPRETERS and len(args) > 1:
            script = args[1]
            return os.path.basename(script) in self.names or script.endswith("claude-code/cli.js")
        return bool(view.exe) and (os.path.basename(view.exe) in self.names or "/claude/versions/" in view.exe)

    def is_session(self, view: ProcessView) -> bool:
        """A claude process that is an interactive session, not `claude -p`, `claude mcp …` and the like."""
        if not self.is_claude(view):
            return False
        args = list(view.cmdline[1:])
        if args and os.path.basename(view.cmdline[0]).rstrip("0123456789.") in _INTERPRETERS:
            args = args[1:]
        return is_session_invocation(args, self.passthrough_commands)


def iter_process_views(hints: Collection[bytes] = ()) -> Iterator[ProcessView]:
    """Every process of this user, read once; processes that vanish mid-read are skipped. On Linux straight
    from /proc without psutil: a stat and a read of the command line each, and the stat file only for command
    lines that hold one of `hints` (when given) — fast with thousands of processes."""
    uid = os.getuid()
    if _LINUX:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                if os.stat(f"/proc/{name}").st_uid != uid:
                    continue
                raw = _read_proc(f"/proc/{name}/cmdline")
                if hints and not any(hint in raw for hint in hints):
                    continue
                fields = _stat_fields(int(name))
                cmdline = tuple(part.decode(errors="surrogateescape") for part in raw.split(b"\0")[:-1])
                exe = ""
                if cmdline and os.path.basename(cmdline[0]).replace(".", "").isdigit():
                    exe = os.readlink(f"/proc/{name}/exe")  # a native binary named like its version
            except (OSError, ValueError):
                continue
            yield ProcessView(int(name), int(fields[1]), uid, int(fields[19]) / _TICKS, cmdline, exe)
        return
    ps = _psutil()
    for proc in ps.process_iter():
        try:
            if proc.uids().real != uid:
                continue
            cmdline = tuple(proc.cmdline())
            exe = ""
            if cmdline and os.path.basename(cmdline[0]).replace(".", "").isdigit():
                exe = proc.exe()
            yield ProcessView(proc.pid, proc.ppid(), uid, proc.create_time(), cmdline, exe)
        except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
            continue


def find_unmanaged(
    matcher: ClaudeMatcher,
    managed: Collection[int],
    views: Callable[[], Iterable[ProcessView]] | None = None,
) -> list[ProcessView]:
    """Claude sessions not started by csup: excluding the managed CLIs (by pid), anything nested under a claude
    session (a `claude` typed in its shell tool), and csup's own process tree. `views` (for tests) must list
    every process; by default only possible claude processes are read, and their ancestors looked up."""
    parent_of: Callable[[int], int | None] = lambda pid: None  # noqa: E731
    if views is None:
        views, parent_of = (lambda: iter_process_views(matcher.hints())), _parent_of
    by_pid = {}
    own = {os.getpid()}
    sessions = []
    for view in views():
        by_pid[view.pid] = view
        if view.pid not in own and matcher.is_session(view):
            sessions.append(view)
    claude_pids = {view.pid for view in sessions} | set(managed)

    def nested(view: ProcessView) -> bool:
        seen = set()
        ancestor: int | None = view.ppid
        while ancestor is not None and ancestor > 1 and ancestor not in seen:
            if ancestor in claude_pids or ancestor in own:
                return True
            seen.add(ancestor)
            known = by_pid.get(ancestor)
            ancestor = known.ppid if known is not None else parent_of(ancestor)
        return False

    return [view for view in sessions if view.pid not in managed and not nested(view)]


def describe(pid: int) -> dict[str, Any]:
    """tty, cwd, cpu, rss and age of a process for reports; fields it cannot read are left out."""
    ps = _psutil()
    info: dict[str, Any] = {"pid": pid}
    try:
        proc = ps.Process(pid)
        with proc.oneshot():
            info["start_time"] = proc.create_time()
            info["tty"] = proc.terminal() or ""
            info["rss"] = proc.memory_info().rss
            times = proc.cpu_times()
            info["cpu_seconds"] = times.user + times.system
        info["cwd"] = proc.cwd()
    except (ps.NoSuchProcess, ps.ZombieProcess):
        return {}
    except ps.AccessDenied:
        pass
    return info



def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds used by a process and its live descendants (with the children each has reaped)."""
    ps = _psutil()
    try:
        root = ps.Process(pid)
        members = [root, *root.children(recursive=True)]
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
        return None
    total = 0.0
    for member in members:
        try:
            times = member.cpu_times()
        except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def terminate(victims: list[ProcessIdentity], wait: float, poll: float = 0.05) -> None:
    """SIGTERM to each verified process, a grace period, then SIGKILL to the verified survivors."""
    alive = [proc for proc in victims if signal_verified(proc, signal.SIGTERM)]
    deadline = time.monotonic() + wait
    while alive and time.monotonic() < deadline:
        time.sleep(poll)
        alive = [proc for proc in alive if is_running(proc)]
    for proc in alive:
        signal_verified(proc, signal.SIGKILL)


def tcp_connections(pid: int) -> tuple[int | None, int | None]:
    """(established TCP connections, of which to port 443) of one process; (None, None) when unreadable."""
    ps = _psutil()
    try:
        proc = ps.Process(pid)
        connections = proc.net_connections(kind="tcp") if hasattr(proc, "net_connections") \
            else proc.connections(kind="tcp")
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
        return None, None
    established = [c for c in connections if c.status == ps.CONN_ESTABLISHED]
    return len(established), sum(1 for c in established if c.raddr and c.raddr.port == 443)
