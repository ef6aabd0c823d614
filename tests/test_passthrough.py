"""Invocations that are not sessions go straight to the CLI (exec: no lock, no pty); csup never runs itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import CSUP, Env, exit_status, finish, ready_pid


def _run(env: Env, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CSUP, *args], env=env.vars, capture_output=True, text=True, timeout=20,
                          cwd=env.root, **kwargs)  # type: ignore[call-overload, no-any-return]


def test_stdout_not_a_terminal_passes_through_while_a_session_runs(env: Env) -> None:
    holder = env.csup("run", "--claude", str(env.program()))
    ready_pid(holder)
    result = _run(env, "run", "--claude", str(env.program()), "--", "hello", "--flag")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.split("args=")[1].split(" csup_session")[0]) == ["hello", "--flag"]
    assert "csup_session=None" in result.stdout  # not supervised: no session marker, no extra arguments
    finish(holder)


def test_print_version_help_and_subcommands_exec_the_cli_in_a_terminal(env: Env) -> None:
    holder = env.csup("run", "--claude", str(env.program()))
    ready_pid(holder)
    for extra in (["-p", "hi"], ["--print", "hi"], ["--version"], ["-h"], ["mcp", "list"], ["update"]):
        child = env.csup("run", "--claude", str(env.program()), "--", *extra)
        child.expect(rb"ready pid=(\d+) .*args=(\[.*\]) ppid")
        # exec: the CLI is the very process csup was, and gets exactly the user's arguments
        assert int(child.match.group(1)) == child.pid, extra
        assert json.loads(child.match.group(2)) == extra
        finish(child)
    finish(holder)


def test_nested_run_inside_a_session_passes_through(env: Env) -> None:
    # The CLI's own shell tool runs `claude` again: with the alias that is a nested `csup run`, which must
    # not be refused by (or deadlock on) its own session's lock.
    child = env.csup("run", "--claude", "/bin/sh")
    child.expect(r"[#$] ")
    child.sendline(f"PS1='> '; {' '.join(CSUP)} run --claude {env.program('standin')}; echo nested-rc=$?")
    child.expect(rb"ready pid=\d+ .* csup_session=([0-9a-f]{32})")
    child.send(b"exit 5\r")
    child.expect(b"nested-rc=5")
    child.sendline("exit 0")
    assert exit_status(child) == 0


def test_a_shim_named_claude_that_is_csup_is_skipped_on_path(env: Env) -> None:
    shim_dir = env.root / "shim"
    shim_dir.mkdir()
    shim = shim_dir / "claude"
    shim.write_text(f"#!/bin/sh\nexec {' '.join(CSUP)} run -- \"$@\"\n")
    shim.chmod(0o755)
    real = env.program()  # env.root/bin/claude
    env.vars["PATH"] = f"{shim_dir}:{real.parent}:/usr/bin:/bin"
    child = env.csup("run")
    child.expect(rb"ready pid=\d+ .*args=\[\"--session-id\"")
    finish(child)


def test_missing_cli_is_127_with_the_paths_searched(env: Env, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env.vars["PATH"] = f"{empty}:/nonexistent"
    child = env.csup("run")
    assert exit_status(child) == 127
    text = child.before.decode()
    assert str(empty) in text and "/nonexistent" in text and "npm install" in text
    assert "Traceback" not in text


def test_bad_claude_paths_are_one_line_errors(env: Env, tmp_path: Path) -> None:
    not_exec = tmp_path / "claude-text"
    not_exec.write_text("hello")
    cases = [(str(tmp_path), 126, "is a directory"), (str(not_exec), 126, "not executable"),
             (str(tmp_path / "nope"), 127, "does not exist")]
    for path, code, words in cases:
        child = env.csup("run", "--claude", path)
        assert exit_status(child) == code, path
        assert words in child.before.decode() and "Traceback" not in child.before.decode()
