#!/usr/bin/env python3
"""csup's cost against the direct pty, script(1) and pexpect's interact(), measured in one run.

The benchmark plays the user's terminal: it opens a pty, runs the wrapper (or the program itself, "direct") on
the slave side and reads and writes the master. Configurations are interleaved (A B C D A B C D …) and ratios
are computed within each round, so a noisy neighbour shifts all of them alike.

    .venv/bin/python bench/run.py            # the full run, under 5 minutes on 2 cores
    .venv/bin/python bench/run.py --quick    # tiny sizes: proves the benchmark still works

It prints a table (median, ratio to direct) and writes bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from ptyprocess import PtyProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ECHO = [sys.executable, str(HERE / "echo_raw.py")]
INTERACT = [sys.executable, str(HERE / "interact_wrapper.py")]
CSUP = [str(Path(sys.executable).parent / "csup")]


@dataclass
class Config:
    name: str
    wrap: Callable[[Sequence[str]], list[str]]


def configurations(with_interact: bool) -> list[Config]:
    script = shutil.which("script")
    configs = [Config("direct", list)]
    if script and platform.system() == "Darwin":
        # BSD script (macOS): -q quiet, then the log file (nowhere), then the command; it passes the exit status on.
        configs.append(Config("script", lambda argv: [script, "-q", "/dev/null", *argv]))
    elif script:
        # util-linux script: -q quiet, -f flush, -e child's exit status, -c command; the log goes nowhere.
        configs.append(Config("script", lambda argv: [script, "-qfec", " ".join(map(_quote, argv)), "/dev/null"]))
    configs.append(Config("csup", lambda argv: [*CSUP, "run", "--claude", argv[0], "--", *argv[1:]]))
    if with_interact:
        configs.append(Config("interact", lambda argv: [*INTERACT, *argv]))
    return configs


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


@dataclass
class Run:
    """One wrapper on one pty, driven by the benchmark as the user's terminal would be."""

    proc: PtyProcess
    started: float
    received: bytearray = field(default_factory=bytearray)
    rusage: Any = None
    status: int | None = None

    @classmethod
    def start(cls, argv: list[str], env: dict[str, str], rows: int = 40, cols: int = 120) -> Run:
        started = time.perf_counter()
        return cls(PtyProcess.spawn(argv, env=env, dimensions=(rows, cols)), started)

    @property
    def fd(self) -> int:
        return int(self.proc.fd)

    def read_until_exit(self, keep: bool = True, timeout: float = 120) -> float:
        """Read everything until the pty's EOF and the wrapper's exit; returns seconds since start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            if keep:
                self.received += chunk
        end = time.perf_counter()
        self.reap()
        return end - self.started

    def reap(self) -> None:
        _, status, self.rusage = os.wait4(self.proc.pid, 0)
        self.status = os.waitstatus_to_exitcode(status)
        self.proc.closed = True
        try:
            self.proc.fileobj.close()
        except OSError:
            pass

    def cpu(self) -> float:
        return float(self.rusage.ru_utime + self.rusage.ru_stime)


def environment(work: Path) -> dict[str, str]:
    # As installed for real: bytecode cached (pip compiles it at install; some shells export
    # PYTHONDONTWRITEBYTECODE, which would make every start recompile csup from source).
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSUP_") and k != "PYTHONDONTWRITEBYTECODE"}
    # A HOME of its own too: Claude Code's registry there is empty, so the user's own sessions (or CI's decoy)
    # are no part of the measure.
    (work / "home").mkdir(exist_ok=True)
    env.update({"HOME": str(work / "home"), "CSUP_RUNTIME_DIR": str(work / "run"),
                "CSUP_STATE_DIR": str(work / "state"),
                "CSUP_CONFIG": str(work / "none.toml"), "CSUP_CLAUDE_NAMES": f"bench-{uuid.uuid4().hex[:8]}",
                "CSUP_NOTIFY": "off", "TERM": "xterm-256color"})
    return env


# --- measures ----------------------------------------------------------------------------------------------


def make_output(path: Path, size: int) -> bytes:
    """Text like a CLI's: lines of words with colour sequences, the tail marked so a lost end shows."""
    line = b"\x1b[32m+\x1b[0m csup relays this line of a long tool output, with colours \x1b[1mand bold\x1b[0m\n"
    body = line * (size // len(line))
    data = body + b"TAIL-MARKER-END\n"
    path.write_bytes(data)
    return data


def throughput(configs: list[Config], env: dict[str, str], data_file: Path, expected: bytes, rounds: int,
               results: dict[str, Any]) -> None:
    expected_on_pty = expected.replace(b"\n", b"\r\n")  # the CLI's own pty translates once (OPOST/ONLCR)
    digest = hashlib.sha256(expected_on_pty).hexdigest()
    for _ in range(rounds):
        for config in configs:
            run = Run.start(config.wrap(["/bin/cat", str(data_file)]), env)
            peak = _peak_rss_while(run)
            seconds = run.read_until_exit()
            got = bytes(run.received)
            entry = results.setdefault(config.name, {})
            entry.setdefault("throughput_mib_s", []).append(len(expected) / seconds / 2**20)
            entry.setdefault("total_cpu_s", []).append(run.cpu())
            entry.setdefault("peak_rss_mb", []).append(peak())
            entry.setdefault("intact", []).append(hashlib.sha256(_strip_trailer(got)).hexdigest() == digest)
            entry.setdefault("tail_delivered", []).append(b"TAIL-MARKER-END\r\n" in got[-64:])


def _strip_trailer(data: bytes) -> bytes:
    """What the program printed; wrappers add nothing after it, but be exact about it."""
    end = data.rfind(b"TAIL-MARKER-END\r\n")
    return data[: end + len(b"TAIL-MARKER-END\r\n")] if end >= 0 else data


def _peak_rss_while(run: Run) -> Callable[[], float]:
    """Samples the wrapper's own RSS (not its child's) every few ms while the run goes on."""
    import threading

    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        try:
            proc = psutil.Process(run.proc.pid)
            while not done.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss / 1e6)
                time.sleep(0.005)
        except psutil.Error:
            return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()

    def stop() -> float:
        done.set()
        thread.join()
        return round(peak[0], 1)

    return stop


def keystrokes(configs: list[Config], env: dict[str, str], count: int, gap: float, rounds: int,
               results: dict[str, Any], key: str) -> None:
    for _ in range(rounds):
        for config in configs:
            run = Run.start(config.wrap(ECHO), env)
            _expect(run.fd, b"echo-ready")
            times = []
            for _ in range(count):
                sent = time.perf_counter()
                os.write(run.fd, b"k")
                _expect(run.fd, b"k")
                times.append((time.perf_counter() - sent) * 1e6)
                if gap:
                    time.sleep(gap)
            os.write(run.fd, b"\x1d")  # the echo program's way out
            run.read_until_exit(keep=False)
            times.sort()
            entry = results.setdefault(config.name, {})
            entry.setdefault(f"{key}_p50_us", []).append(times[len(times) // 2])
            entry.setdefault(f"{key}_p99_us", []).append(times[int(len(times) * 0.99) - 1])


def _expect(fd: int, marker: bytes, timeout: float = 10) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {marker!r} within {timeout}s (got {got[-200:]!r})")
        ready, _, _ = select.select([fd], [], [], timeout)
        if ready:
            try:
                got += os.read(fd, 1 << 16)
            except OSError:  # the wrapper left before the marker
                break
    if marker not in got:
        raise RuntimeError(f"no {marker!r}: the run ended first, printing {got[-300:]!r}")
    return got


def startup(configs: list[Config], env: dict[str, str], count: int, rounds: int, results: dict[str, Any]) -> None:
    for _ in range(rounds):
        for config in configs:
            samples, cpus, first = [], [], []
            for _ in range(count):
                run = Run.start(config.wrap(["/bin/true"]), env)
                samples.append(run.read_until_exit(keep=False) * 1000)
                cpus.append(run.cpu())
                # What a user waits for: the CLI's first byte on the terminal (csup's own clean-up comes after).
                run = Run.start(config.wrap(["/bin/echo", "first-byte"]), env)
                _expect(run.fd, b"first-byte")
                first.append((time.perf_counter() - run.started) * 1000)
                run.read_until_exit(keep=False)
            entry = results.setdefault(config.name, {})
            entry.setdefault("startup_ms", []).append(statistics.median(samples))
            entry.setdefault("startup_cpu_s", []).append(statistics.median(cpus))
            entry.setdefault("first_byte_ms", []).append(statistics.median(first))
    exit_status(configs, env, results)


BREAKDOWN = r"""
import json, os, statistics, sys, tempfile, time
from pathlib import Path
t0 = time.perf_counter()
import filelock
t1 = time.perf_counter()
import ptyprocess
t2 = time.perf_counter()
from supervisor.face import entry, launch
from supervisor.flows import run
t3 = time.perf_counter()
from supervisor.flows import admission, refusals, sessions  # admission: the snapshot and the policy (lazily)
from supervisor.core import policy
t4 = time.perf_counter()
from supervisor.claude.choose import adapter_for
from supervisor.core.settings import resolve
from supervisor.flows.sessions import take_snapshot
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths
lock_ms, census_ms, spawn_ms = [], [], []
with tempfile.TemporaryDirectory() as scratch:
    for _ in range(10):
        began = time.perf_counter()
        lock = FileFlock(Path(scratch) / "x.lock"); lock.try_acquire(); lock.release()
        lock_ms.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        paths = Paths(Path(scratch) / "run", Path(scratch) / "state", Path(scratch) / "none.toml")
        snap = take_snapshot(paths, 1, adapter_for(resolve({}, "", {}), os.environ))
        policy.admit([s.seen() for s in snap.sessions], 1)
        census_ms.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        child = ptyprocess.PtyProcess.spawn(["/bin/true"])
        spawn_ms.append((time.perf_counter() - began) * 1000)  # until it runs (exec reported back), not its end
        os.waitpid(child.pid, 0); child.closed = True; child.fileobj.close()
print(json.dumps({"import filelock": (t1 - t0) * 1000, "import ptyprocess": (t2 - t1) * 1000,
                  "import csup's run path": (t3 - t2) * 1000, "import admission": (t4 - t3) * 1000,
                  "lock + release": statistics.median(lock_ms), "snapshot + policy": statistics.median(census_ms),
                  "spawn on a pty": statistics.median(spawn_ms)}))
"""


def startup_breakdown(env: dict[str, str], results: dict[str, Any]) -> None:
    """Where csup's start-up goes: Python itself, each import, the lock, the snapshot and the policy's decision,
    the spawn (medians, ms)."""
    python = []
    for _ in range(10):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        python.append((time.perf_counter() - began) * 1000)
    parts = json.loads(subprocess.run([sys.executable, "-c", BREAKDOWN], env=env, capture_output=True, text=True,
                                      check=True).stdout)
    results["startup_breakdown"] = {"python itself": statistics.median(python), **parts}


def exit_status(configs: list[Config], env: dict[str, str], results: dict[str, Any]) -> None:
    for config in configs:
        run = Run.start(config.wrap(["/bin/sh", "-c", "exit 3"]), env)
        run.read_until_exit(keep=False)
        results.setdefault(config.name, {})["exit_status_passed"] = [run.status == 3]


def idle(configs: list[Config], env: dict[str, str], seconds: float, results: dict[str, Any]) -> None:
    """All wrappers idle at once (they share nothing): CPU and context switches of the wrapper itself."""
    runs = {c.name: Run.start(c.wrap(ECHO), env) for c in configs if c.name != "direct"}
    for run in runs.values():
        _expect(run.fd, b"echo-ready")
    time.sleep(1.0)
    before = {name: _counters(run.proc.pid) for name, run in runs.items()}
    time.sleep(seconds)
    after = {name: _counters(run.proc.pid) for name, run in runs.items()}
    for name, run in runs.items():
        cpu = after[name][0] - before[name][0]
        switches = after[name][1] - before[name][1]
        entry = results.setdefault(name, {})
        entry["idle_cpu_ms"] = [round(cpu * 1000, 1)]
        entry["idle_wakeups_per_s"] = [round(switches / seconds, 2)]
        os.write(run.fd, b"\x1d")
        run.read_until_exit(keep=False)
    results.setdefault("direct", {}).update({"idle_cpu_ms": [0.0], "idle_wakeups_per_s": [0.0]})


def _counters(pid: int) -> tuple[float, int]:
    proc = psutil.Process(pid)
    times = proc.cpu_times()
    switches = proc.num_ctx_switches()
    return times.user + times.system, switches.voluntary + switches.involuntary


def csup_commands(env: dict[str, str], extra: int, count: int, results: dict[str, Any]) -> None:
    """`csup status` with `extra` more processes on the machine, and a refused second `run`."""
    sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(extra)]
    holder = Run.start([*CSUP, "run", "--claude", ECHO[0], "--", *ECHO[1:]], env)
    try:
        _expect(holder.fd, b"echo-ready")
        status_ms, refused_ms = [], []
        for _ in range(count):
            started = time.perf_counter()
            subprocess.run([*CSUP, "status", "--json"], env=env, capture_output=True, check=False)
            status_ms.append((time.perf_counter() - started) * 1000)
            refused = Run.start([*CSUP, "run", "--claude", "/bin/true"], env)
            refused_ms.append(refused.read_until_exit(keep=False) * 1000)
            assert refused.status == 75, refused.status
        results["csup"]["status_ms"] = [statistics.median(status_ms)]
        results["csup"]["refused_run_ms"] = [statistics.median(refused_ms)]
        results["csup"]["processes_on_machine"] = [len(psutil.pids())]
    finally:
        os.write(holder.fd, b"\x1d")
        holder.read_until_exit(keep=False)
        for sleeper in sleepers:
            sleeper.kill()
        for sleeper in sleepers:
            sleeper.wait()


def _stop_watcher(runtime: Path) -> None:
    """One watcher per user: the one measured here must be the only one."""
    try:
        pid = int(json.loads((runtime / "watch.json").read_text())["pid"])
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError, KeyError, TypeError):
        return
    deadline = time.monotonic() + 10
    while (runtime / "watch.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def watcher(env: dict[str, str], sessions: int, seconds: float, results: dict[str, Any]) -> None:
    """`csup watch` and `csup status` with `sessions` background sessions in Claude Code's registry (sleepers
    registered as the daemon's REPLs would be, busy so that nothing is ended): one sweep's time, the long-running
    watcher's CPU and RSS, and a status call."""
    home = Path(env["HOME"])
    _stop_watcher(Path(env["CSUP_RUNTIME_DIR"]))  # one the earlier measures' sessions started on demand
    folder = home / ".claude" / "sessions"
    folder.mkdir(parents=True, exist_ok=True)
    sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(sessions)]
    try:
        now_ms = int(time.time() * 1000)
        for index, sleeper in enumerate(sleepers):
            start = Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[19] \
                if Path("/proc").is_dir() else ""
            (folder / f"{sleeper.pid}.json").write_text(json.dumps({
                "pid": sleeper.pid, "sessionId": str(uuid.uuid4()), "cwd": str(home), "startedAt": now_ms,
                "procStart": start, "kind": "bg", "jobId": f"{index:08x}", "status": "busy",
                "updatedAt": now_ms, "statusUpdatedAt": now_ms}))
        from supervisor.machine.memory import of_trees

        memory_ms = []
        for _ in range(5):  # what a budget costs each decision: every session's tree, measured fairly
            began = time.perf_counter()
            of_trees([sleeper.pid for sleeper in sleepers])
            memory_ms.append((time.perf_counter() - began) * 1000)
        once_ms, status_ms = [], []
        for _ in range(5):
            began = time.perf_counter()
            subprocess.run([*CSUP, "watch", "--once"], env=env, capture_output=True, check=True)
            once_ms.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            subprocess.run([*CSUP, "status", "--json"], env=env, capture_output=True, check=False)
            status_ms.append((time.perf_counter() - began) * 1000)
        running = subprocess.Popen([*CSUP, "watch"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2.0)  # start-up and the first sweep
            proc = psutil.Process(running.pid)
            before = sum(proc.cpu_times()[:2])
            switches = proc.num_ctx_switches().voluntary  # each wake from select() is one
            time.sleep(seconds)
            used = sum(proc.cpu_times()[:2]) - before
            wakeups = proc.num_ctx_switches().voluntary - switches
            rss = proc.memory_info().rss / 1e6
        finally:
            running.terminate()
            running.wait(timeout=10)
        entry = results.setdefault("csup", {})
        entry["watch_sweep_ms"] = [statistics.median(once_ms)]
        entry["memory_20_ms"] = [statistics.median(memory_ms)]
        entry["watch_cpu_pct"] = [100 * used / seconds]
        entry["watch_wakeups_per_s"] = [wakeups / seconds]
        entry["watch_rss_mb"] = [rss]
        entry["status_background_ms"] = [statistics.median(status_ms)]
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
        for path in folder.glob("*.json"):
            path.unlink()


# --- report ------------------------------------------------------------------------------------------------

ROWS = [
    ("throughput_mib_s", "output throughput (MiB/s)", "higher"),
    ("relay_cpu_s_per_64mib", "relay CPU per 64 MiB (s)", "lower"),
    ("keystroke_p50_us", "keystroke round trip p50 (µs)", "lower"),
    ("keystroke_p99_us", "keystroke round trip p99 (µs)", "lower"),
    ("typing_p50_us", "typing (gaps) p50 (µs)", "lower"),
    ("startup_ms", "start-up, `true` as the CLI (ms)", "lower"),
    ("first_byte_ms", "start-up to the CLI's first byte (ms)", "lower"),
    ("idle_cpu_ms", "CPU while idle 20 s (ms)", "lower"),
    ("idle_wakeups_per_s", "wakeups per second while idle", "lower"),
    ("peak_rss_mb", "relay's peak RSS (MB)", "lower"),
    ("status_ms", "`csup status`, 2,000 extra processes (ms)", "lower"),
    ("refused_run_ms", "refused second `run` (ms)", "lower"),
    ("status_background_ms", "`csup status`, 20 background sessions (ms)", "lower"),
    ("watch_sweep_ms", "`csup watch --once`, 20 background sessions (ms)", "lower"),
    ("memory_20_ms", "memory of 20 sessions' process trees, PSS (ms)", "lower"),
    ("watch_cpu_pct", "`csup watch` between sweeps (% of a core)", "lower"),
    ("watch_wakeups_per_s", "`csup watch` wakeups while nothing is due (per s)", "lower"),
    ("watch_rss_mb", "`csup watch` RSS (MB)", "lower"),
]


def derive(results: dict[str, Any], size: int) -> None:
    """Relay CPU per 64 MiB: the wrapper's total CPU minus the program's (direct) and its own start-up."""
    direct = results["direct"]
    for name, entry in results.items():
        if name == "startup_breakdown":
            continue
        if name == "direct":
            entry["relay_cpu_s_per_64mib"] = [0.0]
            continue
        per_round = []
        for index, total in enumerate(entry["total_cpu_s"]):
            startup_cpu = statistics.median(entry["startup_cpu_s"]) - statistics.median(direct["startup_cpu_s"])
            relay = total - direct["total_cpu_s"][index] - startup_cpu
            per_round.append(max(0.0, relay) * (64 * 2**20) / size)
        entry["relay_cpu_s_per_64mib"] = per_round
    for name, entry in results.items():
        if name == "startup_breakdown":
            continue
        entry["startup_added_ms"] = [s - d for s, d in zip(entry["startup_ms"], direct["startup_ms"], strict=False)]


def table(results: dict[str, Any], names: list[str]) -> str:
    def median(name: str, key: str) -> float | None:
        values = results.get(name, {}).get(key)
        return statistics.median(values) if values else None

    lines = ["| measure | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for key, label, _ in ROWS:
        cells = []
        for name in names:
            value = median(name, key)
            direct = median("direct", key)
            if value is None:
                cells.append("—")
            elif key == "throughput_mib_s" and direct:
                cells.append(f"{value:.0f} ({value / direct:.2f})")
            elif key.endswith("_us") and direct is not None and name != "direct":
                cells.append(f"{value:.0f} (+{value - direct:.0f})")
            elif key in ("startup_ms", "first_byte_ms") and direct is not None and name != "direct":
                cells.append(f"{value:.1f} (+{value - direct:.1f})")
            else:
                cells.append(f"{value:.2f}" if value < 10 else f"{value:.0f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    checks = []
    for name in names:
        entry = results.get(name, {})
        ok = all(entry.get("intact", [True])) and all(entry.get("tail_delivered", [True])) \
            and all(entry.get("exit_status_passed", [True]))
        checks.append("all" if ok else "LOST")
    lines.append("| bytes intact, tail delivered, exit status | " + " | ".join(checks) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and counts: a smoke test")
    parser.add_argument("--no-interact", action="store_true", help="leave pexpect's interact() out")
    parser.add_argument("--out", default=str(HERE / "results" / "latest.json"))
    parser.add_argument("--only", default="throughput,keystrokes,startup,idle,commands,watch",
                        help="comma-separated parts to run (default: all)")
    options = parser.parse_args()
    quick = options.quick
    size = (1 if quick else 64) * 2**20
    rounds = 1 if quick else 3
    configs = configurations(with_interact=not options.no_interact)
    names = [c.name for c in configs]
    results: dict[str, Any] = {}
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="csup-bench-") as scratch:
        work = Path(scratch)
        env = environment(work)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "supervisor")], env=env, check=True)
        expected = make_output(work / "output.txt", size)
        parts = set(options.only.split(","))
        if "throughput" in parts or "startup" in parts:  # relay CPU needs both
            print(f"throughput: {size >> 20} MiB x {rounds} rounds", file=sys.stderr)
            throughput(configs, env, work / "output.txt", expected, rounds, results)
            print("start-up", file=sys.stderr)
            startup(configs, env, 3 if quick else 15, rounds, results)
            startup_breakdown(env, results)
        if "keystrokes" in parts:
            print("keystrokes", file=sys.stderr)
            keystrokes(configs, env, 50 if quick else 1000, 0.0, rounds, results, "keystroke")
            keystrokes(configs, env, 10 if quick else 60, 0.03, rounds, results, "typing")
        if "idle" in parts:
            print("idle", file=sys.stderr)
            idle(configs, env, 2.0 if quick else 20.0, results)
        if "commands" in parts:
            print("csup status and refusal", file=sys.stderr)
            csup_commands(env, 50 if quick else 2000, 3 if quick else 10, results)
        if "watch" in parts:
            print("csup watch and status with 20 background sessions", file=sys.stderr)
            watcher(env, 20, 2.0 if quick else 20.0, results)
    if "startup_ms" in results.get("direct", {}):
        derive(results, size)
    report = table(results, names)
    if "startup_breakdown" in results:
        report += "\n\nstart-up breakdown (ms, medians): " + ", ".join(
            f"{part} {ms:.1f}" for part, ms in results.pop("startup_breakdown").items())
    machine = f"{platform.system()} {platform.release()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n{machine}; {rounds} round(s), {size >> 20} MiB; {time.monotonic() - began:.0f} s\n")
    print(report)
    Path(options.out).parent.mkdir(parents=True, exist_ok=True)
    Path(options.out).write_text(json.dumps({"machine": machine, "rounds": rounds, "size": size,
                                             "results": results, "table": report}, indent=2))
    return 0 if "LOST" not in report else 1


if __name__ == "__main__":
    sys.exit(main())
