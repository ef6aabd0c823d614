"""What csup knows of the program it supervises: finding the real CLI (never csup itself), which invocations are
sessions, and what applies only when the program is Claude Code. Reads the filesystem, runs nothing."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from supervisor.core.errors import CliNotExecutable, CliNotFound

DEFAULT_NAME = "claude"
INSTALL_HINT = "install it: npm install -g @anthropic-ai/claude-code (or name it: csup run --claude PATH)"
_NON_SESSION_FLAGS = frozenset({"-p", "--print", "-v", "--version", "-h", "--help"})
_SESSION_CHOICE_FLAGS = ("--session-id", "--resume", "-r", "--continue", "-c")
# Markers of csup's own launchers: the console script pip writes, and a shim that calls `csup run`.
_CSUP_MARKERS = (re.compile(rb"from supervisor(?:\.\w+)+ import main|-m supervisor\b"), re.compile(rb"\bcsup\s+run\b"))
_SHIM_SIZE_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Program:
    path: str
    is_claude_code: bool  # Claude Code's own conventions (session ids, registry, subcommands) apply


def find_program(explicit: str, environ: Mapping[str, str], self_paths: Collection[str]) -> Program:
    """`explicit` (flag or config) when given, else the first `claude` on PATH that is not csup."""
    if explicit:
        path = _expand(explicit, environ)
        if os.sep not in explicit:
            found = _search_path(explicit, environ, self_paths)
            if found is None:
                raise CliNotFound(f"{explicit!r} not found on PATH ({_path_summary(environ)})", hint=INSTALL_HINT)
            path = found
        _check_runnable(path)
        if _is_csup(path, self_paths):
            raise CliNotExecutable(f"{path} is csup itself, not the CLI", hint="name the real CLI: --claude PATH")
        return Program(path, looks_like_claude_code(path))
    found = _search_path(DEFAULT_NAME, environ, self_paths)
    if found is None:
        raise CliNotFound(f"the real `claude` CLI is not on PATH (searched: {_path_summary(environ)})",
                          hint=INSTALL_HINT)
    return Program(found, True)


def new_uuid() -> str:
    """A random (version 4) UUID, as `--session-id` wants, without importing uuid on the start-up path."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def looks_like_claude_code(path: str) -> bool:
    real = os.path.realpath(path)
    names = {os.path.basename(path), os.path.basename(real)}
    return DEFAULT_NAME in names or "/claude/versions/" in real or "claude-code" in real


def _expand(path: str, environ: Mapping[str, str]) -> str:
    home = environ.get("HOME")
    if path.startswith("~") and home:
        path = home + path[1:]
    return os.path.abspath(path)


def _search_path(name: str, environ: Mapping[str, str], self_paths: Collection[str]) -> str | None:
    for directory in environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        try:
            info = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and os.access(candidate, os.X_OK) and not _is_csup(candidate, self_paths):
            return os.path.abspath(candidate)
    return None


def _path_summary(environ: Mapping[str, str]) -> str:
    entries = [entry for entry in environ.get("PATH", os.defpath).split(os.pathsep) if entry]
    return ":".join(entries) if entries else "PATH is empty"


def _check_runnable(path: str) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CliNotFound(f"{path} does not exist", hint=INSTALL_HINT) from None
    except OSError as err:
        raise CliNotExecutable(f"cannot use {path}: {err.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise CliNotExecutable(f"{path} is a directory, not the CLI", hint="name the executable: --claude PATH")
    if not os.access(path, os.X_OK):
        raise CliNotExecutable(f"{path} is not executable", hint=f"chmod +x {path}, or name another: --claude PATH")


def _is_csup(path: str, self_paths: Collection[str]) -> bool:
    """An alias, a shim or the console script that would make csup run csup."""
    real = os.path.realpath(path)
    if real in {os.path.realpath(p) for p in self_paths}:
        return True
    try:
        if os.path.getsize(real) > _SHIM_SIZE_LIMIT:
            return False
        with open(real, "rb") as handle:
            head = handle.read(_SHIM_SIZE_LIMIT)
    except OSError:
        return False
    return head.startswith(b"#!") and any(marker.search(head) for marker in _CSUP_MARKERS)


def is_session_invocation(args: Sequence[str], passthrough_commands: Collection[str]) -> bool:
    """False for `claude -p …`, `claude --version`, `claude mcp …`: those go straight to the CLI."""
    if any(arg in _NON_SESSION_FLAGS or arg.startswith("--print=") for arg in args):
        return False
    return not args or args[0] not in passthrough_commands


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


def config_dir(environ: Mapping[str, str]) -> Path:
    """Claude Code's own directory: $CLAUDE_CONFIG_DIR, else ~/.claude."""
    explicit = environ.get("CLAUDE_CONFIG_DIR")
    return Path(explicit) if explicit else Path(environ.get("HOME", os.path.expanduser("~"))) / ".claude"


def transcript_path(environ: Mapping[str, str], cwd: str, session_id: str) -> Path:
    """Where Claude Code keeps a conversation: projects/<cwd with every non-alphanumeric as '-'>/<id>.jsonl."""
    return config_dir(environ) / "projects" / re.sub(r"[^A-Za-z0-9]", "-", cwd) / f"{session_id}.jsonl"


def read_registry(environ: Mapping[str, str], pid: int) -> dict[str, object] | None:
    """Claude Code's live-session file for `pid` (undocumented: read defensively, None when absent or odd)."""
    path = config_dir(environ) / "sessions" / f"{pid}.json"
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(1 << 16))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("pid") != pid:
        return None
    return data


def registry_status(entry: Mapping[str, object], now_wall: float, now_mono: float) -> tuple[str, float | None]:
    """(status, monotonic time of its last change) from a registry entry; times in it are epoch milliseconds."""
    status = entry.get("status")
    changed = entry.get("statusUpdatedAt", entry.get("updatedAt"))
    changed_mono = None
    if isinstance(changed, int | float) and not isinstance(changed, bool):
        changed_mono = now_mono - (now_wall - changed / 1000.0)
    return (status if isinstance(status, str) else "unknown"), changed_mono
