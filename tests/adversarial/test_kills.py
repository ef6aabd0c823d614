"""csup SIGKILLed at random points of a session's life: no lock stuck, no CLI left running unseen, no stale
record trusted, the terminal as it was; and the CLI SIGKILLed under csup."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import psutil
import pytest

from conftest import CSUP, Env, alive, assert_session_starts, exit_status, ready_pid, wait_for

PHASES = ("starting", "relaying", "warning", "shutting-down")



def _status_code(env: Env) -> int:
    return subprocess.run([*CSUP, "status"], env=env.vars, capture_output=True, timeout=20).returncode


@pytest.mark.parametrize("phase", PHASES)
def test_csup_killed_at_a_random_point(env: Env, phase: str, trials: int) -> None:
    env.vars.update({"CSUP_IDLE_LIMIT": "2s", "CSUP_WARN_BEFORE": "1.5s", "CSUP_TERM_WAIT": "3s",
                     "CSUP_NOTIFY": "off"})
    rng = random.Random(f"{phase}-{os.getpid()}")
    for trial in range(trials * 5):
        extra = ["--", "--ignore-term"] if phase == "shutting-down" else []
        # The pause stands for the moment before a person types again; the guardian restores within it.
        shell = env.shell(f"stty -g; {' '.join(CSUP)} run --claude {env.program()} {' '.join(extra)}; "
                          "sleep 0.3; stty -g")
        shell.expect(rb"([0-9a-f:]+)\r\n")
        before = shell.match.group(1)
        cli_pid = None
        if phase == "starting":
            time.sleep(rng.uniform(0, 0.15))
            csup_pid = _csup_pid(shell.pid)  # before its fork, csup is one process: then that one
        else:
            cli_pid = ready_pid(shell)
            csup_pid = _csup_pid(shell.pid)
            if phase == "relaying":
                shell.send(b"emit 2000000\r")
                time.sleep(rng.uniform(0, 0.05))
            elif phase == "warning":
                shell.expect_exact(b"\x1b[22;0t")
            else:
                os.kill(csup_pid, signal.SIGTERM)
                shell.expect(b"signal SIGTERM")
                time.sleep(rng.uniform(0, 0.5))
        os.kill(csup_pid, signal.SIGKILL)
        shell.expect(rb"([0-9a-f:]+)\r\n", timeout=15)
        after = shell.match.group(1)
        while after != before and shell.expect([rb"([0-9a-f:]+)\r\n", pexpect_eof()], timeout=5) == 0:
            after = shell.match.group(1)  # the CLI's last output may precede the shell's stty line
        assert after == before, f"trial {trial}: terminal attributes changed"
        for pid in _standins(env):
            env.track(pid)
        # The CLI does not run on unseen: it ends (hang-up, parent-death signal) — except a CLI that ignores
        # SIGTERM and hang-ups, which must then be visible as a claude process outside csup.
        if phase != "shutting-down":
            wait_for(lambda: not _standins(env), what="the CLI to end after csup's death")
        assert cli_pid is None or not alive(cli_pid) or phase == "shutting-down"
        # The stale record is not trusted: no managed session is reported.
        report = json.loads(subprocess.run([*CSUP, "status", "--json"], env=env.vars, capture_output=True,
                                           text=True, timeout=20).stdout)
        assert report["session"] is None
        for pid in _standins(env):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _standins(env), what="leftovers to go")
        # No lock stuck: the next run gets the session at once.
        assert_session_starts(env)


def pexpect_eof() -> object:
    import pexpect

    return pexpect.EOF


def _csup_pid(shell_pid: int, *, guardian: bool = False) -> int:
    """The csup that runs the session (the relay, whose pid the records name), or its `guardian` (the process the
    shell started and waits for). Before the relay is forked, csup is one process: that one."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for child in psutil.Process(shell_pid).children():
            try:
                if "supervisor" in " ".join(child.cmdline()):
                    relays = [p.pid for p in child.children() if "supervisor" in " ".join(p.cmdline())]
                    return child.pid if guardian or not relays else relays[0]
            except psutil.Error:  # the shell's `stty` that just ended, a zombie for a moment
                continue
        time.sleep(0.01)
    raise AssertionError("csup did not start")


def test_the_guardian_killed_ends_the_session_and_hands_the_terminal_back(env: Env) -> None:
    """`kill -9` of the pid the shell shows (`jobs -p`): the shell has its terminal back at once; the relay sees
    its guardian go, puts the terminal's attributes back, ends the CLI and leaves, with the lock free."""
    shell = env.shell(f"stty -g; {' '.join(CSUP)} run --claude {env.program()}; sleep 1; stty -g")
    shell.expect(rb"([0-9a-f:]+)\r\n")
    before = shell.match.group(1)
    guardian = _csup_pid(shell.pid, guardian=True)
    cli_pid = ready_pid(shell)
    relay = _csup_pid(shell.pid)
    assert relay != guardian
    os.kill(guardian, signal.SIGKILL)
    shell.expect(rb"([0-9a-f]+:[0-9a-f]+:[0-9a-f:]+)\r\n", timeout=15)
    assert shell.match.group(1) == before
    wait_for(lambda: not alive(cli_pid) and not alive(relay), what="the CLI and the relay to end")
    ended = [json.loads(line) for line in (env.root / "state" / "events.jsonl").read_text().splitlines()
             if '"ended"' in line]
    assert ended[-1]["reason"] == "its terminal was closed"
    assert_session_starts(env)


def _standins(env: Env) -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmdline = proc.info["cmdline"] or []
            if any(part.endswith("standin.py") for part in cmdline) and \
                    (proc.info["environ"] or {}).get("HOME") == env.vars["HOME"]:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def test_cli_sigkilled_leaves_csup_exiting_137_with_the_lock_free(env: Env) -> None:
    child = env.csup("run", "--claude", str(env.program()))
    cli_pid = ready_pid(child)
    os.kill(cli_pid, signal.SIGKILL)
    assert exit_status(child) == 137
    assert _status_code(env) == 1
    assert_session_starts(env)


def test_a_terminal_closed_with_no_sighup_reaching_csup_ends_the_session_143_as_logged(env: Env) -> None:
    """The terminal is closed while csup's parent is the session leader and takes the SIGHUP itself (nohup, a
    wrapper): csup sees only its terminal read as empty. That is a hang-up, not the end of a pipe: the session
    ends gracefully and csup leaves with the status its log gives (once: 120, the interpreter failing to
    flush into the dead terminal)."""
    import pexpect

    code_file = env.root / "code"
    wrapper = (f"import signal, subprocess, sys\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
               f"code = subprocess.call({[*CSUP, 'run', '--claude', str(env.program())]!r}, "
               "preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))\n"
               f"open({str(code_file)!r}, 'w').write(str(code))\n")
    shell = pexpect.spawn(CSUP[0], ["-c", wrapper], env=env.vars, cwd=str(env.root), timeout=10)
    env.spawned.append(shell)
    cli = ready_pid(shell)
    os.close(shell.child_fd)  # the terminal is gone
    shell.child_fd = -1
    wait_for(lambda: code_file.exists() and code_file.read_text().strip(), timeout=15, what="csup to leave")
    ended = [json.loads(line) for line in (env.root / "state" / "events.jsonl").read_text().splitlines()
             if '"ended"' in line]
    assert int(code_file.read_text()) == ended[-1]["code"] == 143
    assert ended[-1]["reason"] == "its terminal was closed"
    assert not alive(cli)
