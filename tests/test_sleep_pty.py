"""Sleep and wake through real ptys with the stand-in (it resumes by id, keeps a transcript per conversation and
says "No conversation found" for one that is gone, as Claude Code does): an idle session falls asleep — its CLI's
tree gone, its place free for another `claude` — a wake at the limit is refused and it stays asleep, Enter
resumes the same conversation, `stop` and `takeover` reach it, q and Ctrl-C leave with 124 and the resume line,
a conversation open elsewhere is never resumed twice, a failed resume is said and a new conversation offered, a
session running a background command is kept awake; and the log has it all, with figures."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pexpect
import psutil

from conftest import DEADLINE, Env, alive, exit_status, finish, ready_pid, run_csup, status_json, wait_for

ASLEEP = rb"csup: asleep \xe2\x80\x94 idle for \ds \(limit 3s\) in \S+, (\d+) MiB freed\. Enter wakes it"


def _sleepy(env: Env) -> None:
    env.vars.update({"CSUP_IDLE_LIMIT": "3s", "CSUP_WARN_BEFORE": "1s", "CSUP_NOTIFY": "off",
                     "CSUP_BACKGROUND_IDLE_LIMIT": "off"})


def _events(env: Env) -> list[dict[str, object]]:
    path = env.root / "state" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _status(env: Env) -> dict[str, object]:
    return status_json(env)


def _csup(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return run_csup(env, *args)


def _asleep_session(env: Env) -> tuple[pexpect.spawn, int, str]:
    """A supervised session with a conversation, fallen asleep: (its terminal, its old CLI's pid, the conversation)."""
    child = env.csup("run", "--claude", str(env.program()))
    cli = ready_pid(child)
    child.send(b"transcript\r")
    child.expect(rb"transcript (\S+)\.jsonl")
    conversation = Path(child.match.group(1).decode()).name
    child.expect(ASLEEP, timeout=DEADLINE)
    return child, cli, conversation


def _transcript(env: Env, conversation: str) -> list[dict[str, object]]:
    [path] = (env.home / ".claude" / "projects").glob(f"*/{conversation}.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_asleep_frees_its_tree_and_place_a_wake_at_the_limit_waits_and_enter_resumes_the_conversation(
        env: Env) -> None:
    _sleepy(env)
    sleeper, old_cli, conversation = _asleep_session(env)
    assert int(sleeper.match.group(1)) > 0  # measured before the end, checked gone after it
    assert not alive(old_cli)
    status = _status(env)
    assert status["schema"] == 5 and status["sessions"] == [] and status["running"] is False
    [asleep] = status["asleep"]  # type: ignore[misc]
    assert asleep["conversation_id"] == conversation and asleep["freed_bytes"] > 0
    text = _csup(env, "status").stdout
    assert "1 asleep session(s)" in text and asleep["id"] in text

    other = env.csup("run", "--claude", str(env.program()))  # its place is free: max_sessions 1, and it starts
    ready_pid(other)
    sleeper.send(b"\r")  # at the limit: refused, and it stays asleep
    sleeper.expect(rb"a claude session is already running")
    sleeper.expect(rb"csup: still asleep; Enter tries again, q leaves\.")
    assert _status(env)["asleep"]
    finish(other)

    sleeper.send(b"echo back again\r")  # wakes it; the line waits in the CLI's prompt as a draft
    sleeper.expect(f"resumed {conversation}".encode())
    new_cli = ready_pid(sleeper)
    time.sleep(1.0)  # the draft goes to the prompt once the first screen has settled (half a second)
    sleeper.send(b"\r")  # the draft, sent by the user's own Enter
    sleeper.expect(b"echo: back again")
    sleeper.send(b"transcript\r")
    sleeper.expect(b"transcript ")
    assert [line["pid"] for line in _transcript(env, conversation)] == [old_cli, new_cli]  # one conversation
    assert _status(env)["asleep"] == []
    finish(sleeper)

    events = _events(env)
    [slept] = [e for e in events if e["event"] == "slept"]
    assert slept["freed"] > 0 and slept["measured"] >= slept["freed"] and slept["survivors"] == []  # type: ignore[operator]
    [refused] = [e for e in events if e["event"] == "wake-refused"]
    assert refused["reason"] == "limit"
    wait_for(lambda: any(e["event"] == "woke" for e in _events(env)), what="the wake in the log")
    [woke] = [e for e in _events(env) if e["event"] == "woke"]
    assert 0 < woke["to_first_output"] < 5  # type: ignore[operator]
    log = _csup(env, "log").stdout
    assert "slept" in log and "woke" in log and f"claude --resume {conversation}" in log


def test_q_and_ctrl_c_leave_with_124_and_the_resume_line(env: Env) -> None:
    _sleepy(env)
    for key in (b"q\r", b"\x03"):
        sleeper, _, conversation = _asleep_session(env)
        sleeper.send(key)
        sleeper.expect(rb"csup: session ended: you left while it was asleep\. Resume it: ")
        sleeper.expect(f"claude --resume {conversation}".encode())
        assert exit_status(sleeper) == 124
    assert not list(env.runtime.glob("asleep-*"))  # nothing of csup's is left behind


def test_stop_ends_an_asleep_session_and_takeover_carries_its_conversation_here(env: Env) -> None:
    _sleepy(env)
    sleeper, _, conversation = _asleep_session(env)
    session = _status(env)["asleep"][0]["id"]  # type: ignore[index]
    stopped = _csup(env, "stop", session)
    assert stopped.returncode == 0 and "ended the asleep session" in stopped.stdout, stopped.stdout
    sleeper.expect(rb"stopped by `csup stop` .* while it was asleep\. Resume it: ")
    assert exit_status(sleeper) == 124
    assert not list(env.runtime.glob("asleep-*"))  # nothing of csup's stays behind, the asker's lock try neither

    sleeper, old_cli, conversation = _asleep_session(env)
    taker = env.csup("takeover", "--claude", str(env.program()))  # nothing runs: the session asleep is meant
    taker.expect(f"resumed {conversation}".encode())
    new_cli = ready_pid(taker)
    sleeper.expect(rb"taken over by `csup takeover`")
    assert b"Resume it" not in sleeper.before  # its conversation went on elsewhere: no resume line here
    assert exit_status(sleeper) == 143
    taker.send(b"transcript\r")
    taker.expect(b"transcript ")
    assert [line["pid"] for line in _transcript(env, conversation)] == [old_cli, new_cli]
    finish(taker)


def test_a_conversation_open_elsewhere_is_never_resumed_twice(env: Env) -> None:
    _sleepy(env)
    env.vars["CSUP_MAX_SESSIONS"] = "2"  # the one open elsewhere counts: room for a new one beside it
    sleeper, _, conversation = _asleep_session(env)
    elsewhere = env.stray("--resume", conversation)  # someone opened it by hand meanwhile
    sleeper.send(b"\r")
    sleeper.expect(rb"csup: its conversation is open elsewhere \(pid \d+\); waking it here would open it twice")
    sleeper.expect(rb"n \+ Enter starts a new conversation here; q leaves\.")
    sleeper.send(b"n\r")
    sleeper.expect(rb"ready pid=(\d+) size=\S+ args=(.*) ppid")
    assert int(sleeper.match.group(1)) != elsewhere.pid
    assert b'"--session-id"' in sleeper.match.group(2)  # a new conversation, never a resume of the open one
    assert [e["reason"] for e in _events(env) if e["event"] == "wake-refused"] == ["open-elsewhere"]
    finish(sleeper)


def test_a_failed_resume_is_said_and_a_new_conversation_offered(env: Env) -> None:
    _sleepy(env)
    sleeper, _, conversation = _asleep_session(env)
    for path in (env.home / ".claude" / "projects").glob(f"*/{conversation}.jsonl"):
        path.unlink()  # the conversation is gone: Claude Code says so and exits 1 at once
    sleeper.send(b"\r")
    sleeper.expect(b"No conversation found")
    sleeper.expect(rb"csup: the conversation could not be resumed \(the CLI exited at once\)")
    assert "resume-failed" in [e["event"] for e in _events(env)]
    sleeper.send(b"\r")  # Enter alone never starts an empty session in its place: the offer again
    sleeper.expect(rb"could not be resumed")
    sleeper.send(b"n\r")
    ready_pid(sleeper)
    finish(sleeper)


def test_a_session_running_a_background_command_is_kept_awake(env: Env) -> None:
    _sleepy(env)
    child = env.csup("run", "--claude", str(env.program()))
    cli = ready_pid(child)
    child.send(b"transcript\r")
    child.send(b"status shell\r")  # Claude Code's registry while a command it sent to the background runs
    child.expect(b"status shell")
    time.sleep(5)  # past the limit
    assert alive(cli) and b"asleep" not in child.before
    [session] = _status(env)["sessions"]  # type: ignore[misc]
    assert session["kept_awake"] == "busy"
    assert "kept awake: busy" in _csup(env, "status").stdout
    child.send(b"status idle\r")  # the command ended: the idle clock starts again from there
    started = time.monotonic()
    child.expect(ASLEEP, timeout=DEADLINE)
    assert time.monotonic() - started >= 2.5  # the full limit again, not at once
    child.send(b"q\r")
    assert exit_status(child) == 124


def test_idle_action_end_ends_as_before(env: Env) -> None:
    _sleepy(env)
    env.vars["CSUP_IDLE_ACTION"] = "end"
    child = env.csup("run", "--claude", str(env.program()))
    ready_pid(child)
    child.send(b"transcript\r")
    child.expect(rb"csup: session ended: idle for \ds \(limit 3s\)\. Resume it: claude --resume ")
    assert exit_status(child) == 124
    assert not re.search(rb"asleep", child.before)


def test_stop_all_ends_every_session_of_every_kind_asleep_ones_too(env: Env) -> None:
    _sleepy(env)
    env.vars["CSUP_MAX_SESSIONS"] = "4"
    sleeper, _, conversation = _asleep_session(env)
    awake = env.csup("run", "--claude", str(env.program()))
    awake_cli = ready_pid(awake)
    short = env.background()
    result = _csup(env, "stop", "--all", "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ended the asleep session" in result.stdout and f"claude pid {awake_cli}" in result.stdout
    assert f"background session {short}" in result.stdout
    assert f"claude --resume {conversation}" in result.stdout
    assert exit_status(sleeper) == 124 and exit_status(awake) in (0, 143)
    assert _status(env)["sessions"] == [] and _status(env)["asleep"] == []


def test_a_takeover_of_an_asleep_session_is_admitted_by_the_policy_like_any_start(env: Env) -> None:
    """Taking an asleep session's conversation over starts a session: at the limit (here an awake supervised
    session and an unmanaged one fill max_sessions 2) it is refused, and the asleep one was not ended for it."""
    _sleepy(env)
    env.vars["CSUP_MAX_SESSIONS"] = "3"
    sleeper, _, _ = _asleep_session(env)
    env.vars["CSUP_IDLE_LIMIT"] = "1h"
    awake = env.csup("run", "--claude", str(env.unmanaged_program()))
    ready_pid(awake)
    env.stray()
    session = _status(env)["asleep"][0]["id"]  # type: ignore[index]
    env.vars["CSUP_MAX_SESSIONS"] = "2"
    taker = env.csup("takeover", session, "--claude", str(env.program()))
    assert exit_status(taker) == 75
    assert b"the limit is 2" in taker.before
    finish(awake)
    sleeper.send(b"q\r")


def test_an_asleep_session_whose_guardian_is_killed_ends_at_once(env: Env) -> None:
    """The guardian (the pid the shell waits for) killed while its session sleeps: the shell has the terminal
    back, so nobody can wake the session there — it ends at once, as for a closed terminal, saying nothing on the
    shell's screen; its record goes."""
    _sleepy(env)
    child, _, _ = _asleep_session(env)
    [relay] = psutil.Process(child.pid).children()
    child.kill(9)
    wait_for(lambda: not alive(relay.pid), what="the asleep relay to leave")
    assert not status_json(env).get("asleep")
    [ended] = [e for e in _events(env) if e["event"] == "ended"]
    assert ended["reason"] == "its terminal was closed while it was asleep" and ended["code"] == 129
