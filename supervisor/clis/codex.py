"""OpenAI's Codex CLI, in both roles: what csup launches (`CodexLauncher`: which invocations are sessions, `resume
<id>`, its polite way out) and where its sessions come from (`Codex`: its processes — the native binary, or the
Node launcher that starts it — and the rollout file each session keeps open under $CODEX_HOME/sessions).
CODEX_CLI.md has the measured facts. Codex keeps no registry of live sessions and has no background sessions:
its sessions are found by their processes alone. Reads the process table and Codex's files; runs nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from supervisor.clis.adapter import CliStatus, Conversation, LiveSession
from supervisor.clis.generic import NoBackground
from supervisor.clis.locate import Program
from supervisor.clis.scripts import is_interpreter, script_of
from supervisor.core.identity import ProcessView
from supervisor.core.settings import Setting, Settings, names, text, words
from supervisor.machine import processes

NAME = "codex"
TITLE = "Codex"
PROGRAM = Program(
    NAME, setting="codex",
    # npm's global and local prefixes (the Node launcher), Homebrew, and the standalone installer's folder.
    places=("~/.local/bin/codex", "/opt/homebrew/bin/codex", "/usr/local/bin/codex", "~/.npm-global/bin/codex",
            "~/.npm-global/node_modules/.bin/codex", "~/.local/node_modules/.bin/codex",
            "~/node_modules/.bin/codex", "~/.codex/bin/codex"),
    install_hint="install it: npm install -g @openai/codex (without root: npm install --prefix ~/.local "
                 "@openai/codex), or name it: CSUP_CODEX=PATH",
    name_it="name the real CLI: CSUP_CODEX=PATH (or codex = \"PATH\" in csup's config)")
# Its own settings (core/settings.py resolves them with the rest; `settings.own` holds their values).
SETTINGS = (
    Setting("codex", "", text, "Path of the real Codex CLI; empty means search PATH for `codex`."),
    Setting("codex_names", (), names,
            "Executable names that identify a codex process (for finding unmanaged sessions); empty: `codex`."),
    Setting("codex_passthrough_commands", (), words,
            "Codex's subcommands that are not sessions (run directly, without lock or pty); empty: its own."),
)
# Codex's subcommands that are not interactive sessions (CODEX_CLI.md): they go straight to the CLI. `resume` and
# `fork` open a session's TUI, so they are sessions; `agents` browses sessions, as Claude Code's does, and is not.
SUBCOMMANDS = frozenset({
    "exec", "e", "review", "login", "logout", "mcp", "plugin", "app-server", "remote-control", "completion",
    "update", "doctor", "sandbox", "debug", "apply", "a", "queue", "archive", "delete", "migrate-rollouts",
    "migrate-nfs-db", "unarchive", "cloud", "exec-server", "features", "help", "agents", "mcp-server",
})
_CONVERSATION_COMMANDS = ("resume", "fork")
_NON_SESSION_FLAGS = frozenset({"-h", "--help", "-V", "--version"})
# Its options that take a value (`codex --help`, 0.171.0): the value is no subcommand and no prompt.
_VALUE_OPTIONS = frozenset({"-c", "--config", "--enable", "--disable", "--remote", "--remote-auth-token-env",
                            "-i", "--image", "-m", "--model", "--local-provider", "-p", "--profile", "-s",
                            "--sandbox", "-C", "--cd", "--add-dir", "-a", "--ask-for-approval"})
_LAUNCHER_SCRIPT = "@openai/codex/bin/codex.js"
# Ctrl-C: at its sign-in screen one leaves; in a session the first clears the composer and arms the quit, the
# second quits, saving the rollout (what csup typed is never the user's: their draft is kept apart).
EXIT_KEYS = b"\x03\x03"
_ROLLOUT = re.compile(r"rollout-[0-9T:-]+-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def looks_like_codex(path: str) -> bool:
    real = os.path.realpath(path)
    return NAME in {os.path.basename(path), os.path.basename(real)} or "/@openai/codex" in real


def codex_home(environ: Mapping[str, str]) -> Path:
    """Codex's own folder: $CODEX_HOME, else ~/.codex."""
    explicit = environ.get("CODEX_HOME")
    return Path(explicit) if explicit else Path(environ.get("HOME", os.path.expanduser("~"))) / ".codex"


def split_args(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Its options (with their values) and its positional words: a subcommand, a session id, a prompt."""
    options: list[str] = []
    words: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            words += args[index:]
            break
        if arg.startswith("-") and arg != "-":
            options.append(arg)
            if arg in _VALUE_OPTIONS and index < len(args):
                options.append(args[index])
                index += 1
            continue
        words.append(arg)
    return options, words


def is_session_invocation(args: Sequence[str], subcommands: frozenset[str] = SUBCOMMANDS) -> bool:
    options, words = split_args(args)
    if any(option in _NON_SESSION_FLAGS for option in options):
        return False
    return not words or words[0] not in subcommands


class CodexLauncher(NoBackground):
    """What csup launches when it runs Codex (see adapter.Launcher for what each method answers)."""

    name = NAME
    exit_keys = EXIT_KEYS

    def __init__(self, path: str, settings: Settings) -> None:
        self.path = path
        self._subcommands = frozenset(settings.own.get("codex_passthrough_commands") or SUBCOMMANDS)

    def is_session(self, args: Sequence[str]) -> bool:
        return is_session_invocation(args, self._subcommands)

    def prepare(self, args: Sequence[str]) -> tuple[list[str], str | None]:
        """Codex takes no id for a new session: the id is read from the rollout file it opens (Codex.
        conversation_of). `resume <uuid>` names it."""
        _, words = split_args(args)
        if words[:1] == ["resume"] and len(words) > 1 and _UUID.fullmatch(words[1]):
            return list(args), words[1]
        return list(args), None

    def chooses_conversation(self, args: Sequence[str]) -> bool:
        return split_args(args)[1][:1] in (["resume"], ["fork"])

    def resume_args(self, conversation_id: str) -> list[str]:
        return ["resume", conversation_id]

    def without_conversation(self, args: Sequence[str]) -> list[str]:
        """Its options only: `resume`/`fork` with their id, `--last`/`--all`, and the first prompt (sent once,
        not again at every wake) are left out."""
        options, _ = split_args(args)
        return [option for option in options if option not in ("--last", "--all")]


class Codex:
    """Where Codex's sessions come from: its processes and its rollout files (see adapter.SessionSource)."""

    name = NAME
    title = TITLE

    def __init__(self, settings: Settings, environ: Mapping[str, str]) -> None:
        self._home = codex_home(environ)
        self._names = frozenset(settings.own.get("codex_names") or (NAME,))

    def live_sessions(self) -> list[LiveSession]:
        return []  # no registry of live sessions: its interactive sessions are found by their processes

    def live_state(self, pid: int) -> CliStatus | None:
        return None  # it publishes nothing: idle comes from the pty (supervised) or the terminal (unmanaged)

    def conversation_of(self, pid: int) -> Conversation | None:
        """The rollout file the session holds open (the native binary, a child of the Node launcher)."""
        # As the kernel names open files: every link resolved ($CODEX_HOME, or macOS's /tmp, may be one).
        sessions = os.path.realpath(self._home / "sessions") + os.sep
        if processes.identity_of(pid) is None:
            return None  # gone: nothing it holds says anything now
        for member in (pid, *processes.descendant_pids(pid)):
            for path in processes.open_paths(member):
                found = _ROLLOUT.fullmatch(os.path.basename(path))
                if found and os.path.realpath(path).startswith(sessions):
                    return Conversation(found.group(1), processes.cwd_of(member) or "", NAME)
        return None

    def can_resume(self, conversation: Conversation) -> bool:
        """Its rollout file exists (sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl)."""
        if not _UUID.fullmatch(conversation.id):
            return False
        try:
            return any((self._home / "sessions").glob(f"*/*/*/rollout-*-{conversation.id}.jsonl"))
        except OSError:
            return False

    def resume_command(self, conversation: Conversation) -> str:
        return f"{NAME} resume {conversation.id}"

    def bring_back_command(self, session: LiveSession) -> str:
        return ""

    def is_session_process(self, view: ProcessView) -> bool:
        args = self._codex_args(view)
        return args is not None and not _is_helper(args) and is_session_invocation(args, SUBCOMMANDS)

    def which(self, view: ProcessView) -> str | None:
        return NAME if self.is_session_process(view) or self.editor_session(view) else None

    def editor_session(self, view: ProcessView) -> bool:
        """`codex app-server` run by an editor (VS Code's extension talks to it over stdio), not Codex's own
        managed daemon."""
        args = self._codex_args(view)
        return args is not None and args[:1] == ["app-server"] and not _is_helper(args)

    def proven(self, pid: int, cmdline: Sequence[str]) -> bool:
        exe = processes.exe_of(pid)
        if not exe:
            return False
        if os.path.basename(exe) in self._names or looks_like_codex(exe):
            return True
        if not is_interpreter(exe):
            return False
        script = script_of(list(cmdline[1:]))
        return script is not None and self._is_launcher_script(script[1])

    def has_session_arguments(self, cmdline: Sequence[str]) -> bool:
        args = self._codex_args(ProcessView(0, 0, 0, 0.0, tuple(cmdline)))
        return args is not None and not _is_helper(args) and is_session_invocation(args, SUBCOMMANDS)

    def helper_role(self, view: ProcessView) -> str | None:
        args = self._codex_args(view)
        return "daemon" if args is not None and _is_helper(args) else None

    def process_hints(self) -> tuple[bytes, ...]:
        return (*(name.encode(errors="surrogateescape") for name in self._names), b"codex")

    def background_daemon_running(self) -> bool:
        return False

    def end_background(self, session: LiveSession, wait: float) -> str | None:
        return "Codex has no background sessions"

    def fork_of(self, conversation_id: str, since: float) -> str | None:
        return None

    def folders_to_watch(self) -> list[Path]:
        return []  # a new session announces itself nowhere but in the process table: the watcher's rescan

    def _is_launcher_script(self, path: str) -> bool:
        return os.path.basename(path) in self._names or path.endswith(_LAUNCHER_SCRIPT)

    def _codex_args(self, view: ProcessView) -> list[str] | None:
        """The arguments a Codex process was given; None when it is not Codex. The Node launcher and the native
        binary it starts both qualify: the census counts the outer one, the other is nested in it."""
        args = view.cmdline
        if not args:
            return None
        first = os.path.basename(args[0])
        rest = list(args[1:])
        if is_interpreter(first):
            script = script_of(rest)
            if script is None or not self._is_launcher_script(script[1]):
                return None
            return rest[script[0] + 1:]
        if first in self._names or (view.exe and os.path.basename(view.exe) in self._names):
            return rest
        return None


def _is_helper(args: Sequence[str]) -> bool:
    """Codex's own per-user daemon (`app-server … --managed-daemon`, `app-server daemon …`): not a session, and
    not an editor's."""
    return args[:1] == ["app-server"] and ("--managed-daemon" in args or args[1:2] == ["daemon"])


LEGACY_FIELDS: dict[str, str] = {}

# What choose.py asks of every CLI module.
looks_like = looks_like_codex
Launcher = CodexLauncher
Source = Codex
