"""One supervised session, from spawn to cleanup: the session record, the terminal's guardian, the pty relay
and the controller that decides, then the line that says how it ended. Imported only once the session lock is
held, so a refused `run` never pays for it. Side effects: everything a session does."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from functools import partial

from supervisor.claude import claude_code
from supervisor.core.errors import ExitCode
from supervisor.core.idle import IdleClock
from supervisor.core.session_policy import Actions, CliState, IdlePolicy, Published, SessionController
from supervisor.core.settings import SESSION_ENV, Config
from supervisor.core.shutdown import default_steps
from supervisor.machine import processes
from supervisor.machine.events import log_event
from supervisor.machine.paths import Paths
from supervisor.machine.record import SessionRecord, remove_record, write_record
from supervisor.terminal import rawmode
from supervisor.terminal.guardian import Guardian
from supervisor.terminal.relay import PtyRelay, Terminal, spawn


def supervise(program: claude_code.Program, args: list[str], cfg: Config, paths: Paths,
               environ: Mapping[str, str]) -> int:
    session_id = claude_code.new_uuid().replace("-", "")
    claude_session_id: str | None = None
    if program.is_claude_code:
        if claude_code.chooses_session(args):
            claude_session_id = claude_code.session_id_from_args(args)
        else:
            # Knowing the conversation's id up front is what lets csup print the exact resume command.
            claude_session_id = claude_code.new_uuid()
            args = ["--session-id", claude_session_id, *args]
    tty_fd = rawmode.terminal_fd(0, 1)
    started_wall, started_mono = time.time(), time.monotonic()
    record = SessionRecord(
        session_id=session_id, csup=processes.ProcessIdentity(os.getpid(), 0.0), cli=None, tty=_tty_name(tty_fd),
        cwd=os.getcwd(), argv=(program.path, *args), started_at=started_wall, last_activity_at=started_wall,
        idle_limit=cfg.idle_limit, warn_before=cfg.warn_before, claude_session_id=claude_session_id,
        last_activity_mono=started_mono,
    )
    env = dict(environ)
    env[SESSION_ENV] = session_id
    log = partial(log_event, paths.log_file, session=session_id)
    controller = SessionController(
        steps=default_steps(cfg), exit_keys=cfg.exit_keys.encode(),
        policy=IdlePolicy(limit=cfg.idle_limit, warn_before=cfg.warn_before or 0.0,
                          count_output=cfg.activity == "input+output", cpu_threshold=cfg.cpu_threshold,
                          waiting_limit=cfg.waiting_limit),
        clock=IdleClock(cfg.idle_limit, cfg.warn_before or 0.0, started_mono), stray_every=cfg.stray_check,
        actions=Actions(snapshot_tree=list, signal_verified=processes.signal_verified, event=log,
                        notify=_notify if cfg.notify else lambda title, body: None),
    )
    guardian = _guard(tty_fd)
    with rawmode.raw_mode(tty_fd) as saved:
        child = spawn([program.path, *args], env=env, size=rawmode.get_size(tty_fd))
        relay = PtyRelay(child, Terminal(0, 1, tty_fd), controller, saved_attrs=saved,
                         on_modes=guardian.update if guardian else None)
        controller.relay = relay

        def on_request(now: float) -> None:
            from supervisor.flows import ending

            request = ending.take_request(paths)
            if request is not None:
                log("request", kind=request.kind, by_pid=request.by_pid, by_tty=request.by_tty)
                controller.request_shutdown(request.describe(), request.kind, now)

        controller.on_request = on_request
        try:
            # After the spawn: psutil's import and the record write must not delay the CLI's first screen.
            record = record.with_changes(csup=processes.identity_of(os.getpid()) or record.csup,
                                         cli=processes.identity_of(child.pid), state="active")
            write_record(paths.record_file, record)
            log("started", cli_pid=child.pid, cwd=record.cwd, tty=record.tty, idle_limit=cfg.idle_limit)
            controller.actions = _live_actions(controller.actions, child.pid, program, environ, paths, record, cfg)
            code = relay.run()
        finally:
            relay.write_terminal(relay.journal.undo())
            child.close()
            remove_record(paths.record_file, session_id)
    if guardian is not None:
        guardian.dismiss()  # the terminal is restored: nothing for it to do
    processes.terminate(controller.leftover_descendants(), cfg.tree_wait)
    # After a takeover the conversation lives on in the other terminal: resuming it here too would corrupt it.
    resume = None if controller.end_kind == "takeover" else _resume_hint(program, environ, record.cwd,
                                                                         claude_session_id)
    final = int(ExitCode.IDLE_TIMEOUT) if controller.end_kind == "idle" else code
    log("ended", reason=controller.end_reason or f"the CLI exited ({code})", how=controller.end_kind or "exit",
        code=final, duration=round(time.monotonic() - started_mono, 1), idle=round(controller.idle_at_end, 1),
        steps=controller.shutdown.taken if controller.shutdown else [])
    _report_end(relay, controller, resume, code)
    return final


def _live_actions(base: Actions, cli_pid: int, program: claude_code.Program, environ: Mapping[str, str],
                  paths: Paths, record: SessionRecord, cfg: Config) -> Actions:
    """The controller's window on the running CLI: its process tree, its CPU, its registry, the record."""

    def cli_state() -> CliState | None:
        entry = claude_code.read_registry(environ, cli_pid) if program.is_claude_code else None
        if entry is None:
            return None
        status, changed = claude_code.registry_status(entry, time.time(), time.monotonic())
        return CliState(status, changed)

    def publish(published: Published) -> None:
        wall = time.time() - (time.monotonic() - published.last_activity)
        write_record(paths.record_file, record.with_changes(
            state=published.state, last_activity_at=wall, last_activity_mono=published.last_activity,
            end_reason=published.reason))

    def find_strays() -> list[processes.ProcessIdentity]:
        matcher = processes.ClaudeMatcher.from_config(cfg)
        return [view.identity for view in processes.find_unmanaged(matcher, managed={cli_pid})]

    return replace(base, snapshot_tree=lambda: processes.descendants(cli_pid),
                   cpu_seconds=lambda: processes.tree_cpu_seconds(cli_pid), cli_state=cli_state, publish=publish,
                   find_strays=find_strays)


def _resume_hint(program: claude_code.Program, environ: Mapping[str, str], cwd: str,
                 claude_session_id: str | None) -> str | None:
    """The exact command that carries the conversation on, when there is one to carry on."""
    from supervisor.face import text

    if not program.is_claude_code:
        return None
    if claude_session_id and claude_code.transcript_path(environ, cwd, claude_session_id).exists():
        return text.resume_command(claude_session_id)
    return None


def _guard(tty_fd: int | None) -> Guardian | None:
    """Before raw mode: from then on, even csup's SIGKILL leaves the terminal as it was."""
    attrs = rawmode.get_attrs(tty_fd) if tty_fd is not None else None
    if tty_fd is None or attrs is None:
        return None
    return Guardian(tty_fd, 1, attrs)


def _notify(title: str, body: str) -> None:
    from supervisor.machine.notify import notify  # lazily: it imports subprocess, and most sessions never warn

    notify(title, body)


def _tty_name(fd: int | None) -> str:
    if fd is None:
        return ""
    try:
        return os.ttyname(fd)
    except OSError:
        return ""


def _report_end(relay: PtyRelay, controller: SessionController, resume: str | None, code: int) -> None:
    from supervisor.face import text

    if relay.terminal_gone:
        return
    if controller.end_reason is None:
        if code > 128 and not relay.at_line_start:
            sys.stderr.write("\r\n")  # a CLI that died mid-line must not leave the prompt after its last word
        return
    if not relay.at_line_start:
        sys.stderr.write("\n")
    sys.stderr.write(text.ended_line(controller.end_reason, resume) + "\n")
    sys.stderr.flush()
