"""Job control for the relay, as its own collaborator: Ctrl-Z (the CLI stops itself, or hands the terminal back and
sends itself a SIGTSTP the kernel discards under a relay — then csup suspends on its behalf), suspending csup in
the user's shell with the terminal as the user had it, and coming back: in the foreground (raw mode, the CLI's
modes, what it printed meanwhile, a redraw) or, woken while the shell has the terminal, in the background
(nothing read or written there; the CLI's output held). Side effects: signals to csup's own job and the CLI,
terminal attributes, SIGTSTP and SIGTTOU dispositions (each put back as it was)."""

from __future__ import annotations

import os
import signal
import termios
from collections.abc import Callable
from typing import Any, Protocol

from supervisor.terminal import rawmode

CTRL_Z = b"\x1a"
SUSPEND_WATCH = 3.0  # after Ctrl-Z, how long we watch for the CLI handing the terminal back (cooked mode):
# generous, since a loaded machine may take a while to run the CLI's handler, and it costs polls only after a Ctrl-Z
SUSPEND_POLL = 0.02
FOREGROUND_POLL = 0.25  # in the background (after `bg`), how often csup looks whether `fg` gave it the terminal
SUSPEND_SETTLE = 0.05  # the CLI's last words before it stops are shown before csup stops too
HELD_MAX = 1 << 20  # CLI output held while csup runs in the background


class JobHost(Protocol):
    """What job control needs of the relay it serves."""

    @property
    def last_output_at(self) -> float: ...
    def cli_attrs(self) -> list[Any] | None: ...
    def pump_output(self) -> None: ...
    def show(self, data: bytes) -> None: ...
    def sync_size(self) -> None: ...
    def signal_child(self, signum: int, *, group: bool = False) -> bool: ...
    def suspended(self, now: float) -> float | None: ...
    def continued(self, now: float, foreground: bool) -> None: ...
    def undo_modes(self) -> bytes: ...
    def redo_modes(self) -> bytes: ...


class JobControl:
    """The state of csup's job: watching for the CLI's way into suspension after a Ctrl-Z, stopped in the
    shell, or continued in the background. `keeper` (the guardian) hears of each change."""

    def __init__(self, host: JobHost, tty_fd: int | None, saved_attrs: rawmode.TermAttrs | None,
                 clock: Callable[[], float], keeper: Any = None) -> None:
        self.host, self.tty_fd, self.saved_attrs, self.clock, self.keeper = host, tty_fd, saved_attrs, clock, keeper
        self.watch_until: float | None = None  # after a Ctrl-Z the CLI reads: watch for cooked mode until then
        self._due: float | None = None
        self.stopped = False  # csup stopped itself (or was stopped) and has not come back to the foreground
        self.in_background = False  # continued while the shell owns the terminal: hands off it
        self.held = bytearray()
        self._ttou: Any = None  # SIGTTOU's disposition before csup ignored it (in the background)

    # --- a Ctrl-Z typed ---

    def typed_ctrl_z(self, child_reads_raw: bool) -> None:
        """The CLI reads raw and got a Ctrl-Z: it may go to cooked mode, its way into suspension. Asked before the
        key reaches it: a quick CLI may have switched by the time we look afterwards."""
        if child_reads_raw and self.tty_fd is not None:
            self.watch_until = self.clock() + SUSPEND_WATCH

    def poll_due(self, now: float) -> float | None:
        if self.in_background:
            return now + FOREGROUND_POLL
        return None if self.watch_until is None else now + SUSPEND_POLL

    def check_foreground(self) -> None:
        """Running in the background: bash and zsh bring a running job to the foreground (`bg`, then `fg`) with
        no SIGCONT, so csup looks whether the terminal is its own again."""
        if self.in_background and rawmode.in_foreground(self.tty_fd):
            self.resume()

    def child_gone(self) -> None:
        self.watch_until = self._due = None

    def check(self, now: float) -> None:
        if self.watch_until is None:
            return
        attrs = self.host.cli_attrs()
        if attrs is not None and attrs[3] & termios.ICANON:
            # The CLI handed the terminal back and sent itself SIGTSTP, which the kernel discards for a process
            # group with no parent in its session: suspend on its behalf, as a shell would — once what it
            # printed on its way out ("suspended, run fg") has settled and reached the screen.
            if self._due is None:
                self._due = now + SUSPEND_SETTLE
            elif now >= self._due and now - self.host.last_output_at >= SUSPEND_SETTLE:
                self.watch_until = self._due = None
                self.host.pump_output()
                self.suspend()
        elif now >= self.watch_until:
            self.watch_until = self._due = None

    # --- output while away ---

    def hold(self, data: bytes) -> None:
        """The CLI's output while csup runs in the background: a screen's worth is what a redraw needs."""
        self.held += data
        del self.held[:-HELD_MAX]

    # --- suspend and resume ---

    def suspend(self, gone: bool = False) -> None:
        """Stop csup's whole job in the user's shell, with the terminal as the user had it."""
        if self.tty_fd is None or gone or self.in_background:
            return
        self.stopped = True
        self.host.show(self.host.undo_modes())
        if self.saved_attrs is not None:
            rawmode.set_attrs(self.tty_fd, self.saved_attrs)
        wake_at = self.host.suspended(self.clock())
        if self.keeper is not None:
            self.keeper.suspended(wake_at)
        previous = signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        try:
            os.kill(0, signal.SIGTSTP)  # the whole job stops here, as for any program; `fg` continues it
        finally:
            signal.signal(signal.SIGTSTP, previous)
        self.resume()  # no SIGCONT comes when no shell does job control; resuming twice is harmless

    def resume(self) -> None:
        if not self.stopped:
            return
        if not rawmode.in_foreground(self.tty_fd):
            if not self.in_background:
                # Woken while the shell has the terminal (the idle deadline came, or a stop request): carry on
                # without it. SIGTTOU ignored: csup's own last line may still be written, as `bg` jobs do.
                self.in_background = True
                if self.keeper is not None:
                    self.keeper.continued()
                self._ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
                self.host.continued(self.clock(), False)
            return
        self.stopped = False
        self.in_background = False
        if self._ttou is not None:
            signal.signal(signal.SIGTTOU, self._ttou)  # as it was before csup ignored it
            self._ttou = None
        if self.tty_fd is not None:
            try:
                rawmode.enter_raw(self.tty_fd)
            except termios.error as err:
                if err.args[0] not in rawmode.TERMINAL_GONE:
                    raise
        self.host.show(self.host.redo_modes())
        if self.held:
            held, self.held = bytes(self.held), bytearray()
            self.host.show(held)
        if self.keeper is not None:
            self.keeper.foreground()
        self.host.sync_size()
        self.host.signal_child(signal.SIGCONT, group=True)
        self.host.signal_child(signal.SIGWINCH, group=True)  # the size may be unchanged: ask for a redraw anyway
        self.host.continued(self.clock(), True)
