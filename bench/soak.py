#!/usr/bin/env python3
"""A soak: one csup session relaying mixed traffic — typing, bursts, resizes, idle gaps — for 10 minutes (an hour
with --minutes 60), sampling csup's own RSS, open fds and CPU. Every byte typed must come back (the CLI is an
echo); csup's RSS may grow at most 1 MB, its fds not at all, and its CPU per MiB must stay flat. It also relays
1 GiB and reports csup's RSS after it, as `ps` counts it.

    .venv/bin/python bench/soak.py              # 10 minutes
    .venv/bin/python bench/soak.py --minutes 1  # a quick look
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import select
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

import psutil
from ptyprocess import PtyProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CSUP = [sys.executable, "-m", "supervisor"]


def environment(work: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("CSUP_")}, "HOME": str(work),
            "CSUP_RUNTIME_DIR": str(work / "run"), "CSUP_STATE_DIR": str(work / "state"),
            "CSUP_CONFIG": str(work / "none.toml"), "CSUP_IDLE_LIMIT": "off", "PYTHONPATH": str(ROOT),
            "TERM": "xterm-256color"}


def read_exactly(fd: int, count: int, timeout: float = 30) -> bytes:
    got = bytearray()
    deadline = time.monotonic() + timeout
    while len(got) < count:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"got {len(got)} of {count} bytes")
        try:
            got += os.read(fd, count - len(got))
        except BlockingIOError:
            continue
    return bytes(got)


def csup_process(pty: PtyProcess) -> psutil.Process:
    return psutil.Process(pty.pid)  # the pty's child is csup itself


def sample(proc: psutil.Process) -> dict[str, float]:
    with proc.oneshot():
        times = proc.cpu_times()
        return {"rss_mb": proc.memory_info().rss / 1e6, "fds": float(proc.num_fds()),
                "cpu_s": times.user + times.system}


def relay_a_gib(env: dict[str, str]) -> float:
    """csup's RSS after relaying 1 GiB (sampled as it finishes)."""
    pty = PtyProcess.spawn([*CSUP, "run", "--claude", "/bin/sh", "--", "-c", "head -c 1073741824 /dev/zero; sleep 1"],
                           env=env, dimensions=(40, 120))
    proc = csup_process(pty)
    rss = 0.0
    received = 0
    while True:
        ready, _, _ = select.select([pty.fd], [], [], 5)
        if not ready:
            break
        try:
            chunk = os.read(pty.fd, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        received += len(chunk)
        if received >= 1 << 30 and not rss:
            rss = proc.memory_info().rss / 1e6
    pty.wait()
    return rss


def soak(env: dict[str, str], minutes: float) -> dict[str, object]:
    pty = PtyProcess.spawn([*CSUP, "run", "--claude", sys.executable, "--", str(HERE / "echo_raw.py")], env=env,
                           dimensions=(40, 120))
    read_exactly(pty.fd, len(b"echo-ready"))
    os.set_blocking(pty.fd, False)
    proc = csup_process(pty)
    time.sleep(1)
    samples = [sample(proc)]
    sent = lost = 0
    mib_done = 0.0
    cpu_per_mib: list[float] = []
    end = time.monotonic() + minutes * 60
    rounds = 0
    while time.monotonic() < end:
        rounds += 1
        for key in os.urandom(100):  # typing, one key at a time, each echoed
            data = bytes([key % 94 + 33])
            os.write(pty.fd, data)
            lost += read_exactly(pty.fd, 1) != data
            sent += 1
            time.sleep(0.002)
        before = sample(proc)["cpu_s"]
        burst = hashlib.sha256(os.urandom(32)).hexdigest().encode() * 8192  # 512 KiB, in and out again
        view = memoryview(burst)
        echoed = bytearray()
        while view or len(echoed) < len(burst):
            writable = [pty.fd] if view else []
            readable, ready_w, _ = select.select([pty.fd], writable, [], 10)
            if ready_w:
                try:  # non-blocking: a full input queue must not stop us from reading what comes back
                    view = view[os.write(pty.fd, view[:4096]):]
                except BlockingIOError:
                    pass
            if readable:
                try:
                    echoed += os.read(pty.fd, 1 << 16)
                except BlockingIOError:
                    pass
        lost += bytes(echoed) != burst
        sent += len(burst)
        mib_done += 2 * len(burst) / 2**20
        cpu_per_mib.append((sample(proc)["cpu_s"] - before) / (2 * len(burst) / 2**20))
        rows, cols = (30 + rounds % 20, 80 + rounds % 60)  # a resize: csup forwards it
        fcntl.ioctl(pty.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        time.sleep(2)  # an idle gap
        samples.append(sample(proc))
    os.write(pty.fd, b"\x1d")
    pty.wait()
    half = len(cpu_per_mib) // 2 or 1
    return {
        "minutes": minutes, "rounds": rounds, "bytes_sent": sent, "mismatches": lost, "mib_relayed": mib_done,
        "rss_start_mb": samples[0]["rss_mb"], "rss_end_mb": samples[-1]["rss_mb"],
        "rss_growth_mb": samples[-1]["rss_mb"] - samples[0]["rss_mb"],
        "fds_start": samples[0]["fds"], "fds_end": samples[-1]["fds"],
        "cpu_ms_per_mib_first_half": 1000 * sum(cpu_per_mib[:half]) / half,
        "cpu_ms_per_mib_second_half": 1000 * sum(cpu_per_mib[half:]) / max(1, len(cpu_per_mib) - half),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--out", default=str(HERE / "results" / "soak.json"))
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="csup-soak-") as scratch:
        env = environment(Path(scratch))
        result = soak(env, options.minutes)
        result["rss_after_1gib_mb"] = relay_a_gib(env)
    print(json.dumps(result, indent=2))
    Path(options.out).parent.mkdir(parents=True, exist_ok=True)
    Path(options.out).write_text(json.dumps(result, indent=2))
    ok = result["mismatches"] == 0 and result["rss_growth_mb"] <= 1.0 and result["fds_end"] <= result["fds_start"]
    print("soak:", "passed" if ok else "FAILED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
