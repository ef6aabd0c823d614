"""`csup run`: ties the parts together — pass-through or lock, census, record, pty relay, shutdown, cleanup.
Side effects: everything (exec, lock, files, terminal); the decisions live in the modules it calls."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from supervisor.claude import claude_code
from supervisor.core.errors import CliNotExecutable, CliNotFound, SessionBusy, UsageError
from supervisor.core.settings import SESSION_ENV, Config
from supervisor.flows import admission
from supervisor.machine import processes
from supervisor.machine.paths import Paths, ensure_private_dir


@dataclass(frozen=True)
class RunRequest:
    claude_args: tuple[str, ...]
    self_paths: tuple[str, ...] = ()  # how csup was invoked, so PATH search can skip csup itself
    mode: str = "now"  # now (or refuse), wait (in line), takeover
    patience: float | None = None  # --wait DURATION: give up after this long
    resume: bool = True  # takeover: carry the old conversation on
    force: bool = False  # takeover: end unmanaged sessions without asking
    confirm: admission.Confirm | None = None


def run(request: RunRequest, cfg: Config, paths: Paths, environ: Mapping[str, str]) -> int:
    program = claude_code.find_program(cfg.claude, environ, request.self_paths)
    args = list(request.claude_args)
    if request.mode == "now" and _passes_through(program, args, cfg, paths, environ):
        _exec(program.path, args, environ)
    if not os.isatty(1):
        command = "csup takeover" if request.mode == "takeover" else "csup run --wait"
        raise UsageError(f"{command} starts an interactive session and needs a terminal; stdout is not one",
                         hint="run it from a terminal, or end the session from here with: csup stop")

    ensure_private_dir(paths.runtime_dir)
    locks = admission.Locks.open(paths)
    cwd = None
    if request.mode == "takeover":
        handover = admission.take_over(paths, locks, cfg, environ, force=request.force, confirm=request.confirm,
                                   show=admission.stderr_line)
        admission.stderr_line("")
        args, cwd, note = _resumed(program, args, handover, request.resume, environ)
        if note:
            sys.stderr.write(note + "\n")
    elif request.mode == "wait":
        try:
            admission.wait_turn(paths, locks, request.patience, show=admission.stderr_line)
        finally:
            admission.stderr_line("")
    else:
        admission.take_now(paths, locks)
    with locks.session:
        if not cfg.allow_unmanaged and request.mode != "takeover":
            _refuse_unmanaged(cfg)
        if cwd is not None:
            os.chdir(cwd)  # Claude Code finds a conversation from the directory it was started in
        from supervisor.flows.live import (
            supervise,  # only now: a refused run never imports the relay and the controller
        )

        return supervise(program, args, cfg, paths, environ)


def _resumed(program: claude_code.Program, args: list[str], handover: admission.Handover, resume: bool,
             environ: Mapping[str, str]) -> tuple[list[str], str | None, str | None]:
    """The arguments and directory that carry the old conversation on, and a line saying what was decided."""
    from supervisor.face import text

    if not resume or not program.is_claude_code or claude_code.chooses_session(args):
        return args, None, None
    if handover.resume_id is None or handover.resume_cwd is None:
        return args, None, "csup: no session was running; starting a new one." if handover.previous is None \
            and not handover.unmanaged_ended else "csup: the old session's conversation is unknown; starting fresh."
    transcript = claude_code.transcript_path(environ, handover.resume_cwd, handover.resume_id)
    if not transcript.exists():
        return args, None, "csup: the old session had no conversation yet; starting a new one."
    if not os.path.isdir(handover.resume_cwd):
        return args, None, f"csup: {handover.resume_cwd} is gone; starting a new conversation here."
    return ["--resume", handover.resume_id, *args], handover.resume_cwd, \
        f"csup: resuming conversation {handover.resume_id} in {text.short_path(handover.resume_cwd)}."


def _passes_through(program: claude_code.Program, args: Sequence[str], cfg: Config, paths: Paths,
                    environ: Mapping[str, str]) -> bool:
    """Scripts, pipes, `claude -p`, subcommands and a `claude` nested in a session go straight to the CLI."""
    if not os.isatty(1):
        return True
    if program.is_claude_code and not claude_code.is_session_invocation(args, cfg.passthrough_commands):
        return True
    nested_id = environ.get(SESSION_ENV)
    if nested_id:
        holder = admission.live_record(paths)
        return holder is not None and holder.session_id == nested_id
    return False


def _exec(path: str, args: Sequence[str], environ: Mapping[str, str]) -> NoReturn:
    try:
        os.execve(path, [path, *args], dict(environ))
    except FileNotFoundError:
        raise CliNotFound(f"{path} does not exist") from None
    except OSError as err:
        raise CliNotExecutable(f"cannot run {path}: {err.strerror}") from None


def _refuse_unmanaged(cfg: Config) -> None:
    from supervisor.face import text

    matcher = processes.ClaudeMatcher.from_config(cfg)
    unmanaged = processes.find_unmanaged(matcher, managed=())
    if unmanaged:
        details = [processes.describe(view.pid) for view in unmanaged]
        raise SessionBusy(text.refusal_unmanaged(unmanaged, details, time.time()))
