"""Why a session was not started, as errors that carry the facts (who holds it, what runs outside csup); the
face's error boundary words them. Pure."""

from __future__ import annotations

from supervisor.clis.adapter import LiveSession
from supervisor.core.errors import SessionBusy
from supervisor.flows.census import UnmanagedSession
from supervisor.flows.sessions import AnySession
from supervisor.machine.record import SessionRecord


class SessionHeld(SessionBusy):
    """Every place is held by a supervised session (`sessions`, most idle first; none listed: one is just
    starting, or its record is unreadable)."""

    def __init__(self, sessions: list[AnySession], max_sessions: int = 1) -> None:
        super().__init__("a session is already running")
        self.sessions = sessions
        self.max_sessions = max_sessions


class AtLimit(SessionBusy):
    """Admission refused by the policy: `sessions` (every session of every kind but the new one, most idle
    first) already fill `max_sessions` — or (`over` "memory") hold `held` bytes of a `budget`."""

    def __init__(self, sessions: list[AnySession], max_sessions: int, *, over: str = "count", held: int = 0,
                 budget: int | None = None, make_room: float | None = None, end_unmanaged: bool = False) -> None:
        super().__init__(f"{len(sessions)} agent session(s) are running, the limit is {max_sessions}")
        self.sessions = sessions
        self.max_sessions = max_sessions
        self.over = over
        self.held = held
        self.budget = budget
        self.make_room = make_room  # on, and none of `sessions` qualified: the refusal says why
        self.end_unmanaged = end_unmanaged


class LineAhead(SessionBusy):
    """Someone is taking over or waiting, and goes first."""

    def __init__(self, holder: SessionRecord | None) -> None:
        super().__init__("another terminal is taking over or waiting for the session")
        self.holder = holder


class GateBusy(SessionBusy):
    """Another start held the gate past all patience (a decision that hangs: a stuck csup)."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"another csup start has been deciding for {waited:.0f}s")
        self.waited = waited


class NothingToEnd(SessionBusy):
    """A stop or takeover named no session, and every one is in use: each with why it is kept."""

    def __init__(self, kept: list[tuple[AnySession | None, str]]) -> None:
        super().__init__("every session is in use")
        self.kept = [(session, why) for session, why in kept if session is not None]


class TakeoverLost(SessionBusy):
    """A racing takeover got the session first."""

    def __init__(self, holder: SessionRecord) -> None:
        super().__init__("another takeover got the session first")
        self.holder = holder


class GaveUpWaiting(SessionBusy):
    def __init__(self, patience: float) -> None:
        super().__init__("gave up waiting")
        self.patience = patience


class UnmanagedRunning(SessionBusy):
    """Agent sessions run outside csup; `left_running` names the command that would end them, when the user
    declined to. With more than one session allowed, `max_sessions` says the limit they fill."""

    def __init__(self, sessions: list[UnmanagedSession], background: list[LiveSession] | None = None,
                 left_running: str | None = None, max_sessions: int = 1) -> None:
        super().__init__(f"{len(sessions) + len(background or [])} agent session(s) running outside csup")
        self.sessions = sessions
        self.background = background or []
        self.left_running = left_running
        self.max_sessions = max_sessions


class WatcherRunning(SessionBusy):
    """Another watcher of this user runs: one is enough (`running`, in the error's data: its state)."""
