"""Races with real processes against the real lock: many runs at once, waiters and a takeover at once."""

from __future__ import annotations

import threading
import time

import pexpect
import psutil

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


def test_fifty_runs_at_once_give_exactly_one_session(env: Env) -> None:
    runs = [env.csup("run", "--claude", str(env.program()), timeout=60) for _ in range(50)]
    outcomes = [run.expect([rb"ready pid=\d+", pexpect.EOF], timeout=60) for run in runs]
    winners = [run for run, outcome in zip(runs, outcomes, strict=True) if outcome == 0]
    assert len(winners) == 1
    refused = [run for run, outcome in zip(runs, outcomes, strict=True) if outcome == 1]
    for run in refused:
        run.close()
        assert run.exitstatus == 75, run.before
    assert len(refused) == 49
    winners[0].send(b"exit 0\r")
    assert exit_status(winners[0]) == 0


def test_waiters_and_a_takeover_at_once_never_make_two_sessions(env: Env) -> None:
    env.vars.update({"CSUP_TERM_WAIT": "1s", "CSUP_TREE_WAIT": "0.5s"})
    holder = env.csup("run", "--claude", str(env.program()))
    holder.expect(b"ready pid=")
    contenders = [env.csup("run", "--wait", "--claude", str(env.program())) for _ in range(2)]
    contenders.append(env.csup("takeover", "--no-resume", "--claude", str(env.program())))
    everyone = [holder, *contenders]
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
            deadline = time.monotonic() + 20
            current = None
            while current is None and time.monotonic() < deadline:
                for contender in contenders:
                    if contender.isalive() and contender.expect([rb"ready pid=", pexpect.TIMEOUT], timeout=0.1) == 0:
                        current = contender
                        break
            assert current is not None, "nobody got the session"
            served += 1
            time.sleep(0.3)
            finish(current)
        assert served == 3
    finally:
        stop.set()
        watcher.join()
    assert peak[0] == 1
    exit_status(holder)
