"""Signals as bytes on a pipe (asciinema's way, done right): handlers only record, a loop waiting in select()
wakes on the pipe and decides; the previous handlers and wakeup fd come back when the loop is done. Side effects:
signal handlers and the interpreter's wakeup fd, for the lifetime of the context."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


def _record_only(signum: int, frame: object) -> None:
    """Handlers only record (the wakeup fd carries the signal number); the loop decides."""


@contextmanager
def signal_wakeup(signums: Sequence[int]) -> Iterator[int]:
    """A readable fd that carries one byte per signal in `signums` that arrived, each the signal's number."""
    read_fd, write_fd = os.pipe()
    for fd in (read_fd, write_fd):
        os.set_blocking(fd, False)
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    previous = {signum: signal.signal(signum, _record_only) for signum in signums}
    try:
        yield read_fd
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(read_fd)
        os.close(write_fd)


def drain(fd: int) -> bytes:
    """Everything waiting on a non-blocking fd."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 512)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)
