"""Start-up stays lean: every aliased `claude` pays for what csup imports before the CLI starts. The fast path
never imports click; a refused run (the lock held) never imports the relay, psutil (on Linux's fast path) or the
words of the face beyond its refusal; a pass-through `claude -p` imports no lock at all."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import Env, as_a_terminal_starts_it, exit_status, finish, ready_pid


def _imported(env: Env, *args: str, tty: bool) -> set[str]:
    """The modules one csup process imported (python -X importtime), run in a pty when `tty`."""
    command = [sys.executable, "-X", "importtime", "-m", "supervisor", *args]
    if tty:
        import pexpect

        child = pexpect.spawn(command[0], command[1:], env=env.vars, cwd=str(env.root), timeout=20,
                              preexec_fn=as_a_terminal_starts_it)
        child.expect(pexpect.EOF)
        output = child.before.decode(errors="replace")
    else:
        output = subprocess.run(command, env=env.vars, capture_output=True, text=True, timeout=20,
                                stdin=subprocess.DEVNULL).stderr
    return {line.split("|")[-1].strip() for line in output.splitlines() if line.startswith("import time:")}


def test_a_refused_run_imports_no_click_no_relay_and_no_psutil_on_linux(env: Env) -> None:
    holder = env.csup("run", "--claude", str(env.program()))
    ready_pid(holder)
    modules = _imported(env, "run", "--claude", str(env.program()), tty=True)
    assert "filelock" in modules  # it did get as far as the lock
    assert "click" not in modules and "supervisor.face.cli" not in modules
    assert "supervisor.terminal.relay" not in modules and "ptyprocess" not in modules
    assert "supervisor.flows.live" not in modules and "supervisor.core.session_policy" not in modules
    if sys.platform.startswith("linux") and env.vars.get("CSUP_PORTABLE", "") in ("", "0"):
        assert "psutil" not in modules  # identities and the census read /proc directly
    finish(holder)


@pytest.mark.parametrize("args", [["-p", "hello"], ["--version"], ["mcp", "list"]])
def test_a_pass_through_imports_no_lock_and_no_click(env: Env, args: list[str]) -> None:
    modules = _imported(env, "run", "--claude", str(env.program()), "--", *args, tty=False)
    assert "filelock" not in modules and "click" not in modules and "ptyprocess" not in modules
    # Nor anything of admission: the snapshot, the policy, the refusals (a pass-through's start-up is all).
    assert not modules & {"supervisor.flows.admission", "supervisor.flows.sessions", "supervisor.core.policy",
                          "supervisor.flows.refusals"}
    # Nor what only a session needs: dataclasses (its generated code), datetime, json (the config file is TOML).
    assert not modules & {"dataclasses", "datetime", "json"}


def test_a_refused_run_without_a_memory_budget_reads_no_memory(env: Env) -> None:
    holder = env.csup("run", "--claude", str(env.program()))
    ready_pid(holder)
    modules = _imported(env, "run", "--claude", str(env.program()), tty=True)
    assert "supervisor.core.policy" in modules  # the policy decided
    assert "supervisor.machine.memory" not in modules and "supervisor.flows.watch" not in modules
    finish(holder)


def test_the_way_out_imports_nothing(env: Env) -> None:
    """From the CLI's exit to csup's, nothing is imported (what the last lines need is loaded while the CLI
    runs): the exit by the CLI itself, and the idle end with its resume line."""
    trace = env.root / "after-exit.txt"
    env.vars["CSUP_TRACE_EXIT"] = str(trace)
    child = env.csup("run", "--claude", str(env.program()))
    ready_pid(child)
    finish(child)
    assert trace.read_text() == ""
    env.vars.update({"CSUP_IDLE_LIMIT": "2s", "CSUP_WARN_BEFORE": "1s", "CSUP_NOTIFY": "off",
                     "CSUP_IDLE_ACTION": "end"})
    child = env.csup("run", "--claude", str(env.program()))
    ready_pid(child)
    child.send(b"transcript\r")
    child.expect(b"Resume it: ")
    assert exit_status(child) == 124
    assert trace.read_text() == ""
    env.vars["CSUP_IDLE_LIMIT"] = "30m"
    env.codex()  # a CLI whose conversation csup reads from the running CLI: nothing read once it is gone
    child = env.csup("run", "--cli", "codex")
    child.expect(b"codex ready")
    finish(child)
    assert trace.read_text() == ""
    child = env.csup("run", "--claude", "/bin/sh", "--", "-c", "echo a program csup does not know")
    child.expect(b"does not know")
    assert exit_status(child) == 0
    assert trace.read_text() == ""
