"""The terminal's guardian: the process the user's shell waits for. `csup run` forks before it takes anything (a
place, the lock, the terminal's modes): the child carries the session on (the relay); the parent, which the
shell started and waits for, only guards. When the relay dies without having put the terminal back (SIGKILL, the
OOM killer: no process can clean up after its own SIGKILL), the guardian puts it back (termios, and the inverse
of the modes the CLI left on) and ends the CLI it was told of *before* it leaves itself — and the shell draws its
prompt only once the process it waits for has left, so the restore always lands first. It then leaves as the
relay did: the same exit status, or death by the same signal. A SIGTERM or SIGHUP sent to it alone (`kill PID`
with the pid the shell shows) is passed on to the relay.

Should the guardian be killed instead, its shell draws the prompt at once: the relay sees the guardian's pipe
close, puts the terminal back late (with a redraw of the prompt) and ends the session as for a closed terminal.

While csup is suspended (Ctrl-Z) its whole job is stopped, guardian and relay, and a stopped process cannot keep
time: an alarm, forked from the relay for the suspension only and in a process group of its own, continues the
job at the idle deadline. Side effects: fork, pipes, signals to csup's own job, and on the relay's death the
terminal and the CLI."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import struct
import termios
import time
from collections.abc import Callable
from typing import NoReturn

from supervisor.core.identity import ProcessIdentity
from supervisor.terminal.rawmode import TermAttrs

_UPDATE, _RESTORED, _GUARD, _CLI = b"U", b"R", b"G", b"C"
_CLI_IDENTITY = struct.Struct("!idd")  # pid, start stamp, seconds it gets after SIGTERM
_HEADER = struct.Struct("!cH")
MAX_UNDO = 4096  # far above any real undo sequence, and below PIPE_BUF, so every message lands whole
# The shell sends these to the guardian alone (`kill PID`); when they come to the whole job (`kill %1`, a hang-up)
# the relay gets them twice, which ends a session once all the same. SIGINT and SIGQUIT are not passed on: the
# terminal sends them to the whole job, and the relay passes each to the CLI — twice would be two Ctrl-Cs.
PASSED_ON = (signal.SIGTERM, signal.SIGHUP)


class Guardian:
    """The relay's side: what it tells the guardian (the terminal's state, the CLI it runs), the pipe on which it
    learns that the guardian is gone (`gone_fd` reads as ended), and the alarm while suspended."""

    def __init__(self, pipe: int, gone_fd: int, tty_fd: int, out_fd: int, saved: TermAttrs, shell: int) -> None:
        self._pipe = pipe
        self.gone_fd = gone_fd
        self.tty_fd, self.out_fd, self.saved = tty_fd, out_fd, saved
        self.job = os.getpgrp()
        self._shell = shell  # the guardian's parent: the shell a late restore asks to draw its prompt again
        self._shell_identity: ProcessIdentity | None = None
        self._undo = b""
        self._armed = False  # whether the terminal is the CLI's now (not before a session, nor while suspended)
        self._alarm: tuple[int, int] | None = None  # the alarm's pid and the pipe whose end tells it to go

    def guard(self) -> None:
        """The terminal is about to be the CLI's (raw mode): from now on, a relay's death means a restore."""
        self._undo = b""
        self._armed = True
        self._send(_GUARD, b"")

    def update(self, undo: bytes) -> None:
        """What to write if the relay dies now (the mode journal's undo); sent only when it changes."""
        if undo == self._undo:
            return
        self._undo = undo
        self._send(_UPDATE, undo[:MAX_UNDO])

    def watch_cli(self, cli: ProcessIdentity, term_wait: float) -> None:
        """If the relay dies, the CLI must not run on unsupervised: the guardian then sends it SIGTERM (it saves
        and exits), and SIGKILL after `term_wait` — on every system, parent-death signal or not."""
        self._send(_CLI, _CLI_IDENTITY.pack(cli.pid, cli.start_time, term_wait))
        if self._shell_identity is None:  # psutil is loaded by now (the CLI's identity): none of the start's time
            from supervisor.machine import processes

            self._shell_identity = processes.identity_of(self._shell)

    def dismiss(self) -> None:
        """The relay put the terminal back itself: nothing to restore should it die from here on."""
        self._undo = b""
        self._armed = False
        self._send(_RESTORED, b"")

    def suspended(self, wake_at: float | None) -> None:
        """The relay gave the terminal back and stops now with its job: nothing to restore; the alarm wakes the
        job at `wake_at`. The CLI's modes are kept: `fg` brings them back, and the guardian must know them."""
        self._armed = False
        self._send(_RESTORED, b"")
        if wake_at is not None:
            self._alarm = _start_alarm(wake_at, self.job)

    def continued(self) -> None:
        """The relay runs again, in the background (the alarm woke the job, `bg`, or a stop request continued the
        relay alone): the whole job runs, so that the shell sees it end; the alarm has done its part."""
        self._stop_alarm()
        with contextlib.suppress(OSError):
            os.killpg(self.job, signal.SIGCONT)  # csup's own job: the guardian and the relay

    def foreground(self) -> None:
        """The relay has the terminal again (`fg`): guard it as before."""
        self._stop_alarm()
        self._armed = True
        self._send(_GUARD, b"")
        if self._undo:
            self._send(_UPDATE, self._undo[:MAX_UNDO])

    def gone(self) -> bool:
        """Whether the guardian is gone (killed: the shell that waited for it has the terminal back). From the
        moment that is seen, nothing csup says goes to the shell's screen."""
        readable, _, _ = select.select([self.gone_fd], [], [], 0)
        if readable:
            self._hush()
        return bool(readable)

    def orphaned(self) -> None:
        """The guardian was killed, and with it the job the shell waited for: the shell takes the terminal back
        and may have drawn its prompt already. All of it put back while the shell has not taken it; after, only
        what cannot harm the shell, which is then made to draw its prompt again. Nothing while the terminal was
        not the CLI's (suspended, in the background): it is as the shell had it."""
        if not self._armed:
            self._hush()
            return
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background job sets the modes all the same
        try:
            late = _shell_has_it(self.tty_fd, self.job)
            with contextlib.suppress(OSError, termios.error):
                restore(self.tty_fd, self.out_fd, self.saved, self._undo, late=late)
            if late:
                _redraw_prompt(self.tty_fd, self._shell_identity)
        finally:
            signal.signal(signal.SIGTTOU, previous)
        self._undo = b""
        self._hush()

    @staticmethod
    def _hush() -> None:
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.close(devnull)

    def _send(self, kind: bytes, payload: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self._pipe, _HEADER.pack(kind, len(payload)) + payload)

    def _stop_alarm(self) -> None:
        if self._alarm is None:
            return
        pid, pipe = self._alarm
        self._alarm = None
        os.close(pipe)  # its end of the pipe reads as ended: it leaves without a signal
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def become_relay(tty_fd: int | None, out_fd: int) -> Guardian | None:
    """Fork: the child returns (the relay, with its side of the guardian); the parent guards and never returns.
    None where there is no terminal to guard: csup then goes on as the one process."""
    saved = None
    with contextlib.suppress(termios.error):
        saved = termios.tcgetattr(tty_fd) if tty_fd is not None else None
    if tty_fd is None or saved is None:
        return None
    news, to_guardian = os.pipe()
    gone_fd, alive_fd = os.pipe()  # held by the guardian: it reads as ended once the guardian is gone
    shell = os.getppid()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())  # until the guardian has its own
    relay = os.fork()
    if relay == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(news)
        os.close(alive_fd)
        return Guardian(to_guardian, gone_fd, tty_fd, out_fd, saved, shell)
    os.close(to_guardian)  # pragma: no cover - from here on the guardian; tests see it work by killing csup
    os.close(gone_fd)  # pragma: no cover
    _guard(news, alive_fd, relay, tty_fd, out_fd, saved, blocked)  # pragma: no cover


BRACKETED_PASTE_OFF = b"\x1b[?2004l"
_LFLAG = 3


def _shell_has_it(tty_fd: int, job: int) -> bool:
    """Whether the shell has the terminal (the job was in the background when the relay died): it may be
    reading."""
    try:
        return os.tcgetpgrp(tty_fd) != job
    except OSError:
        return False


def restore(tty_fd: int, out_fd: int, saved: TermAttrs, undo: bytes, *, late: bool) -> None:
    """Put the terminal back after the relay's death. Done before the shell reads, all of it. Done late (the shell
    has the terminal and may be editing a line), only what cannot harm it: bracketed paste is the shell's own too
    (readline and zle turn it on for each line), so it is left alone; the attributes are put back only while they
    are still csup's raw ones (signals off: a shell's line editor keeps them on); and no newline lands in the
    middle of its prompt."""
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

    from supervisor.machine import processes

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


def _close_all_but(*keep: int) -> None:
    kept = sorted(set(keep))
    for low, high in zip([-1, *kept], [*kept, 1 << 16], strict=True):
        if low + 1 < high:  # an empty range is not harmless: CPython turns closerange(n, n) into "close all"
            os.closerange(low + 1, high)


def _guard(news: int, alive_fd: int, relay: int, tty_fd: int, out_fd: int, saved: TermAttrs,
           blocked: set[int | signal.Signals]) -> NoReturn:  # pragma: no cover - tests see it work by killing the relay
    try:
        _close_all_but(0, 1, 2, news, alive_fd, tty_fd, out_fd)
        left: list[int] = []  # the relay's wait status, when a stop's wait saw it leave (and reaped it)

        # The relay is our child, not reaped until it has left: its pid cannot name another process meanwhile.
        def pass_on(received: int, frame: object) -> None:
            if not left:
                with contextlib.suppress(OSError):  # nothing may end the guardian while its relay runs
                    os.kill(relay, received)

        for signum in PASSED_ON:
            signal.signal(signum, pass_on)
        signal.signal(signal.SIGTSTP, _stopper(relay, left))
        # SIGTTOU: a restore while the shell has the terminal (the job was in the background) must not stop us.
        # SIGUSR1 and SIGUSR2 are csup's between its own processes, and never the guardian's to die of.
        for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGTTOU, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(signum, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        armed, undo, cli, buffered = False, b"", None, b""
        while chunk := _read(news):
            buffered += chunk
            while len(buffered) >= _HEADER.size:
                kind, length = _HEADER.unpack_from(buffered)
                if len(buffered) < _HEADER.size + length:
                    break
                payload = buffered[_HEADER.size:_HEADER.size + length]
                buffered = buffered[_HEADER.size + length:]
                if kind == _UPDATE:
                    undo = payload
                elif kind == _GUARD:
                    armed, undo = True, b""
                elif kind == _RESTORED:
                    armed, undo = False, b""
                elif kind == _CLI:
                    pid, start, term_wait = _CLI_IDENTITY.unpack(payload)
                    cli = (ProcessIdentity(pid, start), term_wait)
        for signum in PASSED_ON:  # the relay is leaving: before it is reaped, its pid stops being ours to signal
            signal.signal(signum, signal.SIG_IGN)
        status = left[0] if left else os.waitpid(relay, 0)[1]
        # Armed still at the relay's end: it left in the middle of a session (a signal, or a crash whose own
        # clean-up may have put the terminal back: then nothing is written twice).
        died = os.WIFSIGNALED(status)
        if armed and (died or _changed(tty_fd, saved)):
            late = _shell_has_it(tty_fd, os.getpgrp())
            with contextlib.suppress(OSError, termios.error):
                restore(tty_fd, out_fd, saved, undo, late=late)
            if late:
                from supervisor.machine import processes

                _redraw_prompt(tty_fd, processes.identity_of(os.getppid()))
        if cli is not None and (died or armed):
            from supervisor.machine import processes

            processes.terminate([cli[0]], cli[1])  # verified by pid and start time before each signal
        _leave_as(status)
    finally:
        os._exit(1)


STOP_WAIT = 3.0  # how long the guardian waits for its relay to stop before it stops all the same
OWN_STOP = 0.5  # how long a relay that got the stop too is given to stop by itself


def _stopper(relay: int, left: list[int]) -> Callable[[int, object], None]:
    """SIGTSTP, sent to the guardian alone (`kill -TSTP PID`, the pid the shell shows) or to the whole job by the
    relay suspending it: the relay stops its own way (the terminal handed back first), and only once it has
    stopped does the guardian — the shell sees its job stopped with the terminal as the user had it."""
    busy: list[bool] = []

    def stop(received: int, frame: object) -> None:
        if busy:  # the relay's own stop of the job, arriving while we wait for it
            return
        busy.append(True)
        try:
            # Sent to the whole job (Ctrl-Z's way, `kill -TSTP %1`), it reached the relay too, which stops its own
            # way in a moment: a second one passed on would stop it again after `fg`. Passed on only to a relay
            # that does not stop by itself.
            stopped = _wait_for_stop(relay, left, OWN_STOP)
            if not stopped and not left:
                with contextlib.suppress(OSError):
                    os.kill(relay, signal.SIGTSTP)
                _wait_for_stop(relay, left, STOP_WAIT)
            signal.signal(signal.SIGTSTP, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until the job is continued
        finally:
            signal.signal(signal.SIGTSTP, stop)
            busy.clear()

    return stop


def _wait_for_stop(relay: int, left: list[int], patience: float) -> bool:
    """Whether the relay stopped within `patience` (a relay that left counts as stopped: nothing to wait for)."""
    deadline = time.monotonic() + patience
    while not _stopped(relay, left):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _stopped(relay: int, left: list[int]) -> bool:
    """Whether the relay has stopped (its parent hears of it, as a shell does: no reading of /proc or importing
    psutil in the guardian); a relay that left meanwhile is reaped here, its status kept in `left`."""
    try:
        pid, status = os.waitpid(relay, os.WNOHANG | os.WUNTRACED)
    except ChildProcessError:
        return True
    if pid == 0:
        return False
    if not os.WIFSTOPPED(status):
        left.append(status)
    return True


def _changed(tty_fd: int, saved: TermAttrs) -> bool:
    try:
        return termios.tcgetattr(tty_fd) != saved
    except termios.error:
        return False


def _read(fd: int) -> bytes:
    while True:
        try:
            return os.read(fd, 65536)
        except InterruptedError:
            continue


def _leave_as(status: int) -> NoReturn:
    """Leave as the relay left: its exit status, or death by the signal that killed it (the shell says
    "Killed" and sets $? itself)."""
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in _DIED_OF:
        signum = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):  # SIGKILL's action cannot be set: it is the default
            signal.signal(signum, signal.SIG_DFL)
        with contextlib.suppress(OSError):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
            os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    code = os.waitstatus_to_exitcode(status)
    os._exit(128 - code if code < 0 else code)


# The deaths passed on as deaths. A crash's signal (SIGSEGV, SIGABRT) is not: the guardian would dump a core of its
# own; its status (128 + the signal) says it all the same.
_DIED_OF = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGPIPE,
                      signal.SIGALRM, signal.SIGUSR1, signal.SIGUSR2})


def _start_alarm(wake_at: float, job: int) -> tuple[int, int]:
    """A process outside the stopped job that continues it at `wake_at` (monotonic: one clock for every
    process), unless the relay closes its pipe first (it came back) or dies (then nobody is there to wake)."""
    told, tell = os.pipe()
    relay = os.getpid()
    # Signals wait until the child has its own handlers: the relay's only record a signal on the relay's wakeup
    # pipe, which the child shares — a stop sent to the job would reach the relay a second time, after `fg`.
    every = signal.valid_signals()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, every)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the alarm; tests see it work by an idle end while suspended
        try:
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTOU,
                           signal.SIGWINCH, signal.SIGCONT, signal.SIGCHLD, signal.SIGTERM, signal.SIGUSR1):
                signal.signal(signum, signal.SIG_DFL if signum == signal.SIGTERM else signal.SIG_IGN)
            with contextlib.suppress(OSError):
                os.setpgid(0, 0)  # the job's stop does not reach it
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            _close_all_but(told)
            readable, _, _ = select.select([told], [], [], max(0.0, wake_at - time.monotonic()))
            if not readable and os.getppid() == relay:  # still our relay, so still its job
                os.killpg(job, signal.SIGCONT)
        finally:
            os._exit(0)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # here too (as shells do): out of the job before the relay stops it, whoever runs first
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    os.close(told)
    return pid, tell
