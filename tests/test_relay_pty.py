"""`csup run` in a real pty against the stand-in CLI: byte-exact relay, sizes, exit statuses, terminal state."""

from __future__ import annotations

import hashlib
import os
import re
import signal

import pexpect
import psutil
import pytest

from conftest import Env, alive, as_a_terminal_starts_it, exit_status, finish, ready_pid, relay_pid, wait_for


def test_relays_every_byte_value_in_both_directions(env: Env) -> None:
    child = env.csup("run", "--claude", str(env.program("standin")))
    ready_pid(child)
    every_byte = bytes(range(256))
    child.send(b"hex 512\r")
    child.expect(b"hex ready\r\n")
    child.send(every_byte + every_byte[::-1])
    child.expect(rb"rx ([0-9a-f]+)\r\n")
    assert bytes.fromhex(child.match.group(1).decode()) == every_byte + every_byte[::-1]

    child.send(b"emit 70000\r")
    child.expect(b"EMIT-BEGIN\r\n")
    child.expect(b"EMIT-END\r\n")
    pattern = (every_byte * 300)[:70000]
    assert child.before == pattern
    finish(child)


def test_window_size_at_start_and_on_resize(env: Env) -> None:
    child = env.csup("run", "--claude", str(env.program("standin")), dimensions=(33, 111))
    child.expect(rb"ready pid=\d+ size=33x111")
    child.setwinsize(40, 100)
    child.expect(b"winch 40x100")
    child.setwinsize(12, 50)
    child.expect(b"winch 12x50")
    finish(child)


def test_exit_status_passes_through(env: Env) -> None:
    for command, expected in ((b"exit 0", 0), (b"exit 3", 3), (b"exit 255", 255)):
        child = env.csup("run", "--claude", str(env.program("standin")))
        ready_pid(child)
        child.send(command + b"\r")
        assert exit_status(child) == expected, command


def test_signal_death_is_128_plus_n(env: Env) -> None:
    for signum in (signal.SIGKILL, signal.SIGSEGV):
        child = env.csup("run", "--claude", str(env.program("standin")))
        ready_pid(child)
        child.send(f"die {int(signum)}\r".encode())
        assert exit_status(child) == 128 + signum


def test_tail_of_large_output_is_never_lost(env: Env) -> None:
    for size in (1, 4096, 1 << 20):
        child = env.csup("run", "--claude", str(env.program("standin")))
        ready_pid(child)
        child.send(f"big {size}\r".encode())
        child.expect(f"TAIL-{size}\r\n".encode(), timeout=20)
        assert exit_status(child) == 0


def test_output_stream_is_byte_exact_under_volume(env: Env) -> None:
    child = env.csup("run", "--claude", str(env.program("standin")))
    ready_pid(child)
    size = 4 << 20
    child.send(f"emit {size}\r".encode())
    child.expect(b"EMIT-BEGIN\r\n", timeout=20)
    child.expect(b"EMIT-END\r\n", timeout=30)
    expected = (bytes(range(256)) * (size // 256 + 1))[:size]
    assert hashlib.sha256(child.before).hexdigest() == hashlib.sha256(expected).hexdigest()
    finish(child)


def test_terminal_attributes_are_restored(env: Env) -> None:
    program = env.program("standin")
    shell = env.shell(f"stty -g; {env.csup_cmd()} run --claude {program}; echo rc=$?; stty -g")
    shell.expect(rb"([0-9a-f:]+)\r\n")
    before = shell.match.group(1)
    ready_pid(shell)
    shell.send(b"die 9\r")
    shell.expect(rb"rc=137\r\n")
    shell.expect(rb"([0-9a-f:]+)\r\n")
    assert shell.match.group(1) == before


def test_modes_left_on_by_a_killed_cli_are_undone(env: Env) -> None:
    child = env.csup("run", "--claude", str(env.program("standin")))
    ready_pid(child)
    child.send(b"modes-die\r")
    child.expect(b"modes-on\r\n")
    assert exit_status(child) == 137
    undo = b"\x1b[?1049l\x1b[?1000l\x1b[?1006l\x1b[?1004l\x1b[?2004l\x1b[?25h\x1b[<1u"
    assert child.before.startswith(undo), child.before


def test_clean_cli_gets_no_extra_bytes(env: Env) -> None:
    child = env.csup("run", "--claude", str(env.program("standin")))
    ready_pid(child)
    child.send(b"echo bye\r")
    child.expect(b"echo: bye\r\n")
    finish(child)
    assert child.before == b""


@pytest.mark.parametrize("whom", ["relay", "guardian"])
def test_sigterm_to_csup_ends_the_cli_gracefully(env: Env, whom: str) -> None:
    """To the relay (the pid csup's records name) or to the guardian (the pid the shell shows), which passes it
    on; what is not the guardian's to die of (SIGINT, SIGUSR1), it ignores, and the session runs on."""
    child = env.csup("run", "--claude", str(env.program()))
    cli_pid = ready_pid(child)
    child.send(b"transcript\r")
    child.expect(b"transcript ")
    for signum in (signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT):
        os.kill(child.pid, signum)
    child.send(b"echo still\r")
    child.expect(b"echo: still")
    os.kill(relay_pid(child) if whom == "relay" else child.pid, signal.SIGTERM)
    child.expect(b"signal SIGTERM")
    child.expect(rb"session ended: csup received SIGTERM\. Resume it: claude --resume [0-9a-f-]{36}")
    assert exit_status(child) == 143
    assert not psutil.pid_exists(cli_pid) or psutil.Process(cli_pid).status() == psutil.STATUS_ZOMBIE


def test_sighup_with_a_stubborn_cli_escalates_to_sigkill(env: Env) -> None:
    env.vars["CSUP_TERM_WAIT"] = "0.5s"
    env.vars["CSUP_TREE_WAIT"] = "0.5s"
    child = env.csup("run", "--claude", str(env.program()), "--", "--ignore-term", "--ignore-hup")
    cli_pid = ready_pid(child)
    child.send(b"grandchild\r")
    child.expect(rb"grandchild pid=(\d+)")
    grandchild = int(child.match.group(1))
    env.track(grandchild)
    os.kill(child.pid, signal.SIGHUP)
    assert exit_status(child) == 137
    wait_for(lambda: not alive(cli_pid) and not alive(grandchild), what="CLI and grandchild gone")



def test_claude_gets_a_session_id_and_a_marker_env(env: Env) -> None:
    child = env.csup("run", "--claude", str(env.program()), "--", "--model", "x")
    child.expect(rb'args=\["--session-id", "([0-9a-f-]{36})", "--model", "x"\].*csup_session=([0-9a-f]{32})')
    finish(child)


def test_other_programs_get_no_extra_arguments(env: Env) -> None:
    child = env.csup("run", "--claude", str(env.program("standin")), "--", "--model", "x")
    child.expect(rb'args=\["--model", "x"\]')
    finish(child)


def test_ctrl_z_suspends_and_fg_resumes(env: Env) -> None:
    program = env.program("standin")
    shell = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], env={**env.vars, "PS1": "$ "},
                          timeout=10, cwd=str(env.root), preexec_fn=as_a_terminal_starts_it)
    env.spawned.append(shell)
    shell.expect_exact("$ ")
    shell.sendline(f"{env.csup_cmd()} run --claude {program}")
    ready_pid(shell)
    shell.send(b"\x1a")
    shell.expect(b"suspending")
    shell.expect(re.compile(rb"Stopped"))
    shell.expect_exact("$ ")
    shell.sendline("fg")
    shell.expect(b"resumed-after-stop")
    shell.send(b"echo back\r")
    shell.expect(b"echo: back")
    shell.send(b"exit 4\r")
    shell.sendline("echo rc=$?")
    shell.expect(b"rc=4")
