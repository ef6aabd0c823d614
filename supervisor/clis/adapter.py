"""The two interfaces between csup and a CLI, one per role: a `Launcher` (what csup launches: arguments, resume
arguments, pass-through rules, its polite way out, a background start) and a `SessionSource` (where sessions
come from: the CLI's registry and processes, what each is doing, how its conversations resume, how a background
session ends). Each CLI csup knows implements both in a module of its own; any other program is only a
launcher (generic.py); choose.py lists the CLIs and joins their sources (agents.py). Pure: values and the
Protocols."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from supervisor.core.identity import ProcessView


class CliStatus(NamedTuple):
    """What the CLI publishes about itself (its live-session registry)."""

    status: str  # idle, busy, waiting, …
    changed_wall: float | None = None  # wall-clock seconds of the last status change, when known


class Conversation(NamedTuple):
    """A conversation the CLI can reopen: its id and the directory it belongs to."""

    id: str
    cwd: str
    cli: str = ""  # the CLI it belongs to (its `name`); "" when not said


class LiveSession(NamedTuple):
    """A session the CLI's own registry lists: interactive (in a terminal) or background (in its daemon)."""

    pid: int
    conversation: Conversation
    kind: Literal["interactive", "background"]
    short: str = ""  # a background session's id in the daemon (what its attach and stop take)
    name: str = ""
    status: str = "unknown"  # the CLI's own: idle, busy, waiting…
    state: str = ""  # a background job's state: working, blocked, running…
    needs: str = ""  # what it waits for, in the CLI's words ("send a prompt to start")
    last_activity: float | None = None  # wall-clock seconds
    started_at: float | None = None  # wall-clock seconds
    attached: int = 0  # terminals attached to it
    pinned: bool = False  # pinned in its CLI's agent view: its daemon never retires it
    cli: str = ""  # the CLI whose registry lists it

    def idle_for(self, now: float) -> float | None:
        """Idle by the one idle function (core/policy.py): what its registry and job files last said."""
        from supervisor.core.policy import idle_seconds

        return 0.0 if self.status == "busy" else idle_seconds(now, 0.0, last_wall=self.last_activity)


class Launcher(Protocol):
    """What csup launches: the CLI's arguments (is this invocation a session, which conversation it opens, how one
    is resumed), its pass-through rules, and how a background start is recognised. Any program given with
    `--NAME PATH` is one; a CLI csup knows answers more."""

    path: str  # the executable
    name: str  # the CLI's name, as people type it ("" for a program csup does not know)
    exit_keys: bytes  # typed into it as the first, polite step of an end (b"": it has none)

    def is_session(self, args: Sequence[str]) -> bool:
        """Whether `args` start an interactive session (not `-p`, `--version`, a subcommand…)."""

    def prepare(self, args: Sequence[str]) -> tuple[list[str], str | None]:
        """The arguments for a new session and the id of the conversation it will open, when knowable."""

    def chooses_conversation(self, args: Sequence[str]) -> bool:
        """Whether the user already named the conversation to open."""

    def resume_args(self, conversation_id: str) -> list[str]:
        """Arguments that reopen a conversation ([] when the CLI cannot)."""

    def without_conversation(self, args: Sequence[str]) -> list[str]:
        """`args` less the conversation they name (a wake names it again, by its id)."""

    def starts_background(self, args: Sequence[str]) -> bool:
        """Whether `args` start a new session in the background (it leaves at once, the session stays)."""

    def foreground_target(self, args: Sequence[str], live: Sequence[LiveSession]) -> str | None:
        """The background session (of `live`) that `args` bring into this terminal: an attach, or a resume of a
        live one."""

    def attach_args(self, session: LiveSession) -> list[str]:
        """Arguments that bring a background session into this terminal, live."""


class SessionSource(Protocol):
    """Where sessions come from: the CLI's own registry and its processes (which are sessions, which are its
    helpers), what each session is doing and which conversation it has, how a conversation is resumed, how a
    background session is ended (its daemon's way) and which folders announce new sessions."""

    name: str  # the CLI's own name, as people type it and metrics label it
    title: str  # as people call it in a sentence

    def live_sessions(self) -> list[LiveSession]:
        """Every live session the CLI's own registry lists (interactive and background)."""

    def live_state(self, pid: int) -> CliStatus | None:
        """What the CLI process `pid` says it is doing, when it says."""

    def conversation_of(self, pid: int) -> Conversation | None:
        """The conversation the running CLI process `pid` has open, when it says."""

    def can_resume(self, conversation: Conversation) -> bool:
        """Whether the conversation was saved (so resuming it works)."""

    def resume_command(self, conversation: Conversation) -> str:
        """The command a person types to reopen it."""

    def bring_back_command(self, session: LiveSession) -> str:
        """The command a person types to bring a background session back."""

    def is_session_process(self, view: ProcessView) -> bool:
        """Whether a process is one of this CLI's interactive sessions."""

    def which(self, view: ProcessView) -> str | None:
        """The name of the CLI whose session (a person's, or an editor's) this process is; None when none."""

    def editor_session(self, view: ProcessView) -> bool:
        """Whether this session process is run by an editor's extension (over stdio, for its chat panel), not
        by a person in a terminal."""

    def proven(self, pid: int, cmdline: Sequence[str]) -> bool:
        """Whether a process its registry names runs this CLI's executable (a registry file may name any pid)."""

    def has_session_arguments(self, cmdline: Sequence[str]) -> bool:
        """Whether a process the CLI's registry calls a session, under a name csup does not know (renamed, a
        version string), was given a session's arguments — not a helper's, a client's or `-p`'s."""

    def helper_role(self, view: ProcessView) -> str | None:
        """What a process of the CLI that is not a session does ("daemon", "pty host", "spare", "client"), or None.
        They are not sessions, but they cost memory: doctor shows them."""

    def process_hints(self) -> tuple[bytes, ...]:
        """Substrings every such process's command line holds: a cheap filter before a process is read further."""

    def background_daemon_running(self) -> bool:
        """Whether the CLI's background machinery runs (so a session may just have moved into it)."""

    def end_background(self, session: LiveSession, wait: float) -> str | None:
        """End a background session the way its daemon expects (never a signal): None once it is gone, else why
        it is not, in words (the CLI to ask was not found, the daemon refused, it did not end in time)."""

    def fork_of(self, conversation_id: str, since: float) -> str | None:
        """The background session the CLI's daemon started from this conversation (`/background`) at `since`
        (wall clock) or later, by its id, as soon as the daemon records it — before the session registers."""

    def folders_to_watch(self) -> list[Path]:
        """The folders whose changes announce a new or ended session (a watcher waits on them)."""
