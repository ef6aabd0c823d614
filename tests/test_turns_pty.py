"""status, stop, takeover and run --wait between real terminals (pexpect ptys) and real processes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import uuid

import psutil

from conftest import CSUP, Env, alive, exit_status, finish, ready_pid, relay_pid, wait_for


def _csup(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """csup with no terminal at all (as from cron or a script)."""
    return subprocess.run([*CSUP, *args], env=env.vars, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, cwd=env.root)


def _status(env: Env) -> tuple[int, dict[str, object]]:
    result = _csup(env, "status", "--json")
    return result.returncode, json.loads(result.stdout)



def test_status_with_none_running_and_idle_warning(env: Env) -> None:
    code, report = _status(env)
    assert code == 1 and report["session"] is None and report["running"] is False
    assert report["schema"] == 5 and report["sessions"] == [] and len(report["load"]) == 3
    text = _csup(env, "status")
    assert text.returncode == 1 and "no csup session" in text.stdout

    env.vars.update({"CSUP_IDLE_LIMIT": "4s", "CSUP_WARN_BEFORE": "2.5s", "CSUP_NOTIFY": "off"})
    child = env.csup("run", "--claude", str(env.program()))
    cli_pid = ready_pid(child)
    code, report = _status(env)
    session = report["session"]
    assert code == 0 and isinstance(session, dict)
    assert session["cli_pid"] == cli_pid and session["csup_pid"] == relay_pid(child) and session["state"] == "active"
    assert session["idle_limit"] == 4 and session["tty"].startswith("/dev/") and session["cwd"] == str(env.root)
    assert session["idle_seconds"] < 2
    text = _csup(env, "status").stdout
    assert f"claude pid {cli_pid}" in text and "idle" in text and "limit 4s" in text
    child.expect_exact(b"\x1b[22;0t")  # the warning began
    code, report = _status(env)
    assert report["session"]["state"] == "warning"  # type: ignore[index]
    assert 1 <= report["session"]["idle_seconds"] <= 4  # type: ignore[index]
    assert exit_status(child) == 124


def test_stop_from_a_non_tty_tells_the_old_terminal_who_stopped_it(env: Env) -> None:
    child = env.csup("run", "--claude", str(env.program()))
    cli_pid = ready_pid(child)
    child.send(b"transcript\r")
    child.expect(b"transcript ")
    result = _csup(env, "stop")
    assert result.returncode == 0, result.stderr
    assert re.search(rf"ended the session [0-9a-f]{{8}} \(claude pid {cli_pid}\)", result.stdout)
    assert "claude --resume" in result.stdout
    child.expect(rb"session ended: stopped by `csup stop` from a process with no terminal \(pid \d+\)\. "
                 rb"Resume it: claude --resume")
    exit_status(child)
    assert not alive(cli_pid)
    assert _status(env)[0] == 1


def test_takeover_resumes_the_same_conversation_in_the_old_directory(env: Env) -> None:
    work = env.root / "project"
    work.mkdir()
    first = env.csup("run", "--claude", str(env.program()), cwd=str(work))
    first.expect(rb'args=\["--session-id", "([0-9a-f-]{36})"\]')
    conversation = first.match.group(1).decode()
    first.send(b"transcript\r")
    first.expect(b"transcript ")
    started = time.monotonic()
    second = env.csup("takeover", "--claude", str(env.program()))
    second.expect(f"resuming conversation {conversation}".encode())
    second.expect(f'args=\\["--resume", "{conversation}"\\]'.encode())
    elapsed = time.monotonic() - started
    first.expect(rb"session ended: taken over by `csup takeover` from /dev/pts/\d+")
    assert b"Resume it" not in first.before + first.buffer  # the conversation continues elsewhere
    exit_status(first)
    second.send(b"echo where\r")
    second.expect(b"echo: where")
    pid = ready_pid_from_status(env)
    assert psutil.Process(pid).cwd() == str(work)
    assert elapsed < 8
    finish(second)


def ready_pid_from_status(env: Env) -> int:
    code, report = _status(env)
    assert code == 0
    return int(report["session"]["cli_pid"])  # type: ignore[index]


def test_takeover_without_a_transcript_starts_fresh_and_says_why(env: Env) -> None:
    first = env.csup("run", "--claude", str(env.program()))
    ready_pid(first)
    second = env.csup("takeover", "--claude", str(env.program()))
    second.expect(b"had no conversation yet; starting a new one")
    second.expect(rb'args=\["--session-id"')
    exit_status(first)
    finish(second)


def test_racing_takeovers_leave_exactly_one_session(env: Env) -> None:
    # A holder that takes ~2 s to end (it ignores SIGTERM) keeps all three takeovers in flight at once; the
    # first ends it, and the others find a session that started after they asked, so they refuse.
    env.vars.update({"CSUP_TERM_WAIT": "1.5s", "CSUP_TREE_WAIT": "0.5s"})
    holder = env.csup("run", "--claude", str(env.program()), "--", "--ignore-term")
    ready_pid(holder)
    takers = [env.csup("takeover", "--no-resume", "--claude", str(env.program())) for _ in range(3)]
    outcomes = []
    for taker in takers:
        index = taker.expect([rb"ready pid=\d+", rb"another takeover got the session first"], timeout=30)
        outcomes.append(index)
    assert sorted(outcomes) == [0, 1, 1]
    for taker, outcome in zip(takers, outcomes, strict=True):
        if outcome == 1:
            assert exit_status(taker) == 75
    winner = takers[outcomes.index(0)]
    finish(winner)
    exit_status(holder)


def test_waiter_gets_the_session_when_the_holder_exits_and_blocks_plain_runs(env: Env) -> None:
    holder = env.csup("run", "--claude", str(env.program()))
    holder_cli = ready_pid(holder)
    waiter = env.csup("run", "--wait", "--claude", str(env.program()))
    waiter.expect(f"waiting for claude pid {holder_cli}".encode())
    intruder = env.csup("run", "--claude", str(env.program()))
    assert exit_status(intruder) == 75
    assert b"waiting for the session, and goes first" in intruder.before
    finish(holder)
    ready_pid(waiter)
    finish(waiter)


def test_waiter_gives_up_after_its_duration_and_ctrl_c_leaves_the_line(env: Env) -> None:
    holder = env.csup("run", "--claude", str(env.program()))
    ready_pid(holder)
    patient = env.csup("run", "--wait", "1s", "--claude", str(env.program()))
    assert exit_status(patient) == 75
    assert b"gave up waiting after 1s" in patient.before
    leaver = env.csup("run", "--wait", "--claude", str(env.program()))
    leaver.expect(b"waiting for")
    leaver.sendintr()
    assert exit_status(leaver) == 130
    assert not list((env.runtime / "queue").glob("*.ticket"))
    holder.send(b"exit 0\r")
    exit_status(holder)


def test_takeover_of_a_stopped_holder_continues_it_and_it_ends_gracefully(env: Env) -> None:
    holder = env.csup("run", "--claude", str(env.program()))
    holder_cli = ready_pid(holder)
    os.kill(relay_pid(holder), signal.SIGSTOP)  # SIGSTOP, or Ctrl-Z in its shell: it cannot answer until continued
    started = time.monotonic()
    taker = env.csup("takeover", "--no-resume", "--claude", str(env.program()))
    ready_pid(taker)
    assert time.monotonic() - started < 4
    wait_for(lambda: not alive(holder_cli), what="the old CLI to end")
    events = [json.loads(line) for line in (env.root / "state" / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "took-over" and e["how"] == "asked" for e in events)
    finish(taker)


def test_takeover_of_a_holder_that_never_answers_escalates_within_its_timeouts(env: Env) -> None:
    import threading

    env.vars.update({"CSUP_STOP_WAIT": "1s", "CSUP_TERM_WAIT": "0.5s", "CSUP_TREE_WAIT": "0.5s"})
    holder = env.csup("run", "--claude", str(env.program()))
    holder_cli = ready_pid(holder)
    done = threading.Event()
    hung = relay_pid(holder)

    def keep_stopped() -> None:  # a hung csup: whatever continues it, it does not run
        while not done.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(hung, signal.SIGSTOP)
            time.sleep(0.002)

    stopper = threading.Thread(target=keep_stopped, daemon=True)
    stopper.start()
    try:
        started = time.monotonic()
        taker = env.csup("takeover", "--no-resume", "--claude", str(env.program()))
        ready_pid(taker)
        assert time.monotonic() - started < 8
    finally:
        done.set()
        stopper.join()
    wait_for(lambda: not alive(holder_cli), what="the old CLI to end")
    events = [json.loads(line) for line in (env.root / "state" / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "took-over" and e["how"] == "SIGKILL" for e in events)
    # The holder could not log its own end: the taker did, with the reason.
    assert any(e["event"] == "ended" and "escalated to SIGKILL" in e["reason"] for e in events)
    finish(taker)


def test_unmanaged_sessions_are_ended_only_with_consent(env: Env) -> None:
    stray = env.stray()
    result = _csup(env, "stop")
    assert result.returncode == 75
    assert "left running" in result.stdout and "csup stop --force" in result.stdout
    assert stray.isalive()
    code, report = _status(env)
    assert code == 0 and [s["pid"] for s in report["unmanaged"]] == [stray.pid]  # type: ignore[union-attr]

    asker = env.csup("stop")
    asker.expect(rb"End (?:it|them)\? \[y/N\]")
    asker.sendline("n")
    assert exit_status(asker) == 75 and stray.isalive()
    asker = env.csup("stop")
    asker.expect(rb"End (?:it|them)\? \[y/N\]")
    asker.sendline("y")
    assert exit_status(asker) == 0
    wait_for(lambda: not stray.isalive(), what="the stray to end")

    another = env.stray()
    forced = _csup(env, "stop", "--force")
    assert forced.returncode == 0 and f"pid {another.pid}" in forced.stdout
    wait_for(lambda: not another.isalive(), what="the stray to end")


def test_a_stale_record_with_a_reused_pid_is_never_signalled(env: Env) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    env.track(bystander.pid)
    env.runtime.mkdir(mode=0o700)
    record = {
        "schema": 1, "session_id": "stale", "csup": {"pid": bystander.pid, "start_time": 12345.0},
        "cli": {"pid": bystander.pid, "start_time": 12345.0}, "tty": "/dev/pts/99", "cwd": "/", "argv": ["claude"],
        "started_at": 1.0, "last_activity_at": 1.0, "idle_limit": 60, "warn_before": 10, "state": "active",
    }
    path = env.runtime / "session.json"
    path.write_text(json.dumps(record))
    path.chmod(0o600)
    assert _status(env)[0] == 1
    assert "no session is running" in _csup(env, "stop").stdout
    assert bystander.poll() is None  # untouched
    child = env.csup("run", "--claude", str(env.program()))
    cli_pid = ready_pid(child)
    assert json.loads(path.read_text())["cli"]["pid"] == cli_pid  # replaced
    finish(child)
    assert bystander.poll() is None
    bystander.kill()
    bystander.wait()


def test_takeover_of_several_unmanaged_sessions_names_them_and_resumes_the_most_recent(env: Env) -> None:
    older, newer = str(uuid.uuid4()), str(uuid.uuid4())
    first = env.stray("--session-id", older)
    first.send(b"transcript\r")
    first.expect(b"transcript ")
    time.sleep(0.05)
    second = env.stray("--session-id", newer)
    second.send(b"transcript\r")
    second.expect(b"transcript ")
    taker = env.csup("takeover", "--claude", str(env.program()))
    taker.expect(rb"End (?:it|them)\? \[y/N\]")
    question = taker.before.decode()
    assert f"pid {first.pid}" in question and f"pid {second.pid}" in question  # it names what it would end
    taker.sendline("y")
    taker.expect(f"resuming conversation {newer}".encode())
    taker.expect(f"claude --resume {older}".encode())  # the other one: how to carry it on later
    taker.expect(rb"ready pid=\d+ .*args=\[\"--resume\", \"" + newer.encode())
    finish(taker)
