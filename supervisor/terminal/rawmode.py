"""The user's terminal: raw mode as a context manager that always restores, and window sizes (termios, ioctl)."""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import termios
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Errors that mean the terminal is gone (hang-up) or was never one: restoring it is then moot, not a failure.
TERMINAL_GONE = frozenset({errno.EIO, errno.ENOTTY, errno.EBADF, errno.ENXIO, errno.EINVAL})
TermAttrs = list[Any]  # termios's attribute list: flags, speeds and the control characters


def get_attrs(fd: int) -> TermAttrs | None:
    try:
        return termios.tcgetattr(fd)
    except termios.error:
        return None


def in_foreground(fd: int | None) -> bool:
    """Whether csup's job has the terminal (a background job must not read it or change its modes)."""
    if fd is None:
        return True
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return True  # not a terminal, or no job control: nobody else to defer to


def set_attrs(fd: int, attrs: TermAttrs) -> None:
    if not in_foreground(fd):
        return  # the shell has the terminal now, in the modes it wants
    try:
        termios.tcsetattr(fd, termios.TCSADRAIN, attrs)
    except termios.error as err:
        if err.args[0] not in TERMINAL_GONE:
            raise


def enter_raw(fd: int) -> None:
    # TCSANOW, not TCSAFLUSH: keys typed before csup was ready belong to the CLI, not to the bin.
    tty.setraw(fd, termios.TCSANOW)


@contextmanager
def raw_mode(fd: int | None) -> Iterator[TermAttrs | None]:
    """Raw mode on `fd` (if it is a terminal) for the block; the saved attributes are restored on every exit."""
    saved = get_attrs(fd) if fd is not None else None
    if fd is None or saved is None:
        yield None
        return
    enter_raw(fd)
    try:
        yield saved
    finally:
        set_attrs(fd, saved)


def get_size(fd: int | None) -> tuple[int, int] | None:
    """(rows, cols) of a terminal, or None."""
    if fd is None:
        return None
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (rows, cols) if rows and cols else None


def set_size(fd: int, size: tuple[int, int]) -> None:
    """Set a pty's size; the kernel then sends SIGWINCH to its foreground process group."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))


def terminal_fd(*candidates: int) -> int | None:
    """The first of `candidates` that is a terminal (stdin normally; stdout when stdin is a pipe)."""
    return next((fd for fd in candidates if os.isatty(fd)), None)
