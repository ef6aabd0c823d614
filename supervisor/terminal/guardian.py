"""The terminal's guardian: a small forked process that puts the user's terminal back (termios, and the inverse
of the modes the CLI left on) if csup dies without doing so itself — SIGKILL, the OOM killer — since no
process can clean up after its own SIGKILL. It is also csup's alarm clock while csup is suspended (Ctrl-Z): a
stopped process cannot keep time, so the guardian, in a process group of its own that the job's stop does not
reach, wakes csup (SIGCONT) at the idle deadline. Side effects: fork, a pipe, a signal to csup, and on csup's
death the terminal."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import struct
import termios
import time

from supervisor.core.identity import ProcessIdentity
from supervisor.machine import processes
from supervisor.terminal.rawmode import TermAttrs

_UPDATE, _DISMISS, _SUSPENDED, _FOREGROUND, _CLI = b"U", b"Q", b"S", b"F", b"C"
_CLI_IDENTITY = struct.Struct("!idd")  # pid, start stamp, seconds it gets after SIGTERM
_HEADER = struct.Struct("!cH")
_WAKE_AT = struct.Struct("!d")  # monotonic seconds (CLOCK_MONOTONIC is one clock for every process); 0: never
MAX_UNDO = 4096  # far above any real undo sequence, and below PIPE_BUF, so every message lands whole


class Guardian:
    def __init__(self, tty_fd: int, out_fd: int, saved: TermAttrs) -> None:
        read_end, self._pipe = os.pipe()
        csup = os.getpid()
        job = os.getpgrp()  # csup's job: while it owns the terminal, the shell is not reading it
        shell = os.getppid()  # who started csup: the shell a late restore asks to draw its prompt again
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child; tests see it work by killing csup
            try:
                os.close(self._pipe)
                os.setpgid(0, 0)  # Ctrl-Z stops csup's whole group; the alarm must keep running
                _watch(read_end, tty_fd, out_fd, saved, csup, job, shell)
            finally:
                os._exit(0)
        os.close(read_end)
        self._undo = b""

    def update(self, undo: bytes) -> None:
        """What to write if csup dies now (the mode journal's undo); sent only when it changes."""
        if undo == self._undo or self._pipe < 0:
            return
        self._undo = undo
        self._send(_UPDATE, undo[:MAX_UNDO])

    def watch_cli(self, cli: ProcessIdentity, term_wait: float) -> None:
        """If csup dies, the CLI must not run on unsupervised: the guardian then sends it SIGTERM (it saves and
        exits), and SIGKILL after `term_wait` — on every system, parent-death signal or not."""
        self._send(_CLI, _CLI_IDENTITY.pack(cli.pid, cli.start_time, term_wait))

    def suspended(self, wake_at: float | None) -> None:
        """csup gave the terminal back and stops now: nothing to restore if it dies; wake it at `wake_at`."""
        self._send(_SUSPENDED, _WAKE_AT.pack(wake_at or 0.0))

    def foreground(self) -> None:
        """csup has the terminal again (`fg`): guard it as before; no alarm."""
        self._send(_FOREGROUND, b"")

    def _send(self, kind: bytes, payload: bytes) -> None:
        if self._pipe >= 0:
            with contextlib.suppress(OSError):
                os.write(self._pipe, _HEADER.pack(kind, len(payload)) + payload)

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


BRACKETED_PASTE_OFF = b"\x1b[?2004l"
_LFLAG = 3


def _shell_has_it(tty_fd: int, job: int) -> bool:
    """Whether the shell has taken the terminal back already (it reaped csup first): then it may be reading."""
    try:
        return os.tcgetpgrp(tty_fd) != job
    except OSError:
        return False


def restore(tty_fd: int, out_fd: int, saved: TermAttrs, undo: bytes, *, late: bool) -> None:
    """Put the terminal back after csup's death. Done before the shell reads, all of it. Done late (the shell
    took the terminal back first and may be editing a line), only what cannot harm it: bracketed paste is the
    shell's own too (readline and zle turn it on for each line), so it is left alone; the attributes are put
    back only while they are still csup's raw ones (signals off: a shell's line editor keeps them on); and no
    newline lands in the middle of its prompt."""
    if undo:
        os.write(out_fd, undo.replace(BRACKETED_PASTE_OFF, b"") if late else undo)
    if not late or not termios.tcgetattr(tty_fd)[_LFLAG] & termios.ISIG:
        termios.tcsetattr(tty_fd, termios.TCSADRAIN, saved)
    if not late:
        os.write(out_fd, b"\r\n")


def _redraw_prompt(tty_fd: int, shell: ProcessIdentity | None) -> None:
    """After a late restore (the shell drew its prompt first, on the CLI's screen, which the restore then left):
    the shell that started csup — proven by pid and start time, and only while it is the terminal's foreground —
    is made to draw its prompt and line again. Line editors (readline, zle) redraw on SIGWINCH only when the size
    changed, so the terminal's size is stepped one column narrower and back, as a resize would (the kernel
    sends each SIGWINCH); the terminal's own emulator never sees it."""
    import fcntl

    if shell is None or not processes.is_running(shell):
        return
    with contextlib.suppress(OSError):
        if os.tcgetpgrp(tty_fd) != os.getpgid(shell.pid):
            return
        size = fcntl.ioctl(tty_fd, termios.TIOCGWINSZ, b"\0" * 8)
        rows, cols, x_pixels, y_pixels = struct.unpack("HHHH", size)
        if cols < 2:
            return
        narrower = struct.pack("HHHH", rows, cols - 1, x_pixels, y_pixels)
        fcntl.ioctl(tty_fd, termios.TIOCSWINSZ, narrower)
        time.sleep(REDRAW_STEP)  # the shell reads the narrower size first: two changes, not none
        # Put back only what was stepped: a window resized meanwhile keeps the size its terminal gave it.
        if fcntl.ioctl(tty_fd, termios.TIOCGWINSZ, b"\0" * 8) == narrower:
            fcntl.ioctl(tty_fd, termios.TIOCSWINSZ, size)


REDRAW_STEP = 0.1


def _watch(read_end: int, tty_fd: int, out_fd: int, saved: TermAttrs, csup: int,
           job: int, shell_pid: int) -> None:  # pragma: no cover
    keep = sorted({read_end, tty_fd, out_fd})
    for low, high in zip([-1, *keep], [*keep, 1 << 16], strict=True):
        if low + 1 < high:  # an empty range is not harmless: CPython turns closerange(n, n) into "close all"
            os.closerange(low + 1, high)  # the session lock and the CLI's pty above all must not outlive csup
    # Once csup is gone the shell owns the terminal and this process is in the background: writing to it or
    # setting its attributes would stop us with SIGTTOU unless it is ignored.
    # SIGHUP too: a guardian that was stopped when csup died is in an orphaned process group, which the kernel
    # sends SIGHUP (then SIGCONT); it must live on to restore the terminal and end the CLI.
    for signum in (signal.SIGTTOU, signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGWINCH, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    shell = processes.identity_of(shell_pid)  # now, while csup lives: its parent is still the shell
    undo = b""
    buffered = b""
    armed = True  # whether the terminal is csup's to restore (not while csup is suspended: the shell has it)
    wake_at: float | None = None
    cli: tuple[ProcessIdentity, float] | None = None
    while True:
        timeout = None if wake_at is None else max(0.0, wake_at - time.monotonic())
        readable, _, _ = select.select([read_end], [], [], timeout)
        if not readable:
            if os.getppid() == csup:  # still our csup (not reparented): wake it so it keeps its idle limit
                os.kill(csup, signal.SIGCONT)
            wake_at = None
            continue
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
            payload = buffered[_HEADER.size:_HEADER.size + length]
            buffered = buffered[_HEADER.size + length:]
            if kind == _DISMISS:
                return
            if kind == _UPDATE:
                undo = payload
            elif kind == _SUSPENDED:
                armed, wake_at = False, (_WAKE_AT.unpack(payload)[0] or None)
            elif kind == _FOREGROUND:
                armed, wake_at = True, None
            elif kind == _CLI:
                pid, start, term_wait = _CLI_IDENTITY.unpack(payload)
                cli = (ProcessIdentity(pid, start), term_wait)
    if armed:  # else csup died while the shell had the terminal: it is the shell's now, and as csup left it
        late = _shell_has_it(tty_fd, job)
        with contextlib.suppress(OSError, termios.error):
            restore(tty_fd, out_fd, saved, undo, late=late)
        if late:
            _redraw_prompt(tty_fd, shell)
    if cli is not None:
        processes.terminate([cli[0]], cli[1])  # verified by pid and start time before each signal
