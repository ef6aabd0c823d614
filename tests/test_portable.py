"""The portable paths — what macOS runs — proven on Linux: CSUP_PORTABLE=1 switches every Linux fast path off
(/proc, the parent-death signal, XDG without platformdirs); notifications, the CLI's install places and its
processes as macOS shows them. `.ci/run` runs the suite a second time with the switch on."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.clis.claude_code import PROGRAM, ClaudeCode
from supervisor.clis.locate import find_program
from supervisor.core.identity import ProcessView
from supervisor.core.settings import resolve
from supervisor.machine.notify import command_for

from conftest import TESTS

PROBE = """
import json, os, sys
from supervisor.machine import paths, processes, system
from supervisor.terminal import relay
me = processes.identity_of(os.getpid())
paths.default_paths({"HOME": os.environ["HOME"]})
print(json.dumps({"fast": system.fast_paths(), "proc": processes._LINUX, "psutil": "psutil" in sys.modules,
                  "platformdirs": "platformdirs" in sys.modules, "identity": me is not None}))
"""


@pytest.mark.parametrize(("portable", "fast"), [("", True), ("0", True), ("1", False)])
def test_the_switch_changes_the_path_taken(tmp_path: Path, portable: str, fast: bool) -> None:
    if not sys.platform.startswith("linux"):
        fast = False  # elsewhere the portable path is the only one
    env = {k: v for k, v in os.environ.items() if k != "CSUP_PORTABLE"} | {"CSUP_PORTABLE": portable,
                                                                          "HOME": str(tmp_path),
                                                                          "PYTHONPATH": str(TESTS.parent)}
    env.pop("XDG_RUNTIME_DIR", None)
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=30)
    seen = json.loads(result.stdout)
    assert seen["fast"] is fast and seen["proc"] is fast and seen["identity"]
    assert seen["psutil"] is not fast  # identities come from psutil, not /proc
    assert seen["platformdirs"] is not fast  # directories come from platformdirs, not the XDG shortcut


def _tool(folder: Path, name: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_notifications_use_osascript_on_macos_notify_send_on_linux_and_nothing_elsewhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert command_for("t", "b", platform="darwin") is None  # no osascript: silence, never an error
    assert command_for("t", "b", platform="linux") is None
    _tool(tmp_path, "osascript")
    _tool(tmp_path, "notify-send")
    mac = command_for('Say "hi"', "a \\ b", platform="darwin")
    assert mac is not None and mac[0].endswith("osascript") and mac[1] == "-e"
    assert mac[2] == 'display notification "a \\\\ b" with title "Say \\"hi\\""'
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    assert command_for("t", "b", platform="linux") is None  # no desktop to show it on
    monkeypatch.setenv("DISPLAY", ":0")
    linux = command_for("t", "b", platform="linux")
    assert linux is not None and linux[0].endswith("notify-send") and linux[-2:] == ["t", "b"]


@pytest.mark.parametrize("place", [".claude/local/claude", ".local/bin/claude"])
def test_the_cli_is_found_where_its_installers_put_it_when_not_on_path(tmp_path: Path, place: str) -> None:
    path = tmp_path / place
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    assert find_program("", {"HOME": str(tmp_path), "PATH": str(tmp_path / "empty")}, (), PROGRAM) == str(path)


@pytest.mark.parametrize(("cmdline", "session"), [
    (("node", "/opt/homebrew/lib/node_modules/@anthropic-ai/claude-code/cli.js"), True),  # Homebrew's npm
    (("/Users/me/.claude/local/node_modules/.bin/claude",), True),  # the local installer
    (("/Users/me/.local/share/claude/versions/2.1.330", "--model", "opus"), True),  # the native installer
    (("2.1.330",), True),  # a native binary named like its version: psutil's exe tells (below)
    (("claude bg-pty-host", "--bg-pty-host", "/tmp/x.sock"), False),
])
def test_the_census_recognises_claude_as_macos_shows_it(cmdline: tuple[str, ...], session: bool) -> None:
    adapter = ClaudeCode(resolve({}, "", {}), {"HOME": "/nonexistent"})
    exe = "/Users/me/.local/share/claude/versions/2.1.330" if cmdline == ("2.1.330",) else ""
    assert adapter.is_session_process(ProcessView(10, 1, 501, 1.0, cmdline, exe)) is session
