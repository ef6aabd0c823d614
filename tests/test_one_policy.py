"""The one policy as a user strings the features together: sessions started one after another in several
terminals (their CLIs recognisable to the census, as real ones are), a waiter handed a free place, a SIGKILLed
holder, `claude --bg` through the alias, the enforcer started on demand ending a background session and the log
saying so, reports that say only what happened — and the enforcer's sweep in-process, with its views of the
processes and the registry and its clock handed in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pexpect
import pytest

from supervisor.clis.adapter import Conversation, LiveSession
from supervisor.core.policy import Memory
from supervisor.core.settings import resolve
from supervisor.flows.census import Census
from supervisor.flows.sessions import take_snapshot
from supervisor.flows.watch import sweep
from supervisor.machine.paths import Paths

from conftest import CSUP, DEADLINE, Env, alive, exit_status, finish, guardian_in, ready_pid, relay_pid, wait_for
from fakes import FakeClock


def _csup(env: Env, *args: str, timeout: float = DEADLINE * 2) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CSUP, *args], env=env.vars, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=str(env.root))


def _status(env: Env) -> dict[str, object]:
    return dict(json.loads(_csup(env, "status", "--json").stdout))


def _start(env: Env) -> tuple[pexpect.spawn, int]:
    """A supervised session whose CLI the census recognises as claude (as the real one is): the case where
    csup once counted its own sessions twice."""
    child = env.csup("run", "--claude", str(env.unmanaged_program()))
    return child, ready_pid(child)


def _log(env: Env) -> list[dict[str, object]]:
    path = env.root / "state" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_three_started_one_after_another_all_run_and_the_fourth_is_refused_naming_them(env: Env) -> None:
    env.vars["CSUP_MAX_SESSIONS"] = "3"
    started = []
    for _ in range(3):
        started.append(_start(env))
        wait_for(lambda: len(_status(env)["sessions"]) == len(started), what="the session in status")  # type: ignore[arg-type]
    status = _status(env)
    assert [s["kind"] for s in status["sessions"]] == ["supervised"] * 3  # type: ignore[union-attr, index]
    assert status["unmanaged"] == []
    fourth = env.csup("run", "--claude", str(env.unmanaged_program()))
    assert exit_status(fourth) == 75
    text = fourth.before.decode()
    assert "3 agent session(s) are running, the limit is 3" in text
    assert text.count("supervised ") == 3 and "unmanaged" not in text
    for _, pid in started:
        assert f"{env.claude_name} pid {pid}" in text  # a program csup does not know: named by its own name
    for child, _ in started:
        finish(child)


def test_a_waiter_handed_a_free_place_starts(env: Env) -> None:
    env.vars["CSUP_MAX_SESSIONS"] = "2"
    first, _ = _start(env)
    second, _ = _start(env)
    waiter = env.csup("run", "--wait", "--claude", str(env.unmanaged_program()))
    waiter.expect(b"waiting for")
    finish(first)
    ready_pid(waiter)  # not refused: the sessions beside it are counted once
    finish(waiter)
    finish(second)


def test_a_sigkilled_holder_frees_its_place_for_the_next_run(env: Env) -> None:
    env.vars.update({"CSUP_MAX_SESSIONS": "2", "CSUP_TERM_WAIT": "1s"})
    first, first_cli = _start(env)
    second, _ = _start(env)
    os.kill(relay_pid(first), signal.SIGKILL)  # its guardian ends its CLI
    wait_for(lambda: not alive(first_cli), what="the orphaned CLI to be ended by the guardian")
    third, _ = _start(env)
    finish(third)
    finish(second)


def test_claude_bg_through_the_alias_counts_the_supervised_sessions_once(env: Env) -> None:
    env.vars.update({"CSUP_MAX_SESSIONS": "2", "CSUP_CLAUDE": str(env.unmanaged_program())})
    holder, _ = _start(env)
    launched = env.csup("run", "--claude", str(env.unmanaged_program()), "--", "--bg")
    launched.expect(b"backgrounded")
    assert exit_status(launched) == 0
    assert len(env.background_registry()) == 1
    refused = env.csup("run", "--claude", str(env.unmanaged_program()), "--", "--bg")
    assert exit_status(refused) == 75  # now two: the supervised one and the background one
    finish(holder)


def test_a_background_session_started_through_the_alias_is_ended_on_demand_and_logged(env: Env) -> None:
    """No service installed: `claude --bg` through the alias starts the enforcer, which sees the new session at
    once (the registry tells it) and ends it at its limit through the daemon; `csup log` says so; and once there
    is nothing left, the enforcer leaves."""
    # The enforcer follows the config file (as a service would), not the environment of whoever started it.
    Path(env.vars["CSUP_CONFIG"]).write_text('background_idle_limit = "2s"\nnotify = false\n')
    env.vars.update({"CSUP_CLAUDE": str(env.program()), "CSUP_IDLE_LIMIT": "1s"})  # this one run's: not the watcher's
    started = time.monotonic()
    launched = env.csup("run", "--claude", str(env.program()), "--", "--bg")
    launched.expect(rb"backgrounded \xc2\xb7 ([0-9a-f]{8})")
    short = launched.match.group(1).decode()
    assert exit_status(launched) == 0
    wait_for(lambda: env.watcher_pid() is not None, what="the watcher started on demand")
    watcher = env.watcher_pid()
    status = _status(env)
    assert status["enforcer"] == "on-demand"
    wait_for(lambda: env.background_registry() == [], timeout=2 + 10, what="the background session to end")
    assert time.monotonic() - started < 2 + 10
    wait_for(lambda: any(e["event"] == "ended-background" for e in _log(env)), what="the watcher's event")
    ended = [e for e in _log(env) if e["event"] == "ended-background"]
    assert [(e["short"], e["gone"], e["how"]) for e in ended] == [(short, True, "idle")]
    log = _csup(env, "log")
    assert f"background {short}" in log.stdout and "idle" in log.stdout
    assert watcher is not None and alive(watcher)  # it leaves once nothing has been left for a while
    rules = _status(env)["watcher"]["rules"]  # type: ignore[index]
    assert rules["background_idle_limit"] == 2 and rules["idle_limit"] == 1800  # the file's, not CSUP_IDLE_LIMIT


def test_watch_once_says_only_what_happened_when_the_daemon_does_not_end_it(env: Env) -> None:
    short = env.background()
    env.vars.update({"CSUP_BACKGROUND_IDLE_LIMIT": "1s", "CSUP_NOTIFY": "off", "STANDIN_STOP_REFUSED": "1"})
    time.sleep(1.2)
    result = _csup(env, "watch", "--once", timeout=DEADLINE * 3)
    assert result.returncode == 75, result.stdout + result.stderr
    assert f"could not end background session {short}" in result.stdout
    assert "ended background" not in result.stdout
    assert "no watcher runs, so nothing acts until the next" in result.stdout
    assert len(env.background_registry()) == 1
    [event] = [e for e in _log(env) if e["event"] == "ended-background"]
    assert event["gone"] is False
    assert "not-ended" in _csup(env, "log").stdout


def test_the_watcher_takes_where_things_are_from_its_starter_and_the_policy_from_the_file() -> None:
    from supervisor.flows.watch import watcher_environment

    started_by = {"CSUP_RUNTIME_DIR": "/r", "CSUP_CONFIG": "/c.toml", "CSUP_CLAUDE": "/bin/claude",
                  "CSUP_IDLE_LIMIT": "2h", "CSUP_MEMORY_BUDGET": "1GiB", "PATH": "/bin", "HOME": "/h"}
    assert watcher_environment(started_by) == {"CSUP_RUNTIME_DIR": "/r", "CSUP_CONFIG": "/c.toml",
                                               "CSUP_CLAUDE": "/bin/claude", "PATH": "/bin", "HOME": "/h"}


def test_status_never_promises_an_end_nobody_will_carry_out(env: Env) -> None:
    env.background()
    env.vars["CSUP_BACKGROUND_IDLE_LIMIT"] = "10m"
    text = _csup(env, "status").stdout
    assert "nothing ends them: no watcher runs" in text and "ended after" not in text
    assert _status(env)["enforcer"] is None


# --- in-process: the enforcer's sweep with its views handed in -------------------------------------------------


class FakeDaemon:
    """The adapter's side the sweep uses, scripted: which background sessions end when asked."""

    path = ""

    def __init__(self, ends: bool) -> None:
        self.ends = ends
        self.asked: list[str] = []

    def end_background(self, session: LiveSession, wait: float) -> str | None:
        self.asked.append(session.short)
        return None if self.ends else "Claude Code's daemon did not end it in time"

    def bring_back_command(self, session: LiveSession) -> str:
        return f"claude attach {session.short}"

    def live_state(self, pid: int) -> None:
        return None


@pytest.mark.parametrize(("ends", "outcome"), [(True, "ended"), (False, "failed")])
def test_the_sweep_in_process_ends_what_is_due_and_says_what_came_of_it(tmp_path: Path, ends: bool,
                                                                         outcome: str) -> None:
    now = 1_800_000_000.0
    paths = Paths(tmp_path / "run", tmp_path / "state", tmp_path / "config.toml")
    idle = LiveSession(4001, Conversation("c-1", "/w"), "background", short="aaaa0001", status="idle",
                       last_activity=now - 400)
    busy = LiveSession(4002, Conversation("c-2", "/w"), "background", short="aaaa0002", status="busy",
                       last_activity=now - 4000)
    pinned = LiveSession(4003, Conversation("c-3", "/w"), "background", short="aaaa0003", status="idle",
                         last_activity=now - 4000, pinned=True)
    daemon = FakeDaemon(ends)
    snapshot = take_snapshot(paths, 1, daemon, census=lambda managed, stale: Census([], [idle, busy, pinned]),  # type: ignore[arg-type]
                             clock=FakeClock(now, 50.0))  # type: ignore[arg-type]
    settings = resolve({"background_idle_limit": "5m"}, "test", {})
    result = sweep(paths, settings, daemon, Memory(), lambda title, body: None, None, snapshot=snapshot)  # type: ignore[arg-type]
    assert daemon.asked == ["aaaa0001"]  # the busy and the pinned one are spared
    assert [(done.outcome, done.detail) for done in result.done] == [(outcome, "aaaa0001")]
    assert result.seen == 3 and result.failed is (not ends)


def test_a_waiter_whose_guardian_is_killed_leaves_the_line_without_a_word(env: Env) -> None:
    """`csup run --wait`, and the pid the shell waits for killed: the shell has its terminal back, so nothing
    may start there later or write over its prompt — the relay leaves the line at once and says nothing."""
    holder, _ = _start(env)
    # In a shell that goes on (as an interactive one does): the terminal stays, so no hang-up ends the relay.
    shell = env.shell(f"{' '.join(CSUP)} run --wait --claude {env.unmanaged_program()}; echo shell-goes-on; "
                      "sleep 5")
    shell.expect(b"waiting for")
    guardian = guardian_in(shell)
    [relay] = guardian.children()
    guardian.kill()
    shell.expect(b"shell-goes-on")
    wait_for(lambda: not alive(relay.pid), what="the waiting relay to leave")
    assert not list((env.runtime / "queue").glob("*.ticket"))
    assert any(e["event"] == "refused" and e.get("reason") == "terminal-gone" for e in _log(env))
    assert "start refused" in (log := _csup(env, "log").stdout) and "its terminal went back to the shell" in log
    finish(holder)  # the place frees: nothing starts on the shell's terminal, nothing is said there
    shell.expect(pexpect.TIMEOUT, timeout=1)
    assert b"csup" not in shell.before and b"ready" not in shell.before


def test_status_shows_who_waits_in_line(env: Env) -> None:
    holder, _ = _start(env)
    waiter = env.csup("run", "--wait", "--claude", str(env.unmanaged_program()))
    waiter.expect(b"waiting for")
    status = _status(env)
    [waiting] = status["waiting"]  # type: ignore[misc]
    waiting_pid = relay_pid(waiter)
    assert waiting["pid"] == waiting_pid and waiting["kind"] == "wait" and waiting["tty"].startswith("/dev/")
    assert f"waiting in line: csup run --wait (pid {waiting_pid})" in _csup(env, "status").stdout
    finish(holder)
    ready_pid(waiter)
    assert _status(env)["waiting"] == []
    finish(waiter)


def test_an_attached_background_session_shows_its_own_directory(env: Env) -> None:
    short = env.background()  # in env.root
    elsewhere = env.root / "elsewhere"
    elsewhere.mkdir()
    attach = env.csup("run", "--claude", str(env.program()), "--", "attach", short, cwd=str(elsewhere))
    attach.expect(f"attached {short}".encode())
    ready_pid(attach)
    [session] = _status(env)["sessions"]  # type: ignore[misc]
    assert session["kind"] == "supervised" and session["cwd"] == str(env.root)
    attach.send(b"\x1a")
    assert exit_status(attach) == 0


def test_stop_idle_with_none_idle_enough_says_so_rather_than_none_running(env: Env) -> None:
    holder, _ = _start(env)
    result = _csup(env, "stop", "--idle", "1h")
    assert result.returncode == 0 and "none of the 1 session(s) has been idle 1h" in result.stdout
    assert "no session is running" not in result.stdout
    finish(holder)


def test_the_log_names_a_background_session_by_its_own_id_and_a_refusal_by_what_refused_it() -> None:
    from supervisor.core.log_summary import summarise_log

    events = [
        {"ts": 10.0, "event": "started", "session": "a" * 32, "cwd": "/w"},
        {"ts": 20.0, "event": "ended", "session": "a" * 32, "how": "exit", "idle": 3.0, "resume": "claude -r x"},
        {"ts": 20.1, "event": "backgrounded", "session": "a" * 32, "short": "e27c5c9e", "cwd": "/w"},
        {"ts": 30.0, "event": "refused", "reason": "limit", "cwd": "/w"},
    ]
    entries = summarise_log(events, 10)["entries"]
    assert [(e["kind"], e["id"], e["how"]) for e in entries] == [
        ("supervised", "a" * 32, "exit"), ("background", "e27c5c9e", "moved"), ("refused", None, "limit")]
    assert entries[0]["started"] == 10.0 and entries[0]["resume"] == "claude -r x"
