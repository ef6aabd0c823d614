"""The one error boundary: every CsupError becomes its worded line(s) on stderr and its exit code here, and only
here; an interrupted command exits 130; a closed or full stdout is one line and EX_IOERR, not a traceback."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from supervisor.core.errors import CsupError, ExitCode
from supervisor.machine.clock import SYSTEM, Clock


def guarded(action: Callable[[], object], clock: Clock = SYSTEM) -> NoReturn:
    """Run a command and exit: 0, or the error's code after its message."""
    try:
        action()
        sys.stdout.flush()
    except CsupError as err:
        from supervisor.face.text import error_text

        _say(error_text(err, clock.wall()))
        sys.exit(int(err.exit_code))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        _quiet_stdout()  # `csup log | head`: the reader left; that is not an error
        sys.exit(0)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EIO, errno.EBADF):
            raise
        _quiet_stdout()
        _say(f"csup: cannot write the output: {err.strerror}")
        sys.exit(int(ExitCode.IO_ERROR))
    sys.exit(0)


def _say(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except OSError:
        pass


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
