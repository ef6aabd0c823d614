"""What each CLI module answers, in tables: which Codex invocations are sessions, what a wake keeps, which
processes are Codex's sessions (the launcher, its native child nested in it, not its daemon, an editor's
server apart), the rollout file that names a running conversation, and an editor's Claude Code; and that the
two sources joined route each question to its CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from supervisor.clis.adapter import Conversation
from supervisor.clis.choose import cli_settings, names, sessions_from
from supervisor.clis.claude_code import ClaudeCode
from supervisor.clis.codex import Codex, CodexLauncher, split_args
from supervisor.core.identity import ProcessView
from supervisor.core.settings import resolve

SETTINGS = resolve({}, "", {})
LAUNCHER = CodexLauncher("/usr/bin/codex", SETTINGS)
CODEX = Codex(SETTINGS, {"HOME": "/nonexistent"})
ID = "0199a213-81c0-7800-8aa1-bbab2a035a53"


@pytest.mark.parametrize(("args", "session"), [
    ([], True),
    (["fix the tests"], True),
    (["-m", "o3", "fix it"], True),
    (["resume", ID], True),
    (["resume", "--last"], True),
    (["fork", ID], True),
    (["exec", "fix it"], False),
    (["e", "fix it"], False),
    (["-m", "exec", "hello"], True),  # `exec` is -m's value there, not the subcommand
    (["-c", "model=o3", "login"], False),
    (["--version"], False),
    (["-h"], False),
    (["mcp", "list"], False),
    (["app-server"], False),
    (["agents"], False),
])
def test_which_codex_invocations_are_sessions(args: list[str], session: bool) -> None:
    assert LAUNCHER.is_session(args) is session


def test_a_claude_pass_through_list_is_claude_codes_alone() -> None:
    """`passthrough_commands` names Claude Code's subcommands: Codex keeps its own (`exec` is never a session)."""
    settings = resolve({"passthrough_commands": ["mcp", "config"]}, "config.toml", {}, more=cli_settings())
    assert not CodexLauncher("/usr/bin/codex", settings).is_session(["exec", "fix it"])
    assert CodexLauncher("/usr/bin/codex", resolve({"codex_passthrough_commands": ["review"]}, "c", {},
                                                   more=cli_settings())).is_session(["exec"]) is True


@pytest.mark.parametrize(("args", "conversation", "kept"), [
    ([], None, []),
    (["-m", "o3", "first prompt"], None, ["-m", "o3"]),  # a wake sends no prompt twice
    (["resume", ID, "-s", "read-only"], ID, ["-s", "read-only"]),
    (["resume", "--last"], None, []),
    (["resume", "not-an-id"], None, []),
])
def test_what_a_codex_wake_keeps(args: list[str], conversation: str | None, kept: list[str]) -> None:
    assert LAUNCHER.prepare(args) == (args, conversation)
    assert LAUNCHER.without_conversation(args) == kept
    assert [*LAUNCHER.resume_args(ID), *kept][:2] == ["resume", ID]


def test_options_and_words_are_told_apart() -> None:
    assert split_args(["-C", "/src", "--search", "hello", "--", "-x"]) == (["-C", "/src", "--search"],
                                                                           ["hello", "-x"])


NATIVE = "/home/u/.npm/lib/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"


@pytest.mark.parametrize(("cmdline", "session", "editor", "helper"), [
    (("node", "/home/u/.npm/bin/codex"), True, False, None),  # the launcher: it stands for the session
    (("node", "/x/node_modules/@openai/codex/bin/codex.js", "-m", "o3"), True, False, None),
    ((NATIVE,), True, False, None),  # the native binary alone (a Homebrew install), or nested in the launcher
    ((NATIVE, "exec", "hi"), False, False, None),
    (("/home/u/.codex/packages/app-server-daemon/releases/0.171.0/bin/codex", "app-server", "--listen",
      "unix://", "--managed-daemon"), False, False, "daemon"),
    (("/home/u/.codex/bin/codex", "app-server", "daemon", "pid-update-loop"), False, False, "daemon"),
    ((NATIVE, "app-server"), False, True, None),  # VS Code's extension: an editor's session
    (("python3", "codex-helper.py"), False, False, None),
    (("vim", "codex"), False, False, None),
])
def test_which_processes_are_codex_sessions(cmdline: tuple[str, ...], session: bool, editor: bool,
                                            helper: str | None) -> None:
    view = ProcessView(10, 1, 1000, 1.0, cmdline)
    assert CODEX.is_session_process(view) is session
    assert CODEX.editor_session(view) is editor
    assert CODEX.helper_role(view) == helper
    assert CODEX.which(view) == ("codex" if session or editor else None)


def test_an_editors_claude_code_is_its_editors_session() -> None:
    claude = ClaudeCode(SETTINGS, {"HOME": "/nonexistent"})
    vscode = ProcessView(10, 1, 1000, 1.0, ("claude", "--output-format", "stream-json", "--verbose",
                                            "--input-format", "stream-json"))
    person = ProcessView(11, 1, 1000, 1.0, ("claude", "--model", "opus"))
    assert claude.editor_session(vscode) and claude.which(vscode) == "claude"
    assert not claude.editor_session(person) and claude.which(person) == "claude"


@pytest.mark.parametrize("linked", [False, True])
def test_the_running_conversation_is_the_rollout_file_its_process_holds_open(tmp_path: Path, linked: bool) -> None:
    rollout = tmp_path / ".codex" / "sessions" / "2026" / "12" / "03" / f"rollout-2026-12-03T10-00-00-{ID}.jsonl"
    rollout.parent.mkdir(parents=True)
    rollout.write_text("{}\n")
    home = tmp_path
    if linked:  # a HOME (or CODEX_HOME) reached through a link: the kernel names the open file by its real path
        home = tmp_path.parent / f"{tmp_path.name}-link"
        home.symlink_to(tmp_path)
    codex = Codex(SETTINGS, {"HOME": str(home)})
    # The Node launcher and the native binary it starts: the child holds the file open, the parent is asked.
    script = "import sys, time; f = open(sys.argv[1]); print('open', flush=True); time.sleep(30)"
    opened = home / rollout.relative_to(tmp_path)
    launcher = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "{script}" "{opened}" & wait'],
                                stdout=subprocess.PIPE)
    other = subprocess.Popen(["sleep", "30"])
    try:
        assert launcher.stdout is not None and launcher.stdout.readline().strip() == b"open"
        found = codex.conversation_of(launcher.pid)
        assert found == Conversation(ID, os.getcwd(), "codex")
        assert codex.can_resume(found) and codex.resume_command(found) == f"codex resume {ID}"
        assert not codex.can_resume(Conversation("0199a213-81c0-7800-8aa1-000000000000", "/", "codex"))
        assert not codex.can_resume(Conversation("../../etc/passwd", "/", "codex"))  # never a path
        assert codex.conversation_of(other.pid) is None  # a process that holds none
    finally:
        for child in psutil.Process(launcher.pid).children(recursive=True):
            child.kill()
        for process in (launcher, other):
            process.kill()
            process.wait()


def test_the_joined_sources_route_each_question_to_its_cli() -> None:
    agents = sessions_from(SETTINGS, {"HOME": "/nonexistent"})
    assert names()[:2] == ("claude", "codex") and agents.name == "claude+codex"
    assert agents.resume_command(Conversation(ID, "/", "codex")) == f"codex resume {ID}"
    assert agents.resume_command(Conversation(ID, "/", "claude")) == f"claude --resume {ID}"
    view = ProcessView(10, 1, 1000, 1.0, (NATIVE,))
    assert agents.which(view) == "codex" and agents.is_session_process(view)
