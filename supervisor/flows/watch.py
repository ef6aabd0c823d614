"""`csup watch`: the policy when no `csup run` applies it — every Claude session outside csup's own, swept at
the next deadline the watcher knows: background sessions idle past their limit are ended through Claude Code's
daemon; unmanaged ones idle past the limit are reported once, and with `end_unmanaged` warned and then ended
gracefully. One watcher per user (a lock); its state file tells status and doctor when it last swept.
Side effects: the census, the daemon, signals to proven processes, notifications, the log, two files."""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from supervisor.claude.adapter import CliAdapter
from supervisor.core.errors import SessionBusy
from supervisor.core.identity import ProcessIdentity
from supervisor.core.notice import Notice
from supervisor.core.settings import Settings
from supervisor.core.sweep import Memory, Rules, Seen, Step, decide
from supervisor.flows.reporting import Reporter
from supervisor.flows.sessions import AnySession, everyone
from supervisor.flows.stop import end_background
from supervisor.machine import processes
from supervisor.machine.events import log_event
from supervisor.machine.jsonfile import read_json, write_json_atomic
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths, ensure_private_dir

RESCAN = 300.0  # with no stray_check set, how often new sessions are looked for
MAX_SLEEP = 3600.0


class WatcherRunning(SessionBusy):
    """Another watcher of this user runs: one is enough."""


@dataclass
class Sweep:
    steps: list[Step] = field(default_factory=list)
    next_at: float = 0.0  # wall clock
    seen: int = 0


def rules_of(settings: Settings) -> Rules:
    return Rules(idle_limit=settings.idle_limit, background_idle_limit=settings.background_idle_limit,
                 warn_before=settings.warn_before or 0.0, end_unmanaged=settings.end_unmanaged,
                 rescan=settings.stray_check or RESCAN)


def seen(session: AnySession, census: CliAdapter, now: float) -> Seen | None:
    """A session as the sweep sees it; None for one a csup already supervises (its own csup applies the rule)."""
    idle_since = None if session.idle_seconds is None else now - session.idle_seconds
    if session.background is not None:
        bg = session.background
        return Seen("background", f"bg:{bg.short}", bg.last_activity if bg.last_activity else idle_since,
                    busy=bg.status == "busy", waiting=bg.status == "waiting", attached=bg.attached > 0,
                    pinned=bg.pinned)
    if session.unmanaged is not None:
        view = session.unmanaged.view
        state = census.live_state(view.pid)
        return Seen("unmanaged", f"pid:{view.pid}:{view.start_time}", idle_since,
                    busy=state is not None and state.status == "busy",
                    waiting=state is not None and state.status == "waiting")
    return None


def sweep(paths: Paths, settings: Settings, census: CliAdapter, memory: Memory, reporter: Reporter,
          notify: Callable[[str, str], None], now: float | None = None) -> Sweep:
    """One look at every session, and what is due done; returns what was done and when to look again."""
    now = time.time() if now is None else now
    sessions = everyone(paths, settings.max_sessions, census)
    views = {s: seen(s, census, now) for s in sessions}
    by_key = {v.key: s for s, v in views.items() if v is not None}
    steps, next_at = decide([v for v in views.values() if v is not None], rules_of(settings), memory, now)
    for step in steps:
        _carry_out(step, by_key[step.session.key], paths, settings, census, reporter, notify)
    return Sweep(steps, next_at, len(by_key))


def _carry_out(step: Step, session: AnySession, paths: Paths, settings: Settings, census: CliAdapter,
               reporter: Reporter, notify: Callable[[str, str], None]) -> None:
    from supervisor.core.durations import format_duration

    reason = f"idle for {format_duration(step.idle)} (csup watch)"
    if step.action == "end-background" and session.background is not None:
        limit = format_duration(settings.background_idle_limit or 0)
        end_background(paths, census, session.background, "idle",
                       reason=f"idle for {format_duration(step.idle)} (background limit {limit}; csup watch)")
        return
    unmanaged = session.unmanaged
    if unmanaged is None:
        return
    pid = unmanaged.pid
    if step.action == "notify-unmanaged":
        notify(*reporter.notice(Notice("unmanaged-idle", seconds=step.idle, pid=pid)))
        log_event(paths.log_file, "reported-unmanaged", cli_pid=pid, reason=reason)
    elif step.action == "warn-unmanaged":
        notify(*reporter.notice(Notice("unmanaged-ending", seconds=step.idle, pid=pid,
                                       left=settings.warn_before or 0.0)))
        log_event(paths.log_file, "warned-unmanaged", cli_pid=pid, reason=reason)
    elif step.action == "end-unmanaged":
        _end_gracefully(unmanaged.view.identity, settings)
        resume = None
        conversation = census.conversation_of(pid)
        if conversation is not None and census.can_resume(conversation):
            resume = census.resume_command(conversation.id)
        log_event(paths.log_file, "ended-unmanaged", cli_pid=pid, how="idle", reason=reason, resume=resume)


def _end_gracefully(cli: ProcessIdentity, settings: Settings) -> None:
    """The CLI's own graceful exit first (SIGTERM: it saves and prints its resume line), then its process tree,
    then SIGKILL — each to a process proven by pid and start time."""
    tree = processes.descendants(cli.pid)  # before the first signal: its tool children left its group
    processes.terminate([cli], settings.term_wait)
    processes.terminate(tree, settings.tree_wait)


# --- the long-running watcher ---------------------------------------------------------------------------------


def watcher_state(paths: Paths) -> dict[str, object] | None:
    """The running watcher's own account (pid, last and next sweep), if that watcher still runs."""
    data = read_json(paths.runtime_dir / "watch.json", limit=4096, private=True)
    if not isinstance(data, dict):
        return None
    me = ProcessIdentity.from_json(data.get("watcher"))
    if me is None or not processes.is_running(me):
        return None
    return data


def watch(paths: Paths, settings: Settings, census: CliAdapter, reporter: Reporter,
          notify: Callable[[str, str], None], *, once: bool) -> Sweep:
    """Sweep once, or forever at the deadlines the sweeps say, until SIGTERM or SIGINT."""
    ensure_private_dir(paths.runtime_dir)
    lock = FileFlock(paths.runtime_dir / "watch.lock")
    if not lock.try_acquire():
        state = watcher_state(paths)
        who = f" (pid {state['pid']})" if state else ""
        raise WatcherRunning(f"csup watch already runs{who}; one watcher per user is enough",
                             hint="see it: csup service status")
    memory_file = paths.runtime_dir / "watch-memory.json"
    memory = Memory.from_json(read_json(memory_file, limit=1 << 20, private=True))
    me = processes.identity_of(os.getpid())
    stopping: list[int] = []
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    if not once:
        # Handlers only record; the signal's byte on the wakeup pipe ends the wait at once (no polling tick).
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda got, frame: stopping.append(got))
        log_event(paths.log_file, "watch-started", watcher=os.getpid())
    try:
        while True:
            result = sweep(paths, settings, census, memory, reporter, notify)
            write_json_atomic(memory_file, memory.to_json())
            write_json_atomic(paths.runtime_dir / "watch.json", {
                "pid": os.getpid(), "watcher": me.to_json() if me else None, "last_sweep": time.time(),
                "next_sweep": result.next_at, "sessions": result.seen})
            if once or stopping:
                return result
            select.select([wake_r], [], [], min(MAX_SLEEP, max(1.0, result.next_at - time.time())))
            if stopping:
                return result
    finally:
        if not once:
            signal.set_wakeup_fd(-1)
        os.close(wake_r)
        os.close(wake_w)
        if not once:
            log_event(paths.log_file, "watch-stopped", watcher=os.getpid())
            try:
                os.unlink(paths.runtime_dir / "watch.json")
            except OSError:
                pass
        lock.release()
