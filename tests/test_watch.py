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

from supervisor.machine.service import service_file

from conftest import CSUP, DEADLINE, Env, alive, require, wait_for


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
    second = subprocess.run([*CSUP, "watch"], env=env.vars, capture_output=True, text=True, timeout=DEADLINE,
                            stdin=subprocess.DEVNULL)
    assert second.returncode == 75 and f"csup watch already runs (pid {watcher.pid}) in a terminal" in second.stderr
    look = _watch_once(env)  # a look works while a watcher runs: it says what is due and acts on nothing
    assert look.returncode == 0 and f"the watcher (pid {watcher.pid}) acts on them" in look.stdout
    status = json.loads(subprocess.run([*CSUP, "status", "--json"], env=env.vars, capture_output=True, text=True,
                                       timeout=DEADLINE).stdout)
    assert status["watcher"]["pid"] == watcher.pid
    text = subprocess.run([*CSUP, "status"], env=env.vars, capture_output=True, text=True, timeout=DEADLINE).stdout
    assert f"watcher: in a terminal (pid {watcher.pid})" in text
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(timeout=DEADLINE) == 0  # the manager's stop: at once, cleanly
    said = watcher.stdout.read().decode() if watcher.stdout else ""
    assert "csup watch: watching every agent session outside csup's terminals" in said  # in a terminal: not mute
    assert "csup watch: stopped" in said
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
    assert status.returncode == 1 and "installed" in status.stdout and "none runs" in status.stdout
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


def test_an_on_demand_watcher_leaves_once_nothing_is_left_and_a_second_one_yields(env: Env) -> None:
    Path(env.vars["CSUP_CONFIG"]).write_text('watch_linger = "1s"\n')
    first = subprocess.Popen([*CSUP, "watch", "--on-demand"], env=env.vars, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    env.track(first.pid)
    wait_for((env.runtime / "watch.json").exists, what="the on-demand watcher's state")
    # A second one started now waits for the first to leave (a handover), then watches, then leaves in turn.
    second = subprocess.run([*CSUP, "watch", "--on-demand"], env=env.vars, capture_output=True, text=True,
                            timeout=DEADLINE, stdin=subprocess.DEVNULL)
    assert second.returncode == 0
    assert first.wait(timeout=DEADLINE) == 0  # nothing to watch for watch_linger: it left by itself
    assert not (env.runtime / "watch.json").exists()
    events = [e for e in _log(env) if e["event"] in ("watch-started", "watch-stopped")]
    assert [e["event"] for e in events] == ["watch-started", "watch-stopped"] * (len(events) // 2)  # never two
    assert all(e["reason"] == "nothing left to watch" for e in events if e["event"] == "watch-stopped")


def test_a_running_watcher_follows_the_config_file_as_it_changes(env: Env) -> None:
    config = Path(env.vars["CSUP_CONFIG"])
    config.write_text('background_idle_limit = "off"\nnotify = false\n')
    short = env.background()
    watcher = subprocess.Popen([*CSUP, "watch"], env=env.vars, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env.track(watcher.pid)
    wait_for((env.runtime / "watch.json").exists, what="the watcher's state file")

    def rules() -> dict[str, object]:
        status = json.loads(subprocess.run([*CSUP, "status", "--json"], env=env.vars, capture_output=True,
                                           text=True, timeout=DEADLINE).stdout)
        return dict(status["watcher"]["rules"]) if status["watcher"] else {}

    assert rules()["background_idle_limit"] is None
    time.sleep(1.5)
    config.write_text('background_idle_limit = "1s"\nnotify = false\n')  # no restart, no kill
    wait_for(lambda: any(e["event"] == "ended-background" and e["short"] == short for e in _log(env)),
             timeout=DEADLINE, what="the new limit to be applied")
    assert rules()["background_idle_limit"] == 1.0
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(timeout=DEADLINE) == 0


def test_a_running_watcher_is_stopped_by_a_command_and_an_uninstall_of_nothing_says_so(env: Env) -> None:
    watcher = subprocess.Popen([*CSUP, "watch"], env=env.vars, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env.track(watcher.pid)
    wait_for((env.runtime / "watch.json").exists, what="the watcher's state file")
    stopped = subprocess.run([*CSUP, "watch", "--stop"], env=env.vars, capture_output=True, text=True,
                             timeout=DEADLINE, stdin=subprocess.DEVNULL)
    assert stopped.returncode == 0 and f"stopped the watcher (pid {watcher.pid})" in stopped.stdout
    assert watcher.wait(timeout=DEADLINE) == 0
    again = subprocess.run([*CSUP, "watch", "--stop"], env=env.vars, capture_output=True, text=True,
                           timeout=DEADLINE, stdin=subprocess.DEVNULL)
    assert again.returncode == 0 and "no watcher runs" in again.stdout
    env.vars["XDG_CONFIG_HOME"] = str(env.root / "xdg")  # no unit in this test's world
    nothing = subprocess.run([*CSUP, "service", "uninstall"], env=env.vars, capture_output=True, text=True,
                             timeout=DEADLINE, stdin=subprocess.DEVNULL)
    assert nothing.returncode == 0 and "no csup service is installed; nothing was removed" in nothing.stdout
