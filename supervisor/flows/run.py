"""`csup run` (and `takeover`, `run --wait`): pass-through or admission, then the live session in the right
directory with the right conversation. Side effects: exec, the lock, chdir; the decisions live in the modules
it calls."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple, NoReturn

from supervisor.clis.adapter import Launcher, SessionSource
from supervisor.clis.choose import configured_path, launcher_for, program_of, sessions_from
from supervisor.clis.locate import find_program
from supervisor.core.errors import CliNotExecutable, CliNotFound, SessionBusy, UsageError
from supervisor.core.settings import SESSION_ENV, Settings
from supervisor.machine.clock import SYSTEM, Clock
from supervisor.machine.paths import Paths, ensure_private_dir
from supervisor.machine.trace import mark

if TYPE_CHECKING:  # a pass-through (`--version`, a non-interactive run) imports none of these: its start-up is all
    from supervisor.flows import admission
    from supervisor.flows.live import Asleep, Outcome
    from supervisor.flows.reporting import Reporter, ResumeDecision
    from supervisor.flows.sleep import Wake


BACKGROUND_REGISTERS = 3.0  # a background start: its session registers ~0.1 to 0.4 s after the CLI leaves


class RunRequest(NamedTuple):
    cli_args: tuple[str, ...]
    self_paths: tuple[str, ...] = ()  # how csup was invoked, so PATH search can skip csup itself
    mode: Literal["now", "wait", "takeover"] = "now"  # now (or refuse), wait (in line), takeover
    patience: float | None = None  # --wait DURATION: give up after this long
    resume: bool = True  # takeover: carry the old conversation on
    force: bool = False  # takeover: end unmanaged sessions without asking
    target: str | None = None  # takeover: the session to take over (an id, a pid, a terminal)


def run(request: RunRequest, settings: Settings, paths: Paths, environ: Mapping[str, str],
        reporter: Reporter, clock: Clock = SYSTEM) -> int:
    try:
        return _run(request, settings, paths, environ, reporter, clock)
    except SessionBusy as refused:
        refused.starting = settings.cli  # a CLI chosen by name (flag, alias, config): its ways out name it too
        raise


def _run(request: RunRequest, settings: Settings, paths: Paths, environ: Mapping[str, str],
         reporter: Reporter, clock: Clock) -> int:
    if request.mode == "takeover" and not settings.cli:
        # `csup takeover` names no CLI: the session it takes over is carried on in its own CLI.
        settings = settings._replace(cli=_cli_taken_over(paths, settings, request.target))
    program = find_program(configured_path(settings, settings.cli), environ, request.self_paths,
                           program_of(settings.cli))
    launcher = launcher_for(settings, program, settings.cli)
    args = list(request.cli_args)
    if request.mode == "now" and launcher.starts_background(args):
        # A new session, from a terminal or a script alike: the rule applies before the CLI leaves at once.
        return _launch_background(program, args, paths, settings, environ, reporter, clock)
    if request.mode == "now" and _passes_through(launcher, args, paths, environ):
        _exec(program, args, environ)
    mark("program")
    if not os.isatty(1):
        command = "csup takeover" if request.mode == "takeover" else "csup run --wait"
        raise UsageError(f"{command} starts an interactive session and needs a terminal; stdout is not one",
                         hint="run it from a terminal, or end the session from here with: csup stop")

    from supervisor.terminal.guardian import become_relay
    from supervisor.terminal.rawmode import terminal_fd

    # Before anything that names this process (a place, the lock, the records): from here on csup is the relay,
    # and the process the shell waits for is its guardian, which puts the terminal back whatever ends the relay.
    guardian = become_relay(terminal_fd(0, 1), 1)
    mark("guardian")
    import filelock  # noqa: F401  # the lock's library, the floor of a session's start: its own phase in the marks

    mark("filelock")
    from supervisor.flows import admission

    mark("admission code")
    ensure_private_dir(paths.runtime_dir)
    locks = admission.Locks.open(paths, settings.places)
    census = sessions_from(settings, environ)
    world = admission.world_of(paths, settings, census, reporter, clock)
    if guardian is not None:
        world = world._replace(abandoned=guardian.gone)
    bringing_here = launcher.foreground_target(args, census.live_sessions())
    cwd = None
    if request.mode == "takeover":
        handover = admission.take_over(paths, locks, settings, census, force=request.force, reporter=reporter,
                                       named=request.target, clock=clock, resume=request.resume)
        reporter.done_waiting()
        args, cwd, decision = _resumed(launcher, census, args, handover, request.resume)
        if handover.attach is not None:
            from supervisor.flows.reporting import ResumeDecision

            args, cwd = launcher.attach_args(handover.attach), None
            decision = ResumeDecision("attached", handover.attach.conversation.id, handover.attach.conversation.cwd,
                                      short=handover.attach.short)
        if decision is not None:
            reporter.resume_decision(decision)
    elif request.mode == "wait":
        try:
            admission.wait_for_room(paths, locks, settings, world, reporter, request.patience, bringing_here)
        finally:
            reporter.done_waiting()
    else:
        admission.admit_now(paths, locks, settings, world, reporter, bringing_here)
    mark("admission")
    from supervisor.flows.live import supervise  # only now: a refused run never imports the relay

    outcome: Outcome | None = None
    wake: Wake | None = None
    asleep: Asleep | None = None
    while True:
        try:
            if cwd is not None:
                os.chdir(cwd)  # a CLI finds a conversation from the directory it was started in
            assert locks.slot is not None
            asleep = outcome.asleep if outcome is not None else None
            outcome = supervise(launcher, census, args, settings, paths, locks.slot, environ, reporter, clock,
                                session_id=asleep.session_id if asleep else None,
                                started=asleep.started_at if asleep else None,
                                draft=wake.draft if wake else b"", woke_at=wake.woke_at if wake else None,
                                release_place=locks.release, guardian=guardian)
        finally:
            locks.release()  # the place is free the moment the CLI is gone: asleep, a session holds none
        if outcome.resume_failed and asleep is not None:
            outcome = outcome._replace(asleep=asleep)
        if outcome.asleep is None:
            return outcome.code
        from supervisor.flows.sleep import doze

        woken = doze(paths, settings, launcher, census, outcome.asleep, world, reporter, clock,
                     resume_failed=outcome.resume_failed, gone_fd=guardian.gone_fd if guardian else None)
        if isinstance(woken, int):
            return woken
        wake, locks, args, cwd = woken, woken.locks, woken.args, woken.cwd


def _cli_taken_over(paths: Paths, settings: Settings, target: str | None) -> str:
    """The CLI of the supervised (or asleep) session a takeover means, by the records alone: the one `target`
    names, else the one all of them run; "" (the default CLI) when that is not one CLI csup knows."""
    from supervisor.clis.choose import names
    from supervisor.machine.record import live_holders

    holders = live_holders([*paths.known_slots(settings.places), *paths.asleep_places()])
    if target:
        holders = [h for h in holders if target in (h.record.session_id[:8], h.record.session_id,
                                                    h.record.conversation_id, h.record.tty,
                                                    h.record.tty.removeprefix("/dev/"))]
    clis = {holder.record.cli_name for holder in holders}
    found = clis.pop() if len(clis) == 1 else ""
    return found if found in names() else ""


def _resumed(launcher: Launcher, sessions: SessionSource, args: list[str], handover: admission.Handover,
             resume: bool) -> tuple[list[str], str | None, ResumeDecision | None]:
    """The arguments and directory that carry the old conversation on, and what was decided."""
    from supervisor.flows.reporting import ResumeDecision

    if not resume:
        return args, None, ResumeDecision("declined") if handover.conversations else None
    if launcher.chooses_conversation(args):
        return args, None, None
    if not handover.conversations:
        if handover.previous is None and not handover.unmanaged_ended:
            return args, None, ResumeDecision("nothing-running")
        previous = handover.previous
        if previous is not None and previous.cli_name not in ("", launcher.name):
            return args, None, ResumeDecision("other-cli")  # and it had no conversation to resume there
        if previous is not None and previous.conversation_id:
            return args, None, ResumeDecision("no-transcript", previous.conversation_id, previous.cwd)
        return args, None, ResumeDecision("unknown")
    # Only this CLI's conversation can be carried on here; another CLI's is said with its own command.
    mine = [c for c in handover.conversations if c.cli in ("", launcher.name)]
    if not mine:
        return args, None, ResumeDecision("other-cli", None, None, tuple(
            f"cd {c.cwd} && {sessions.resume_command(c)}" for c in handover.conversations))
    first, *others = [*mine, *(c for c in handover.conversations if c not in mine)]
    other_commands = tuple(f"cd {c.cwd} && {sessions.resume_command(c)}" for c in others)
    if not sessions.can_resume(first):
        return args, None, ResumeDecision("no-transcript", first.id, first.cwd, other_commands)
    if not os.path.isdir(first.cwd):
        return args, None, ResumeDecision("cwd-gone", first.id, first.cwd, other_commands)
    return [*launcher.resume_args(first.id), *args], first.cwd, \
        ResumeDecision("resumed", first.id, first.cwd, other_commands)


def _passes_through(launcher: Launcher, args: Sequence[str], paths: Paths, environ: Mapping[str, str]) -> bool:
    """Scripts, pipes, non-interactive runs, subcommands and a CLI nested in a session go straight to the CLI."""
    if not os.isatty(1):
        return True
    if not launcher.is_session(args):
        return True
    nested_id = environ.get(SESSION_ENV)
    if nested_id:
        from supervisor.flows.sessions import supervised

        return any(holder.record.session_id == nested_id for holder in supervised(paths, 1))
    return False


def _exec(path: str, args: Sequence[str], environ: Mapping[str, str]) -> NoReturn:
    try:
        os.execve(path, [path, *args], dict(environ))
    except FileNotFoundError:
        raise CliNotFound(f"{path} does not exist") from None
    except OSError as err:
        raise CliNotExecutable(f"cannot run {path}: {err.strerror}") from None


def _launch_background(program: str, args: list[str], paths: Paths, settings: Settings, environ: Mapping[str, str],
                       reporter: Reporter, clock: Clock) -> int:
    """A background start: a new session, admitted as any start is. The CLI leaves at once and its session lives on in
    its CLI's daemon, where it registers a moment later: csup runs the CLI as its child and keeps its place
    until the registry lists a new background session (or BACKGROUND_REGISTERS has passed), so a second start
    racing it counts it as starting rather than as nothing. Then the enforcer (started here when none runs)
    looks after the session."""
    from supervisor.flows import admission
    from supervisor.machine.clock import wait_until

    ensure_private_dir(paths.runtime_dir)
    locks = admission.Locks.open(paths, settings.places)
    census = sessions_from(settings, environ)
    world = admission.world_of(paths, settings, census, reporter, clock)
    admission.admit_now(paths, locks, settings, world, reporter)
    with locks.session:
        before = _background_ids(census)
        code = _run_to_end(program, args, environ)
        if code == 0:
            wait_until(lambda: bool(_background_ids(census) - before), BACKGROUND_REGISTERS, clock)
    from supervisor.flows.watch import ensure_watcher

    # Always: a watcher about to leave may not see a session that registers only after this process has gone;
    # a new one waits for its lock, and takes over if it leaves.
    ensure_watcher(paths, settings, environ, always=True)
    return code


def _background_ids(census: SessionSource) -> set[str]:
    return {session.short for session in census.live_sessions() if session.kind == "background"}


def _run_to_end(program: str, args: Sequence[str], environ: Mapping[str, str]) -> int:
    """The CLI as csup's child, in this terminal, to its end; its status as a shell reports it. Ctrl-C is the
    child's to answer (csup waits for it rather than leaving it behind)."""
    import signal
    import subprocess

    try:
        child = subprocess.Popen([program, *args], env=dict(environ))
    except FileNotFoundError:
        raise CliNotFound(f"{program} does not exist") from None
    except OSError as err:
        raise CliNotExecutable(f"cannot run {program}: {err.strerror}") from None
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return 128 - code if code < 0 else code
