"""Races with real processes against the real lock: many runs at once, waiters and a takeover at once."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pexpect
import psutil
import pytest

from conftest import Env, exit_status, finish


def _standins_under(pids: list[int]) -> list[int]:
    """Stand-in CLIs running under any of these csup processes."""
    found = []
    for pid in pids:
        try:
            for child in psutil.Process(pid).children(recursive=True):
                if any(part.endswith("standin.py") for part in child.cmdline()):
                    found.append(child.pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("limit", [1, 3])
def test_fifty_runs_at_once_give_exactly_max_sessions(env: Env, limit: int) -> None:
    env.vars["CSUP_MAX_SESSIONS"] = str(limit)
    runs = [env.csup("run", "--claude", str(env.program()), timeout=60) for _ in range(50)]
    outcomes = [run.expect([rb"ready pid=\d+", pexpect.EOF], timeout=60) for run in runs]
    winners = [run for run, outcome in zip(runs, outcomes, strict=True) if outcome == 0]
    assert len(winners) == limit
    refused = [run for run, outcome in zip(runs, outcomes, strict=True) if outcome == 1]
    for run in refused:
        run.close()
        assert run.exitstatus == 75, run.before
    assert len(refused) == 50 - limit
    slots = sorted(json.loads(path.read_text())["session_id"] for path in env.runtime.glob("session*.json"))
    assert len(slots) == limit  # each in a slot of its own
    for winner in winners:
        winner.send(b"exit 0\r")
        assert exit_status(winner) == 0


@pytest.mark.parametrize(("limit", "killed"), [(1, 0), (3, 1)])
def test_a_sigkilled_holder_frees_exactly_its_own_slot(env: Env, limit: int, killed: int) -> None:
    env.vars["CSUP_MAX_SESSIONS"] = str(limit)
    holders = [env.csup("run", "--claude", str(env.program())) for _ in range(limit)]
    for holder in holders:
        holder.expect(b"ready pid=")
    os.kill(holders[killed].pid, signal.SIGKILL)
    exit_status(holders[killed])
    newcomer = env.csup("run", "--claude", str(env.program()))
    newcomer.expect(b"ready pid=")  # the freed slot
    refused = env.csup("run", "--claude", str(env.program()))
    assert exit_status(refused) == 75  # and only that one
    for holder in [*holders[:killed], *holders[killed + 1:], newcomer]:
        finish(holder)


@pytest.mark.parametrize("limit", [1, 3])
def test_waiters_and_takeovers_at_once_never_exceed_max_sessions(env: Env, limit: int) -> None:
    # A holder that is slow to answer on a loaded machine is escalated soon, so the line keeps moving.
    env.vars.update({"CSUP_TERM_WAIT": "1s", "CSUP_TREE_WAIT": "0.5s", "CSUP_STOP_WAIT": "3s",
                     "CSUP_MAX_SESSIONS": str(limit)})
    holders = [env.csup("run", "--claude", str(env.program())) for _ in range(limit)]
    for holder in holders:
        holder.expect(b"ready pid=")
    contenders = [env.csup("run", "--wait", "--claude", str(env.program())) for _ in range(2)]
    contenders += [env.csup("takeover", "--no-resume", "--claude", str(env.program())) for _ in range(limit)]
    everyone = [*holders, *contenders]
    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], len(_standins_under([p.pid for p in everyone])))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        served = 0
        for _ in range(len(contenders)):
            deadline = time.monotonic() + 30
            current = None
            while current is None and time.monotonic() < deadline:
                for contender in contenders:
                    if contender.isalive() and contender.expect([rb"ready pid=", pexpect.TIMEOUT], timeout=0.1) == 0:
                        current = contender
                        break
            assert current is not None, "nobody got a session"
            served += 1
            time.sleep(0.3)
            finish(current)
        assert served == len(contenders)
    finally:
        stop.set()
        watcher.join()
    assert 1 <= peak[0] <= limit
    for holder in holders:
        exit_status(holder)
