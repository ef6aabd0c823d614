"""Which adapter speaks for a program: Claude Code's, unless the configured program is evidently another CLI.
Pure but for the path checks Claude Code's adapter makes."""

from __future__ import annotations

from collections.abc import Mapping

from supervisor.claude.adapter import CliAdapter
from supervisor.core.settings import Settings


def adapter_for(settings: Settings, environ: Mapping[str, str], path: str = "") -> CliAdapter:
    """Claude Code's adapter, unless the configured program is evidently another CLI."""
    from supervisor.claude import claude_code

    if path and not claude_code.looks_like_claude_code(path):
        from supervisor.claude.generic import GenericCli

        return GenericCli(path, settings)
    return claude_code.ClaudeCode(path, settings, environ)
