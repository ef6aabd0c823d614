"""Claude Code, in both roles: what csup launches (`ClaudeLauncher`: sessions, subcommands, --session-id/--resume,
`--bg`, `attach`) and where its sessions come from (`ClaudeCode`: the live-session registry `sessions/<pid>.json`
in every config dir, transcripts, how its processes look, its daemon) — CLAUDE_CLI.md and CLAUDE_BG.md.
Reads Claude Code's files; runs `claude stop` to end a background session."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Literal

from supervisor.clis import claude_registry as registry
from supervisor.clis.adapter import CliStatus, Conversation, LiveSession
from supervisor.clis.locate import Program, find_program
from supervisor.clis.scripts import is_interpreter, script_of
from supervisor.core.errors import CsupError
from supervisor.core.identity import ProcessView
from supervisor.core.settings import Setting, Settings, names, text, words
from supervisor.machine import processes
from supervisor.machine.ids import new_uuid
from supervisor.machine.jsonfile import read_json

NAME = "claude"
TITLE = "Claude Code"
# `@latest`: with node 20 a plain install picks 2.1.197, the newest whose engines allow it (CLAUDE_BG.md §6).
# Without root, `--prefix ~/.local` puts it in ~/.local/node_modules/.bin, one of the places searched.
PROGRAM = Program(
    NAME, setting="claude",
    # Its own `claude migrate-installer` and native installer, Homebrew on Apple Silicon and Intel, npm's global
    # prefix, and a local npm install (`npm install --prefix DIR` puts it in DIR/node_modules/.bin).
    places=("~/.claude/local/claude", "~/.local/bin/claude", "/opt/homebrew/bin/claude", "/usr/local/bin/claude",
            "~/.npm-global/bin/claude", "~/.npm-global/node_modules/.bin/claude",
            "~/.local/node_modules/.bin/claude", "~/node_modules/.bin/claude"),
    install_hint="install it: npm install -g @anthropic-ai/claude-code@latest (without root: npm install --prefix "
                 "~/.local @anthropic-ai/claude-code@latest), or name it: csup run --claude PATH",
    name_it="name the real CLI: --claude PATH")

# Its own settings (core/settings.py resolves them with the rest; `settings.own` holds their values).
SETTINGS = (
    Setting("claude", "", text, "Path of the real Claude Code CLI; empty means search PATH for `claude`."),
    Setting("claude_names", (), names,
            "Executable names that identify a claude process (for finding unmanaged sessions); empty: `claude`."),
    Setting("claude_config_dirs", (), words,
            "More Claude Code config dirs to look for sessions in, besides its default ones."),
    # Its key is the older, general one: a program csup does not know (given as the claude path) reads it too.
    Setting("passthrough_commands", (), words,
            "Claude Code's subcommands that are not sessions (run directly, without lock or pty); empty: its own."),
)

# Names earlier versions of csup gave its values in `status --json`, still given beside the new ones for the
# scripts that read them.
LEGACY_FIELDS = {"conversation_id": "claude_session_id"}

# Claude Code's own subcommands: invocations that are not sessions and go straight to the CLI (CLAUDE_CLI.md).
# `attach` is not among them: it brings a background session into the terminal, and csup supervises that.
SUBCOMMANDS = (
    "agents", "auth", "config", "daemon", "doctor", "install", "kill", "logs", "mcp",
    "migrate-installer", "plugin", "purge", "respawn", "rm", "setup-token", "stop", "update",
)
# The daemon's own processes (CLAUDE_BG.md): the daemon, its pty hosts and pre-started spares are not sessions
# by their command line (a claimed spare that became one is found through the registry), nor are its clients.
_HELPERS = {"daemon": "daemon", "bg-pty-host": "pty host", "bg-spare": "spare",
            # clients show a background session; they are not one
            "attach": "client", "agents": "client", "logs": "client"}

_NON_SESSION_FLAGS = frozenset({"-p", "--print", "-v", "--version", "-h", "--help"})
_SESSION_CHOICE_FLAGS = ("--session-id", "--resume", "-r", "--continue", "-c")
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
    return CliStatus(registry.working(status) if isinstance(status, str) else "unknown", changed_wall)


class ClaudeLauncher:
    """What csup launches when it runs Claude Code (see adapter.Launcher for what each method answers)."""

    name = NAME
    exit_keys = b""  # its polite end is SIGTERM: it saves the conversation and prints how to resume it

    def __init__(self, path: str, settings: Settings) -> None:
        self.path = path
        self._subcommands = frozenset(settings.own.get("passthrough_commands") or SUBCOMMANDS)

    def is_session(self, args: Sequence[str]) -> bool:
        return is_session_invocation(args, self._subcommands)

    def prepare(self, args: Sequence[str]) -> tuple[list[str], str | None]:
        if args[:1] == ["attach"]:
            return list(args), None  # the background session keeps its own conversation
        if chooses_session(args):
            return list(args), session_id_from_args(args)
        # Knowing the conversation's id up front is what lets csup print the exact resume command.
        conversation = new_uuid()
        return ["--session-id", conversation, *args], conversation

    def chooses_conversation(self, args: Sequence[str]) -> bool:
        return chooses_session(args)

    def resume_args(self, conversation_id: str) -> list[str]:
        return ["--resume", conversation_id]

    def without_conversation(self, args: Sequence[str]) -> list[str]:
        kept: list[str] = []
        index = 0
        while index < len(args):
            arg = args[index]
            index += 1
            if arg in ("--session-id", "--resume", "-r"):
                if index < len(args) and not args[index].startswith("-"):
                    index += 1  # its value
            elif not (arg in ("--continue", "-c") or arg.startswith(("--session-id=", "--resume="))):
                kept.append(arg)
        return kept

    def starts_background(self, args: Sequence[str]) -> bool:
        """`claude --bg …` (csup's own flag position: before any `--`), not `claude mcp add s -- srv --bg`."""
        own = args[:args.index("--")] if "--" in args else args
        return self.is_session(args) and any(arg in ("--bg", "--background") for arg in own)

    def foreground_target(self, args: Sequence[str], live: Sequence[LiveSession]) -> str | None:
        if len(args) >= 2 and args[0] == "attach":
            return args[1]
        resumed = session_id_from_args(args)
        if resumed is not None and any(s.kind == "background" and s.conversation.id == resumed for s in live):
            return resumed  # Claude Code turns `--resume` of a live background session into an attach
        return None

    def attach_args(self, session: LiveSession) -> list[str]:
        return ["attach", session.short]


class ClaudeCode:
    """Where Claude Code's sessions come from: its registry in every config dir, its processes, its transcripts
    and its daemon (see adapter.SessionSource for what each method answers)."""

    name = NAME
    title = TITLE

    def __init__(self, settings: Settings, environ: Mapping[str, str],
                 entries: Callable[[], list[registry.RegistryEntry]] | None = None) -> None:
        self._environ = environ
        self._explicit = str(settings.own.get("claude", ""))
        self._dirs = registry.config_dirs(environ, tuple(settings.own.get("claude_config_dirs", ())))
        # The registry as the census sees it; tests hand in their own.
        self._entries = entries or (lambda: registry.live_entries(self._dirs))
        # `claude.exe`: the daemon and the sessions it starts run the native binary under that name.
        self._names = frozenset(settings.own.get("claude_names") or (NAME, f"{NAME}.exe"))
        self._subcommands = frozenset(settings.own.get("passthrough_commands") or SUBCOMMANDS)

    def is_session(self, args: Sequence[str]) -> bool:
        return is_session_invocation(args, self._subcommands)

    def fork_of(self, conversation_id: str, since: float) -> str | None:
        for directory in self._dirs:
            for short, (source, created) in registry.forked_from(directory).items():
                if source == conversation_id and created is not None and created >= since:
                    return short
        return None

    def folders_to_watch(self) -> list[Path]:
        return [directory / "sessions" for directory in self._dirs]

    def live_state(self, pid: int) -> CliStatus | None:
        entry = read_registry(self._environ, pid)
        return None if entry is None else registry_status(entry)

    def conversation_of(self, pid: int) -> Conversation | None:
        entry = read_registry(self._environ, pid)
        if entry is None or not isinstance(entry.get("sessionId"), str) or not isinstance(entry.get("cwd"), str):
            return None
        return Conversation(str(entry["sessionId"]), str(entry["cwd"]), NAME)

    def can_resume(self, conversation: Conversation) -> bool:
        """Whether its transcript exists. A check the filesystem cannot answer (a name too long, a folder it
        may not read) means "cannot tell": no resume command is promised, and nothing crashes."""
        try:
            os.stat(transcript_path(self._environ, conversation.cwd, conversation.id))
        except (OSError, ValueError):  # ValueError: a NUL in a hostile id or directory
            return False
        return True

    def resume_command(self, conversation: Conversation) -> str:
        return f"{NAME} --resume {conversation.id}"

    def process_hints(self) -> tuple[bytes, ...]:
        return (*(name.encode(errors="surrogateescape") for name in self._names), _VERSIONS_DIR.encode(),
                b"claude-code")

    def live_sessions(self) -> list[LiveSession]:
        found = []
        for entry in self._entries():
            kind: Literal["interactive", "background"] = "background" if entry.is_background else "interactive"
            job = registry.job_state(entry) if entry.is_background else registry.JobState()
            moments = [t for t in (entry.status_since, job.updated_at, entry.started_at) if t is not None]
            found.append(LiveSession(
                pid=entry.pid, conversation=Conversation(entry.session_id, entry.cwd, NAME), kind=kind, cli=NAME,
                short=entry.job, name=entry.name, status=entry.status, state=job.state, needs=job.needs,
                last_activity=max(moments) if moments else None, started_at=entry.started_at,
                attached=registry.attached_clients(entry.config_dir, entry.job, entry.name) if entry.job else 0,
                pinned=bool(entry.job) and entry.job in registry.pinned(entry.config_dir)))
        return found

    def background_daemon_running(self) -> bool:
        return any(registry.daemon_alive(directory) for directory in self._dirs)

    def end_background(self, session: LiveSession, wait: float) -> str | None:
        """`claude stop <short>`: the daemon SIGTERMs the session's process groups and keeps the conversation.
        A signal from csup would look like a crash, and the daemon would start the session again."""
        import subprocess
        import time

        entry = self._entry_of(session)
        env = {key: value for key, value in self._environ.items() if key != "CLAUDE_CODE_DISABLE_AGENT_VIEW"}
        if entry is not None:
            env["CLAUDE_CONFIG_DIR"] = str(entry.config_dir)
        try:
            program = self._program()
        except CsupError as err:  # no `claude` to ask (cron's PATH without it): it is not ended, and that is said
            return f"no claude CLI to ask its daemon ({err.message}); name it: CSUP_CLAUDE=PATH or csup config"
        try:
            answer = subprocess.run([program, "stop", session.short], env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=wait, check=False)
        except subprocess.TimeoutExpired:
            return f"`claude stop {session.short}` gave no answer within {wait:.0f}s"
        except OSError as err:
            return f"cannot run {program}: {err.strerror}"
        if answer.returncode != 0:  # the daemon refused (or is not there): nothing to wait for
            return f"`claude stop {session.short}` failed (exit {answer.returncode})"
        deadline = time.monotonic() + wait
        while self._entry_of(session) is not None:
            if time.monotonic() >= deadline:
                return "Claude Code's daemon did not end it in time"
            time.sleep(0.1)
        return None

    def _entry_of(self, session: LiveSession) -> registry.RegistryEntry | None:
        return next((e for e in self._entries() if e.pid == session.pid
                     and e.session_id == session.conversation.id), None)

    def _program(self) -> str:
        return find_program(self._explicit, self._environ, (), PROGRAM)

    def bring_back_command(self, session: LiveSession) -> str:
        return f"{NAME} attach {session.short}"

    def is_session_process(self, view: ProcessView) -> bool:
        """Recognised by command line and executable path, never by process name alone (the native binary often
        shows its version string as its name), and only when its arguments make it a session."""
        args = self._cli_args(view)
        if args is None or (args[:1] and args[0] in _HELPERS):
            return False
        return self.is_session(args)

    def which(self, view: ProcessView) -> str | None:
        return NAME if self.is_session_process(view) else None

    def editor_session(self, view: ProcessView) -> bool:
        """Run by an editor's extension: JSON on stdin and stdout (`--input-format stream-json`), no terminal."""
        args = self._cli_args(view)
        return args is not None and _stream_json_input(args)

    def proven(self, pid: int, cmdline: Sequence[str]) -> bool:
        """Claude Code's executable runs there (under a name csup knows, in the native installer's versions
        folder, or the npm package), or node runs Claude Code's own script."""
        exe = processes.exe_of(pid)
        if not exe:
            return False
        name = os.path.basename(exe)
        if name in self._names or looks_like_claude_code(exe):
            return True  # its executable, not a name it gave itself (`exec -a claude` proves nothing)
        if not is_interpreter(name):
            return False
        script = script_of(list(cmdline[1:]))
        return script is not None and (os.path.basename(script[1]) in self._names
                                       or script[1].endswith("claude-code/cli.js"))

    def has_session_arguments(self, cmdline: Sequence[str]) -> bool:
        args = list(cmdline[1:])
        if cmdline and is_interpreter(cmdline[0]):
            script = script_of(args)  # node or bun running the CLI's script: its arguments follow the script
            if script is None:
                return False
            args = args[script[0] + 1:]
        return not (args[:1] and args[0] in _HELPERS) and self.is_session(args)

    def helper_role(self, view: ProcessView) -> str | None:
        args = self._cli_args(view)
        return _HELPERS.get(args[0]) if args else None

    def _cli_args(self, view: ProcessView) -> list[str] | None:
        """The arguments a claude process was given (after the interpreter and script, if any); None when the
        process is not Claude Code."""
        args = view.cmdline
        if not args:
            return None
        if " " in args[0] and not os.path.isabs(args[0]):
            # The daemon's helpers set their title: argv[0] reads "claude bg-pty-host", one word with a space.
            args = (*args[0].split(), *args[1:])
        first = os.path.basename(args[0])
        rest = list(args[1:])
        if is_interpreter(first):
            script = script_of(rest)
            if script is None:
                return None
            index, path = script
            if not (os.path.basename(path) in self._names or path.endswith("claude-code/cli.js")):
                return None
            return rest[index + 1:]
        if first in self._names or _VERSIONS_DIR in args[0] \
                or (view.exe and (os.path.basename(view.exe) in self._names or _VERSIONS_DIR in view.exe)):
            return rest
        return None


def _stream_json_input(args: Sequence[str]) -> bool:
    """An editor's extension (VS Code's) runs it with JSON on stdin and stdout, no terminal: the editor's
    session, not one a person types into."""
    for index, arg in enumerate(args):
        if arg == "--input-format=stream-json" or (arg == "--input-format" and args[index + 1:index + 2]
                                                   == ["stream-json"]):
            return True
    return False


# What choose.py asks of every CLI module.
looks_like = looks_like_claude_code
Launcher = ClaudeLauncher
Source = ClaudeCode
