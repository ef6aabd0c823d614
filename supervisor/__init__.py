"""csup: a session supervisor for the Claude Code CLI."""

__version__ = "0.1.0"
