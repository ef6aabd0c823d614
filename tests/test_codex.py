"""Codex under the same policy as Claude Code, with the Codex stand-in (tests/standin_codex.py): supervised
runs, refusals across CLIs, idle end and sleep/wake by `codex resume <id>`, stop and takeover, the census of
unmanaged Codex sessions, and an editor's session shown and not counted."""

from __future__ import annotations

import json
from pathlib import Path

import pexpect

from conftest import DEADLINE, Env, exit_status, run_csup, status_json, wait_for


def codex_ready(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(rb"codex ready pid=(\d+) conversation=([0-9a-f-]{36})")
    return int(child.match.group(1)), child.match.group(2).decode()


def test_codex_runs_supervised_and_its_exit_status_passes_through(env: Env) -> None:
    env.codex()
    child = env.csup("run", "--cli", "codex")
    codex_ready(child)
    child.send(b"echo hello\r")
    child.expect(b"echo: hello")
    status = status_json(env)
    [session] = status["sessions"]  # type: ignore[misc]
    assert session["kind"] == "supervised" and session["cli"] == "codex"
    child.send(b"exit 3\r")
    assert exit_status(child) == 3


def test_codex_subcommands_pass_through_without_a_session(env: Env) -> None:
    env.codex()
    child = env.csup("run", "--cli", "codex", "--", "exec", "fix it")
    child.expect(b"codex exec: done")
    assert exit_status(child) == 0
    child = env.csup("run", "--cli", "codex", "--", "--version")
    child.expect(b"codex-cli 0.171.0")
    assert exit_status(child) == 0
