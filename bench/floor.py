"""The floor of a supervisor's start, a row of bench/run.py: the same interpreter imports filelock and
ptyprocess, spawns the CLI on a pty and relays what it prints until it exits, with its exit status — what any
Python supervisor built on these two libraries pays before the CLI's first byte, and nothing of csup's."""

from __future__ import annotations

import os
import sys

import filelock  # noqa: F401  # imported, as csup imports it before it may start anything
from ptyprocess import PtyProcess


def main() -> int:
    child = PtyProcess.spawn(sys.argv[1:])
    while True:
        try:
            data = os.read(child.fd, 65536)
        except OSError:  # EIO: the CLI and everything it started closed the pty
            break
        if not data:
            break
        os.write(1, data)
    child.wait()
    return int(child.exitstatus) if child.exitstatus is not None else 128 + int(child.signalstatus or 0)


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main())
