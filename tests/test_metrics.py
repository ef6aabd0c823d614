"""`csup metrics` in the Prometheus text format, read back by the client library's own parser: the sessions by
CLI, kind and state (an asleep one apart), their memory and idle time, and the counters from the log; and the
metrics file the watcher keeps for node_exporter's textfile collector."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from conftest import CSUP, DEADLINE, Env, finish, ready_pid

ASLEEP = rb"csup: asleep"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _metrics(env: Env) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    result = subprocess.run([*CSUP, "metrics"], env=env.vars, capture_output=True, text=True, timeout=DEADLINE,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return _samples(result.stdout)


def test_metrics_count_every_session_and_what_csup_did(env: Env) -> None:
    env.vars.update({"CSUP_MAX_SESSIONS": "2", "CSUP_IDLE_LIMIT": "3s", "CSUP_WARN_BEFORE": "1s",
                     "CSUP_NOTIFY": "off", "CSUP_BACKGROUND_IDLE_LIMIT": "off"})
    sleeper = env.csup("run", "--claude", str(env.program()))
    ready_pid(sleeper)
    sleeper.send(b"transcript\r")
    sleeper.expect(ASLEEP, timeout=DEADLINE)
    env.vars["CSUP_IDLE_LIMIT"] = "1h"
    awake = env.csup("run", "--claude", str(env.program()), "--", "--allocate", "20")
    ready_pid(awake)
    figures = _metrics(env)
    assert figures[("csup_sessions", (("cli", "claude"), ("kind", "asleep"), ("state", "asleep")))] == 1
    assert figures[("csup_sessions", (("cli", "claude"), ("kind", "supervised"), ("state", "active")))] == 1
    assert figures[("csup_max_sessions", ())] == 2
    assert figures[("csup_slept_total", ())] == 1 and figures[("csup_memory_freed_bytes_total", ())] > 0
    [held] = [v for (name, _), v in figures.items() if name == "csup_session_memory_bytes"]
    assert held >= 20 << 20 and figures[("csup_memory_held_bytes", ())] == held
    assert any(name == "csup_session_idle_seconds" for name, _ in figures)
    sleeper.send(b"q\r")
    finish(awake)


def test_the_watcher_keeps_a_metrics_file_for_the_textfile_collector(env: Env) -> None:
    target = env.root / "textfile" / "csup.prom"
    target.parent.mkdir()
    Path(env.vars["CSUP_CONFIG"]).write_text(f'metrics_file = {json.dumps(str(target))}\n')
    result = subprocess.run([*CSUP, "watch", "--once"], env=env.vars, capture_output=True, text=True,
                            timeout=DEADLINE, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    figures = _samples(target.read_text())
    assert figures[("csup_max_sessions", ())] == 1
    assert oct(target.stat().st_mode & 0o777) == "0o644" and not list(target.parent.glob(".csup-*"))
