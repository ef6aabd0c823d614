"""The real Claude Code CLI (pinned; `.ci/run` installs it from npm and sets CLAUDE_CLI_FOR_TESTS), offline, in a
throwaway HOME whose `.claude.json` says onboarding is done and the folder is trusted (CLAUDE_CLI.md): a
supervised session reaches its prompt and ends gracefully with its resume line; a `claude --bg` session is
seen, counted, brought here with attach, and stopped through the daemon without a respawn."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from conftest import CSUP, DEADLINE, Env, exit_status, kill_every_process_of, require, wait_for

REAL = os.environ.get("CLAUDE_CLI_FOR_TESTS", "")
VERSION = "2.1.330"


@pytest.fixture
def real(env: Env) -> Iterator[Env]:
    require(bool(REAL) and Path(REAL).exists(), "the real Claude Code CLI (.ci/run installs it; CLAUDE_CLI_FOR_TESTS)")
    work = env.root / "work"
    work.mkdir()
    (env.home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "lastOnboardingVersion": VERSION,
        "projects": {str(work): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}}}))
    # The real CLI under this test's own name: the census knows it by that, and no other claude on the machine
    # (CI's decoy, the user's own sessions) is any part of this test. Its daemon's sessions are known by the
    # registry in this test's HOME.
    program = env.root / "bin" / env.claude_name
    program.parent.mkdir(parents=True, exist_ok=True)
    program.symlink_to(os.path.realpath(REAL))
    env.vars.update({"DISABLE_AUTOUPDATER": "1", "CSUP_CLAUDE": str(program), "CSUP_CLAUDE_NAMES": env.claude_name})
    env.vars.pop("CLAUDE_CODE_DISABLE_AGENT_VIEW", None)
    try:
        yield env
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run([REAL, "daemon", "stop", "--any"], env=env.vars, cwd=str(work), timeout=15,
                           capture_output=True)
        kill_every_process_of(env.home)


def _status(env: Env) -> dict[str, object]:
    result = subprocess.run([*CSUP, "status", "--json"], env=env.vars, capture_output=True, text=True,
                            timeout=DEADLINE, cwd=str(env.root / "work"))
    return dict(json.loads(result.stdout))


def test_a_supervised_real_session_reaches_its_prompt_and_ends_with_its_resume_line(real: Env) -> None:
    child = real.csup("run", cwd=str(real.root / "work"), timeout=30, dimensions=(30, 100))
    child.expect("/login")  # its screen is drawn with cursor moves: wait for a token, never a phrase
    record = json.loads((real.runtime / "session.json").read_text())
    assert record["conversation_id"] and "--session-id" in record["argv"]
    child.send("hello from csup")  # a typed message is saved as a session, even offline
    time.sleep(0.5)  # typed text and Enter in one read would be taken as a paste
    child.send("\r")
    transcript_dir = real.home / ".claude" / "projects"
    wait_for(lambda: any(transcript_dir.rglob(f"{record['conversation_id']}.jsonl")), timeout=20,
             what="the transcript")
    os.kill(child.pid, signal.SIGTERM)
    child.expect(rf"session ended: csup received SIGTERM\. Resume it: claude --resume {record['conversation_id']}"
                 .encode(), timeout=20)
    assert exit_status(child, timeout=20) == 143


def test_a_real_background_session_is_seen_refused_against_taken_over_and_stopped(real: Env) -> None:
    work = str(real.root / "work")
    launched = subprocess.run([REAL, "--bg", "-n", "csup-ci"], env=real.vars, cwd=work, capture_output=True,
                              text=True, timeout=30)
    assert launched.returncode == 0, launched.stderr
    short = launched.stdout.split("·")[1].strip()
    wait_for(lambda: _status(real)["background"], timeout=15, what="the background session in csup status")
    [entry] = _status(real)["background"]  # type: ignore[misc]
    assert entry["kind"] == "background" and entry["id"] == short and entry["name"] == "csup-ci"
    conversation = entry["session_id"]

    refused = real.csup("run", cwd=work)
    assert exit_status(refused) == 75
    assert f"background {short}" in refused.before.decode()

    taker = real.csup("takeover", cwd=work, timeout=30, dimensions=(30, 100))
    taker.expect(f"bringing background session {short} here".encode())
    taker.expect("❯".encode())  # the session's own prompt, through `claude attach`
    record = json.loads((real.runtime / "session.json").read_text())
    assert record["attached"] == short and record["argv"][1:] == ["attach", short]
    [still] = _status(real)["background"] or [entry]  # type: ignore[misc]
    assert still["session_id"] == conversation  # the same conversation, not a restart
    taker.send(b"\x1a")  # attach's Ctrl+Z detaches
    taker.expect(f"bring it back: claude attach {short}".encode(), timeout=15)
    assert exit_status(taker, timeout=15) == 0

    stopped = subprocess.run([*CSUP, "stop", "--force"], env=real.vars, capture_output=True, text=True,
                             timeout=30, cwd=work)
    assert stopped.returncode == 0, stopped.stderr
    assert f"claude attach {short}" in stopped.stdout
    time.sleep(3)  # a signalled session comes back within ~1-10 s; one stopped through the daemon does not
    assert _status(real)["background"] == []
    log = (real.home / ".claude" / "daemon.log").read_text()
    assert f"settled {short}" in log or "killed" in log


def test_background_typed_in_a_supervised_real_session_is_noticed_counted_and_ended_by_the_policy(
        real: Env) -> None:
    """`/background`: the CLI leaves and its background session registers a moment later; csup notices it (it
    waits for it), counts and shows it, and the enforcer started on demand ends it at background_idle_limit."""
    work = str(real.root / "work")
    Path(real.vars["CSUP_CONFIG"]).write_text('background_idle_limit = "3s"\nnotify = false\n')
    child = real.csup("run", cwd=work, timeout=30, dimensions=(30, 100))
    child.expect("/login")
    record = json.loads((real.runtime / "session.json").read_text())
    child.send("hello from csup")
    time.sleep(0.5)
    child.send("\r")
    wait_for(lambda: any((real.home / ".claude" / "projects").rglob(f"{record['conversation_id']}.jsonl")),
             timeout=20, what="the transcript")
    time.sleep(1)
    child.send("/background")
    time.sleep(0.5)
    child.send("\r")
    child.expect(rb"still running in the background; bring it back: claude attach ([0-9a-f]{8})", timeout=30)
    short = child.match.group(1).decode()
    assert exit_status(child, timeout=20) == 0
    events = [json.loads(line) for line in (real.root / "state" / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "backgrounded" and e["short"] == short for e in events)
    wait_for(lambda: any(e["event"] == "ended-background" and e["short"] == short and e["gone"]
                         for e in (json.loads(line) for line in
                                   (real.root / "state" / "events.jsonl").read_text().splitlines())),
             timeout=3 + 20, what="the enforcer to end the background session through the daemon")
    assert _status(real)["background"] == []


def _registered(env: Env) -> list[dict[str, object]]:
    found = []
    for path in (env.home / ".claude" / "sessions").glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            found.append(json.loads(path.read_text()))
    return found


def test_a_real_session_falls_asleep_and_wakes_with_the_same_conversation(real: Env) -> None:
    """Asleep: the real CLI's tree ended, its registry entry gone; Enter: the same conversation again, under a
    new pid — Claude Code's own registry names the same session id."""
    work = str(real.root / "work")
    real.vars.update({"CSUP_IDLE_LIMIT": "8s", "CSUP_WARN_BEFORE": "2s", "CSUP_NOTIFY": "off",
                      "CSUP_BACKGROUND_IDLE_LIMIT": "off"})
    child = real.csup("run", cwd=work, timeout=40, dimensions=(30, 100))
    child.expect("/login")
    record = json.loads((real.runtime / "session.json").read_text())
    conversation, first = record["conversation_id"], record["cli"]["pid"]
    child.send("hello from csup")
    time.sleep(0.5)
    child.send("\r")
    wait_for(lambda: any((real.home / ".claude" / "projects").rglob(f"{conversation}.jsonl")), timeout=20,
             what="the transcript")
    child.expect(rb"csup: asleep \xe2\x80\x94 idle for \S+ \(limit 8s\) in \S+, \d+ MiB freed", timeout=40)
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
    assert not [e for e in _registered(real) if e.get("sessionId") == conversation]
    child.send("\r")
    child.expect("/login", timeout=40)
    wait_for(lambda: [e for e in _registered(real) if e.get("sessionId") == conversation], timeout=20,
             what="the woken CLI in Claude Code's registry")
    [entry] = [e for e in _registered(real) if e.get("sessionId") == conversation]
    assert entry["pid"] != first  # a new process, the same conversation
    os.kill(child.pid, signal.SIGTERM)
    child.expect(rf"Resume it: claude --resume {conversation}".encode(), timeout=20)
    assert exit_status(child, timeout=20) == 143
