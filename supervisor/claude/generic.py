"""The adapter for a CLI csup knows nothing about (`--claude /usr/bin/vim`): every invocation is a session,
nothing is published, nothing can be resumed, no process is recognised. Pure."""

from __future__ import annotations

import os
from collections.abc import Sequence

from supervisor.claude.adapter import CliStatus, Conversation, LiveSession
from supervisor.core.identity import ProcessView
from supervisor.core.settings import Settings


class GenericCli:
    def __init__(self, path: str, settings: Settings) -> None:
        self.path = path
        self._subcommands = frozenset(settings.passthrough_commands)

    def is_session(self, args: Sequence[str]) -> bool:
        return not args or args[0] not in self._subcommands

    def prepare(self, args: Sequence[str]) -> tuple[list[str], str | None]:
        return list(args), None

    def chooses_conversation(self, args: Sequence[str]) -> bool:
        return False

    def live_state(self, pid: int) -> CliStatus | None:
        return None

    def conversation_of(self, pid: int) -> Conversation | None:
        return None

    def can_resume(self, conversation: Conversation) -> bool:
        return False

    def resume_args(self, conversation_id: str) -> list[str]:
        return []

    def resume_command(self, conversation_id: str | None) -> str:
        return os.path.basename(self.path)

    def process_hints(self) -> tuple[bytes, ...]:
        return ()

    def live_sessions(self) -> list[LiveSession]:
        return []

    def background_daemon_running(self) -> bool:
        return False

    def end_background(self, session: LiveSession, wait: float) -> bool:
        return False

    def attach_args(self, session: LiveSession) -> list[str]:
        return []

    def bring_back_command(self, session: LiveSession) -> str:
        return ""

    def starts_background(self, args: Sequence[str]) -> bool:
        return False

    def foreground_target(self, args: Sequence[str]) -> str | None:
        return None

    def has_session_arguments(self, cmdline: Sequence[str]) -> bool:
        return False

    def helper_role(self, view: ProcessView) -> str | None:
        return None

    def is_session_process(self, view: ProcessView) -> bool:
        return False  # the census counts Claude sessions; it asks Claude Code's adapter, whatever runs here
