"""What the flows tell the user, as values, and the port they tell it through: the face implements `Reporter`
and words everything; the flows never hold user-facing text. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from supervisor.core.identity import ProcessView
from supervisor.core.session_policy import Notice
from supervisor.machine.record import SessionRecord


@dataclass(frozen=True)
class WaitProgress:
    """A waiter's place in line: who holds the session, how many are ahead, how long it has waited."""

    holder: SessionRecord | None
    ahead: int
    waited: float


Escalation = Literal["asked", "SIGTERM", "SIGKILL"]


@dataclass(frozen=True)
class ResumeDecision:
    """What a takeover does with the old session's conversation."""

    kind: Literal["resumed", "nothing-running", "unknown", "no-transcript", "cwd-gone", "declined"]
    conversation_id: str | None = None
    cwd: str | None = None
    others: tuple[str, ...] = ()  # resume commands of further conversations that were ended


@dataclass(frozen=True)
class SessionEnd:
    """How a supervised session ended, for its last line on the terminal."""

    reason: str | None  # None: the CLI ended by itself (nothing for csup to say)
    resume: str | None  # the command that carries the conversation on, when there is one
    code: int
    at_line_start: bool
    continued_elsewhere: str | None = None  # a takeover: where the conversation lives on


@dataclass(frozen=True)
class UnmanagedSession:
    """A claude session outside csup, as status, doctor, a refusal or a question names it."""

    view: ProcessView
    tty: str = ""
    cwd: str = ""
    started_at: float | None = None
    cpu_seconds: float | None = None
    rss_bytes: int | None = None
    idle_seconds: float | None = None
    idle_source: str = "unknown"  # registry, tty, unknown
    orphaned: bool = False  # started by a csup that is gone

    @property
    def pid(self) -> int:
        return self.view.pid

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "tty": self.tty, "cwd": self.cwd, "started_at": self.started_at,
                "cpu_seconds": self.cpu_seconds, "rss_bytes": self.rss_bytes, "idle_seconds": self.idle_seconds,
                "idle_source": self.idle_source, "orphaned": self.orphaned, "cmdline": list(self.view.cmdline)}


@dataclass(frozen=True)
class StopOutcome:
    stopped: bool
    holder: SessionRecord | None = None
    how: Escalation | None = None
    resume: str | None = None  # the command (from the adapter) that reopens the conversation
    unmanaged_ended: list[int] = field(default_factory=list)


class Reporter(Protocol):
    """The face's side: how each thing the flows report reaches the user."""

    def waiting(self, progress: WaitProgress) -> None: ...
    def escalation(self, step: Escalation) -> None: ...
    def done_waiting(self) -> None: ...
    def resume_decision(self, decision: ResumeDecision) -> None: ...
    def session_ended(self, end: SessionEnd) -> None: ...
    def notice(self, notice: Notice) -> tuple[str, str]: ...
    def countdown_title(self, left: float) -> str: ...
    def confirm_end(self, sessions: list[UnmanagedSession]) -> bool: ...
