"""At most N sessions (max_sessions), with N = 3: every session listed most idle first, a refusal at the limit
that names them, commands that name the session they act on (by csup's id, a pid or a terminal), `stop --idle`,
takeover and wait. N = 1 keeps today's behaviour (the rest of the suite)."""

from __future__ import annotations

import json
import subprocess
import time

import pexpect

from conftest import CSUP, DEADLINE, Env, alive, exit_status, finish, ready_pid, run_csup, status_json, wait_for


def _status(env: Env) -> dict[str, object]:
    return status_json(env)


def _csup(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return run_csup(env, *args)


def _three(env: Env) -> list[tuple[pexpect.spawn, int]]:
    env.vars["CSUP_MAX_SESSIONS"] = "3"
    started = []
    for _ in range(3):
        child = env.csup("run", "--claude", str(env.program()))
        started.append((child, ready_pid(child)))
        time.sleep(0.3)  # so that the first is the most idle
    wait_for(lambda: len(_status(env)["sessions"]) == 3, what="three sessions in status")  # type: ignore[arg-type]
    return started


def test_status_lists_every_session_most_idle_first(env: Env) -> None:
    started = _three(env)
    status = _status(env)
    sessions = status["sessions"]
    assert status["max_sessions"] == 3 and status["schema"] == 5
    assert [s["pid"] for s in sessions] == [pid for _, pid in started]  # type: ignore[index, union-attr]
    assert all(s["kind"] == "supervised" and len(s["id"]) == 8 for s in sessions)  # type: ignore[union-attr]
    text = subprocess.run([*CSUP, "status"], env=env.vars, capture_output=True, text=True, timeout=DEADLINE).stdout
    assert "3 of at most 3" in text
    for child, _ in started:
        finish(child)


def test_a_refusal_at_the_limit_names_the_sessions_most_idle_first(env: Env) -> None:
    started = _three(env)
    fourth = env.csup("run", "--claude", str(env.program()))
    assert exit_status(fourth) == 75
    text = fourth.before.decode()
    assert "the limit is 3" in text and "csup stop --idle" in text
    positions = [text.index(f"claude pid {pid}") for _, pid in started]
    assert positions == sorted(positions)
    for child, _ in started:
        finish(child)


def test_stop_names_the_session_it_ends_by_id_pid_or_terminal(env: Env) -> None:
    started = _three(env)
    sessions = _status(env)["sessions"]
    by_id = _csup(env, "stop", sessions[1]["id"])  # type: ignore[index]
    assert by_id.returncode == 0, by_id.stderr
    assert not alive(started[1][1]) and alive(started[0][1]) and alive(started[2][1])
    by_pid = _csup(env, "stop", str(started[2][1]))
    assert by_pid.returncode == 0 and not alive(started[2][1])
    tty = _status(env)["sessions"][0]["tty"]  # type: ignore[index]
    by_tty = _csup(env, "stop", str(tty).removeprefix("/dev/"))
    assert by_tty.returncode == 0 and not alive(started[0][1])
    for child, _ in started:
        exit_status(child)


def test_stop_without_an_id_says_and_ends_the_most_idle_one(env: Env) -> None:
    started = _three(env)
    result = _csup(env, "stop")
    assert result.returncode == 0
    assert "the most idle session is supervised" in result.stderr and f"claude pid {started[0][1]}" in result.stderr
    assert not alive(started[0][1]) and alive(started[1][1])
    for child, _ in started[1:]:
        finish(child)
    exit_status(started[0][0])


def test_stop_idle_ends_every_session_idle_that_long(env: Env) -> None:
    started = _three(env)
    time.sleep(6)  # the record learns of activity at most every 5 s (it is never written per keystroke)
    started[2][0].send(b"echo fresh\r")  # activity: its idle clock starts again
    started[2][0].expect(b"echo: fresh")
    wait_for(lambda: _status(env)["sessions"][-1]["idle_seconds"] < 2, what="the record to learn of it")  # type: ignore[index]
    result = _csup(env, "stop", "--idle", "5s")
    assert result.returncode == 0, result.stderr
    assert not alive(started[0][1]) and not alive(started[1][1]) and alive(started[2][1])
    finish(started[2][0])


def test_ids_that_name_nothing_or_several_are_refused_with_the_candidates(env: Env) -> None:
    started = _three(env)
    unknown = _csup(env, "stop", "zzzzzzzz")
    assert unknown.returncode == 2 and "no session matches 'zzzzzzzz'" in unknown.stderr
    ambiguous = _csup(env, "stop", "pts")  # every terminal starts so: too short to be a prefix, and not exact
    assert ambiguous.returncode == 2
    shared = _csup(env, "stop", "/dev/pts/")
    assert shared.returncode == 2 and "names 3 sessions" in shared.stderr and "supervised" in shared.stderr
    assert all(alive(pid) for _, pid in started)
    for child, _ in started:
        finish(child)


def test_takeover_of_a_named_session_takes_its_place(env: Env) -> None:
    started = _three(env)
    target = _status(env)["sessions"][1]  # type: ignore[index]
    taker = env.csup("takeover", "--no-resume", target["id"], "--claude", str(env.program()))  # type: ignore[index]
    ready_pid(taker)
    assert not alive(started[1][1]) and alive(started[0][1]) and alive(started[2][1])
    assert len(_status(env)["sessions"]) == 3  # type: ignore[arg-type]
    for child, _ in [*started[:1], *started[2:]]:
        finish(child)
    finish(taker)
    exit_status(started[1][0])


def test_a_waiter_gets_the_first_place_that_frees(env: Env) -> None:
    started = _three(env)
    waiter = env.csup("run", "--wait", "--claude", str(env.program()))
    waiter.expect(b"waiting")
    finish(started[1][0])
    ready_pid(waiter)
    assert len(_status(env)["sessions"]) == 3  # type: ignore[arg-type]
    for child in (started[0][0], started[2][0], waiter):
        finish(child)


def test_unmanaged_sessions_count_toward_the_limit(env: Env) -> None:
    env.vars["CSUP_MAX_SESSIONS"] = "2"
    env.stray()
    first = env.csup("run", "--claude", str(env.program()))
    ready_pid(first)  # 1 unmanaged + this one = 2
    second = env.csup("run", "--claude", str(env.program()))
    assert exit_status(second) == 75
    assert "unmanaged" in second.before.decode() and "the limit is 2" in second.before.decode()
    finish(first)


def _events(env: Env) -> list[dict[str, object]]:
    path = env.root / "state" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_sibling_sessions_are_never_called_unmanaged_only_a_real_stray_is(env: Env) -> None:
    """Three supervised sessions of a CLI the census recognises, each looking for strays every second: none
    calls its siblings unmanaged (in the log, a notification or status); a claude started outside csup is
    reported by each, once, and is the only one."""
    env.vars.update({"CSUP_MAX_SESSIONS": "3", "CSUP_STRAY_CHECK": "1s", "CSUP_NOTIFY": "off"})
    started = []
    for _ in range(3):
        child = env.csup("run", "--claude", str(env.unmanaged_program()))
        started.append((child, ready_pid(child)))
    wait_for(lambda: len(_status(env)["sessions"]) == 3, what="three sessions in status")  # type: ignore[arg-type]
    time.sleep(2.5)  # every session has looked at least twice
    assert [e for e in _events(env) if e["event"] == "stray"] == []
    assert {s["kind"] for s in _status(env)["sessions"]} == {"supervised"}  # type: ignore[union-attr]
    stray = env.stray()
    wait_for(lambda: len([e for e in _events(env) if e["event"] == "stray"]) >= 3, what="each session's report")
    time.sleep(1.5)
    reports = [e for e in _events(env) if e["event"] == "stray"]
    assert {e["stray_pid"] for e in reports} == {stray.pid} and len(reports) == 3
    for child, _ in started:
        finish(child)
