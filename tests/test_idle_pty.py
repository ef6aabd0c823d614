"""Idle limits end real sessions in a real pty, with limits of a few seconds; and only idle ones."""

from __future__ import annotations

import json
import re
import time

from conftest import Env, alive, exit_status, finish, ready_pid, wait_for


def _short_limits(env: Env, limit: str = "2s", warn: str = "1s") -> None:
    """Ends, not sleeps (idle_action end; sleeping is test_sleep_pty.py's)."""
    env.vars.update({"CSUP_IDLE_LIMIT": limit, "CSUP_WARN_BEFORE": warn, "CSUP_NOTIFY": "off",
                     "CSUP_IDLE_ACTION": "end"})


def _events(env: Env) -> list[dict[str, object]]:
    path = env.root / "state" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_idle_session_warns_ends_with_124_and_says_how_to_resume(env: Env) -> None:
    _short_limits(env)
    child = env.csup("run", "--claude", str(env.program()))
    ready_pid(child)
    child.send(b"transcript\r")
    child.expect(b"transcript ")
    child.expect(re.compile(rb"\x1b\[22;0t\x07\x1b\]2;csup: idle, session ends in \d+s"))  # title + bell
    child.expect(b"signal SIGTERM")
    child.expect(rb"csup: session ended: idle for \ds \(limit 2s\)\. Resume it: claude --resume [0-9a-f-]{36}")
    assert exit_status(child) == 124
    events = [event["event"] for event in _events(env)]
    assert events[:3] == ["started", "warned", "ended"]
    ended = _events(env)[2]
    assert ended["how"] == "idle" and ended["code"] == 124 and ended["steps"] == [["term_cli", "SIGTERM to the CLI"]]
    assert not (env.runtime / "session.json").exists()


def test_output_keeps_the_session_alive_unless_input_only(env: Env) -> None:
    _short_limits(env)
    child = env.csup("run", "--claude", str(env.program("standin")))
    ready_pid(child)
    child.send(b"spin 4\r")
    child.expect(b"spin done", timeout=10)  # 4 s of output outlived a 2 s limit
    assert exit_status(child) == 124  # then it idled out
    assert b"Resume it" not in child.before  # not Claude Code: no resume line

    env.vars["CSUP_ACTIVITY"] = "input"
    child = env.csup("run", "--claude", str(env.program("standin")))
    ready_pid(child)
    child.send(b"spin 6\r")
    assert exit_status(child) == 124
    assert b"spin done" not in child.before


def test_silent_cpu_work_is_not_idle(env: Env) -> None:
    _short_limits(env)
    child = env.csup("run", "--claude", str(env.program("standin")))
    ready_pid(child)
    started = time.monotonic()
    child.send(b"cpu 5\r")
    child.expect(b"cpu done", timeout=15)
    assert time.monotonic() - started >= 5  # it ran to the end, past two idle limits
    assert exit_status(child) == 124


def test_keystroke_during_warning_cancels_it(env: Env) -> None:
    _short_limits(env, limit="3s", warn="2s")
    child = env.csup("run", "--claude", str(env.program("standin")))
    ready_pid(child)
    child.expect_exact(b"\x1b[22;0t")
    child.send(b"echo still-here\r")
    child.expect_exact(b"\x1b[23;0t")  # title restored
    child.expect(b"echo: still-here")
    seen_at = time.monotonic()
    child.expect_exact(b"\x1b[22;0t")  # warned again only after a fresh second of idleness
    assert time.monotonic() - seen_at >= 0.8
    assert exit_status(child) == 124


def test_focus_reports_and_terminal_replies_are_not_activity(env: Env) -> None:
    _short_limits(env)
    child = env.csup("run", "--claude", str(env.program("standin")))
    ready_pid(child)
    started = time.monotonic()
    deadline = started + 8
    while child.isalive() and time.monotonic() < deadline:
        child.send(b"\x1b[I\x1b[O\x1b[?62;22c\x1b[12;40R")
        time.sleep(0.3)
    assert exit_status(child) == 124
    assert time.monotonic() - started < 6


def test_stubborn_cli_and_its_grandchild_are_killed_and_the_lock_is_freed(env: Env) -> None:
    _short_limits(env, limit="1s", warn="0.5s")
    env.vars.update({"CSUP_TERM_WAIT": "0.5s", "CSUP_TREE_WAIT": "0.5s"})
    child = env.csup("run", "--claude", str(env.program("standin")), "--", "--ignore-term", "--ignore-hup")
    cli_pid = ready_pid(child)
    child.send(b"grandchild\r")
    child.expect(rb"grandchild pid=(\d+)")
    grandchild = int(child.match.group(1))
    env.track(grandchild)
    child.expect(b"signal SIGTERM")
    assert exit_status(child) == 124
    wait_for(lambda: not alive(cli_pid) and not alive(grandchild), what="the CLI and its grandchild to die")
    ended = next(event for event in _events(env) if event["event"] == "ended")
    assert [step[0] for step in ended["steps"]] == ["term_cli", "term_tree", "kill_all"]
    again = env.csup("run", "--claude", str(env.program("standin")))
    ready_pid(again)  # the lock is free
    finish(again)



def test_busy_registry_keeps_a_silent_session(env: Env) -> None:
    _short_limits(env)
    env.vars["CSUP_CPU_THRESHOLD"] = "0"
    child = env.csup("run", "--claude", str(env.program()))
    ready_pid(child)
    child.send(b"status busy\r")
    child.expect(b"status busy")
    time.sleep(4)  # two idle limits with no input or output: the CLI says it is working
    assert child.isalive()
    child.send(b"status idle\r")
    child.expect(b"status idle")
    assert exit_status(child) == 124
