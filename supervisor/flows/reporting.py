"""What the flows tell the user, as values, and the port they tell it through: the face implements `Reporter`
and words everything; the flows never hold user-facing text. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from supervisor.core.errors import CsupError
from supervisor.core.notice import Notice
from supervisor.core.policy import Step

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

    kind: Literal["resumed", "attached", "nothing-running", "unknown", "no-transcript", "cwd-gone", "declined",
                  "other-cli"]
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
    cwd: str = ""  # where the session ran: a resume elsewhere would open another tree's conversation


@dataclass(frozen=True)
class BackgroundEnded:
    """A background session csup ended through its CLI's daemon, and how to bring it back."""

    short: str
    name: str
    gone: bool  # False: the daemon did not end it in time
    bring_back: str
    failure: str | None = None  # why it is not gone


@dataclass(frozen=True)
class HolderEnded:
    """A supervised session `csup stop` ended (how None: its record named no live csup; nothing was done)."""

    record: SessionRecord
    how: Escalation | None
    resume: str | None  # the command (from the adapter) that reopens the conversation
    background: BackgroundEnded | None = None  # it showed a background session, which was ended through its daemon


@dataclass
class StopOutcome:
    stopped: bool
    holders: list[HolderEnded] = field(default_factory=list)
    unmanaged_ended: list[int] = field(default_factory=list)  # gone
    unmanaged_left: list[int] = field(default_factory=list)  # signalled, still running
    background_ended: list[BackgroundEnded] = field(default_factory=list)  # each says whether it is gone
    declined: Census | None = None  # sessions outside csup the user chose to keep
    running: int = 0  # sessions there were to choose from
    idle: bool = False  # `stop --idle`
    idle_at_least: float | None = None  # `stop --idle DURATION`: what was asked (None: each kind's own limit)

    @property
    def incomplete(self) -> bool:
        """Something csup was asked to end is still running (it would not go, or the user kept it)."""
        return bool(self.unmanaged_left) or any(not bg.gone for bg in self.background_ended) \
            or (self.declined is not None and self.declined.total > 0)


@dataclass(frozen=True)
class Done:
    """One step of a sweep and what came of it: ended (gone), asked (still running), failed, warned, reported."""

    step: Step  # what the policy said to do
    outcome: Literal["ended", "asked", "failed", "warned", "reported", "would"]
    detail: str = ""  # the name people know it by
    why: str = ""  # why it failed


@dataclass
class Sweep:
    done: list[Done] = field(default_factory=list)
    next_at: float = 0.0  # wall clock
    seen: int = 0  # sessions the enforcer looked after (outside csup's ptys)
    total: int = 0  # sessions of every kind

    @property
    def failed(self) -> bool:
        return any(item.outcome in ("failed", "asked") for item in self.done)


@dataclass(frozen=True)
class WatchEvent:
    """What the watcher did: started (mode, pid), swept (its steps and what came of them), looked (a `--once`
    while another watcher enforces: what it would do), stopped (why)."""

    kind: Literal["started", "swept", "looked", "stopped"]
    sweep: Sweep
    about: Mapping[str, object] | None = None


@dataclass(frozen=True)
class RoomMade:
    """The session ended to make room, and how to bring it back."""

    session: AnySession
    idle: float
    resume: str | None  # the command that carries its conversation on (with the directory it needs)
    cwd: str


@dataclass(frozen=True)
class AsleepNote:
    """A session fallen asleep, or still asleep after a wake that could not resume it: what the terminal shows."""

    reason: str  # why it fell asleep ("idle for 30m (limit 30m)")
    cwd: str
    freed: int | None  # bytes the CLI's tree gave back (None: not measured)
    resume: str  # the command that reopens the conversation by hand
    offer: Literal["", "open-elsewhere", "resume-failed"] = ""  # why only a new conversation is offered now
    open_in: str = ""  # where the conversation is open (pid and terminal)


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
    def watch_event(self, event: WatchEvent) -> None: ...
    def room_made(self, made: RoomMade) -> None: ...
    def asleep(self, note: AsleepNote) -> None: ...
    def prepare_last_words(self) -> None: ...  # load what a session's last lines need, while its CLI runs
    def wake_refused(self, refusal: CsupError) -> None: ...
