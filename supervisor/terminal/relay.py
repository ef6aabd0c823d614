"""The pty relay: one select loop over the user's terminal, the CLI's pty master (terminal/spawn.py started it
there), a signal wakeup pipe and the guardian's pipe until the CLI has exited and its last byte is delivered.
Side effects: reads and writes fds, installs signal handlers for its lifetime, suspends itself for job
control."""

from __future__ import annotations

import errno
import os
import select
import signal
import termios
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from supervisor.core.errors import signal_exit_status
from supervisor.machine.signals import drain, signal_wakeup
from supervisor.machine.trace import cli_exited
from supervisor.terminal import rawmode
from supervisor.terminal.jobcontrol import CTRL_Z, JobControl
from supervisor.terminal.modes import ModeJournal
from supervisor.terminal.spawn import Child

READ_SIZE = 1 << 16
MAX_CHUNKS_PER_WAKE = 64  # then back to select, so keystrokes and signals are not starved by a flood
SHORT_READ = 512  # a flood comes in pieces of the pty's buffer (1-4 KiB); a read shorter than this ends a burst
MAX_PENDING_INPUT = 1 << 20  # stop reading keys while this much waits for a CLI that is not reading
DRAIN_QUIET = 0.1  # after the CLI exits, how long without output before we stop waiting for the pty's EOF
DRAIN_CAP = 2.0  # a background child holding the pty open must not keep csup alive
INJECT_WAIT = 0.2  # how long csup's own bytes wait for the CLI to finish an escape sequence it began
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGQUIT)
HANDLED_SIGNALS = (
    signal.SIGCHLD, signal.SIGWINCH, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGTSTP,
    signal.SIGCONT, *FORWARDED_SIGNALS,
)


class RelayListener(Protocol):
    """What the relay reports to, and asks for its next deadline (the idle clock, the shutdown plan)."""

    def deadline(self, now: float) -> float | None:
        """When the listener must be woken next (monotonic), if ever; asked before every wait."""
    def on_wake(self, now: float) -> None:
        """That moment has come (called only then: a keystroke is no reason to look at the clock)."""
    def on_input(self, data: bytes, now: float) -> None: ...
    def on_output(self, data: bytes, now: float) -> None: ...
    def on_resize(self, now: float) -> None: ...
    def on_signal(self, signum: int, now: float) -> None: ...
    def on_suspend(self, now: float) -> float | None:
        """The job stops (Ctrl-Z): when csup must be woken to keep its deadlines (monotonic), if ever."""
    def on_continue(self, now: float, foreground: bool) -> None:
        """The job runs again: in the foreground (`fg`), or in the background (woken with the shell in charge)."""


class TerminalKeeper(Protocol):
    """Who puts the terminal back if the relay dies, and wakes its job while it is stopped (the guardian)."""

    gone_fd: int  # reads as ended once the guardian is gone

    def update(self, undo: bytes) -> None: ...
    def suspended(self, wake_at: float | None) -> None: ...
    def continued(self) -> None: ...
    def foreground(self) -> None: ...
    def orphaned(self) -> None: ...


def _pass_on(source: int, target: int, straight: bool, failed: Callable[[OSError], bytes | None],
             held: bytes | None = None) -> tuple[bytes | None, int]:
    """The one fast path of both directions: read what `source` has and, where it may go `straight` (and holds
    no `held` byte), write it to `target` at once; (what was read, how much of it was written). A failed read is
    `failed`'s to answer (None: nothing after all; b"": the end); a failed or short write leaves the rest to the
    caller's slower way, which knows every case."""
    try:
        data = os.read(source, READ_SIZE)
    except OSError as err:
        return failed(err), 0
    if data and straight and (held is None or held not in data):
        try:
            return data, os.write(target, data)
        except OSError:
            pass
    return data, 0


class Terminal(NamedTuple):
    in_fd: int = 0
    out_fd: int = 1
    tty_fd: int | None = None  # the user's terminal (stdin, else stdout): raw mode and window size


class PtyRelay:
    """`listen` builds the listener that decides (the session policy) with this relay as its handle: each is
    complete once built, with no field filled in afterwards."""

    def __init__(self, child: Child, terminal: Terminal, listen: Callable[[PtyRelay], RelayListener],
                 clock: Callable[[], float] = time.monotonic, saved_attrs: rawmode.TermAttrs | None = None,
                 keeper: TerminalKeeper | None = None) -> None:
        self.child = child
        self.terminal = terminal
        self.clock = clock
        self.saved_attrs = saved_attrs  # the user's own terminal attributes, put back while suspended
        self.journal = ModeJournal()
        self._keeper = keeper  # told the undo bytes whenever the CLI's terminal modes change
        self._modes_seen = 0
        self.wait_status: int | None = None
        self.at_line_start = True  # whether the last byte shown ended a line (csup's own messages need it)
        self.terminal_gone = False
        self._to_child = bytearray()
        self._master_open = True
        self._input_open = True
        self._exited_at: float | None = None
        self._last_output_at = 0.0
        self.jobs = JobControl(self, terminal.tty_fd, saved_attrs, clock, keeper)
        self._abandoned = False
        self._injections = bytearray()
        self.listener = listen(self)

    @property
    def in_background(self) -> bool:
        """Continued while the shell owns the terminal (woken by the alarm, or asked to stop): csup must not read
        it, write to it or change its modes; the CLI's output is held until `fg`, or dropped at the end."""
        return self.jobs.in_background

    # --- what job control needs (jobcontrol.JobHost) ---------------------------------------------------------

    @property
    def last_output_at(self) -> float:
        return self._last_output_at

    def cli_attrs(self) -> list[Any] | None:
        return rawmode.get_attrs(self.child.master_fd)

    def show(self, data: bytes) -> None:
        self.write_terminal(data)

    def suspended(self, now: float) -> float | None:
        return self.listener.on_suspend(now)

    def continued(self, now: float, foreground: bool) -> None:
        self.listener.on_continue(now, foreground=foreground)

    def undo_modes(self) -> bytes:
        return self.journal.undo()

    def redo_modes(self) -> bytes:
        return self.journal.redo()

    # --- what the listener may do - -------------------------------------------------------------------------

    @property
    def child_exited(self) -> bool:
        return self.wait_status is not None

    def send_to_child(self, data: bytes) -> None:
        self._to_child += data
        self._flush_to_child()

    def signal_child(self, signum: int, *, group: bool = False) -> bool:
        """Signal our own, not yet reaped child: its pid cannot have been reused, so no identity check."""
        if self.child_exited:
            return False
        try:
            (os.killpg if group else os.kill)(self.child.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def inject(self, data: bytes) -> None:
        """csup's own bytes for the screen (title, bell), written between the CLI's escape sequences."""
        if self.in_background:
            return  # a bell or a title on the shell's screen would be noise from a job nobody is looking at
        self._injections += data
        self._flush_injections(self.clock())

    def _flush_injections(self, now: float) -> None:
        if self._injections and (not self.journal.mid_sequence or now - self._last_output_at >= INJECT_WAIT):
            data = bytes(self._injections)
            self._injections.clear()
            self.write_terminal(data)

    def abandon(self) -> None:
        """Stop waiting for a child that survived SIGKILL (stuck in the kernel); csup exits without it."""
        self._abandoned = True

    def exit_code(self) -> int:
        if self.wait_status is None:
            return signal_exit_status(signal.SIGKILL)
        code = os.waitstatus_to_exitcode(self.wait_status)
        return signal_exit_status(-code) if code < 0 else code

    def write_terminal(self, data: bytes) -> None:
        """Bytes for the user's screen; blocking and complete, so nothing is lost while the terminal is slow."""
        if self.terminal_gone or not data:
            return
        if self.in_background:
            self.jobs.hold(data)
            return
        try:
            written = os.write(self.terminal.out_fd, data)
            if written == len(data):
                return
            view = memoryview(data)[written:]
            while view:
                try:
                    view = view[os.write(self.terminal.out_fd, view):]
                except BlockingIOError:  # someone made our stdout non-blocking: wait until it drains
                    select.select([], [self.terminal.out_fd], [])
        except BlockingIOError:
            select.select([], [self.terminal.out_fd], [])
            self.write_terminal(data)
        except OSError as err:
            if err.errno in (errno.EIO, errno.EPIPE, errno.ENXIO, errno.EBADF):
                self._lose_terminal()
                return
            raise

    # --- the loop -----------------------------------------------------------------------------------------

    def run(self) -> int:
        with signal_wakeup(HANDLED_SIGNALS) as wake_fd:
            self._reap()  # a child that died before the handlers were in place sent its SIGCHLD to nobody
            master, in_fd, out_fd = self.child.master_fd, self.terminal.in_fd, self.terminal.out_fd
            listener, clock, wait = self.listener, self.clock, select.select
            # The guardian's pipe, watched with the rest: the relay must hear of the guardian's death at once.
            guardian = [self._keeper.gone_fd] if self._keeper is not None else []
            everything, no_input, nothing = [wake_fd, master, in_fd, *guardian], [wake_fd, master, *guardian], \
                list[int]()
            now = clock()
            while (self._exited_at is None and not self._abandoned) or not self._finished():
                # Decided before the wait, acted on after it with locals only: after a pause every step of the
                # interpreter is slow (its caches went cold), and every step between the wake and the write is
                # latency the user feels at each keystroke. The rare cases (signals, pending bytes, a terminal
                # that is gone or not ours) take the methods' way.
                reading = self._reading_input()
                keys_straight = reading and not self._to_child  # a keystroke may go to the CLI as it is read
                screen_straight = not self.terminal_gone and not self.in_background
                read_fds = (everything if reading else no_input) if self._master_open \
                    else [wake_fd, in_fd, *guardian] if reading else [wake_fd, *guardian]
                write_fds = [master] if self._to_child and self._master_open and self.wait_status is None \
                    else nothing
                due = listener.deadline(now)
                readable, writable, _ = wait(read_fds, write_fds, nothing, self._timeout(now, due))
                if wake_fd in readable:  # signals first: the CLI may be gone, csup sent to the background
                    self._on_signals(drain(wake_fd), clock())
                    reading = keys_straight = screen_straight = False  # the methods' way, which asks again
                if guardian and guardian[0] in readable:
                    self._guardian_gone()
                    guardian = []
                    everything, no_input = [wake_fd, master, in_fd], [wake_fd, master]
                    reading = keys_straight = screen_straight = False
                if in_fd in readable and (reading or self._reading_input()):
                    # A Ctrl-Z never goes straight: job control looks at the CLI before the key reaches it.
                    keys, sent = _pass_on(in_fd, master, keys_straight, self._input_failed, CTRL_Z)
                    if keys is not None:
                        self._took_input(keys, sent)  # the CLI not reading (EAGAIN) or gone (EIO): it knows each
                    screen_straight = screen_straight and not self.terminal_gone  # an input EIO loses it too
                if master in readable:
                    shown, written = _pass_on(master, out_fd, screen_straight, self._output_failed)
                    if shown is not None:
                        self._took_output(shown, written)  # a full stdout, a lost terminal: write_terminal knows
                now = clock()
                if writable:
                    self._flush_to_child()
                if self.jobs.watch_until is not None:
                    self.jobs.check(now)
                elif self.jobs.in_background:
                    self.jobs.check_foreground()
                if due is not None and now >= due:
                    listener.on_wake(now)
                if self._injections:
                    self._flush_injections(now)
        return self.exit_code()

    def _timeout(self, now: float, deadline: float | None) -> float | None:
        watch = self.jobs.poll_due(now)
        if watch is None and self._exited_at is None and not self._injections:
            return None if deadline is None else max(0.0, deadline - now)
        deadlines = [] if deadline is None else [deadline]
        if watch is not None:
            deadlines.append(watch)
        if self._exited_at is not None:
            deadlines.append(max(self._last_output_at, self._exited_at) + DRAIN_QUIET)
        if self._injections:
            deadlines.append(self._last_output_at + INJECT_WAIT)
        return max(0.0, min(deadlines) - now) if deadlines else None

    def _finished(self) -> bool:
        if self._abandoned:
            return True
        if self._exited_at is None:
            return False
        if not self._master_open:
            return True
        # The CLI is gone but something it started still holds the pty: take what is there, then leave.
        now = self.clock()
        quiet = now - max(self._last_output_at, self._exited_at) >= DRAIN_QUIET
        return quiet or now - self._exited_at >= DRAIN_CAP

    def _reading_input(self) -> bool:
        return (self._input_open and not self.terminal_gone and not self.child_exited and not self.in_background
                and len(self._to_child) < MAX_PENDING_INPUT)

    def pump_output(self) -> None:
        """What the CLI printed, read and shown (the loop does its first read itself)."""
        try:
            chunk: bytes | None = os.read(self.child.master_fd, READ_SIZE)
        except OSError as err:
            chunk = self._output_failed(err)
        if chunk is not None:
            self._took_output(chunk, 0)

    def _output_failed(self, err: OSError) -> bytes | None:
        """A failed read of the pty: None when there was nothing after all, b"" for its end."""
        if isinstance(err, BlockingIOError):
            return None
        if err.errno != errno.EIO:  # EIO on a pty master is its EOF: every slave fd is closed
            raise err
        return b""

    def _took_output(self, chunk: bytes, written: int) -> None:
        """`chunk` was read from the pty and its first `written` bytes are on the screen: show the rest, then
        relay chunk after chunk until the pty has nothing more (the master is non-blocking) — one select round
        per burst instead of one per piece the kernel hands out — and account for it all."""
        last = b""
        for turn in range(MAX_CHUNKS_PER_WAKE):
            if turn:  # the next piece of the burst
                try:
                    chunk = os.read(self.child.master_fd, READ_SIZE)
                except OSError as err:
                    failed = self._output_failed(err)
                    if failed is None:
                        break
                    chunk = failed
                written = 0
            if not chunk:
                self._master_open = False
                cli_exited()  # from its pty's end on, csup's way out is traced (tests: it imports nothing)
                break
            if written < len(chunk):
                self.write_terminal(chunk[written:] if written else chunk)
            self.journal.feed(chunk)
            if self.journal.version != self._modes_seen and self._keeper is not None:
                # At once, not after the burst: a csup killed now leaves a guardian that knows the new mode.
                self._modes_seen = self.journal.version
                self._keeper.update(self.journal.undo())
            last = chunk
            if len(chunk) < SHORT_READ:
                break  # what the CLI wrote is all here (anything newer, select reports at once): no read for EAGAIN
        if not last:
            return
        now = self.clock()
        self._last_output_at = now
        self.at_line_start = last[-1] == 10
        self.listener.on_output(last, now)

    def _input_failed(self, err: OSError) -> bytes | None:
        """A failed read of the user's terminal: None when there is nothing to pass on."""
        if isinstance(err, BlockingIOError):
            return None
        if err.errno in (errno.EIO, errno.ENXIO):
            self._lose_terminal()
            return None
        raise err

    def _took_input(self, data: bytes, sent: int) -> None:
        """`data` was read from the user's terminal and its first `sent` bytes went to the CLI already."""
        if not data:
            self._end_of_input()
            return
        if not sent and CTRL_Z in data:  # the loop never sends one straight: job control looks first
            self.jobs.typed_ctrl_z(self._child_reads_raw())
        if sent < len(data):
            self._to_child += data[sent:]
            self._flush_to_child()
        self.listener.on_input(data, self.clock())

    def _flush_to_child(self) -> None:
        if not self._to_child or self.child_exited or not self._master_open:
            return
        try:
            written = os.write(self.child.master_fd, self._to_child)
        except BlockingIOError:
            return
        except OSError as err:
            if err.errno != errno.EIO:
                raise
            self._to_child.clear()
            return
        del self._to_child[:written]

    def _end_of_input(self) -> None:
        """stdin reached its end. A terminal that hung up (closed without a SIGHUP reaching csup, as when a
        nohup'ed parent is the session leader) reads as empty and answers no ioctl: the terminal is gone. A pipe
        (or a terminal that still answers): tell a CLI reading lines, as a terminal's Ctrl-D would."""
        if self.terminal.tty_fd is not None and self.terminal.tty_fd == self.terminal.in_fd \
                and rawmode.get_attrs(self.terminal.in_fd) is None:  # a hung-up terminal answers no ioctl
            self._lose_terminal()
            return
        self._input_open = False
        attrs = rawmode.get_attrs(self.child.master_fd)
        if attrs is not None and attrs[3] & termios.ICANON:
            self.send_to_child(bytes(attrs[6][termios.VEOF]))

    def _guardian_gone(self) -> None:
        """The guardian was killed: the shell it was the job of has the terminal back. The terminal is handed back
        as far as it can be late, and the session ends as for a closed terminal, saying nothing there."""
        if self._keeper is not None and not self.terminal_gone:
            self._keeper.orphaned()
        self._lose_terminal()

    def _lose_terminal(self) -> None:
        if self.terminal_gone:
            return
        self.terminal_gone = True
        self.listener.on_signal(signal.SIGHUP, self.clock())

    def _child_reads_raw(self) -> bool:
        attrs = rawmode.get_attrs(self.child.master_fd)
        return attrs is not None and not attrs[3] & termios.ISIG

    # --- signals and job control --------------------------------------------------------------------------

    def _on_signals(self, signums: bytes, now: float) -> None:
        for signum in dict.fromkeys(signums):  # each kind once, in order of arrival
            if signum == signal.SIGCHLD:
                self._reap()
            elif signum == signal.SIGWINCH:
                self.sync_size()
                self.listener.on_resize(now)
            elif signum == signal.SIGTSTP:
                self.jobs.suspend(gone=self.terminal_gone)
            elif signum == signal.SIGCONT:
                self.jobs.resume()
            elif signum in FORWARDED_SIGNALS:
                self.signal_child(signum, group=True)
            else:
                self.listener.on_signal(signum, now)

    def _reap(self) -> None:
        if self.child_exited:
            return
        try:
            pid, status = os.waitpid(self.child.pid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == self.child.pid:
            self.wait_status = status
            cli_exited()
            self._exited_at = self.clock()
            self.jobs.child_gone()

    def sync_size(self) -> None:
        size = rawmode.get_size(self.terminal.tty_fd)
        if size is not None and self._master_open:
            try:
                rawmode.set_size(self.child.master_fd, size)
            except OSError as err:
                if err.errno not in rawmode.TERMINAL_GONE:
                    raise
