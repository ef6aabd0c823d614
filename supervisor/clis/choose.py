"""Which launcher runs a program (Claude Code's, unless the configured program is evidently another CLI), and
which sources the sessions are counted from. Pure but for the path checks Claude Code's launcher makes."""

from __future__ import annotations

from collections.abc import Mapping

from supervisor.clis.adapter import Launcher, SessionSource
from supervisor.core.settings import Settings


def launcher_for(settings: Settings, path: str) -> Launcher:
    """Claude Code's launcher, unless the configured program is evidently another CLI."""
    from supervisor.clis import claude_code

    if not claude_code.looks_like_claude_code(path):
        from supervisor.clis.generic import GenericCli

        return GenericCli(path, settings)
    return claude_code.ClaudeLauncher(path, settings)


def sessions_from(settings: Settings, environ: Mapping[str, str]) -> SessionSource:
    """Where the sessions csup counts come from: Claude Code's registry and processes."""
    from supervisor.clis import claude_code

    return claude_code.ClaudeCode("", settings, environ)
