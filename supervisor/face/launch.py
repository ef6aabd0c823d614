"""Starting a session from the face (the fast path and `csup run|takeover`): the settings, the paths, the
reporter, then the run flow; exits with the session's status."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

from supervisor.face.terminal_reporter import TerminalReporter
from supervisor.machine.trace import mark


def start(cli_args: tuple[str, ...], flags: dict[str, Any], **request: Any) -> NoReturn:
    from supervisor.clis.choose import cli_settings, names
    from supervisor.flows.run import RunRequest
    from supervisor.flows.run import run as run_session
    from supervisor.machine.config_file import load_settings
    from supervisor.machine.paths import default_paths

    mark("imports")
    paths = default_paths(os.environ)
    settings = load_settings(paths.config_file, os.environ, flags, more=cli_settings(), clis=names())
    mark("settings")
    for warning in settings.warnings:
        sys.stderr.write(warning + "\n")
    try:
        code = run_session(RunRequest(cli_args=cli_args, self_paths=(sys.argv[0],), **request), settings,
                           paths, os.environ, TerminalReporter())
    except KeyboardInterrupt:  # Ctrl-C while waiting in line or taking over: nothing was started
        sys.stderr.write("\ncsup: interrupted; nothing was started.\n")
        code = 130
    settle_output()
    from supervisor.machine.trace import write_exit_imports

    write_exit_imports(os.environ)
    # Everything is said, logged and closed (the lock went with the CLI): csup leaves without the interpreter's
    # teardown, which the shell's prompt would wait for.
    os._exit(code)


def settle_output() -> None:
    """Whatever csup still has to say, said now; where the terminal is gone (closed under it), nothing is left
    for the interpreter's last flush to fail on — that would turn the session's exit status into 120."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass
