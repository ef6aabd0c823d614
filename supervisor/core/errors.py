"""csup's exit codes and its one exception family; only the face's boundary turns these into messages and exits."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Every exit status csup can return besides the supervised CLI's own (the README documents this table)."""

    OK = 0
    NO_SESSION = 1  # `csup status`: no session is running
    USAGE = 2  # bad flag or argument (click's own convention)
    TEMPFAIL = 75  # refused: a session is running (EX_TEMPFAIL, like `flock -E`)
    CONFIG = 78  # bad configuration (EX_CONFIG)
    IDLE_TIMEOUT = 124  # the session was ended by the idle limit (like timeout(1))
    ENDED = 143  # stopped or taken over from elsewhere: 128 + SIGTERM, whatever way out the CLI took
    CANNOT_EXECUTE = 126  # the CLI exists but cannot be run (like a shell)
    NOT_FOUND = 127  # the real CLI was not found (like a shell)
    UNSAFE = 77  # a runtime file or directory failed its safety checks (EX_NOPERM)
    SOFTWARE = 70  # an OS call failed in a way csup cannot recover from (EX_SOFTWARE)
    UNAVAILABLE = 69  # a service csup needs is not there (systemctl, launchctl) (EX_UNAVAILABLE)
    IO_ERROR = 74  # csup's own output could not be written (EX_IOERR): a full disk, a closed terminal


def signal_exit_status(signum: int) -> int:
    """The shell's convention for a death by signal."""
    return 128 + signum


class CsupError(Exception):
    """Base of every error csup reports to the user: a one-line message and an exit code."""

    exit_code: ExitCode = ExitCode.SOFTWARE

    def __init__(self, message: str, *, hint: str | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.data = data


class UsageError(CsupError):
    exit_code = ExitCode.USAGE


class ConfigError(CsupError):
    exit_code = ExitCode.CONFIG


class CliNotFound(CsupError):
    exit_code = ExitCode.NOT_FOUND


class CliNotExecutable(CsupError):
    exit_code = ExitCode.CANNOT_EXECUTE


class UnsafePath(CsupError):
    exit_code = ExitCode.UNSAFE


class TerminalGone(CsupError):
    """The terminal that started csup was given back to its shell (csup's guardian was killed) before anything
    started: nobody waits for the start any more."""

    exit_code = ExitCode.ENDED


class SessionBusy(CsupError):
    """Refused: the session (or every place, with max_sessions) is taken; the subclasses in flows/refusals.py
    carry who holds it, and the face words them."""

    exit_code = ExitCode.TEMPFAIL
    starting = ""  # the CLI the refused start was for (its name): the ways out name it when it is not the default
