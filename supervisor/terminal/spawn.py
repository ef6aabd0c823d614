"""The CLI on a new pty: its own session and process group, the user's window size, and a death that follows
csup's. Side effects: fork/exec."""

from __future__ import annotations

import fcntl
import os
import signal
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

from supervisor.core.errors import CliNotExecutable, CliNotFound
from supervisor.machine.system import fast_paths
from supervisor.machine.trace import mark

PR_SET_PDEATHSIG = 1


class Child(NamedTuple):
    pid: int
    master_fd: int
    handle: Any  # the ptyprocess object; kept so its finaliser never closes our fd behind our back

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.fileobj.close()
            self.handle.closed = True


def spawn(argv: Sequence[str], *, env: dict[str, str], size: tuple[int, int] | None) -> Child:
    """Start `argv` on a new pty, in its own session and process group, at the user's window size."""
    from ptyprocess import PtyProcess  # lazily: not needed on the pass-through and refusal paths

    mark("ptyprocess")

    parent = os.getpid()
    prctl = _prctl() if fast_paths() else None
    try:
        handle = PtyProcess.spawn(list(argv), env=env, dimensions=size or (24, 80),
                                  preexec_fn=lambda: _die_with_parent(parent, prctl))
    except FileNotFoundError as err:
        raise CliNotFound(f"cannot run {argv[0]}: {err}") from None
    except PermissionError as err:
        raise CliNotExecutable(f"cannot run {argv[0]}: permission denied ({err})") from None
    except OSError as err:
        raise CliNotExecutable(f"cannot run {argv[0]}: {err}") from None
    fd = handle.fd
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    return Child(handle.pid, fd, handle)


def _prctl() -> Callable[..., int]:
    """Linux's prctl(2), found in the parent: ctypes imported in the child would delay the CLI's exec twice as
    long (each page it touches is copied there)."""
    import ctypes

    return cast("Callable[..., int]", ctypes.CDLL(None, use_errno=True).prctl)


def _die_with_parent(parent: int, prctl: Callable[..., int] | None) -> None:
    """In the child before exec: if csup is SIGKILLed, the CLI gets SIGTERM at once (Linux). Every system also has
    the pty hang-up the kernel sends when csup's master closes, and the guardian, which sees csup die and ends
    the CLI it was told of (SIGTERM, then SIGKILL): that is what macOS relies on."""
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # csup died before the line above took effect
        os._exit(1)
