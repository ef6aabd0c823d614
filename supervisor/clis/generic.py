"""The launcher for a program csup knows nothing about (`--NAME /usr/bin/vim`): every invocation but the
configured pass-through subcommands is a session, it names no conversation, nothing can be resumed and nothing
starts in the background. It is no session source: the census counts the sessions of the CLIs csup knows.
Pure."""

from __future__ import annotations

from collections.abc import Sequence

from supervisor.clis.adapter import LiveSession
from supervisor.core.settings import Settings


class NoBackground:
    """A launcher whose CLI starts no background sessions and attaches none (its part of adapter.Launcher)."""

    def starts_background(self, args: Sequence[str]) -> bool:
        return False

    def foreground_target(self, args: Sequence[str], live: Sequence[LiveSession]) -> str | None:
        return None

    def attach_args(self, session: LiveSession) -> list[str]:
        return []


class GenericCli(NoBackground):
    name = ""
    exit_keys = b""

    def __init__(self, path: str, settings: Settings) -> None:
        self.path = path
        self._subcommands = frozenset(settings.own.get("passthrough_commands", ()))

    def is_session(self, args: Sequence[str]) -> bool:
        return not args or args[0] not in self._subcommands

    def prepare(self, args: Sequence[str]) -> tuple[list[str], str | None]:
        return list(args), None

    def chooses_conversation(self, args: Sequence[str]) -> bool:
        return False

    def resume_args(self, conversation_id: str) -> list[str]:
        return []

    def without_conversation(self, args: Sequence[str]) -> list[str]:
        return list(args)
