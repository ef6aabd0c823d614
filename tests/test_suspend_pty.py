"""A suspended session (Ctrl-Z) is no hiding place: its idle limit runs on in the shell's job list, `status`
shows it suspended, and `stop` or `takeover` end it gracefully at once — all without csup taking the terminal
back from the shell. Driven in a real interactive bash."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pexpect

from supervisor.flows.live import FIRST_LOOK

from conftest import (
    CSUP,
    DEADLINE,
    Env,
    alive,
    as_a_terminal_starts_it,
    guardian_in,
    kill_csup_on_the_alternate_screen,
    ready_pid,
    wait_for,
)


def _shell(env: Env) -> pexpect.spawn:
    shell = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], env={**env.vars, "PS1": "$ "},
                          timeout=DEADLINE, cwd=str(env.root), dimensions=(24, 100),
                          preexec_fn=as_a_terminal_starts_it)
    env.spawned.append(shell)
    shell.expect_exact("$ ")
    return shell


def _suspend(env: Env, shell: pexpect.spawn, *options: str) -> int:
    shell.sendline(f"{env.csup_cmd()} run {' '.join(options)} --claude {env.program()}")
    cli_pid = ready_pid(shell)
    shell.send(b"\x1a")
    shell.expect(b"suspending")
    shell.expect(re.compile(rb"Stopped"))
    shell.expect_exact("$ ")
    return cli_pid


def _events(env: Env) -> list[dict[str, object]]:
    log = env.root / "state" / "events.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_suspended_session_is_ended_at_its_idle_deadline_and_the_shell_reports_it(env: Env) -> None:
    shell = _shell(env)
    cli_pid = _suspend(env, shell, "--idle-limit", "3s")
    status = json.loads(subprocess.run([*CSUP, "status", "--json"], env=env.vars, capture_output=True, text=True,
                                       timeout=DEADLINE).stdout)
    assert status["session"]["state"] == "suspended"
    wait_for(lambda: not alive(cli_pid), timeout=DEADLINE, what="the suspended session to end at its deadline")
    wait_for(lambda: any(e["event"] == "ended" for e in _events(env)), what="the ended event")
    [ended] = [e for e in _events(env) if e["event"] == "ended"]
    assert ended["how"] == "idle" and ended["code"] == 124 and "idle for" in str(ended["reason"])
    # The event is logged just before csup leaves: ask the shell until it has reaped the job.
    def reported() -> bool:
        shell.sendline("jobs; echo listed")
        shell.expect(b"\nlisted\r\n")  # the output, not the echo of the command line
        if b"Exit 124" in shell.before:  # the shell reports the job done, with timeout(1)'s status
            return True
        time.sleep(0.2)
        return False

    wait_for(reported, what="the shell to report the job done with status 124")
    assert not (env.runtime / "session.json").exists()


def test_stop_ends_a_suspended_holder_gracefully_at_once(env: Env) -> None:
    shell = _shell(env)
    cli_pid = _suspend(env, shell)
    started = time.monotonic()
    result = subprocess.run([*CSUP, "stop"], env=env.vars, capture_output=True, text=True, timeout=DEADLINE * 2)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "escalated" not in result.stdout and elapsed < 5, (result.stdout, elapsed)
    assert not alive(cli_pid)
    [ended] = [e for e in _events(env) if e["event"] == "ended"]
    assert ended["how"] == "stop" and "stopped by `csup stop`" in str(ended["reason"])
    shell.sendline("jobs; echo listed")
    shell.expect(rb"Done|Exit")
    shell.expect(b"listed")


def test_fg_before_the_deadline_resumes_it_redrawn(env: Env) -> None:
    shell = _shell(env)
    _suspend(env, shell, "--idle-limit", "30s")
    shell.sendline("fg")
    shell.expect(b"resumed-after-stop")
    status = json.loads(subprocess.run([*CSUP, "status", "--json"], env=env.vars, capture_output=True, text=True,
                                       timeout=DEADLINE).stdout)
    assert status["session"]["state"] == "active"
    shell.send(b"exit 3\r")
    shell.sendline("echo rc=$?")
    shell.expect(b"rc=3")


def test_csup_killed_after_fg_still_hands_back_the_modes_the_cli_had_on(env: Env) -> None:
    """Ctrl-Z hands the terminal back with the CLI's modes undone; `fg` turns them on again — and the guardian
    knows them again: a relay killed after that leaves no alternate screen behind."""
    shell = _shell(env)
    cli_pid = _suspend(env, shell, "--idle-limit", "30s")
    shell.sendline("fg")
    shell.expect(b"resumed-after-stop")
    kill_csup_on_the_alternate_screen(shell, cli_pid)


def test_a_stop_sent_to_the_pid_the_shell_shows_suspends_the_session_its_way(env: Env) -> None:
    """`kill -TSTP` of the guardian (`jobs -p`), not Ctrl-Z: the relay suspends as for Ctrl-Z — the terminal
    handed back first, the CLI's modes undone — and only then is the job stopped in the shell; `fg` brings the
    session back in raw mode."""
    shell = _shell(env)
    shell.sendline(f"stty -g > {env.root}/before; {env.csup_cmd()} run --idle-limit 30s --claude {env.program()}")
    ready_pid(shell)
    shell.send(b"out 1b5b3f3130343968\r")  # the CLI turns the alternate screen on
    shell.expect(b"OUT 8")
    time.sleep(0.3)
    guardian = guardian_in(shell)
    guardian.send_signal(signal.SIGTSTP)
    shell.expect_exact(b"\x1b[?1049l")  # the relay's own suspend undoes the CLI's modes...
    shell.expect(re.compile(rb"Stopped"))  # ...before the shell has its job stopped
    shell.expect_exact("$ ")
    shell.sendline(f"stty -g | cmp - {env.root}/before && echo same-modes")
    shell.expect(b"same-modes")
    shell.sendline("fg")
    shell.expect_exact(b"\x1b[?1049h")  # the CLI's modes on again, and a redraw asked for
    shell.expect(b"winch")
    shell.send(b"echo raw\r")
    shell.expect(b"echo: raw")
    shell.send(b"exit 3\r")
    shell.sendline("echo rc=$?")
    shell.expect(b"rc=3")


def test_bg_then_fg_gives_the_session_its_terminal_back(env: Env) -> None:
    """bash brings a running job to the foreground with no SIGCONT: csup, running in the background, sees the
    terminal is its own again and carries on in raw mode."""
    shell = _shell(env)
    _suspend(env, shell, "--idle-limit", "30s")
    shell.sendline("bg")
    shell.expect_exact("$ ")
    shell.sendline("fg")
    shell.expect(b"winch")  # the CLI is asked to redraw: the session has its terminal again
    shell.send(b"echo typed\r")
    shell.expect(b"echo: typed")
    shell.send(b"exit 3\r")
    shell.sendline("echo rc=$?")
    shell.expect(b"rc=3")


def test_a_stop_sent_to_the_whole_job_suspends_it_once(env: Env) -> None:
    """`kill -TSTP -PGID` (what `pkill -TSTP`, or `kill -TSTP %1` from the shell, sends): guardian and relay both
    get it; the relay suspends once, and `fg` brings the session back for good."""
    shell = _shell(env)
    shell.sendline(f"{env.csup_cmd()} run --idle-limit 30s --claude {env.program()}")
    ready_pid(shell)
    guardian = guardian_in(shell)
    os.killpg(os.getpgid(guardian.pid), signal.SIGTSTP)
    shell.expect(re.compile(rb"Stopped"))
    shell.expect_exact("$ ")
    shell.sendline("fg")
    shell.expect(b"winch")
    time.sleep(0.5)  # a second stop would come now
    shell.send(b"echo typed\r")
    shell.expect(b"echo: typed")
    assert b"Stopped" not in shell.before
    shell.send(b"exit 0\r")
    shell.expect_exact("$ ")


def test_a_guardian_killed_while_suspended_writes_nothing_over_the_shell(env: Env) -> None:
    """Suspended, the terminal is the shell's, as the user had it: when the guardian is killed then, the relay
    ends the session without undoing the CLI's modes a second time on the shell's screen."""
    shell = _shell(env)
    shell.sendline(f"{env.csup_cmd()} run --idle-limit 30s --claude {env.program()}")
    cli_pid = ready_pid(shell)
    shell.send(b"out 1b5b3f3130343968\r")  # the CLI turns the alternate screen on
    shell.expect(b"OUT 8")
    time.sleep(0.3)
    guardian = guardian_in(shell)
    [relay] = guardian.children()
    shell.send(b"\x1a")
    shell.expect(re.compile(rb"Stopped"))
    shell.expect_exact("$ ")
    guardian.kill()
    wait_for(lambda: not alive(relay.pid) and not alive(cli_pid), what="the session to end")
    shell.sendline("echo after")
    shell.expect(rb"\rafter\r\n")  # the output, not the echo of the command line
    assert b"\x1b[?1049l" not in shell.before


def test_a_day_in_one_shell_suspend_sleep_wake_and_a_killed_csup(env: Env) -> None:
    """One step after another in one shell, as a user strings them: a session with a conversation, Ctrl-Z and
    `fg`, idle until it falls asleep, Enter wakes it into the same conversation, then csup is killed on the CLI's
    alternate screen — the terminal is back before the prompt — and the log has the sleep and the wake."""
    env.vars.update({"CSUP_IDLE_LIMIT": "3s", "CSUP_WARN_BEFORE": "1s", "CSUP_NOTIFY": "off",
                     "CSUP_BACKGROUND_IDLE_LIMIT": "off"})
    shell = _shell(env)
    shell.sendline(f"{env.csup_cmd()} run --claude {env.program()}")
    ready_pid(shell)
    shell.send(b"transcript\r")
    shell.expect(rb"transcript \S+/([0-9a-f-]{36})\.jsonl")
    conversation = shell.match.group(1)
    shell.send(b"\x1a")
    shell.expect(re.compile(rb"Stopped"))
    shell.expect_exact("$ ")
    shell.sendline("fg")
    shell.expect(b"resumed-after-stop")
    shell.expect(b"csup: asleep", timeout=DEADLINE)
    shell.send(b"\r")
    shell.expect(rb"ready pid=(\d+) .*" + conversation)
    cli_pid = int(shell.match.group(1))
    # The wake is logged once the CLI's first screen is out of the way (FIRST_LOOK after it): the user works on.

    def woke() -> bool:
        shell.send(b"echo busy\r")
        shell.expect(b"echo: busy")
        time.sleep(0.5)
        return [e["event"] for e in _events(env) if e["event"] in ("slept", "woke")] == ["slept", "woke"]

    wait_for(woke, timeout=FIRST_LOOK + DEADLINE, what="the wake in the log")
    kill_csup_on_the_alternate_screen(shell, cli_pid)
    log = subprocess.run([*CSUP, "log"], env=env.vars, capture_output=True, text=True, timeout=DEADLINE).stdout
    assert "slept" in log and "idle for 3s" in log
