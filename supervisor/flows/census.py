"""Every agent session of the user on this machine, whoever started it: the census of processes (interactive
sessions by command line) joined with each CLI's own registry (interactive and background sessions), minus
csup's own. Side effects: reads the process table and the registry through the adapter."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from supervisor.clis.adapter import LiveSession, SessionSource
from supervisor.core.identity import ProcessIdentity, ProcessView
from supervisor.core.policy import idle_seconds
from supervisor.machine import processes
from supervisor.machine.clock import SYSTEM, Clock


class UnmanagedSession(NamedTuple):
    """An agent session outside csup, as status, doctor, a refusal or a question names it."""

    view: ProcessView
    tty: str = ""
    cwd: str = ""
    started_at: float | None = None
    cpu_seconds: float | None = None
    rss_bytes: int | None = None
    idle_seconds: float | None = None
    idle_source: str = "unknown"  # registry, tty, unknown
    orphaned: bool = False  # started by a csup that is gone
    status: str = "unknown"  # what the CLI says it is doing (its registry): idle, busy, waiting
    cli: str = ""  # which CLI (clis/choose.py's names)
    editor: str = ""  # run by an editor's extension, not a person in a terminal: the editor ("VS Code")

    @property
    def pid(self) -> int:
        return self.view.pid

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "tty": self.tty, "cwd": self.cwd, "started_at": self.started_at,
                "cpu_seconds": self.cpu_seconds, "rss_bytes": self.rss_bytes, "idle_seconds": self.idle_seconds,
                "idle_source": self.idle_source, "orphaned": self.orphaned, "status": self.status,
                "cli": self.cli, "editor": self.editor or None, "cmdline": list(self.view.cmdline)}


class Census(NamedTuple):
    unmanaged: list[UnmanagedSession]  # interactive, started without csup
    background: list[LiveSession]  # in a CLI's own daemon
    editors: list[UnmanagedSession] = []  # noqa: RUF012  # run by an editor's extension: shown, never ended

    @property
    def total(self) -> int:
        return len(self.unmanaged) + len(self.background)

    def without(self, target: str | None) -> Census:
        """The census less the background session `target` names (short id, name or conversation id): the one an
        attach brings here is not another session."""
        if target is None:
            return self
        return Census(self.unmanaged, [s for s in self.background if not names(s, target)], self.editors)


def names(session: LiveSession, target: str) -> bool:
    """Whether `target` is this background session's short id, conversation id or name, exactly."""
    return bool(target) and target in (session.short, session.conversation.id, session.name)


def resolve_target(sessions: list[LiveSession], target: str | None) -> str | None:
    """The short id of the one background session an attach to TARGET shows: named exactly, or else the only
    one whose name holds TARGET (a CLI may take fragments). None when it names none, or several — then no
    session is taken for the attached one, and all of them go on counting."""
    if not target:
        return None
    background = [s for s in sessions if s.kind == "background"]
    exact = [s for s in background if names(s, target)]
    found = exact or [s for s in background if target in s.name]
    return found[0].short if len(found) == 1 else None


def take_census(census: SessionSource, managed: set[int] | None = None,
                stale_cli: ProcessIdentity | None = None,
                starting: Callable[[int], bool] = lambda pid: False,
                views: Callable[[], Iterable[ProcessView]] | None = None, clock: Clock = SYSTEM) -> Census:
    """Sessions outside csup's own (`managed`: the CLI pids csup supervises). A process the registry calls
    background is counted as background, whatever its command line says (a claimed spare keeps a spare's).
    A CLI whose parent is a csup holding a place (`starting`) is supervised even before its csup has written
    its record: counting it here as well would count it twice."""
    managed = managed or set()
    registered = {session.pid: session for session in census.live_sessions() if session.pid not in managed}
    background = [s for s in registered.values() if s.kind == "background"]
    now = clock.wall()
    found = [view for view in processes.find_unmanaged(census, managed=managed, views=views)
             if not starting(view.ppid)]
    seen = {view.pid for view in found}
    unmanaged = [describe_unmanaged(view, census, now, stale_cli) for view in found
                 if view.pid not in registered or registered[view.pid].kind != "background"]
    for session in registered.values():  # interactive sessions the registry knows but the command line hid
        if session.kind != "interactive" or session.pid in seen or _nested(session.pid, managed | seen):
            continue  # counted already, or part of a session counted already (a CLI's own child)
        if starting(processes.parent_of(session.pid) or 0):
            continue
        cmdline = processes.cmdline_of(session.pid)
        # Its command line went unrecognised (renamed, a version string): only its executable proves it is the
        # CLI — a registry entry alone may name any process of the user — and its arguments tell a session from
        # a non-interactive run or a client.
        if not census.proven(session.pid, cmdline) or not census.has_session_arguments(cmdline):
            continue
        identity = processes.identity_of(session.pid)  # its start as this machine stamps it, for every signal
        if identity is None:
            continue
        view = ProcessView(session.pid, processes.parent_of(session.pid) or 0, 0, identity.start_time, cmdline)
        unmanaged.append(describe_unmanaged(view, census, now, stale_cli))
    return Census([s for s in unmanaged if not s.editor], background, [s for s in unmanaged if s.editor])


def _nested(pid: int, managed: set[int]) -> bool:
    """Started inside a supervised session (a CLI typed in its shell tool): part of that session."""
    seen: set[int] = set()
    parent = processes.parent_of(pid)
    while parent is not None and parent > 1 and parent not in seen:
        if parent in managed:
            return True
        seen.add(parent)
        parent = processes.parent_of(parent)
    return False


def describe_unmanaged(view: ProcessView, census: SessionSource, now: float,
                       stale_cli: ProcessIdentity | None) -> UnmanagedSession:
    """A session outside csup with its terminal, directory, cost and idle time (from the CLI's own state, else
    the last input on its terminal, as `w` reads it)."""
    info = processes.describe(view.pid)
    tty = str(info.get("tty") or "")
    idle, source = None, "unknown"
    state = census.live_state(view.pid)
    status = state.status if state is not None else "unknown"
    if state is not None:
        if state.status == "busy":
            idle, source = 0.0, "registry"
        elif state.changed_wall is not None:
            idle, source = idle_seconds(now, 0.0, last_wall=state.changed_wall), "registry"
    if idle is None and tty:
        try:
            idle, source = idle_seconds(now, 0.0, last_wall=os.stat(tty).st_atime), "tty"
        except OSError:
            pass
    orphaned = stale_cli is not None and stale_cli.pid == view.pid and processes.is_running(stale_cli)
    start = info.get("start_time")
    editor = editor_of(view.pid) if census.editor_session(view) else ""
    return UnmanagedSession(
        view, tty=tty, cwd=str(info.get("cwd") or ""), started_at=float(start) if start is not None else None,
        cpu_seconds=info.get("cpu_seconds"), rss_bytes=info.get("rss"),
        idle_seconds=None if idle is None else round(idle, 1), idle_source=source, orphaned=orphaned,
        status=status, cli=census.which(view) or "", editor=editor,
    )


# Editors whose extensions run an agent's session over stdio (VS Code's agent extensions, and
# the editors built on VS Code), by the name of a process above it.
EDITORS = {"code": "VS Code", "code-insiders": "VS Code", "codium": "VSCodium", "cursor": "Cursor",
           "windsurf": "Windsurf", "zed": "Zed", "code helper (plugin)": "VS Code", "electron": "an editor"}
ANCESTORS_LOOKED_AT = 12


def editor_of(pid: int) -> str:
    """The editor an editor's session runs under, by its ancestors' names; "an editor" when none is known."""
    seen: set[int] = set()
    parent = processes.parent_of(pid)
    while parent is not None and parent > 1 and parent not in seen and len(seen) < ANCESTORS_LOOKED_AT:
        seen.add(parent)
        command = processes.cmdline_of(parent)
        name = os.path.basename(command[0]).lower() if command else ""
        if name in EDITORS:
            return EDITORS[name]
        parent = processes.parent_of(parent)
    return "an editor"
