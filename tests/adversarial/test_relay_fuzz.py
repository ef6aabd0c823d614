"""The relay under arbitrary bytes and abuse (hypothesis, real ptys): every byte arrives intact and in order in
both directions, whatever the chunking; resize storms during heavy output; stdin closed mid-session; a flood
read slowly by the terminal, with csup's memory bounded."""

from __future__ import annotations

import os
import random
import select
import subprocess
import threading
import time
from typing import Any

import pexpect
import psutil
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ptyprocess import PtyProcess

from conftest import CSUP, Env, finish, ready_pid

FUZZ = settings(max_examples=40, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_sessions: dict[int, pexpect.spawn] = {}


def _session(env: Env) -> pexpect.spawn:
    """One csup session shared by all of a test's examples (starting one per example would be slow)."""
    child = _sessions.get(id(env))
    if child is None or not child.isalive():
        child = env.csup("run", "--claude", str(env.program("standin")))
        ready_pid(child)
        _sessions[id(env)] = child
    return child


def _read_exact(child: pexpect.spawn, count: int) -> bytes:
    data, child.buffer = child.buffer, b""  # what expect() already read past its match comes first
    while len(data) < count:
        data += child.read_nonblocking(count - len(data), timeout=10)
    return data


@FUZZ
@given(payload=st.binary(min_size=1, max_size=3000), cuts=st.lists(st.integers(1, 700), max_size=12))
def test_any_bytes_typed_in_any_chunks_arrive_intact(env: Env, payload: bytes, cuts: list[int]) -> None:
    child = _session(env)
    child.send(f"hex {len(payload)}\r".encode())
    child.expect(b"hex ready\r\n")
    position = 0
    for cut in [*cuts, len(payload)]:
        piece = payload[position:position + cut]
        if piece:
            os.write(child.child_fd, piece)
        position += cut
        if position >= len(payload):
            break
    child.expect(rb"rx ([0-9a-f]*)\r\n")
    assert bytes.fromhex(child.match.group(1).decode()) == payload


@FUZZ
@given(payload=st.binary(min_size=1, max_size=6000))
def test_any_bytes_printed_arrive_intact(env: Env, payload: bytes) -> None:
    child = _session(env)
    child.send(b"out " + payload.hex().encode() + b"\r")
    child.expect(rb"OUT (\d+)\r\n")
    assert int(child.match.group(1)) == len(payload)
    got = _read_exact(child, len(payload))
    assert got[: len(payload)] == payload
    child.buffer = got[len(payload):]


def test_resize_storm_during_heavy_output(env: Env) -> None:
    child = env.csup("run", "--claude", str(env.program("standin")))
    ready_pid(child)
    size = 3_000_000
    child.send(f"emit {size}\r".encode())
    child.expect(b"EMIT-BEGIN\r\n")
    rng = random.Random(7)
    last = (24, 80)
    received = bytearray(child.buffer)  # what expect() read past EMIT-BEGIN
    child.buffer = b""
    while b"EMIT-END\r\n" not in received[-64:]:
        last = (rng.randint(5, 80), rng.randint(20, 250))
        child.setwinsize(*last)
        received += child.read_nonblocking(1 << 16, timeout=10)
    body = bytes(received[: received.rindex(b"EMIT-END\r\n")])
    # The stand-in reports each resize with a line of its own, interleaved with the stream: take them out.
    import re

    stream = re.sub(rb"winch \d+x\d+\r\n", b"", body)
    assert stream == (bytes(range(256)) * (size // 256 + 1))[:size]
    child.send(b"size\r")
    child.expect(f"size {last[0]}x{last[1]}".encode())
    finish(child)


def test_stdin_closed_mid_session_delivers_what_was_typed(env: Env) -> None:
    master, slave = os.openpty()
    proc = subprocess.Popen([*CSUP, "run", "--claude", str(env.program("standin"))], stdin=subprocess.PIPE,
                            stdout=slave, stderr=slave, env=env.vars, start_new_session=True)
    env.track(proc.pid)
    os.close(slave)
    assert proc.stdin is not None
    seen = _read_until(master, b"ready pid=")  # keys typed before a program is ready are the kernel's to echo
    proc.stdin.write(b"echo typed-before-eof\rspin 0.5\rexit 5\r")
    proc.stdin.close()  # EOF on csup's stdin while the CLI still works
    output = seen + _drain(master, proc)
    assert proc.returncode == 5
    assert b"echo: typed-before-eof" in output and b"spin done" in output

    # A CLI reading lines (cooked mode) gets the end of input as a terminal's Ctrl-D would give it.
    master, slave = os.openpty()
    proc = subprocess.Popen([*CSUP, "run", "--claude", "/bin/cat"], stdin=subprocess.PIPE, stdout=slave,
                            stderr=slave, env=env.vars, start_new_session=True)
    env.track(proc.pid)
    os.close(slave)
    assert proc.stdin is not None
    proc.stdin.write(b"line one\n")
    proc.stdin.close()
    output = _drain(master, proc)
    assert proc.returncode == 0 and output.count(b"line one") >= 1


def _read_until(master: int, marker: bytes, timeout: float = 10) -> bytes:
    output = b""
    deadline = time.monotonic() + timeout
    while marker not in output and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            output += os.read(master, 1 << 16)
    assert marker in output, output
    return output


def _drain(master: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> bytes:
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    return output


def test_flood_read_slowly_loses_nothing_and_memory_stays_bounded(env: Env, request: Any) -> None:
    size = (100 if request.config.getoption("--stress") else 40) * 2**20
    terminal = PtyProcess.spawn([*CSUP, "run", "--claude", str(env.program("standin"))], env=env.vars)
    env.track(terminal.pid)
    peak = [0]
    done = threading.Event()

    def watch() -> None:
        proc = psutil.Process(terminal.pid)
        while not done.is_set():
            try:
                peak[0] = max(peak[0], proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.01)

    got = bytearray()
    while b"ready pid=" not in got:
        got += os.read(terminal.fd, 4096)
    threading.Thread(target=watch, daemon=True).start()
    os.write(terminal.fd, f"big {size}\r".encode())
    total, tail = 0, b""
    while True:
        try:
            chunk = os.read(terminal.fd, 4096)  # a slow terminal: small reads, and a pause now and then
        except OSError:
            break
        if not chunk:
            break
        total += len(chunk)
        tail = (tail + chunk)[-64:]
        if total % (4 << 20) < 4096:
            time.sleep(0.05)
    done.set()
    _, status, _ = os.wait4(terminal.pid, 0)
    terminal.closed = True
    assert os.waitstatus_to_exitcode(status) == 0
    assert f"TAIL-{size}\r\n".encode() in tail
    assert total >= size  # every line, translated \n -> \r\n by the CLI's pty, and the tail
    assert peak[0] < 64 * 2**20, f"csup grew to {peak[0] / 2**20:.0f} MiB"
