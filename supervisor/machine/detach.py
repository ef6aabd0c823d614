"""Starting a process that outlives its starter and belongs to no terminal (the on-demand watcher), as a daemon
starts: fork twice, a new session in between, the standard streams on /dev/null and no other descriptor open, so
it never holds the user's terminal and never shares a process group with what it watches; the middle process is
reaped at once, so nothing is left as a zombie. Side effects: fork, exec."""

from __future__ import annotations

import os
from collections.abc import Sequence


def start_detached(argv: Sequence[str], env: dict[str, str]) -> None:
    middle = os.fork()
    if middle == 0:  # pragma: no cover - runs in the child, which never returns here
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # close_range(2) where there is one: cheap
            os.chdir("/")
            os.execve(argv[0], list(argv), env)
        finally:
            os._exit(127)
    os.waitpid(middle, 0)
