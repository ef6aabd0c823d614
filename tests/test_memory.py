"""The memory budget: the measurement against real processes that allocate known amounts (a process tree, each
page counted fairly), the policy's decisions as tables (admission over the budget, pressure: warn, then end the
most idle idle one, never a busy one, one at a time), and the whole path with stand-in sessions holding ~80 MiB
each: the third is refused with their memory listed and admitted once one ends; with the budget lowered while
three run, the enforcer ends the most idle idle one after a warning; status and --json show the figures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from supervisor.core.policy import MEMORY, Memory, Rules, Seen, admit, sweep
from supervisor.core.sizes import SizeError, format_size, parse_size
from supervisor.machine import memory

from conftest import CSUP, DEADLINE, Env, alive, exit_status, finish, ready_pid, wait_for

MIB = 1 << 20
NOW = 10_000.0
HOLDER = ("import sys, time\n"
          "held = bytearray(int(sys.argv[1]) << 20)\n"
          "for page in range(0, len(held), 4096): held[page] = 1\n"
          "print('ready', flush=True)\n"
          "time.sleep(120)\n")


# --- the measurement, of real processes ------------------------------------------------------------------------


def _holding(mib: int, child_mib: int = 0) -> subprocess.Popen[bytes]:
    code = HOLDER if not child_mib else (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {HOLDER!r}, '{child_mib}'], stdout=subprocess.PIPE)\n"
        "child.stdout.readline()\n" + HOLDER)
    proc = subprocess.Popen([sys.executable, "-c", code, str(mib)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    return proc


def test_a_process_tree_is_measured_with_every_member_counted_once() -> None:
    proc = _holding(80, child_mib=40)
    try:
        tree = memory.of_tree(proc.pid)
        assert tree is not None and len(tree.members) == 2
        assert 120 * MIB <= tree.total < 120 * MIB + 80 * MIB  # its own pages, plus a share of the interpreter
        biggest_pid, biggest, _ = tree.members[0]
        assert biggest_pid == proc.pid and biggest >= 80 * MIB
        assert tree.measure == ("PSS" if memory.MEASURE == "PSS" else "USS")
    finally:
        proc.kill()
        proc.wait()


def test_shared_pages_are_not_counted_once_per_process() -> None:
    """Two interpreters map the same binary and libraries: the fair figures sum to well under their RSS."""
    first, second = _holding(1), _holding(1)
    try:
        fair = sum((memory.of_process(p.pid) or 0) for p in (first, second))
        import psutil

        rss = sum(psutil.Process(p.pid).memory_info().rss for p in (first, second))
        assert fair < rss
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()


def test_a_process_that_is_gone_measures_as_nothing() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert memory.of_tree(proc.pid) is None


@pytest.mark.parametrize(("text", "size"), [("4GiB", 4 << 30), ("512MiB", 512 * MIB), ("4G", 4 << 30),
                                            ("1.5g", 3 << 29), ("4GB", 4 * 10**9), ("off", None)])
def test_sizes_read_as_people_type_them(text: str, size: int | None) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["10x", "-1G", "١٢M", "9" * 400, "2PiB"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(SizeError):
        parse_size(text)


def test_sizes_are_shown_in_one_unit_everywhere() -> None:
    assert (format_size(4.6 * (1 << 30)), format_size(300 * MIB), format_size(12 * 1024)) == \
        ("4.6 GiB", "300 MiB", "12 KiB")


# --- the policy, as tables -------------------------------------------------------------------------------------


def s(key: str, idle: float | None, held_mib: int, kind: str = "supervised", **flags: bool) -> Seen:
    return Seen(kind, key, idle, memory=held_mib * MIB, **flags)  # type: ignore[arg-type]


@pytest.mark.parametrize(("others", "budget", "admitted"), [
    ([s("a", 5, 100)], 150 * MIB, True),
    ([s("a", 5, 100), s("b", 5, 100)], 150 * MIB, False),  # at or over the budget: no new session
    ([s("a", 5, 150)], 150 * MIB, False),
    ([s("a", 5, 100), s("b", 5, 100)], None, True),  # no budget
])
def test_admission_refuses_a_new_session_while_the_budget_is_spent(others: list[Seen], budget: int | None,
                                                                  admitted: bool) -> None:
    decision = admit(others, 5, memory_budget=budget)
    assert decision.admitted is admitted
    if not admitted:
        assert decision.over == "memory" and decision.memory == sum(o.memory or 0 for o in others)


RULES = Rules(idle_limit=None, background_idle_limit=None, warn_before=60, memory_budget=300 * MIB,
              memory_min_idle=600, rescan=900)


@pytest.mark.parametrize(("sessions", "victim"), [
    ([s("a", 700, 200), s("b", 900, 200)], "b"),  # the most idle idle one
    ([s("a", 700, 200), s("b", 900, 200, busy=True)], "a"),  # never a busy one
    ([s("a", 700, 200), s("b", 900, 200, kind="background", pinned=True)], "a"),
    ([s("a", 700, 200), s("b", 900, 200, waiting=True)], "a"),
    ([s("a", 100, 200), s("b", 200, 200)], None),  # none idle memory_min_idle yet
    ([s("a", 700, 100), s("b", 900, 100)], None),  # under the budget
    ([s("a", 700, 200), s("b", 900, 200, kind="unmanaged")], "a"),  # unmanaged only with end_unmanaged
])
def test_pressure_warns_the_most_idle_idle_session_then_ends_it(sessions: list[Seen], victim: str | None) -> None:
    remembered = Memory()
    steps, next_at = sweep(sessions, RULES, remembered, NOW)
    if victim is None:
        assert steps == [] and next_at <= NOW + 60  # memory grows unannounced: looked at again within a minute
        return
    assert [(step.action, step.session.key) for step in steps] == [("warn-memory", victim)]
    assert steps[0].held == sum(x.memory or 0 for x in sessions) and next_at == NOW + 60
    assert sweep(sessions, RULES, remembered, NOW + 30)[0] == []  # warned: not yet
    steps, _ = sweep(sessions, RULES, remembered, NOW + 61)
    assert [(step.action, step.session.key) for step in steps] == [("end-memory", victim)]


def test_pressure_ends_one_at_a_time_and_forgets_once_under_the_budget() -> None:
    remembered = Memory()
    both = [s("a", 700, 200), s("b", 900, 200)]
    sweep(both, RULES, remembered, NOW)
    assert list(remembered.warned) == [MEMORY + "b"]  # one warned, not both
    steps, _ = sweep([s("a", 700, 200), s("b", 900, 50)], RULES, remembered, NOW + 61)  # b shrank: under
    assert steps == [] and remembered.warned == {}


# --- the whole path, with stand-in sessions holding ~80 MiB each ---------------------------------------------


def _status(env: Env) -> dict[str, object]:
    result = subprocess.run([*CSUP, "status", "--json"], env=env.vars, capture_output=True, text=True,
                            timeout=DEADLINE)
    return dict(json.loads(result.stdout))


def _start(env: Env) -> tuple[object, int]:
    child = env.csup("run", "--claude", str(env.program()), "--", "--allocate", "80")
    return child, ready_pid(child)


def test_the_third_session_is_refused_over_the_budget_and_admitted_once_one_ends(env: Env) -> None:
    # One stand-in holding 80 MiB measures ~90 MiB: a budget of 130 MiB lies between one and two of them.
    env.vars.update({"CSUP_MAX_SESSIONS": "3", "CSUP_MEMORY_BUDGET": "130MiB"})
    first, _ = _start(env)
    second, _ = _start(env)  # admitted: one session held less than the budget
    third = env.csup("run", "--claude", str(env.program()))
    assert exit_status(third) == 75
    text = third.before.decode()
    assert "the memory budget is 130 MiB (memory_budget)" in text and text.count(" MiB") >= 3
    assert text.count("supervised ") == 2 and "csup stop ID" in text
    status = _status(env)
    assert status["schema"] == 5 and status["memory"]["budget"] == 130 * MIB  # type: ignore[index]
    assert all(entry["memory_bytes"] >= 80 * MIB for entry in status["sessions"])  # type: ignore[union-attr]
    assert status["memory"]["total"] == sum(e["memory_bytes"] for e in status["sessions"])  # type: ignore[index, union-attr]
    text = subprocess.run([*CSUP, "status"], env=env.vars, capture_output=True, text=True, timeout=DEADLINE).stdout
    assert "of a budget of 130 MiB" in text and "over it" in text
    finish(first)
    admitted = env.csup("run", "--claude", str(env.program()))
    ready_pid(admitted)
    finish(admitted)
    finish(second)


def test_with_the_budget_lowered_the_enforcer_ends_the_most_idle_idle_one_never_the_busy_one(env: Env) -> None:
    # The enforcer here is `csup watch --once` (as from cron): the file gives the sessions nothing a watcher on
    # demand would enforce, so none starts and takes the enforcing over.
    Path(env.vars["CSUP_CONFIG"]).write_text('background_idle_limit = "off"\n')
    env.vars.update({"CSUP_MAX_SESSIONS": "3", "CSUP_NOTIFY": "off"})
    started = []
    for _ in range(3):
        started.append(_start(env))
        time.sleep(0.5)  # the first is the most idle
    busy_child, busy_pid = started[0]
    busy_child.send(b"status busy\r")  # type: ignore[attr-defined]  # the most idle one is busy: never chosen
    busy_child.expect(b"status busy")  # type: ignore[attr-defined]
    time.sleep(1.2)
    enforcer = {"CSUP_MEMORY_BUDGET": "150MiB", "CSUP_MEMORY_MIN_IDLE": "1s", "CSUP_WARN_BEFORE": "1s",
                "CSUP_IDLE_LIMIT": "1h", "CSUP_BACKGROUND_IDLE_LIMIT": "off"}
    look = subprocess.run([*CSUP, "watch", "--once"], env=env.vars | enforcer, capture_output=True, text=True,
                          timeout=DEADLINE * 2, stdin=subprocess.DEVNULL)
    warned = started[1][1]
    assert "over the memory budget, warned session" in look.stdout, look.stdout + look.stderr
    time.sleep(1.2)
    ended = subprocess.run([*CSUP, "watch", "--once"], env=env.vars | enforcer, capture_output=True, text=True,
                           timeout=DEADLINE * 3, stdin=subprocess.DEVNULL)
    assert "over the memory budget, ended session" in ended.stdout, ended.stdout + ended.stderr
    victim = started[1][0]
    # No conversation to resume (it never had a prompt): the memory end is an end, not a sleep.
    victim.expect(rb"session ended: the sessions held more than the memory budget")  # type: ignore[attr-defined]
    exit_status(victim)  # type: ignore[arg-type]
    wait_for(lambda: len(_status(env)["sessions"]) == 2, what="two sessions left")  # type: ignore[arg-type]
    pids = [entry["pid"] for entry in _status(env)["sessions"]]  # type: ignore[union-attr]
    assert busy_pid in pids and warned not in pids
    events = [json.loads(line) for line in (env.root / "state" / "events.jsonl").read_text().splitlines()]
    [warning] = [e for e in events if e["event"] == "warned-memory"]
    assert "memory budget 150 MiB: sessions held" in warning["reason"] and "this one idle" in warning["reason"]
    for child, _ in (started[0], started[2]):
        finish(child)  # type: ignore[arg-type]


def test_make_room_makes_room_for_memory_too(env: Env) -> None:
    env.vars.update({"CSUP_MAX_SESSIONS": "3", "CSUP_MEMORY_BUDGET": "130MiB", "CSUP_MAKE_ROOM": "1s"})
    first, first_cli = _start(env)
    second, _ = _start(env)
    first.send(b"transcript\r")  # type: ignore[attr-defined]
    time.sleep(1.5)
    second.send(b"echo keep me\r")  # type: ignore[attr-defined]  # the other one is in use
    new = env.csup("run", "--claude", str(env.program()))
    new.expect(rb"to make room")
    ready_pid(new)
    first.expect(rb"csup: asleep \xe2\x80\x94 made room for pid \d+")  # type: ignore[attr-defined]
    assert not alive(first_cli)  # the idle one made the room (asleep: its CLI is gone); the one in use runs on
    first.send(b"q\r")  # type: ignore[attr-defined]
    assert exit_status(first) == 124  # type: ignore[arg-type]
    finish(new)
    finish(second)  # type: ignore[arg-type]
