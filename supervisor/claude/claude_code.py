"""Claude Code's side of the adapter: its arguments (sessions, subcommands, --session-id/--resume), its
live-session registry (`sessions/<pid>.json`), its transcripts, and how its processes look (CLAUDE_CLI.md).
Reads Claude Code's files; runs nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from supervisor.claude.adapter import CliStatus, Conversation
from supervisor.core.identity import ProcessView
from supervisor.core.settings import Settings
from supervisor.machine.jsonfile import read_json

NAME = "claude"
# Claude Code's own subcommands: invocations that are not sessions and go straight to the CLI (CLAUDE_CLI.md).
SUBCOMMANDS = (
    "agents", "attach", "auth", "config", "daemon", "doctor", "install", "kill", "logs", "mcp",
    "migrate-installer", "plugin", "purge", "respawn", "rm", "setup-token", "stop", "update",
)
_NON_SESSION_FLAGS = frozenset({"-p", "--print", "-v", "--version", "-h", "--help"})
_SESSION_CHOICE_FLAGS = ("--session-id", "--resume", "-r", "--continue", "-c")
_INTERPRETERS = frozenset({"node", "nodejs", "bun", "deno", "python", "python3"})
_VERSIONS_DIR = "/claude/versions/"  # the native installer's layout: ~/.local/share/claude/versions/<version>
_REGISTRY_LIMIT = 1 << 16


def looks_like_claude_code(path: str) -> bool:
    real = os.path.realpath(path)
    names = {os.path.basename(path), os.path.basename(real)}
    return NAME in names or _VERSIONS_DIR in real or "claude-code" in real


def is_session_invocation(args: Sequence[str], subcommands: Collection[str] = SUBCOMMANDS) -> bool:
    """False for `claude -p …`, `claude --version`, `claude mcp …`: those go straight to the CLI."""
    if any(arg in _NON_SESSION_FLAGS or arg.startswith("--print=") for arg in args):
        return False
    return not args or args[0] not in subcommands


def chooses_session(args: Sequence[str]) -> bool:
    """Whether the user already said which conversation to open (then csup adds no --session-id)."""
    return any(arg == flag or arg.startswith(flag + "=") for arg in args for flag in _SESSION_CHOICE_FLAGS)


def session_id_from_args(args: Sequence[str]) -> str | None:
    for index, arg in enumerate(args):
        for flag in ("--session-id", "--resume", "-r"):
            if arg == flag and index + 1 < len(args) and not args[index + 1].startswith("-"):
                return args[index + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
    return None


def new_uuid() -> str:
    """A random (version 4) UUID, as `--session-id` wants, without importing uuid on the start-up path."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def config_dir(environ: Mapping[str, str]) -> Path:
    """Claude Code's own directory: $CLAUDE_CONFIG_DIR, else ~/.claude."""
    explicit = environ.get("CLAUDE_CONFIG_DIR")
    return Path(explicit) if explicit else Path(environ.get("HOME", os.path.expanduser("~"))) / ".claude"


def transcript_path(environ: Mapping[str, str], cwd: str, session_id: str) -> Path:
    """Where Claude Code keeps a conversation: projects/<cwd with every non-alphanumeric as '-'>/<id>.jsonl."""
    return config_dir(environ) / "projects" / re.sub(r"[^A-Za-z0-9]", "-", cwd) / f"{session_id}.jsonl"


def read_registry(environ: Mapping[str, str], pid: int) -> dict[str, object] | None:
    """Claude Code's live-session file for `pid` (undocumented: read defensively, None when absent or odd)."""
    data = read_json(config_dir(environ) / "sessions" / f"{pid}.json", limit=_REGISTRY_LIMIT)
    if not isinstance(data, dict) or data.get("pid") != pid:
        return None
    return data


def registry_status(entry: Mapping[str, object]) -> CliStatus:
    """The status a registry entry gives, with the wall-clock time of its last change (epoch milliseconds there)."""
    status = entry.get("status")
    changed = entry.get("statusUpdatedAt", entry.get("updatedAt"))
    changed_wall = None
    if isinstance(changed, int | float) and not isinstance(changed, bool) and 0 < changed < 1e15:
        changed_wall = changed / 1000.0
    return CliStatus(status if isinstance(status, str) else "unknown", changed_wall)


class ClaudeCode:
    """The adapter for Claude Code (see adapter.CliAdapter for what each method answers)."""

    def __init__(self, path: str, settings: Settings, environ: Mapping[str, str]) -> None:
        self.path = path
        self._environ = environ
        self._names = frozenset(settings.claude_names or (NAME,))
        self._subcommands = frozenset(settings.passthrough_commands or SUBCOMMANDS)

    def is_session(self, args: Sequence[str]) -> bool:
        return is_session_invocation(args, self._subcommands)

    def prepare(self, args: Sequence[str]) -> tuple[list[str], str | None]:
        if chooses_session(args):
            return list(args), session_id_from_args(args)
        # Knowing the conversation's id up front is what lets csup print the exact resume command.
        conversation = new_uuid()
        return ["--session-id", conversation, *args], conversation

    def chooses_conversation(self, args: Sequence[str]) -> bool:
        return chooses_session(args)

    def live_state(self, pid: int) -> CliStatus | None:
        entry = read_registry(self._environ, pid)
        return None if entry is None else registry_status(entry)

    def conversation_of(self, pid: int) -> Conversation | None:
        entry = read_registry(self._environ, pid)
        if entry is None or not isinstance(entry.get("sessionId"), str) or not isinstance(entry.get("cwd"), str):
            return None
        return Conversation(str(entry["sessionId"]), str(entry["cwd"]))

    def can_resume(self, conversation: Conversation) -> bool:
        return transcript_path(self._environ, conversation.cwd, conversation.id).exists()

    def resume_args(self, conversation_id: str) -> list[str]:
        return ["--resume", conversation_id]

    def resume_command(self, conversation_id: str | None) -> str:
        return f"{NAME} --resume {conversation_id}" if conversation_id else f"{NAME} --continue"

    def process_hints(self) -> tuple[bytes, ...]:
        return (*(name.encode(errors="surrogateescape") for name in self._names), _VERSIONS_DIR.encode(),
                b"claude-code")

    def is_session_process(self, view: ProcessView) -> bool:
        """Recognised by command line and executable path, never by process name alone (the native binary often
        shows its version string as its name), and only when its arguments make it a session."""
        args = view.cmdline
        if not args:
            return False
        first = os.path.basename(args[0])
        rest = list(args[1:])
        if first.rstrip("0123456789.") in _INTERPRETERS:
            script = _script_of(rest)
            if script is None:
                return False
            index, path = script
            if not (os.path.basename(path) in self._names or path.endswith("claude-code/cli.js")):
                return False
            return self.is_session(rest[index + 1:])
        if not (first in self._names or _VERSIONS_DIR in args[0]
                or (view.exe and (os.path.basename(view.exe) in self._names or _VERSIONS_DIR in view.exe))):
            return False
        return self.is_session(rest)


def _script_of(args: Sequence[str]) -> tuple[int, str] | None:
    """The script an interpreter runs: the first argument that is not one of its own options (`-u`,
    `--no-warnings`, `-X dev`…); None for `-c`/`-e` code."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-c", "-e", "--eval", "-p", "--print", "-m"):
            return None
        if arg in ("-X", "-W", "--require", "-r", "--import", "--loader"):
            index += 2
            continue
        if arg.startswith("-"):
            index += 1
            continue
        return index, arg
    return None
