"""The terminal's guardian: a small forked process that puts the user's terminal back (termios, and the inverse
of the modes the CLI left on) if csup dies without doing so itself — SIGKILL, the OOM killer — since no
process can clean up after its own SIGKILL. Side effects: fork, a pipe, and on csup's death the terminal."""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import termios

from supervisor.terminal.rawmode import TermAttrs

_UPDATE, _DISMISS = b"U", b"Q"
_HEADER = struct.Struct("!cH")
MAX_UNDO = 4096  # far above any real undo sequence, and below PIPE_BUF, so every message lands whole


class Guardian:
    def __init__(self, tty_fd: int, out_fd: int, saved: TermAttrs) -> None:
        read_end, self._pipe = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child; tests see it work by killing csup
            try:
                os.close(self._pipe)
                _watch(read_end, tty_fd, out_fd, saved)
            finally:
                os._exit(0)
        os.close(read_end)
        self._undo = b""

    def update(self, undo: bytes) -> None:
        """What to write if csup dies now (the mode journal's undo); sent only when it changes."""
        if undo == self._undo or self._pipe < 0:
            return
        self._undo = undo
        with contextlib.suppress(OSError):
            os.write(self._pipe, _HEADER.pack(_UPDATE, len(undo[:MAX_UNDO])) + undo[:MAX_UNDO])

    def dismiss(self) -> None:
        """csup restored the terminal itself: the guardian leaves without touching it."""
        if self._pipe < 0:
            return
        with contextlib.suppress(OSError):
            os.write(self._pipe, _HEADER.pack(_DISMISS, 0))
        os.close(self._pipe)
        self._pipe = -1
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _watch(read_end: int, tty_fd: int, out_fd: int, saved: TermAttrs) -> None:  # pragma: no cover - child
    keep = sorted({read_end, tty_fd, out_fd})
    for low, high in zip([-1, *keep], [*keep, 1 << 16], strict=True):
        if low + 1 < high:  # an empty range is not harmless: CPython turns closerange(n, n) into "close all"
            os.closerange(low + 1, high)  # the session lock and the CLI's pty above all must not outlive csup
    # Once csup is gone the shell owns the terminal and this process is in the background: writing to it or
    # setting its attributes would stop us with SIGTTOU unless it is ignored.
    for signum in (signal.SIGTTOU, signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGWINCH):
        signal.signal(signum, signal.SIG_IGN)
    undo = b""
    buffered = b""
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break  # csup is gone without a word
        buffered += chunk
        while len(buffered) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(buffered)
            if len(buffered) < _HEADER.size + length:
                break
            if kind == _DISMISS:
                return
            undo = buffered[_HEADER.size:_HEADER.size + length]
            buffered = buffered[_HEADER.size + length:]
    with contextlib.suppress(OSError, termios.error):
        if undo:
            os.write(out_fd, undo)
        termios.tcsetattr(tty_fd, termios.TCSADRAIN, saved)
        os.write(out_fd, b"\r\n")
