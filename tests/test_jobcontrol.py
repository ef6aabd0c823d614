"""Job control as the relay's collaborator (terminal/jobcontrol.py), in-process: continued in the background it
holds the CLI's output and ignores SIGTTOU; back in the foreground it shows the held output after the CLI's
modes, asks the CLI to redraw, and puts SIGTTOU back as it was (not to a default). The pty tests
(test_suspend_pty.py) prove the wiring with a real shell."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from supervisor.terminal import jobcontrol, rawmode
from supervisor.terminal.jobcontrol import JobControl


class Host:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.last_output_at = 0.0

    def cli_attrs(self) -> list[Any] | None:
        return None

    def pump_output(self) -> None:
        self.calls.append(("pump", None))

    def show(self, data: bytes) -> None:
        self.calls.append(("show", data))

    def sync_size(self) -> None:
        self.calls.append(("size", None))

    def signal_child(self, signum: int, *, group: bool = False) -> bool:
        self.calls.append(("signal", signum))
        return True

    def suspended(self, now: float) -> float | None:
        return None

    def continued(self, now: float, foreground: bool) -> None:
        self.calls.append(("continued", foreground))

    def undo_modes(self) -> bytes:
        return b"<undo>"

    def redo_modes(self) -> bytes:
        return b"<redo>"


def test_background_then_foreground_holds_output_and_puts_sigttou_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def own_handler(signum: int, frame: object) -> None:
        return None

    previous = signal.signal(signal.SIGTTOU, own_handler)
    try:
        host = Host()
        jobs = JobControl(host, None, None, lambda: 5.0)
        jobs.stopped = True  # stopped in the shell, then continued by the alarm while the shell has the terminal
        monkeypatch.setattr(rawmode, "in_foreground", lambda fd: False)
        jobs.resume()
        assert jobs.in_background and signal.getsignal(signal.SIGTTOU) == signal.SIG_IGN
        jobs.hold(b"frame")
        assert host.calls == [("continued", False)]
        monkeypatch.setattr(rawmode, "in_foreground", lambda fd: True)
        jobs.resume()  # `fg`
        assert not jobs.in_background and not jobs.stopped
        assert signal.getsignal(signal.SIGTTOU) is own_handler
        assert host.calls[1:] == [("show", b"<redo>"), ("show", b"frame"), ("size", None),
                                  ("signal", signal.SIGCONT), ("signal", signal.SIGWINCH), ("continued", True)]
    finally:
        signal.signal(signal.SIGTTOU, previous)


def test_held_output_keeps_a_screens_worth() -> None:
    jobs = JobControl(Host(), None, None, lambda: 0.0)
    jobs.hold(b"x" * jobcontrol.HELD_MAX)
    jobs.hold(b"tail")
    assert len(jobs.held) == jobcontrol.HELD_MAX and jobs.held.endswith(b"tail")


def test_a_ctrl_z_is_watched_only_where_a_terminal_and_a_raw_cli_are() -> None:
    jobs = JobControl(Host(), None, None, lambda: 0.0)
    jobs.typed_ctrl_z(child_reads_raw=True)
    assert jobs.watch_until is None  # no terminal: nothing to hand back
    jobs = JobControl(Host(), 0, None, lambda: 10.0)
    jobs.typed_ctrl_z(child_reads_raw=False)
    assert jobs.watch_until is None
    jobs.typed_ctrl_z(child_reads_raw=True)
    assert jobs.watch_until == 10.0 + jobcontrol.SUSPEND_WATCH
    jobs.check(10.0 + jobcontrol.SUSPEND_WATCH)  # the CLI never went to cooked mode: the watch ends
    assert jobs.watch_until is None
