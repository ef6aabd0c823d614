"""Every agent CLI's sessions as one source: the census, the policy and every report ask this one, and it asks
each CLI's own — a session is labelled with the CLI it belongs to, and a question
about one session goes to its CLI. Pure but for what the sources it joins read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from supervisor.clis.adapter import CliStatus, Conversation, LiveSession, SessionSource
from supervisor.core.identity import ProcessView


class Agents:
    """The sources of every CLI csup knows, joined (see adapter.SessionSource for what each method answers)."""

    def __init__(self, sources: Sequence[SessionSource]) -> None:
        assert sources, "at least one CLI"
        self.sources = tuple(sources)
        self.name = "+".join(source.name for source in self.sources)
        self.title = " and ".join(source.title for source in self.sources)

    def source(self, name: str) -> SessionSource:
        """The CLI named `name`; an unknown or empty name is the first (a record written before csup knew more
        than one CLI)."""
        return next((source for source in self.sources if source.name == name), self.sources[0])

    def live_sessions(self) -> list[LiveSession]:
        return [session._replace(cli=session.cli or source.name)
                for source in self.sources for session in source.live_sessions()]

    def live_state(self, pid: int) -> CliStatus | None:
        return next((state for source in self.sources if (state := source.live_state(pid)) is not None), None)

    def conversation_of(self, pid: int) -> Conversation | None:
        for source in self.sources:
            found = source.conversation_of(pid)
            if found is not None:
                return found._replace(cli=found.cli or source.name)
        return None

    def can_resume(self, conversation: Conversation) -> bool:
        return self.source(conversation.cli).can_resume(conversation)

    def resume_command(self, conversation: Conversation) -> str:
        return self.source(conversation.cli).resume_command(conversation)

    def bring_back_command(self, session: LiveSession) -> str:
        return self.source(session.cli).bring_back_command(session)

    def is_session_process(self, view: ProcessView) -> bool:
        return any(source.is_session_process(view) for source in self.sources)

    def which(self, view: ProcessView) -> str | None:
        return next((name for source in self.sources if (name := source.which(view)) is not None), None)

    def editor_session(self, view: ProcessView) -> bool:
        return any(source.editor_session(view) for source in self.sources)

    def proven(self, pid: int, cmdline: Sequence[str]) -> bool:
        return any(source.proven(pid, cmdline) for source in self.sources)

    def has_session_arguments(self, cmdline: Sequence[str]) -> bool:
        return any(source.has_session_arguments(cmdline) for source in self.sources)

    def helper_role(self, view: ProcessView) -> str | None:
        return next((role for source in self.sources if (role := source.helper_role(view)) is not None), None)

    def process_hints(self) -> tuple[bytes, ...]:
        return tuple(hint for source in self.sources for hint in source.process_hints())

    def background_daemon_running(self) -> bool:
        return any(source.background_daemon_running() for source in self.sources)

    def end_background(self, session: LiveSession, wait: float) -> str | None:
        return self.source(session.cli).end_background(session, wait)

    def fork_of(self, conversation_id: str, since: float) -> str | None:
        return next((short for source in self.sources if (short := source.fork_of(conversation_id, since))), None)

    def folders_to_watch(self) -> list[Path]:
        return [folder for source in self.sources for folder in source.folders_to_watch()]
