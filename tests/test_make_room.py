"""`make_room`: at the limit, a new session ends the most idle session idle at least that long instead of being
refused — through real ptys with the stand-in: the new terminal says what it ended and how to bring it back, the
old one says why its session ended, the log has both; a busy session is never chosen; two racing starts end one;
a background session is ended through its daemon. (Which one the policy chooses is tabled in test_policy.py.)"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid

import pexpect
import psutil
import pytest

from conftest import Env, alive, exit_status, finish, ready_pid, wait_for

ROOM = {"CSUP_MAX_SESSIONS": "1", "CSUP_MAKE_ROOM": "1s", "CSUP_NOTIFY": "off"}


def _log(env: Env) -> list[dict[str, object]]:
    path = env.root / "state" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _idle_record(env: Env, seconds: float) -> None:
    """Wait until the holder's record says it has been idle this long (it is written every few seconds)."""
    def idle_enough() -> bool:
        record = json.loads((env.runtime / "session.json").read_text())
        return time.time() - float(record["last_activity_at"]) >= seconds
    wait_for(idle_enough, timeout=seconds + 8, what=f"the session to be idle {seconds}s")


def test_an_idle_session_is_ended_to_make_room_and_both_terminals_say_so(env: Env) -> None:
    env.vars.update(ROOM)
    old = env.csup("run", "--claude", str(env.program()))
    old_cli = ready_pid(old)
    old.send(b"transcript\r")  # a conversation that can be resumed
    old.expect(b"transcript ")
    conversation = json.loads((env.runtime / "session.json").read_text())["conversation_id"]
    _idle_record(env, 1.5)
    new = env.csup("run", "--claude", str(env.program()))
    new.expect(rb"csup: ended session ([0-9a-f]{8}) idle \S+ in \S+ to make room \xe2\x80\x94 resume: ")
    new.expect(f"claude --resume {conversation}".encode())
    ready_pid(new)  # then it runs
    # Made room for: asleep, its CLI's tree gone and its place free; q leaves with the resume line.
    old.expect(rb"csup: asleep \xe2\x80\x94 made room for pid \d+ on /dev/pts/\d+ \(make_room\)")
    assert not alive(old_cli)
    old.send(b"q\r")
    old.expect(f"claude --resume {conversation}".encode())
    assert exit_status(old) == 124
    events = _log(env)
    [made] = [e for e in events if e["event"] == "made-room"]
    assert made["kind"] == "supervised" and made["gone"] is True and "made room for pid" in str(made["reason"])
    assert any(e["event"] == "slept" and "made room for pid" in str(e["reason"]) for e in events)
    assert any(e["event"] == "ended" and e.get("how") == "left" for e in events)
    finish(new)


def test_a_busy_session_is_never_chosen_and_the_usual_refusal_follows(env: Env) -> None:
    env.vars.update(ROOM)
    old = env.csup("run", "--claude", str(env.program()))
    ready_pid(old)
    old.send(b"status busy\r")  # Claude Code's registry: working on a turn
    old.expect(b"status busy")
    _idle_record(env, 1.5)
    new = env.csup("run", "--claude", str(env.program()))
    assert exit_status(new) == 75
    assert "a claude session is already running" in new.before.decode()
    assert re.search(r"make_room ended none: none is idle 1s or more and free to end \(supervised \w+ busy\)",
                     new.before.decode())
    assert old.isalive()
    finish(old)


def test_a_session_not_idle_long_enough_is_not_chosen(env: Env) -> None:
    env.vars.update(ROOM | {"CSUP_MAKE_ROOM": "1h"})
    old = env.csup("run", "--claude", str(env.program()))
    ready_pid(old)
    new = env.csup("run", "--claude", str(env.program()))
    assert exit_status(new) == 75
    assert old.isalive()
    finish(old)


def test_two_racing_starts_end_one_session_and_never_each_other(env: Env) -> None:
    env.vars.update(ROOM)
    old = env.csup("run", "--claude", str(env.program()))
    ready_pid(old)
    _idle_record(env, 1.5)
    racers: list[pexpect.spawn] = []

    def start() -> None:
        racers.append(env.csup("run", "--claude", str(env.program())))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = []
    for racer in racers:
        index = racer.expect([rb"ready pid=", pexpect.EOF], timeout=20)
        outcomes.append(index)
    assert sorted(outcomes) == [0, 1]  # one runs, the other is refused
    refused = racers[outcomes.index(1)]
    refused.close()
    assert refused.exitstatus == 75
    assert len([e for e in _log(env) if e["event"] == "made-room"]) == 1
    exit_status(old)
    finish(racers[outcomes.index(0)])


def test_a_background_session_makes_room_through_its_daemon(env: Env) -> None:
    short = env.background()
    env.vars.update(ROOM)
    time.sleep(1.2)
    new = env.csup("run", "--claude", str(env.program()))
    new.expect(rb"csup: ended background session (\w+) idle \S+ in \S+ to make room \xe2\x80\x94 bring it back: "
               rb"claude attach (\w+)")
    assert new.match.group(1).decode() == short
    ready_pid(new)
    assert env.background_registry() == []
    ended = [e for e in _log(env) if e["event"] == "ended-background"]
    assert [(e["short"], e["how"], e["gone"]) for e in ended] == [(short, "make-room", True)]
    assert re.search(r"made room for pid \d+", str(ended[0]["reason"]))
    finish(new)


def test_with_an_unmanaged_session_beside_it_the_room_made_is_room_enough(env: Env) -> None:
    """max_sessions 2, an unmanaged session and an idle supervised one: ending the supervised one frees its place
    and the count; the new session starts (once it was refused right after the end, counted as still starting)."""
    env.vars.update(ROOM | {"CSUP_MAX_SESSIONS": "2"})
    stray = env.stray()  # unmanaged: not a kind make_room may end (end_unmanaged is off)
    old = env.csup("run", "--claude", str(env.unmanaged_program()))
    ready_pid(old)
    _idle_record(env, 1.5)
    new = env.csup("run", "--claude", str(env.unmanaged_program()))
    new.expect(rb"to make room")
    ready_pid(new)
    exit_status(old)
    assert stray.isalive()
    finish(new)


def _live_clis(token: str) -> list[tuple[int, int, str]]:
    """This test's CLIs alive now, supervised or not (each was given `token` as an argument): zombies are gone."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status", "ppid"]):
        cmdline = proc.info["cmdline"] or []
        if token in cmdline and "run" not in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append((proc.pid, proc.info["ppid"], " ".join(cmdline)[-60:]))
    # A process of a CLI's own tree (a fork of it, for a moment) is part of that session, not another one.
    pids = {pid for pid, _, _ in found}
    return [entry for entry in found if entry[1] not in pids]


@pytest.mark.parametrize("limit", [1, 2])
def test_racing_starts_never_run_more_than_the_limit_while_a_slow_victim_dies(env: Env, limit: int) -> None:
    """The gate is held from the claim to the decision, making room included: while the session chosen to make
    room takes its time to die (it ignores SIGTERM: term_wait, then SIGKILL), no racing start gets in, and at
    no moment do more sessions run than max_sessions (with 2, an unmanaged session holds the other place)."""
    token = f"race-{uuid.uuid4().hex[:8]}"
    env.vars.update(ROOM | {"CSUP_TERM_WAIT": "2s", "CSUP_TREE_WAIT": "1s", "CSUP_MAX_SESSIONS": str(limit)})
    program = str(env.unmanaged_program())  # recognised by the census: the unmanaged one counts
    if limit == 2:
        env.stray(token)
    victim = env.csup("run", "--claude", program, "--", "--ignore-term", token)
    ready_pid(victim)
    _idle_record(env, 1.5)
    most, stop, seen = [0], threading.Event(), []

    def sample() -> None:
        while not stop.is_set():
            clis = _live_clis(token)
            if len(clis) > most[0]:
                most[0], seen[:] = len(clis), clis
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    racers = [env.csup("run", "--claude", program, "--", token, timeout=40) for _ in range(3)]
    outcomes = [racer.expect([rb"ready pid=", pexpect.EOF], timeout=40) for racer in racers]
    time.sleep(0.5)
    stop.set()
    sampler.join()
    assert sorted(outcomes) == [0, 1, 1], outcomes  # one runs, the others are refused at the limit
    assert most[0] == limit, f"{most[0]} sessions ran at once with max_sessions {limit}: {seen}"
    for racer, outcome in zip(racers, outcomes, strict=True):
        if outcome == 1:
            racer.close()
            assert racer.exitstatus == 75
    # Made room for with no conversation to resume (it never had a prompt): it ends rather than sleeps.
    victim.expect(rb"session ended: made room for pid \d+", timeout=20)
    exit_status(victim)
    finish(racers[outcomes.index(0)])


def test_a_session_typed_into_since_its_record_was_written_declines_and_is_not_ended(env: Env) -> None:
    """A supervised session's record learns of activity every few seconds, so making room may choose a session
    that was typed into a moment ago: the session itself confirms it is idle, and declines when it is not."""
    env.vars.update(ROOM)
    old = env.csup("run", "--claude", str(env.program()))
    old_cli = ready_pid(old)
    _idle_record(env, 1.5)
    old.send(b"echo still here\r")  # in use now; its record will say so only at its next write
    old.expect(b"echo: still here")
    new = env.csup("run", "--claude", str(env.program()))
    assert exit_status(new) == 75
    assert alive(old_cli)
    assert any(e["event"] == "declined" and e.get("reason", "").startswith("idle only") for e in _log(env))
    assert not list(env.runtime.glob("*.declined"))  # the answer read is gone
    finish(old)
