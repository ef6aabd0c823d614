"""Why a session was not started, as errors that carry the facts (who holds it, what runs outside csup); the
face's error boundary words them. Pure."""

from __future__ import annotations

from supervisor.claude.adapter import LiveSession
from supervisor.core.errors import SessionBusy
from supervisor.flows.census import UnmanagedSession
from supervisor.machine.record import SessionRecord


class SessionHeld(SessionBusy):
    """Every slot is held (holder None: it is just starting, or its record is unreadable); with more than one
    session allowed, `holders` are all of them."""

    def __init__(self, holder: SessionRecord | None, holders: list[SessionRecord] | None = None,
                 max_sessions: int = 1) -> None:
        super().__init__("a claude session is already running")
        self.holder = holder
        self.holders = holders or ([holder] if holder is not None else [])
        self.max_sessions = max_sessions


class LineAhead(SessionBusy):
    """Someone is taking over or waiting, and goes first."""

    def __init__(self, holder: SessionRecord | None) -> None:
        super().__init__("another terminal is taking over or waiting for the session")
        self.holder = holder


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
    """Claude sessions run outside csup; `left_running` names the command that would end them, when the user
    declined to. With more than one session allowed, `max_sessions` says the limit they fill."""

    def __init__(self, sessions: list[UnmanagedSession], background: list[LiveSession] | None = None,
                 left_running: str | None = None, max_sessions: int = 1) -> None:
        super().__init__(f"{len(sessions) + len(background or [])} claude session(s) running outside csup")
        self.sessions = sessions
        self.background = background or []
        self.left_running = left_running
        self.max_sessions = max_sessions
