"""What the flows tell the user, as values, and the port they tell it through: the face implements `Reporter`
and words everything; the flows never hold user-facing text. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from supervisor.core.notice import Notice

if TYPE_CHECKING:
    from supervisor.flows.census import Census
    from supervisor.flows.sessions import AnySession
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

    kind: Literal["resumed", "attached", "nothing-running", "unknown", "no-transcript", "cwd-gone", "declined"]
    conversation_id: str | None = None
    cwd: str | None = None
    others: tuple[str, ...] = ()  # resume commands of further conversations that were ended
    short: str = ""  # attached: the background session brought here


@dataclass(frozen=True)
class SessionEnd:
    """How a supervised session ended, for its last line on the terminal."""

    reason: str | None  # None: the CLI ended by itself (nothing for csup to say)
    resume: str | None  # the command that carries the conversation on, when there is one
    code: int
    at_line_start: bool
    continued_elsewhere: str | None = None  # a takeover: where the conversation lives on
    in_background: str | None = None  # the conversation went on in the background: the command to bring it back


@dataclass(frozen=True)
class BackgroundEnded:
    """A background session csup ended through Claude Code's daemon, and how to bring it back."""

    short: str
    name: str
    gone: bool  # False: the daemon did not end it in time
    bring_back: str


@dataclass(frozen=True)
class HolderEnded:
    """A supervised session `csup stop` ended (how None: its record named no live csup; nothing was done)."""

    record: SessionRecord
    how: Escalation | None
    resume: str | None  # the command (from the adapter) that reopens the conversation


@dataclass
class StopOutcome:
    stopped: bool
    holders: list[HolderEnded] = field(default_factory=list)
    unmanaged_ended: list[int] = field(default_factory=list)
    background_ended: list[BackgroundEnded] = field(default_factory=list)


class Reporter(Protocol):
    """The face's side: how each thing the flows report reaches the user."""

    def waiting(self, progress: WaitProgress) -> None: ...
    def escalation(self, step: Escalation) -> None: ...
    def done_waiting(self) -> None: ...
    def resume_decision(self, decision: ResumeDecision) -> None: ...
    def session_ended(self, end: SessionEnd) -> None: ...
    def notice(self, notice: Notice) -> tuple[str, str]: ...
    def countdown_title(self, left: float) -> str: ...
    def confirm_end(self, found: Census) -> bool: ...
    def chosen(self, session: AnySession) -> None: ...
