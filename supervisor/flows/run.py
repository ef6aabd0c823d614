"""`csup run` (and `takeover`, `run --wait`): pass-through or admission, then the live session in the right
directory with the right conversation. Side effects: exec, the lock, chdir; the decisions live in the modules
it calls."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple, NoReturn

from supervisor.claude.adapter import CliAdapter
from supervisor.claude.choose import adapter_for
from supervisor.claude.locate import find_program
from supervisor.core.errors import CliNotExecutable, CliNotFound, UsageError
from supervisor.core.settings import SESSION_ENV, Settings
from supervisor.machine.paths import Paths, ensure_private_dir
from supervisor.machine.trace import mark

if TYPE_CHECKING:  # a pass-through (`claude --version`, `claude -p`) imports none of these: its start-up is all
    from collections.abc import Callable

    from supervisor.flows import admission
    from supervisor.flows.reporting import Reporter, ResumeDecision
    from supervisor.flows.sessions import AnySession, Snapshot
    from supervisor.machine.memory import TreeMemory


class RunRequest(NamedTuple):
    claude_args: tuple[str, ...]
    self_paths: tuple[str, ...] = ()  # how csup was invoked, so PATH search can skip csup itself
    mode: Literal["now", "wait", "takeover"] = "now"  # now (or refuse), wait (in line), takeover
    patience: float | None = None  # --wait DURATION: give up after this long
    resume: bool = True  # takeover: carry the old conversation on
    force: bool = False  # takeover: end unmanaged sessions without asking
    target: str | None = None  # takeover: the session to take over (an id, a pid, a terminal)


def run(request: RunRequest, settings: Settings, paths: Paths, environ: Mapping[str, str],
        reporter: Reporter) -> int:
    program = find_program(settings.claude, environ, request.self_paths)
    adapter = adapter_for(settings, environ, program)
    args = list(request.claude_args)
    if request.mode == "now" and adapter.starts_background(args):
        # A new session, from a terminal or a script alike: the rule applies before the CLI leaves at once.
        _admit_background_launch(paths, settings, environ)
        _exec(program, args, environ)  # its session lives on in Claude Code's daemon
    if request.mode == "now" and _passes_through(adapter, args, paths, environ):
        _exec(program, args, environ)
    mark("program")
    if not os.isatty(1):
        command = "csup takeover" if request.mode == "takeover" else "csup run --wait"
        raise UsageError(f"{command} starts an interactive session and needs a terminal; stdout is not one",
                         hint="run it from a terminal, or end the session from here with: csup stop")

    import filelock  # noqa: F401  # the lock's library, the floor of a session's start: its own phase in the marks

    mark("filelock")
    from supervisor.flows import admission
    from supervisor.flows.refusals import SessionHeld

    mark("admission code")
    ensure_private_dir(paths.runtime_dir)
    locks = admission.Locks.open(paths, settings.max_sessions)
    census = adapter_for(settings, environ)
    cwd = None
    admitted = False  # a waiter is admitted in line
    if request.mode == "takeover":
        handover = admission.take_over(paths, locks, settings, census, force=request.force, reporter=reporter,
                                       named=request.target)
        reporter.done_waiting()
        args, cwd, decision = _resumed(adapter, args, handover, request.resume)
        if handover.attach is not None:
            from supervisor.flows.reporting import ResumeDecision

            args, cwd = adapter.attach_args(handover.attach), None
            decision = ResumeDecision("attached", handover.attach.conversation.id, handover.attach.conversation.cwd,
                                      short=handover.attach.short)
        if decision is not None:
            reporter.resume_decision(decision)
    elif request.mode == "wait":
        try:
            _wait_for_room(paths, settings, census, locks, request.patience, adapter.foreground_target(args),
                           reporter)
            admitted = True
        finally:
            reporter.done_waiting()
    else:
        try:
            admission.take_now(paths, locks, settings.max_sessions)
        except SessionHeld:
            if settings.make_room is None:
                raise
            made = admission.take_making_room(paths, locks, settings, census, reporter)
            if made is not None:
                reporter.room_made(made)
    assert locks.slot is not None
    mark("lock")
    with locks.session:
        try:
            if request.mode != "takeover" and not admitted:
                _admit(paths, settings, census, locks, adapter.foreground_target(args), reporter)
        finally:
            locks.gate.release()  # held since the place was taken: the next start may decide now
        mark("admission")
        if cwd is not None:
            os.chdir(cwd)  # Claude Code finds a conversation from the directory it was started in
        from supervisor.flows.live import supervise  # only now: a refused run never imports the relay

        return supervise(adapter, args, settings, paths, locks.slot, environ, reporter)



def _resumed(adapter: CliAdapter, args: list[str], handover: admission.Handover,
             resume: bool) -> tuple[list[str], str | None, ResumeDecision | None]:
    """The arguments and directory that carry the old conversation on, and what was decided."""
    from supervisor.flows.reporting import ResumeDecision

    if not resume:
        return args, None, ResumeDecision("declined") if handover.conversations else None
    if adapter.chooses_conversation(args):
        return args, None, None
    if not handover.conversations:
        if handover.previous is None and not handover.unmanaged_ended:
            return args, None, ResumeDecision("nothing-running")
        previous = handover.previous
        if previous is not None and previous.claude_session_id:
            return args, None, ResumeDecision("no-transcript", previous.claude_session_id, previous.cwd)
        return args, None, ResumeDecision("unknown")
    first, *others = handover.conversations
    other_commands = tuple(f"cd {c.cwd} && {adapter.resume_command(c.id)}" for c in others)
    if not adapter.can_resume(first):
        return args, None, ResumeDecision("no-transcript", first.id, first.cwd, other_commands)
    if not os.path.isdir(first.cwd):
        return args, None, ResumeDecision("cwd-gone", first.id, first.cwd, other_commands)
    return [*adapter.resume_args(first.id), *args], first.cwd, \
        ResumeDecision("resumed", first.id, first.cwd, other_commands)


def _passes_through(adapter: CliAdapter, args: Sequence[str], paths: Paths, environ: Mapping[str, str]) -> bool:
    """Scripts, pipes, `claude -p`, subcommands and a `claude` nested in a session go straight to the CLI."""
    if not os.isatty(1):
        return True
    if not adapter.is_session(args):
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


def _admit(paths: Paths, settings: Settings, adapter: CliAdapter, locks: admission.Locks,
           bringing_here: str | None, reporter: Reporter | None = None, *, quiet: bool = False) -> None:
    """Our place is held; now the policy decides, over every session there is: the other supervised ones
    (and csups holding a place that have not written their record yet), unmanaged and background ones — except
    the background session this run brings here (`claude attach X`: that session, not another). At the limit,
    `make_room` ends the most idle one it allows, once, and the policy decides again."""
    from supervisor.core.policy import admit
    from supervisor.flows.refusals import AtLimit
    from supervisor.flows.sessions import take_snapshot
    from supervisor.machine.events import log_event

    measure: Callable[[list[int]], dict[int, TreeMemory]] | None = None
    if settings.memory_budget is not None:  # only with a budget: it reads every tree (and imports its reader)
        from supervisor.machine.memory import of_trees

        measure = of_trees
    tried_room = False
    for attempt in range(2):
        snapshot = take_snapshot(paths, settings.max_sessions, adapter, memory=measure)
        others = _others(snapshot, settings, locks, bringing_here)
        starting = max(0, locks.others_held - sum(1 for s in others if s.kind == "supervised"))
        decision = admit([s.seen() for s in others], settings.max_sessions, starting=starting,
                         memory_budget=settings.memory_budget)
        if decision.admitted:
            return
        if attempt == 0 and settings.make_room is not None and reporter is not None:
            made = _made_room(paths, settings, adapter, locks, bringing_here, reporter)
            if made:
                continue
            tried_room = made is False
        if not quiet:  # a waiter asks again and again: its refusals are not events
            log_event(paths.log_file, "refused", reason="memory" if decision.over == "memory" else "limit",
                      count=decision.total, max_sessions=settings.max_sessions, held=decision.memory,
                      memory_budget=settings.memory_budget, sessions=[f"{s.kind} {s.id}" for s in others],
                      cwd=os.getcwd())
        raise AtLimit(others, settings.max_sessions, over=decision.over or "count", held=decision.memory,
                      budget=settings.memory_budget, make_room=settings.make_room if tried_room else None,
                      end_unmanaged=settings.end_unmanaged)


def _others(snapshot: Snapshot, settings: Settings, locks: admission.Locks,
            bringing_here: str | None) -> list[AnySession]:
    """Every session but this run's own: not its place, not the background session it brings here (`claude
    attach X` is that session), and with allow_unmanaged only the supervised ones."""
    from supervisor.flows.census import resolve_target

    shown = resolve_target(snapshot.census.background, bringing_here)
    others = [s for s in snapshot.others_than(locks.slot)
              if not (s.background is not None and s.background.short == shown)]
    return [s for s in others if s.kind == "supervised"] if settings.allow_unmanaged else others


def _made_room(paths: Paths, settings: Settings, adapter: CliAdapter, locks: admission.Locks,
               bringing_here: str | None, reporter: Reporter) -> bool | None:
    """Behind the gate, as a takeover is (racing starts decide one at a time, each on a fresh snapshot): end the
    session the policy names to make room for this one; False when none qualifies, None when it could not look
    (the gate stayed taken)."""
    from supervisor.flows.refusals import AtLimit
    from supervisor.flows.room import make_room
    from supervisor.flows.sessions import take_snapshot
    from supervisor.machine.memory import of_trees

    if not locks.gate.try_acquire(timeout=settings.stop_wait + settings.term_wait):
        return None
    try:
        snapshot = take_snapshot(paths, settings.max_sessions, adapter,
                                 memory=of_trees if settings.memory_budget is not None else None)
        others = _others(snapshot, settings, locks, bringing_here)
        starting = max(0, locks.others_held - sum(1 for s in others if s.kind == "supervised"))
        made = make_room(paths, settings, adapter, reporter, snapshot, others, starting=starting)
        if made.session.kind == "supervised":
            locks.others_held = max(0, locks.others_held - 1)  # its place is free now: not one starting
        reporter.room_made(made)
        return True
    except AtLimit:
        return False
    finally:
        locks.gate.release()


def _wait_for_room(paths: Paths, settings: Settings, adapter: CliAdapter, locks: admission.Locks,
                   patience: float | None, bringing_here: str | None, reporter: Reporter) -> None:
    """`run --wait`: in line for a place, then — with a memory budget spent — for room: the place is given back
    and taken again until the sessions hold less than the budget, or patience runs out."""
    import time

    from supervisor.flows import admission
    from supervisor.flows.refusals import AtLimit, GaveUpWaiting
    from supervisor.flows.reporting import WaitProgress

    started = time.monotonic()
    while True:
        left = None if patience is None else max(0.0, patience - (time.monotonic() - started))
        try:
            admission.wait_turn(paths, locks, settings.max_sessions, left, reporter)
        except GaveUpWaiting:
            raise GaveUpWaiting(patience or 0.0) from None  # said as the user gave it, not what was left
        try:
            _admit(paths, settings, adapter, locks, bringing_here, quiet=True)
            return
        except AtLimit:
            locks.release()
            locks.gate.release()
        waited = time.monotonic() - started
        if patience is not None and waited >= patience:
            raise GaveUpWaiting(patience)
        reporter.waiting(WaitProgress(None, 0, waited))
        time.sleep(admission.STEP * 4)


def _admit_background_launch(paths: Paths, settings: Settings, environ: Mapping[str, str]) -> None:
    """`claude --bg`: a new session, so the rule applies as to any run; the CLI then leaves at once, and the
    enforcer (started here when none runs) looks after the session it leaves behind."""
    from supervisor.flows import admission

    ensure_private_dir(paths.runtime_dir)
    locks = admission.Locks.open(paths, settings.max_sessions)
    admission.take_now(paths, locks, settings.max_sessions)
    with locks.session:
        try:
            _admit(paths, settings, adapter_for(settings, environ), locks, None)
        finally:
            locks.gate.release()
    from supervisor.flows.watch import ensure_watcher

    # Always: a watcher about to leave may not see a session that registers only after this process has gone;
    # a new one waits for its lock, and takes over if it leaves.
    ensure_watcher(paths, settings, environ, always=True)
