"""`csup watch`: the sweep's decisions as tables (injected clock, no processes), `--once` against real stand-in
sessions, one watcher per user, and the service files the system's manager runs."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from supervisor.core.sweep import Memory, Rules, Seen, decide
from supervisor.machine.service import service_file

from conftest import CSUP, DEADLINE, Env, alive, require, wait_for

RULES = Rules(idle_limit=600, background_idle_limit=300, warn_before=60, end_unmanaged=False, rescan=900)
NOW = 10_000.0


def _bg(idle: float | None, **flags: bool) -> Seen:
    return Seen("background", "bg:abcd1234", None if idle is None else NOW - idle, **flags)


def _um(idle: float | None, key: str = "pid:7:1.0", **flags: bool) -> Seen:
    return Seen("unmanaged", key, None if idle is None else NOW - idle, **flags)


@pytest.mark.parametrize(("session", "actions", "next_in"), [
    (_bg(400), ["end-background"], 900),  # idle past its limit
    (_bg(100), [], 200),  # not yet: wake when it would be
    (_bg(400, busy=True), [], 300),  # working
    (_bg(400, waiting=True), [], 300),  # waiting on a permission prompt: someone must answer, not be culled
    (_bg(400, attached=True), [], 300),  # a terminal shows it
    (_bg(400, pinned=True), [], 300),  # pinned in the agent view
    (_bg(None), [], 900),  # no timestamps: never guessed idle
    (_um(700), ["notify-unmanaged"], 900),  # reported, not ended (end_unmanaged is off)
    (_um(100), [], 500),
    (_um(700, busy=True), [], 600),
])
def test_the_sweep_decides(session: Seen, actions: list[str], next_in: float) -> None:
    steps, next_at = decide([session], RULES, Memory(), NOW)
    assert [step.action for step in steps] == actions
    assert next_at - NOW == pytest.approx(next_in)


def test_an_unmanaged_session_is_reported_once_and_again_after_its_pid_is_reused() -> None:
    memory = Memory()
    assert [s.action for s in decide([_um(700)], RULES, memory, NOW)[0]] == ["notify-unmanaged"]
    assert decide([_um(800)], RULES, memory, NOW + 100)[0] == []  # told already
    decide([], RULES, memory, NOW + 200)  # it ended: forgotten
    assert [s.action for s in decide([_um(700)], RULES, memory, NOW)[0]] == ["notify-unmanaged"]
    # the same pid, another start: another process, another report
    assert [s.action for s in decide([_um(700), _um(700, key="pid:7:2.0")], RULES, memory, NOW)[0]] == \
        ["notify-unmanaged"]


def test_ending_unmanaged_sessions_warns_first_then_ends_after_warn_before() -> None:
    rules = Rules(600, 300, warn_before=60, end_unmanaged=True, rescan=900)
    memory = Memory()
    steps, next_at = decide([_um(560)], rules, memory, NOW)  # within warn_before of the limit
    assert [s.action for s in steps] == ["warn-unmanaged"] and next_at == NOW + 40
    steps, _ = decide([Seen("unmanaged", "pid:7:1.0", NOW - 560)], rules, memory, NOW + 40)
    assert [s.action for s in steps] == ["notify-unmanaged"]  # at the limit, warned 40 s ago: not yet ended
    steps, _ = decide([Seen("unmanaged", "pid:7:1.0", NOW - 560)], rules, memory, NOW + 61)
    assert [s.action for s in steps] == ["end-unmanaged"]
    # Activity in between starts over: no end on the strength of an old warning.
    memory = Memory()
    decide([_um(560)], rules, memory, NOW)
    steps, _ = decide([Seen("unmanaged", "pid:7:1.0", NOW + 10)], rules, memory, NOW + 61)
    assert steps == [] and memory.warned == {}


def _log(env: Env) -> list[dict[str, object]]:
    path = env.root / "state" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _watch_once(env: Env) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CSUP, "watch", "--once"], env=env.vars, capture_output=True, text=True,
                          timeout=DEADLINE * 2, stdin=subprocess.DEVNULL)


def test_once_ends_an_idle_background_session_and_an_unmanaged_one_with_no_csup_running(env: Env) -> None:
    short = env.background()
    stray = env.stray()
    env.vars.update({"CSUP_BACKGROUND_IDLE_LIMIT": "1s", "CSUP_IDLE_LIMIT": "1s", "CSUP_END_UNMANAGED": "on",
                     "CSUP_NOTIFY": "off"})
    time.sleep(1.2)
    first = _watch_once(env)
    assert first.returncode == 0, first.stderr
    assert f"ended background session {short}" in first.stdout
    assert f"warned unmanaged session {stray.pid}" in first.stdout and stray.isalive()
    time.sleep(0.6)  # warn_before is clamped to half the 1s limit
    second = _watch_once(env)
    assert f"ended unmanaged session {stray.pid}" in second.stdout, second.stdout
    wait_for(lambda: not stray.isalive(), what="the unmanaged session to end")
    events = _log(env)
    assert [e["short"] for e in events if e["event"] == "ended-background"] == [short]
    assert [e["cli_pid"] for e in events if e["event"] == "ended-unmanaged"] == [stray.pid]
    assert env.background_registry() == []


def test_unmanaged_sessions_are_only_reported_unless_ending_is_on(env: Env) -> None:
    stray = env.stray()
    env.vars.update({"CSUP_IDLE_LIMIT": "1s", "CSUP_NOTIFY": "off"})
    time.sleep(1.2)
    result = _watch_once(env)
    assert f"reported unmanaged session {stray.pid}" in result.stdout
    assert stray.isalive()
    assert any(e["event"] == "reported-unmanaged" for e in _log(env))


def test_one_watcher_per_user_and_status_knows_it(env: Env) -> None:
    watcher = subprocess.Popen([*CSUP, "watch"], env=env.vars, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    env.track(watcher.pid)
    state = env.runtime / "watch.json"
    wait_for(state.exists, what="the watcher's state file")
    second = _watch_once(env)
    assert second.returncode == 75 and "csup watch already runs" in second.stderr
    status = json.loads(subprocess.run([*CSUP, "status", "--json"], env=env.vars, capture_output=True, text=True,
                                       timeout=DEADLINE).stdout)
    assert status["watcher"]["pid"] == watcher.pid
    text = subprocess.run([*CSUP, "status"], env=env.vars, capture_output=True, text=True, timeout=DEADLINE).stdout
    assert f"watcher: running (pid {watcher.pid})" in text
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(timeout=DEADLINE) == 0  # the manager's stop: at once, cleanly
    assert not state.exists()
    assert [e["event"] for e in _log(env) if e["event"].startswith("watch-")] == ["watch-started", "watch-stopped"]


def test_the_systemd_unit_is_valid(tmp_path: Path) -> None:
    unit = service_file(["/usr/local/bin/csup"], {"HOME": str(tmp_path)}, platform="linux")
    assert unit.path == tmp_path / ".config" / "systemd" / "user" / "csup-watch.service"
    text = unit.content.decode()
    assert "ExecStart=/usr/local/bin/csup watch" in text and "Restart=on-failure" in text
    if not sys.platform.startswith("linux"):
        return  # systemd is Linux's: elsewhere the unit is only rendered (checked above), never used
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze, to validate the unit")
    path = tmp_path / "csup-watch.service"
    path.write_bytes(unit.content.replace(b"/usr/local/bin/csup", sys.executable.encode()))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    result = subprocess.run(["systemd-analyze", "verify", "--user", str(path)], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(runtime)})
    problems = [line for line in result.stderr.splitlines() if "csup-watch" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_the_launchd_agent_parses_and_runs_watch(tmp_path: Path) -> None:
    agent = service_file(["/opt/homebrew/bin/csup"], {"HOME": str(tmp_path)}, platform="darwin")
    assert agent.path == tmp_path / "Library" / "LaunchAgents" / "dev.csup.watch.plist"
    plist = plistlib.loads(agent.content)
    assert plist["Label"] == "dev.csup.watch" and plist["ProgramArguments"] == ["/opt/homebrew/bin/csup", "watch"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}


def test_service_install_and_uninstall_drive_systemctl(env: Env) -> None:
    fake = env.root / "fakebin"
    fake.mkdir()
    calls = env.root / "calls"
    (fake / "systemctl").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (fake / "systemctl").chmod(0o755)
    env.vars["PATH"] = f"{fake}:{env.vars['PATH']}"
    env.vars.pop("XDG_CONFIG_HOME", None)
    installed = subprocess.run([*CSUP, "service", "install"], env=env.vars, capture_output=True, text=True,
                               timeout=DEADLINE)
    assert installed.returncode == 0, installed.stderr
    unit = env.home / ".config" / "systemd" / "user" / "csup-watch.service"
    assert unit.exists() and "watch" in unit.read_text()
    assert calls.read_text().splitlines() == ["--user daemon-reload", "--user enable --now csup-watch.service"]
    status = subprocess.run([*CSUP, "service", "status"], env=env.vars, capture_output=True, text=True,
                            timeout=DEADLINE)
    assert status.returncode == 1 and "installed" in status.stdout and "not running" in status.stdout
    removed = subprocess.run([*CSUP, "service", "uninstall"], env=env.vars, capture_output=True, text=True,
                             timeout=DEADLINE)
    assert removed.returncode == 0 and not unit.exists()
    assert "--user disable --now csup-watch.service" in calls.read_text()


def test_service_install_without_a_manager_says_what_to_do(env: Env) -> None:
    env.vars["PATH"] = str(env.root / "nothing")
    result = subprocess.run([sys.executable, "-m", "supervisor", "service", "install"], env=env.vars,
                            capture_output=True, text=True, timeout=DEADLINE)
    assert result.returncode == 69 and "systemctl is not installed" in result.stderr
    assert "csup watch --once" in result.stderr and "Traceback" not in result.stderr
    assert alive(os.getpid())
