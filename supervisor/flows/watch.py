"""`csup watch`, the one enforcer of the policy outside csup's ptys: it takes the snapshot of every session, asks
the policy (core/policy.sweep) what is due, and carries it out — background sessions idle past their limit are
ended through their CLI's daemon; unmanaged ones idle past the limit are reported once, and with
`end_unmanaged` warned and then ended gracefully. It wakes at the next deadline the policy names, or at once
when a CLI's registry changes (a new background session), never on a tick. One watcher per user (a
lock): run by systemd or launchd when installed, otherwise started on demand by the first `csup run`, detached,
and gone once there has been nothing to watch for a while. Its state file tells status and doctor who enforces.
Side effects: the snapshot, the daemon, signals to proven processes, notifications, the log, two files."""

from __future__ import annotations

import os
import select
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from supervisor.clis.adapter import SessionSource
from supervisor.core.durations import format_duration
from supervisor.core.errors import CsupError
from supervisor.core.identity import ProcessIdentity
from supervisor.core.notice import Notice
from supervisor.core.policy import Memory, Rules, Step, is_moment
from supervisor.core.policy import sweep as decide
from supervisor.core.settings import (
    CONFIG_FILE_ENV,
    PORTABLE_ENV,
    RUNTIME_DIR_ENV,
    STATE_DIR_ENV,
    Settings,
)
from supervisor.flows.refusals import WatcherRunning
from supervisor.flows.reporting import Done, Reporter, Sweep
from supervisor.flows.sessions import AnySession, Snapshot, take_snapshot
from supervisor.flows.stop import end_background, end_unmanaged
from supervisor.machine import processes
from supervisor.machine.clock import SYSTEM, Clock
from supervisor.machine.events import log_event
from supervisor.machine.jsonfile import read_json, write_json_atomic
from supervisor.machine.lock import FileFlock
from supervisor.machine.memory import of_trees
from supervisor.machine.paths import Paths, ensure_private_dir

if TYPE_CHECKING:
    from supervisor.machine.dirwatch import DirWatch

RESCAN = 300.0  # with no stray_check set, how often sessions that announce themselves nowhere are looked for
MAX_SLEEP = 3600.0
SETTLE = 0.3  # after the registry changes, the quiet to wait for before a sweep (a session writes a few files)
MIN_SLEEP = 0.2  # a deadline just passed is swept again at once, but never in a tight loop
HANDOVER = 3.0  # an on-demand watcher waits this long for one that is leaving
RETRY_AFTER_ERROR = 60.0
Mode = Literal["service", "on-demand", "terminal", "once"]


def rules_of(settings: Settings) -> Rules:
    return Rules(idle_limit=settings.idle_limit, background_idle_limit=settings.background_idle_limit,
                 warn_before=settings.warn_before or 0.0, end_unmanaged=settings.end_unmanaged,
                 rescan=settings.stray_check or RESCAN, memory_budget=settings.memory_budget,
                 memory_min_idle=settings.memory_min_idle)


def enforces_anything(settings: Settings) -> bool:
    """Whether a watcher would end anything: with every limit off it could only report."""
    return settings.background_idle_limit is not None or settings.memory_budget is not None \
        or (settings.end_unmanaged and settings.idle_limit is not None)


def sweep(paths: Paths, settings: Settings, adapter: SessionSource, memory: Memory,
          notify: Callable[[str, str], None], reporter: Reporter, *, now: float | None = None,
          snapshot: Snapshot | None = None, act: bool = True, clock: Clock = SYSTEM) -> Sweep:
    """One look at every session, and what is due done (with `act` False, only said); returns what came of each
    step and when to look again."""
    snap = snapshot or take_snapshot(paths, settings.places, adapter, clock=clock,
                                     memory=of_trees if settings.memory_budget is not None else None)
    now = snap.time if now is None else now
    views = [session.seen() for session in snap.sessions]
    steps, next_at = decide(views, rules_of(settings), memory, now)
    done = []
    for step in steps:
        session = snap.by_key(step.session.key)
        if session is None:
            continue
        if not act:
            done.append(Done(step, "would", _named(session)))
            continue
        done.append(_carry_out(step, session, paths, settings, adapter, reporter, notify))
    outside = sum(1 for view in views if view.kind != "supervised")
    return Sweep(done, next_at, outside, len(views))


def _carry_out(step: Step, session: AnySession, paths: Paths, settings: Settings, adapter: SessionSource,
               reporter: Reporter, notify: Callable[[str, str], None]) -> Done:
    if step.action in ("warn-memory", "end-memory"):
        return _memory_step(step, session, paths, settings, adapter, reporter, notify)
    reason = f"idle for {format_duration(step.idle)} (csup watch)"
    if step.action == "end-background" and session.background is not None:
        limit = format_duration(settings.background_idle_limit or 0)
        ended = end_background(paths, adapter, session.background, "idle",
                               reason=f"idle for {format_duration(step.idle)} (background limit {limit})")
        return Done(step, "ended" if ended.gone else "failed", _named(session), ended.failure or "")
    unmanaged = session.unmanaged
    assert unmanaged is not None
    pid = unmanaged.pid
    if step.action == "notify-unmanaged":
        notify(*reporter.notice(Notice("unmanaged-idle", seconds=step.idle, pid=pid)))
        log_event(paths.log_file, "reported-unmanaged", cli_pid=pid, cli=unmanaged.cli or None, reason=reason,
                  cwd=unmanaged.cwd)
        return Done(step, "reported", _named(session))
    if step.action == "warn-unmanaged":
        notify(*reporter.notice(Notice("unmanaged-ending", seconds=step.idle, pid=pid,
                                       left=settings.warn_before or 0.0)))
        log_event(paths.log_file, "warned-unmanaged", cli_pid=pid, cli=unmanaged.cli or None, reason=reason,
                  cwd=unmanaged.cwd)
        return Done(step, "warned", _named(session))
    gone = end_unmanaged(paths, settings, adapter, [unmanaged], "idle", reason=reason)
    return Done(step, "ended" if gone else "asked", _named(session))


def _named(session: AnySession) -> str:
    """A session as the watcher's lines name it: its id, and its CLI."""
    return f"{session.id} ({session.cli})" if session.cli else session.id


def _memory_step(step: Step, session: AnySession, paths: Paths, settings: Settings, adapter: SessionSource,
                 reporter: Reporter, notify: Callable[[str, str], None]) -> Done:
    """Over the memory budget: warn (a notification naming the session), then end it its kind's way."""
    from supervisor.core.sizes import format_size

    assert settings.memory_budget is not None
    reason = (f"memory budget {format_size(settings.memory_budget)}: sessions held {format_size(step.held)}; "
              f"this one idle {format_duration(step.idle)}")
    if step.action == "warn-memory":
        notify(*reporter.notice(Notice("memory-ending", seconds=step.idle, pid=session.pid or 0,
                                       left=settings.warn_before or 0.0)))
        log_event(paths.log_file, "warned-memory", kind=session.kind, id=session.id, cli_pid=session.pid,
                  reason=reason, cwd=session.cwd)
        return Done(step, "warned", _named(session))
    from supervisor.flows.room import end_session

    gone, _ = end_session(paths, settings, adapter, reporter, session, reason, "memory")
    return Done(step, "ended" if gone else "failed", _named(session), "" if gone else "it did not end in time")


# --- the long-running watcher ---------------------------------------------------------------------------------


def _rules_json(settings: Settings) -> dict[str, object]:
    """The watcher's own rules, for status to promise only what this watcher will carry out."""
    return {"idle_limit": settings.idle_limit, "background_idle_limit": settings.background_idle_limit,
            "end_unmanaged": settings.end_unmanaged, "memory_budget": settings.memory_budget}


def watcher_state(paths: Paths) -> dict[str, object] | None:
    """The running watcher's own account (pid, mode, last and next sweep), if that watcher still runs."""
    data = read_json(paths.runtime_dir / "watch.json", limit=4096, private=True)
    if not isinstance(data, dict):
        return None
    me = ProcessIdentity.from_json(data.get("watcher"))
    if me is None or not processes.is_running(me):
        return None
    rules = data.get("rules")
    return {"pid": me.pid, "mode": data.get("mode"), "last_sweep": _moment(data.get("last_sweep")),
            "next_sweep": _moment(data.get("next_sweep")), "sessions": data.get("sessions")
            if type(data.get("sessions")) is int else None,
            "rules": {key: value for key, value in rules.items() if key in RULE_KEYS
                      and (value is None or type(value) in (int, float, bool))} if isinstance(rules, dict) else {}}


RULE_KEYS = ("idle_limit", "background_idle_limit", "end_unmanaged", "memory_budget")


def _moment(value: object) -> float | None:
    return float(value) if is_moment(value) else None  # type: ignore[arg-type]


def _mode(once: bool, on_demand: bool, environ: Mapping[str, str]) -> Mode:
    from supervisor.machine.service import started_by_manager

    if once:
        return "once"
    if on_demand:
        return "on-demand"
    return "service" if started_by_manager(environ) else "terminal"


def watch(paths: Paths, settings: Settings, adapter: SessionSource, reporter: Reporter,
          notify: Callable[[str, str], None], *, once: bool, on_demand: bool = False,
          environ: Mapping[str, str] = os.environ, clock: Clock = SYSTEM,
          reload: Callable[[], Settings] | None = None) -> Sweep:
    """Sweep once, or at every deadline the sweeps name (and whenever the registry changes) until SIGTERM or
    SIGINT — or, on demand, until nothing has been left to watch for a while. `--once` while a watcher runs is a
    look: what the sweep would do, done by nobody but that watcher. A long-running watcher follows the config
    file as it changes (`reload`, before each sweep; woken when the file's folder changes)."""
    from supervisor.flows.reporting import WatchEvent

    ensure_private_dir(paths.runtime_dir)
    lock = FileFlock(paths.runtime_dir / "watch.lock")
    mode = _mode(once, on_demand, environ)
    memory_file = paths.runtime_dir / "watch-memory.json"
    # On demand, a watcher that is just leaving (it found nothing to watch a moment ago) still holds the lock:
    # wait for it briefly, so that the session which started us is not left with nobody watching.
    if not lock.try_acquire(timeout=HANDOVER if on_demand else 0):
        state = watcher_state(paths)
        if once:
            memory = Memory.from_json(read_json(memory_file, limit=1 << 20, private=True))
            look = sweep(paths, settings, adapter, memory, notify, reporter, act=False, clock=clock)
            reporter.watch_event(WatchEvent("looked", look, state))
            return look
        if on_demand:
            return Sweep()  # one is enough, and it is there
        raise WatcherRunning("csup watch already runs; one watcher per user is enough", running=state)
    memory = Memory.from_json(read_json(memory_file, limit=1 << 20, private=True))
    me = processes.identity_of(os.getpid())
    try:
        if once:
            result = sweep(paths, settings, adapter, memory, notify, reporter, clock=clock)
            write_json_atomic(memory_file, memory.to_json())
            _keep_metrics(paths, settings, adapter, clock)
            reporter.watch_event(WatchEvent("swept", result, {"once": True}))
            return result
        return _forever(paths, settings, adapter, reporter, notify, memory, memory_file, mode, me, environ, clock,
                        reload)
    finally:
        lock.release()


def _forever(paths: Paths, settings: Settings, adapter: SessionSource, reporter: Reporter,
             notify: Callable[[str, str], None], memory: Memory, memory_file: Path, mode: Mode,
             me: ProcessIdentity | None, environ: Mapping[str, str], clock: Clock,
             reload: Callable[[], Settings] | None) -> Sweep:
    from supervisor.flows.reporting import WatchEvent
    from supervisor.machine.dirwatch import DirWatch
    from supervisor.machine.signals import signal_wakeup

    log_event(paths.log_file, "watch-started", watcher=os.getpid(), mode=mode)
    # The config file's folder (an editor replaces the file) and the file (written in place): either wakes it.
    registry = DirWatch([*adapter.folders_to_watch(), paths.config_file.parent, paths.config_file])
    empty_since: float | None = None
    result = Sweep()
    reporter.watch_event(WatchEvent("started", result, {"mode": mode, "pid": os.getpid()}))
    # Said before the first sweep, not after it: a sweep that ends sessions takes seconds, and meanwhile status
    # (and a `csup run` deciding whether to start a watcher) must already see this one.
    _keep(paths.runtime_dir / "watch.json", _state_json(me, mode, None, None, None, settings))
    why = "stopped"
    try:
        with signal_wakeup((signal.SIGTERM, signal.SIGINT, signal.SIGHUP)) as wake_fd:
            while True:
                settings = _follow(paths, settings, reload)
                result = _sweep_safely(paths, settings, adapter, memory, notify, reporter, clock)
                _keep_metrics(paths, settings, adapter, clock)
                _keep(memory_file, memory.to_json())
                now = clock.wall()
                empty_since = None if result.total else (empty_since or now)
                wake_at = result.next_at
                if mode == "on-demand":
                    if not enforces_anything(settings):
                        why = "nothing to enforce: every limit is off"
                        break
                    if empty_since is not None and now - empty_since >= settings.watch_linger:
                        if _leave(paths, settings, adapter, clock):
                            why = "nothing left to watch"
                            break
                        empty_since = None  # a session came meanwhile: watch on
                    elif empty_since is not None:
                        wake_at = min(wake_at, empty_since + settings.watch_linger)
                _keep(paths.runtime_dir / "watch.json", _state_json(me, mode, now, wake_at, result.seen, settings))
                if result.done:
                    reporter.watch_event(WatchEvent("swept", result, None))
                if _wait(wake_fd, registry, wake_at, clock):
                    break
    finally:
        registry.close()
        try:
            os.unlink(paths.runtime_dir / "watch.json")
        except OSError:
            pass
        log_event(paths.log_file, "watch-stopped", watcher=os.getpid(), mode=mode, reason=why)
        reporter.watch_event(WatchEvent("stopped", result, {"reason": why}))
    return result


def _state_json(me: ProcessIdentity | None, mode: Mode, last_sweep: float | None, next_sweep: float | None,
                sessions: int | None, settings: Settings) -> dict[str, object]:
    return {"pid": os.getpid(), "watcher": me.to_json() if me else None, "mode": mode, "last_sweep": last_sweep,
            "next_sweep": next_sweep, "sessions": sessions, "rules": _rules_json(settings)}


def _keep_metrics(paths: Paths, settings: Settings, adapter: SessionSource, clock: Clock) -> None:
    """The metrics file, when one is asked for: a file it cannot write is said in the log, never fatal."""
    if not settings.metrics_file:
        return
    from supervisor.flows.metrics import gather, write_textfile

    try:
        write_textfile(Path(os.path.expanduser(settings.metrics_file)), gather(paths, settings, adapter, clock))
    except (OSError, CsupError) as err:
        log_event(paths.log_file, "watch-error", error=f"metrics_file: {err}"[:300])


def _follow(paths: Paths, settings: Settings, reload: Callable[[], Settings] | None) -> Settings:
    """The rules as the config file says them now; a file that went bad keeps the rules in force (and is said)."""
    if reload is None:
        return settings
    try:
        return reload()
    except CsupError as err:
        log_event(paths.log_file, "watch-error", error=f"config: {err.message}"[:300])
        return settings


def _sweep_safely(paths: Paths, settings: Settings, adapter: SessionSource, memory: Memory,
                  notify: Callable[[str, str], None], reporter: Reporter, clock: Clock) -> Sweep:
    """A sweep that fails (a CLI that cannot be found to stop a session, a full disk) is logged and tried again
    later: a service that died on it would restart into the same failure, and nobody would watch meanwhile."""
    try:
        return sweep(paths, settings, adapter, memory, notify, reporter, clock=clock)
    except (CsupError, OSError) as err:
        log_event(paths.log_file, "watch-error", error=str(err)[:300])
        return Sweep(next_at=clock.wall() + RETRY_AFTER_ERROR, total=1)


def _keep(path: Path, data: dict[str, object]) -> None:
    """The watcher's own files: one it cannot write (a full disk) costs what it remembers, never the watcher."""
    try:
        write_json_atomic(path, data)
    except OSError:
        pass


def _leave(paths: Paths, settings: Settings, adapter: SessionSource, clock: Clock) -> bool:
    """An on-demand watcher with nothing left to watch: first say so (its state file goes, so a `csup run` from
    now on starts the next watcher, which waits for this one's lock), then look once more — a session that
    came meanwhile keeps it. True when it may leave."""
    try:
        os.unlink(paths.runtime_dir / "watch.json")
    except OSError:
        pass
    try:
        return not take_snapshot(paths, settings.places, adapter, clock=clock).sessions
    except (CsupError, OSError):
        return False  # it cannot tell: it stays


def _wait(wake_fd: int, registry: DirWatch, wake_at: float, clock: Clock) -> bool:
    """Sleep until `wake_at`, a change in the registry, or a signal; True when a signal says stop. The wait
    runs on the monotonic clock: a wall clock set back would otherwise postpone every deadline."""
    from supervisor.machine.signals import drain

    now_wall, now_mono = clock.both()
    until = now_mono + (wake_at - now_wall)
    while True:
        timeout = min(MAX_SLEEP, max(MIN_SLEEP, until - clock.mono()))
        if registry.poll_every is not None:
            timeout = min(timeout, registry.poll_every)
        fd = registry.fileno()
        ready, _, _ = select.select([wake_fd] if fd is None else [wake_fd, fd], [], [], timeout)
        if wake_fd in ready and drain(wake_fd):
            return True
        if registry.changed():
            clock.sleep(SETTLE)  # a session writes its registry and job files in a burst
            registry.changed()
            return False
        if clock.mono() >= until:
            return False


def stop_watcher(paths: Paths, clock: Clock = SYSTEM) -> tuple[int, str] | None:
    """SIGTERM to the running watcher — proven a csup of ours that holds the watcher's lock — and wait until it
    has gone: (its pid, its mode), or None when none runs."""
    from supervisor.flows.ending import TERM_GRACE
    from supervisor.machine.clock import wait_until

    state = read_json(paths.runtime_dir / "watch.json", limit=4096, private=True)
    me = ProcessIdentity.from_json(state.get("watcher")) if isinstance(state, dict) else None
    if me is None or not processes.is_running(me) or not processes.runs_csup(me.pid) \
            or not processes.holds_open(me.pid, paths.runtime_dir / "watch.lock"):
        return None
    processes.signal_verified(me, signal.SIGTERM)
    wait_until(lambda: not processes.is_running(me), TERM_GRACE * 2, clock)
    return me.pid, str(state.get("mode") if isinstance(state, dict) else "")


# --- on demand ----------------------------------------------------------------------------------------------


def ensure_watcher(paths: Paths, settings: Settings, environ: Mapping[str, str], *, always: bool = False) -> bool:
    """Start the enforcer, detached from this terminal, when none runs (or `always`) and it would have something
    to do; True when one was started. One started while another runs waits a moment for that one's lock, then
    leaves if it is still held."""
    if not enforces_anything(settings) or (not always and watcher_state(paths) is not None):
        return False
    from supervisor.machine.detach import start_detached
    from supervisor.machine.myself import csup_argv

    start_detached([*csup_argv(sys.argv[0] if sys.argv else ""), "watch", "--on-demand"],
                   watcher_environment(environ))
    return True


# What the watcher takes from the environment of the csup that starts it: where things are, and each CLI's own
# settings (where it is, which processes are its). Not the policy: `CSUP_IDLE_LIMIT=2h` before a start is that
# session's own; the one enforcer of every session follows the config file, as a service started by the system
# does.
_WHERE = frozenset({RUNTIME_DIR_ENV, STATE_DIR_ENV, CONFIG_FILE_ENV, PORTABLE_ENV})


def watcher_environment(environ: Mapping[str, str]) -> dict[str, str]:
    from supervisor.clis.choose import cli_settings

    where = _WHERE | {setting.env_var for setting in cli_settings()}
    return {key: value for key, value in environ.items() if not key.startswith("CSUP_") or key in where}
