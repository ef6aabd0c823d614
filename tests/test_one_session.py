"""The one-session rule with real processes and the real lock: refusals, admission, SIGKILL, unmanaged."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from conftest import CSUP, Env, alive, assert_session_starts, exit_status, finish, ready_pid, relay_pid, wait_for


def test_second_run_is_refused_while_the_first_runs(env: Env) -> None:
    first = env.csup("run", "--claude", str(env.program()))
    cli_pid = ready_pid(first)
    record = json.loads((env.runtime / "session.json").read_text())
    assert record["cli"]["pid"] == cli_pid

    second = env.csup("run", "--claude", str(env.program()))
    assert exit_status(second) == 75
    text = second.before.decode()
    assert f"claude pid {cli_pid}" in text
    assert f"csup pid {relay_pid(first)}" in text
    assert "csup takeover" in text and "idle" in text and "started" in text
    # It changed nothing: the holder's record (but for its own activity updates) and CLI are intact.
    after = json.loads((env.runtime / "session.json").read_text())
    moving = {"last_activity_at", "last_activity_mono", "state"}
    assert {k: v for k, v in after.items() if k not in moving} == {k: v for k, v in record.items() if k not in moving}
    first.send(b"echo still-here\r")
    first.expect(b"echo: still-here")

    finish(first)
    assert not (env.runtime / "session.json").exists()
    assert_session_starts(env)


def test_sigkilled_holder_frees_the_lock_and_its_cli_ends(env: Env) -> None:
    first = env.csup("run", "--claude", str(env.program()))
    cli_pid = ready_pid(first)
    os.kill(relay_pid(first), signal.SIGKILL)
    # Decision (README "If csup is killed"): the CLI does not run on unsupervised — the parent-death signal
    # (Linux) and the pty hang-up end it.
    wait_for(lambda: not alive(cli_pid), what="the orphaned CLI to end")
    assert_session_starts(env)  # the kernel released the lock; the stale record was ignored


def test_sigkilled_holder_with_a_cli_that_ignores_hangups_is_shown_as_unmanaged(env: Env) -> None:
    # A CLI that survives csup's death (older Claude Code on macOS did) keeps the rule: it is a claude
    # process outside csup, so the next run refuses and names it. To survive, the guardian (which would end it)
    # must die too: csup and its guardian killed at once, as the OOM killer might.
    program = env.unmanaged_program()
    first = env.csup("run", "--claude", str(program), "--", "--ignore-term", "--ignore-hup",
                     "--survive-hangup")
    cli_pid = ready_pid(first)
    env.track(cli_pid)
    relay = relay_pid(first)
    os.kill(first.pid, signal.SIGKILL)  # the guardian
    os.kill(relay, signal.SIGKILL)
    second = env.csup("run", "--claude", str(env.program()))
    assert exit_status(second) == 75
    assert f"pid {cli_pid}" in second.before.decode()
    assert "outside csup" in second.before.decode()


@pytest.mark.parametrize("portable", ["0", "1"])
@pytest.mark.parametrize("flags", [["--ignore-hup", "--survive-hangup"],
                                   ["--ignore-hup", "--ignore-term", "--survive-hangup"]])
def test_sigkilled_csup_leaves_no_cli_behind_even_without_the_linux_signal(env: Env, portable: str,
                                                                         flags: list[str]) -> None:
    """The guardian sees csup die and ends the CLI (SIGTERM, then SIGKILL after term_wait): on Linux with the
    parent-death signal switched off (CSUP_PORTABLE=1, as on macOS), and for a CLI that ignores its hang-up."""
    env.vars.update({"CSUP_PORTABLE": portable, "CSUP_TERM_WAIT": "1s"})
    first = env.csup("run", "--claude", str(env.program()), "--", *flags)
    cli_pid = ready_pid(first)
    env.track(cli_pid)
    time.sleep(0.3)  # the guardian has been told of the CLI (after the spawn)
    os.kill(relay_pid(first), signal.SIGKILL)
    wait_for(lambda: not alive(cli_pid), timeout=6, what="the CLI to end after csup's death")
    assert_session_starts(env)


def test_unmanaged_claude_refuses_unless_allowed(env: Env) -> None:
    stray = env.stray()
    refused = env.csup("run", "--claude", str(env.program()))
    assert exit_status(refused) == 75
    text = refused.before.decode()
    assert f"pid {stray.pid}" in text and "--allow-unmanaged" in text

    allowed = env.csup("run", "--allow-unmanaged", "--claude", str(env.program()))
    ready_pid(allowed)
    finish(allowed)


def test_nested_and_print_mode_strays_are_not_sessions(env: Env) -> None:
    # `claude -p …` (print mode) and `claude mcp …` are not sessions and do not block a run.
    for extra in (["-p", "hi"], ["mcp", "serve"]):
        env.stray(*extra)
    assert_session_starts(env)



def test_refusal_is_quick_and_touches_no_tty(env: Env) -> None:
    first = env.csup("run", "--claude", str(env.program()))
    ready_pid(first)
    # From a non-terminal, `claude` passes through, so use a pty; the refusal must not change its termios.
    shell = env.shell(f"stty -g; {' '.join(CSUP)} run --claude {env.program()}; echo rc=$?; stty -g")
    shell.expect(rb"([0-9a-f:]+)\r\n")
    before = shell.match.group(1)
    shell.expect(rb"rc=75\r\n")
    shell.expect(rb"([0-9a-f:]+)\r\n")
    assert shell.match.group(1) == before


def test_a_stray_started_during_a_session_is_reported_once(env: Env) -> None:
    env.vars.update({"CSUP_STRAY_CHECK": "0.5s", "CSUP_NOTIFY": "off"})
    child = env.csup("run", "--claude", str(env.program()))
    ready_pid(child)
    stray = env.stray()
    log = env.root / "state" / "events.jsonl"

    def strays() -> list[dict[str, object]]:
        return [e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == "stray"]

    wait_for(lambda: strays(), what="the stray to be noticed")
    time.sleep(1.2)  # two more checks: still reported once
    assert [e["stray_pid"] for e in strays()] == [stray.pid]
    finish(child)
