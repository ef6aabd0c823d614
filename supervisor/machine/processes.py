"""Process facts: identities (pid + start time) read from /proc on Linux and through psutil elsewhere, verified
signals, process trees, and the census of session processes (which ones are sessions, a recogniser says).
Side effects: reads /proc (or the OS equivalent) and sends signals."""

from __future__ import annotations

import itertools
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from supervisor.core.identity import ProcessIdentity, ProcessView
from supervisor.machine.system import fast_paths

# Start stamps are stable for one process, but a record stores them as JSON: compare with a tolerance below one
# clock tick (10 ms), far below any real pid-reuse interval.
_START_TIME_TOLERANCE = 0.005


def _psutil() -> Any:
    import psutil  # lazily: ~25 ms of start-up that the relay's hot path never needs

    return psutil


psutil_module = _psutil  # for the machine layer's other readers (memory.py)


_TICKS_TEXT = re.compile(r"[0-9]{1,20}")
_VERSION_NAMED = re.compile(rb"(?:[^\0]*/)?[0-9]+(?:\.[0-9]+)+\0")  # argv[0] like "2.1.330" (#17219)
_LINUX = fast_paths()  # /proc read directly; otherwise psutil, as on macOS
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


def parent_of(pid: int) -> int | None:
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


def matches_start(pid: int, proc_start: object, started_wall: float | None) -> bool:
    """Whether a live process of ours is the one another program recorded: on Linux by its start in clock ticks
    since boot (field 22 of /proc/PID/stat, as a CLI's registry may write it); elsewhere, or without that
    stamp, by having started no later than the recorded start (a reused pid belongs to a younger process)."""
    stamp = _stamp(pid)
    if stamp is None or stamp[1]:
        return False
    if _LINUX and isinstance(proc_start, str | int) and not isinstance(proc_start, bool) \
            and _TICKS_TEXT.fullmatch(str(proc_start)):  # ASCII digits: "²" is a digit to str.isdigit()
        return abs(round(stamp[0] * _TICKS) - int(proc_start)) <= 1
    if started_wall is None:
        return False  # nothing recorded to prove it: a pid alone may name any process of ours
    created = stamp[0] if not _LINUX else _boot_time() + stamp[0]
    return created <= started_wall + 5.0


def _boot_time() -> float:
    with open("/proc/stat", "rb") as handle:
        for line in handle:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    return 0.0


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


def signal_group_verified(identity: ProcessIdentity, signum: int) -> bool:
    """Signal the process group `identity` leads, only if that process is still the one recorded."""
    if identity.pid <= 1 or identity.pid == os.getpid() or not is_running(identity):
        return False
    try:
        os.killpg(identity.pid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def cmdline_of(pid: int) -> tuple[str, ...]:
    """A process's command line; () when it is gone or unreadable."""
    if _LINUX:
        try:
            raw = _read_proc(f"/proc/{pid}/cmdline")
        except OSError:
            return ()
        return tuple(part.decode(errors="surrogateescape") for part in raw.split(b"\0")[:-1])
    ps = _psutil()
    try:
        return tuple(ps.Process(pid).cmdline())
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
        return ()


def own_tty() -> str:
    """This process's terminal (the first of stdin, stdout, stderr that is one), or "" with none."""
    for fd in (0, 1, 2):
        try:
            return os.ttyname(fd)
        except OSError:
            continue
    return ""


def runs_csup(pid: int) -> bool:
    """Whether the process is a csup: its console script, or `python -m supervisor`."""
    if pid <= 1:
        return False
    args = cmdline_of(pid)[:4]
    return any(os.path.basename(arg) == "csup" or arg.endswith("supervisor/__main__.py") for arg in args) \
        or any(a == "-m" and b == "supervisor" for a, b in itertools.pairwise(args))


def holds_open(pid: int, path: Path) -> bool:
    """Whether the process has `path` open (the session lock: proof that a record's csup is its holder)."""
    target = os.path.realpath(path)
    return any(found == target or (not _LINUX and os.path.realpath(found) == target) for found in open_paths(pid))


def open_paths(pid: int) -> list[str]:
    """The files a process of the user holds open, by path (a pipe or a socket is no path); [] when it cannot
    be read."""
    if _LINUX:
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            return []
        found = []
        for name in names:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            if target.startswith("/"):
                found.append(target)
        return found
    ps = _psutil()
    try:
        return [item.path for item in ps.Process(pid).open_files()]
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess, OSError):
        return []


def _own_pids(uid: int) -> Iterator[int]:
    """The pids in /proc that belong to `uid` (Linux's fast path); one gone meanwhile is skipped."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid == uid:
                yield int(name)
        except OSError:
            continue


def parents() -> list[tuple[int, int]]:
    """(pid, parent pid) of every process of this user, read once."""
    uid = os.getuid()
    if _LINUX:
        found = []
        for pid in _own_pids(uid):
            try:
                found.append((pid, int(_stat_fields(pid)[1])))
            except (OSError, ValueError, IndexError):
                continue
        return found
    ps = _psutil()
    found = []
    for proc in ps.process_iter(["ppid", "uids"]):
        uids = proc.info.get("uids")
        if uids is not None and uids.real == uid and proc.info.get("ppid") is not None:
            found.append((proc.pid, int(proc.info["ppid"])))
    return found


def descendant_pids(pid: int) -> list[int]:
    """The pids below `pid` (children, theirs…), from one read of the process table (/proc where there is one:
    no psutil import on a session's hot path)."""
    children: dict[int, list[int]] = {}
    for child, parent in parents():
        children.setdefault(parent, []).append(child)
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        if child not in found:
            found.append(child)
            todo += children.get(child, [])
    return found


def descendants(pid: int) -> list[ProcessIdentity]:
    """A snapshot of every descendant, even those that left the process group or session (setsid)."""
    ps = _psutil()
    try:
        children = ps.Process(pid).children(recursive=True)
    except (ps.NoSuchProcess, ps.AccessDenied):
        return []
    return [identity for identity in map(identity_of, (child.pid for child in children)) if identity is not None]


# --- the census of agent CLI processes --- ---------------------------------------------------------------------------


class SessionRecogniser(Protocol):
    """Tells a CLI's session processes from the rest (each CLI module's source is one)."""

    def which(self, view: ProcessView) -> str | None: ...
    def process_hints(self) -> tuple[bytes, ...]: ...


def exe_of(pid: int) -> str:
    """The executable a process of ours runs ("" when it cannot be read): what a registry entry alone cannot
    prove — that the pid it names is the CLI's."""
    if _LINUX:
        try:
            return os.readlink(f"/proc/{pid}/exe")
        except OSError:
            return ""
    ps = _psutil()
    try:
        return str(ps.Process(pid).exe())
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess, OSError):
        return ""


def returning_shell_dir() -> str | None:
    """The directory of the shell the user is back in when csup leaves: the nearest ancestor in another process
    group of csup's own terminal session — a subshell that changed directory (`(cd sub && the CLI)`) runs in
    csup's group, the interactive shell in its own. None when csup leads its session (nobody to return to) or
    nothing can be read: then csup's own directory is the one."""
    try:
        session, group = os.getsid(0), os.getpgrp()
    except OSError:
        return None
    pid, seen = os.getppid(), set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            if os.getsid(pid) != session:
                return None
            if os.getpgid(pid) != group:
                return cwd_of(pid)
        except OSError:
            return None
        pid = parent_of(pid) or 0
    return None


def cwd_of(pid: int) -> str | None:
    """A process's working directory, when it may be read."""
    if _LINUX:
        try:
            return os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return None
    ps = _psutil()
    try:
        return str(ps.Process(pid).cwd())
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess, OSError):
        return None


def pid_domain() -> str | None:
    """This machine's PID namespace as a CLI writes it in its registry (`pidDomain`,
    `linux:<machine-id>:pid:[<inode>]`); None where there is none to compare (not Linux, or unreadable). A fact
    of the system, not a fast path: the portable pass compares it too."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/etc/machine-id", encoding="ascii") as handle:
            machine = handle.read().strip()
        return f"linux:{machine}:{os.readlink('/proc/self/ns/pid')}"
    except (OSError, ValueError):
        return None


def iter_process_views(hints: Collection[bytes] = ()) -> Iterator[ProcessView]:
    """Every process of this user, read once; processes that vanish mid-read are skipped. On Linux straight
    from /proc without psutil: a stat and a read of the command line each, and the stat file only for command
    lines that hold one of `hints` (when given) — fast with thousands of processes."""
    uid = os.getuid()
    if _LINUX:
        for pid in _own_pids(uid):
            name = str(pid)
            try:
                raw = _read_proc(f"/proc/{name}/cmdline")
                if hints and not any(hint in raw for hint in hints) and not _VERSION_NAMED.match(raw):
                    continue  # no CLI here: not read further (the native binary named like its version is)
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
    recogniser: SessionRecogniser,
    managed: Collection[int],
    views: Callable[[], Iterable[ProcessView]] | None = None,
) -> list[ProcessView]:
    """Agent sessions not started by csup: excluding the managed CLIs (by pid), anything nested under a
    session (a CLI typed in its shell tool), and csup's own process tree. `views` (for tests) must list
    every process; by default only possible CLI processes are read, and their ancestors looked up."""
    parent_of: Callable[[int], int | None] = lambda pid: None  # noqa: E731
    if views is None:
        views, parent_of = (lambda: iter_process_views(recogniser.process_hints())), parent_of
    by_pid = {}
    own = {os.getpid()}
    sessions = []
    for view in views():
        by_pid[view.pid] = view
        if view.pid not in own and recogniser.which(view) is not None:
            sessions.append(view)
    session_pids = {view.pid for view in sessions} | set(managed)

    def nested(view: ProcessView) -> bool:
        seen = set()
        ancestor: int | None = view.ppid
        while ancestor is not None and ancestor > 1 and ancestor not in seen:
            if ancestor in session_pids or ancestor in own:
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


KILL_WAIT = 1.0  # after SIGKILL: a process dies at once, but its death takes the kernel a moment to record


def terminate(victims: list[ProcessIdentity], wait: float, poll: float = 0.05) -> None:
    """SIGTERM to each verified process, a grace period, then SIGKILL to the verified survivors, and a moment
    for them to die (a zombie is gone: it only waits for its parent to read its status)."""
    alive = [proc for proc in victims if signal_verified(proc, signal.SIGTERM)]
    deadline = time.monotonic() + wait
    while alive and time.monotonic() < deadline:
        time.sleep(poll)
        alive = [proc for proc in alive if is_running(proc)]
    alive = [proc for proc in alive if signal_verified(proc, signal.SIGKILL)]
    deadline = time.monotonic() + KILL_WAIT
    while alive and time.monotonic() < deadline:
        time.sleep(poll)
        alive = [proc for proc in alive if is_running(proc)]


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
