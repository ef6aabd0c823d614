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
CSUP = [str(Path(sys.executable).parent / "csup")]  # replaced in main() by csup installed as a user has it
REAL_CLAUDE = os.environ.get("CLAUDE_CLI_FOR_TESTS", "")  # the real Claude Code CLI, when it is here


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
    def start(cls, argv: list[str], env: dict[str, str], rows: int = 40, cols: int = 120,
              cwd: str | None = None) -> Run:
        started = time.perf_counter()
        return cls(PtyProcess.spawn(argv, env=env, dimensions=(rows, cols), cwd=cwd), started)

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

    def reap(self, timeout: float = 60) -> None:
        """Wait for the wrapper's exit; one still there after `timeout` is killed (and the run fails)."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status, self.rusage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(self.proc.pid, signal.SIGKILL)
                _, status, self.rusage = os.wait4(self.proc.pid, 0)
                break
            time.sleep(0.002)
        self.status = os.waitstatus_to_exitcode(status)
        self.proc.closed = True
        try:
            self.proc.fileobj.close()
        except OSError:
            pass

    def cpu(self) -> float:
        return float(self.rusage.ru_utime + self.rusage.ru_stime)


def installed_csup(work: Path) -> list[str]:
    """csup as `pip install .` leaves it: a venv whose console script imports csup with no import hook. The test
    venv's editable install runs one at every start (~12 ms that no user pays). This venv finds csup's source and
    its dependencies through a .pth file of plain paths, and keeps setuptools' distutils .pth that a real venv
    has too."""
    import sysconfig

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    dependencies = Path(sysconfig.get_paths()["purelib"])
    (site / "csup-bench.pth").write_text(f"{ROOT}\n{dependencies}\n")
    for distutils_hack in dependencies.glob("distutils-precedence.pth"):
        shutil.copy(distutils_hack, site)
    script = venv / "bin" / "csup"
    script.write_text(f"#!{python}\nimport sys\nfrom supervisor.face.entry import main\n"
                      "if __name__ == '__main__':\n    sys.exit(main())\n")
    script.chmod(0o755)
    return [str(script)]


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
            steady, high_water = peak()
            entry.setdefault("peak_rss_mb", []).append(steady)
            entry.setdefault("max_rss_mb", []).append(high_water)
            entry.setdefault("intact", []).append(hashlib.sha256(_strip_trailer(got)).hexdigest() == digest)
            entry.setdefault("tail_delivered", []).append(b"TAIL-MARKER-END\r\n" in got[-64:])


def _strip_trailer(data: bytes) -> bytes:
    """What the program printed; wrappers add nothing after it, but be exact about it."""
    end = data.rfind(b"TAIL-MARKER-END\r\n")
    return data[: end + len(b"TAIL-MARKER-END\r\n")] if end >= 0 else data


def _peak_rss_while(run: Run) -> Callable[[], tuple[float, float]]:
    """Samples the wrapper's own memory (not its child's) every few ms while the run goes on: its RSS, and its
    high-water mark, which the kernel keeps (Linux's VmHWM: no spike between samples is missed; elsewhere the
    highest RSS sampled)."""
    import threading

    peaks = [0.0, 0.0]
    done = threading.Event()
    status = Path(f"/proc/{run.proc.pid}/status")

    def sample() -> None:
        try:
            proc = psutil.Process(run.proc.pid)
            while not done.is_set():
                rss = proc.memory_info().rss / 1e6
                peaks[0] = max(peaks[0], rss)
                peaks[1] = max(peaks[1], _high_water_mb(status) or rss)
                time.sleep(0.005)
        except (psutil.Error, OSError):
            return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()

    def stop() -> tuple[float, float]:
        done.set()
        thread.join()
        return round(peaks[0], 1), round(peaks[1], 1)

    return stop


def _high_water_mb(status: Path) -> float | None:
    try:
        text = status.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return None


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


def startup(configs: list[Config], env: dict[str, str], count: int, rounds: int, results: dict[str, Any],
            trace: Path) -> None:
    """Start-up with `true` as the CLI (to its exit) and to the CLI's first byte on the terminal, which csup's
    own marks (CSUP_TRACE_STARTUP) split into phases: the breakdown is of these very runs."""
    traced = {**env, "CSUP_TRACE_STARTUP": str(trace)}
    phases: dict[str, list[float]] = results.setdefault("startup_phases", {})
    for _ in range(rounds):
        for config in configs:
            samples, cpus, first = [], [], []
            for _ in range(count):
                run = Run.start(config.wrap(["/bin/true"]), env)
                samples.append(run.read_until_exit(keep=False) * 1000)
                cpus.append(run.cpu())
                # What a user waits for: the CLI's first byte on the terminal (csup's own clean-up comes after).
                trace.unlink(missing_ok=True)
                run = Run.start(config.wrap(["/bin/echo", "first-byte"]), traced)
                _expect(run.fd, b"first-byte")
                seen = time.perf_counter()
                first.append((seen - run.started) * 1000)
                run.read_until_exit(keep=False)
                if config.name == "csup":
                    _add_phases(phases, run.started, seen, trace)
                    results.setdefault("startup_totals", []).append((seen - run.started) * 1000)
            entry = results.setdefault(config.name, {})
            entry.setdefault("startup_ms", []).append(statistics.median(samples))
            entry.setdefault("startup_cpu_s", []).append(statistics.median(cpus))
            entry.setdefault("first_byte_ms", []).append(statistics.median(first))
    exit_status(configs, env, results)


def _add_phases(phases: dict[str, list[float]], started: float, seen: float, trace: Path) -> None:
    """One start's phases (ms): from the benchmark's spawn to each of csup's marks (time.perf_counter is the
    machine's monotonic clock in every process), then on to the first byte the benchmark saw."""
    marks = json.loads(trace.read_text().splitlines()[-1])
    previous = started
    for name, at in marks:
        phases.setdefault(name, []).append((at - previous) * 1000)
        previous = at
    phases.setdefault("first byte", []).append((seen - previous) * 1000)


def filelock_alone(python: str, count: int) -> float:
    """`import filelock` in a fresh interpreter (ms, median): with the standard modules it brings, many of which
    csup's run path imports before it (typing, re, pathlib, dataclasses), so that phase shows less of it."""
    samples = []
    for _ in range(count):
        out = subprocess.run([python, "-c", "import time; t = time.perf_counter(); import filelock; "
                              "print(time.perf_counter() - t)"], capture_output=True, text=True, check=True,
                             timeout=60).stdout
        samples.append(float(out) * 1000)
    return statistics.median(samples)


def startup_breakdown(results: dict[str, Any]) -> str:
    """The phases' medians beside the measured medians: the phases are of the same runs, so they sum to the
    measure (within what the medians of parts differ from the median of the whole)."""
    phases, alone = results.pop("startup_phases", {}), results.pop("filelock_alone_ms", 0.0)
    totals = results.pop("startup_totals", [])
    if not phases:
        return ""
    medians = {name: statistics.median(values) for name, values in phases.items()}
    total = statistics.median(totals)
    direct = statistics.median(results["direct"]["first_byte_ms"])
    floor = sum(medians.get(name, 0.0) for name in FLOOR)
    parts = "\n".join(f"| {PHASE_NAMES.get(name, name)} | {ms:.1f} |" for name, ms in medians.items())
    return (f"Start-up to the CLI's first byte through csup, phase by phase (ms, medians of the same runs):\n\n"
            f"| phase | ms |\n| --- | --- |\n{parts}\n| **sum of the phases** | **{sum(medians.values()):.1f}** |\n\n"
            f"The median first byte of the same runs: {total:.1f} ms (direct: {direct:.1f} ms, so csup adds "
            f"{total - direct:.1f}). The floor — spawning the wrapper (direct pays that too), Python's own start, "
            f"the imports of filelock and ptyprocess — is {floor:.1f} ms of it; csup's own code is the rest. In a "
            f"fresh interpreter `import filelock` alone "
            f"takes {alone:.1f} ms: many of the standard modules it needs are imported "
            f"earlier, by csup's run path.")


# csup's marks (machine/trace.py), each named for the phase that ended there.
PHASE_NAMES = {
    "python": "the wrapper spawned, Python starts, finds csup (floor)",
    "imports": "csup's run path imported",
    "settings": "settings read",
    "program": "the CLI found, pass-through decided",
    "guardian": "the guardian forked: csup goes on as the relay",
    "filelock": "import filelock (floor)",
    "admission code": "csup's admission imported",
    "lock": "the lock taken",
    "admission": "every session seen, the policy decided",
    "prepared": "relay imported, raw mode",
    "ptyprocess": "import ptyprocess (floor)",
    "spawn": "prctl found (ctypes), the CLI spawned on its pty",
    "relaying": "record written, policy built, relay ready",
    "first byte": "the CLI's first byte reaches the terminal",
}
FLOOR = ("python", "filelock", "ptyprocess")


def passthrough(configs: list[Config], env: dict[str, str], work: Path, count: int,
                results: dict[str, Any]) -> None:
    """`claude --version` in a terminal through the alias: a call that is no session goes straight to the CLI
    (csup execs it), and this is what each such call pays. The CLI: a shell script named claude."""
    program = work / "bin" / "claude"
    program.parent.mkdir(exist_ok=True)
    program.write_text('#!/bin/sh\necho "2.1.330 (Claude Code)"\n')
    program.chmod(0o755)
    chosen = [config for config in configs if config.name in ("direct", "csup")]
    for _ in range(count):
        for config in chosen:
            run = Run.start(config.wrap([str(program), "--version"]), env)
            elapsed = run.read_until_exit(keep=False) * 1000
            assert run.status == 0, f"{config.name}: `claude --version` exited {run.status}"
            results.setdefault(config.name, {}).setdefault("passthrough_ms", []).append(elapsed)


def real_first_screen(configs: list[Config], env: dict[str, str], work: Path, rounds: int,
                      results: dict[str, Any]) -> None:
    """The real Claude Code CLI (CLAUDE_CLI_FOR_TESTS) to its first screen, offline: its prompt, whose status
    line says "run /login" (CLAUDE_CLI.md). Its HOME says onboarding is done and the folder trusted."""
    if not REAL_CLAUDE or not Path(REAL_CLAUDE).exists():
        return
    home, project = work / "claude-home", work / "project"
    home.mkdir()
    project.mkdir()
    version = subprocess.run([REAL_CLAUDE, "--version"], capture_output=True, text=True, check=False, timeout=60,
                             env={**env, "HOME": str(home)}).stdout.split(" ")[0]
    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "lastOnboardingVersion": version,
        "projects": {str(project): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}}}))
    program = work / "bin" / env["CSUP_CLAUDE_NAMES"]  # the name csup's census knows it by in this run
    program.parent.mkdir(exist_ok=True)
    program.symlink_to(os.path.realpath(REAL_CLAUDE))
    real_env = {**env, "HOME": str(home), "DISABLE_AUTOUPDATER": "1"}
    chosen = [config for config in configs if config.name != "interact"]
    try:
        for _ in range(rounds):
            for config in chosen:
                _end_every_process_of(home, patience=10)  # the last one's CLI may still be leaving: csup would count it
                run = Run.start(config.wrap([str(program)]), real_env, cwd=str(project))
                _expect(run.fd, b"/login", timeout=60)
                results.setdefault(config.name, {}).setdefault("real_first_screen_ms", []).append(
                    (time.perf_counter() - run.started) * 1000)
                _hang_up(run)
    finally:
        _end_every_process_of(home)


def _hang_up(run: Run, timeout: float = 30) -> None:
    """Close the terminal, as a user closing the window does: the kernel hangs up the session on it, and each
    wrapper ends its CLI. One that is still there after `timeout` is killed."""
    run.proc.fileobj.close()
    run.proc.closed = True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, rusage = os.wait4(run.proc.pid, os.WNOHANG)
        if pid:
            run.status, run.rusage = os.waitstatus_to_exitcode(status), rusage
            return
        time.sleep(0.05)
    os.kill(run.proc.pid, signal.SIGKILL)
    os.wait4(run.proc.pid, 0)


def _end_every_process_of(home: Path, patience: float = 0) -> None:
    """Claude Code's helpers may outlive a session: every process whose HOME is the benchmark's is given
    `patience` seconds to leave, then ended."""
    deadline = time.monotonic() + patience
    while True:
        leftovers = []
        for proc in psutil.process_iter():
            try:
                if proc.environ().get("HOME") == str(home):
                    leftovers.append(proc)
            except psutil.Error:
                continue
        if not leftovers or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    for proc in leftovers:
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(leftovers, timeout=5)


def way_out(configs: list[Config], env: dict[str, str], count: int, results: dict[str, Any]) -> None:
    """From the CLI's last output to the wrapper's exit (the pty's end and its status): what the shell's prompt
    waits for after the CLI is done. Interleaved, medians."""
    chosen = [config for config in configs if config.name != "interact"]
    for _ in range(count):
        for config in chosen:
            run = Run.start(config.wrap(["/bin/sh", "-c", "echo way-out-marker"]), env)
            _expect(run.fd, b"way-out-marker")
            seen = time.perf_counter()
            elapsed = run.read_until_exit(keep=False)
            results.setdefault(config.name, {}).setdefault("way_out_ms", []).append(
                (run.started + elapsed - seen) * 1000)


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
    time.sleep(IDLE_SETTLE)
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


# What a session has to do once, after its start, is done by then (csup: the enforcer looked for at 5 s, the
# record rewritten 5 s after the first screen); from then on nothing is due for minutes.
IDLE_SETTLE = 8.0


def _counters(pid: int) -> tuple[float, int]:
    """CPU and context switches of the wrapper and its own helpers (csup's guardian: a fork with its command
    line), not of the program it runs."""
    wrapper = psutil.Process(pid)
    own = [wrapper, *(child for child in wrapper.children() if child.cmdline() == wrapper.cmdline())]
    cpu, switches = 0.0, 0
    for proc in own:
        times, counts = proc.cpu_times(), proc.num_ctx_switches()
        cpu += times.user + times.system
        switches += counts.voluntary + counts.involuntary
    return cpu, switches


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
    ("throughput_mib_s", "output throughput (MiB/s)"),
    ("relay_cpu_s_per_64mib", "relay CPU per 64 MiB (s)"),
    ("keystroke_p50_us", "keystroke round trip p50 (µs)"),
    ("keystroke_p99_us", "keystroke round trip p99 (µs)"),
    ("typing_p50_us", "typing (keys 30 ms apart) p50 (µs)"),
    ("startup_ms", "start-up, `true` as the CLI (ms)"),
    ("first_byte_ms", "start-up to the CLI's first byte (ms)"),
    ("real_first_screen_ms", "Claude Code's first screen, offline (ms)"),
    ("passthrough_ms", "`claude --version` through the alias (ms)"),
    ("idle_cpu_ms", "CPU while idle 20 s, start done (ms)"),
    ("idle_wakeups_per_s", "wakeups per second while idle, nothing due"),
    ("peak_rss_mb", "relay's RSS during a 64 MiB flood, sampled (MB)"),
    ("max_rss_mb", "relay's peak RSS, high-water mark (MB)"),
    ("status_ms", "`csup status`, 2,000 extra processes (ms)"),
    ("refused_run_ms", "refused second `run` (ms)"),
    ("status_background_ms", "`csup status`, 20 background sessions (ms)"),
    ("watch_sweep_ms", "`csup watch --once`, 20 background sessions (ms)"),
    ("memory_20_ms", "memory of 20 sessions' process trees, PSS (ms)"),
    ("watch_cpu_pct", "`csup watch` between sweeps (% of a core)"),
    ("watch_wakeups_per_s", "`csup watch` wakeups while nothing is due (per s)"),
    ("watch_rss_mb", "`csup watch` RSS (MB)"),
    ("way_out_ms", "the way out: the CLI's last output to the wrapper's exit (ms)"),
    ("running_pss_mib", "PSS of csup's processes, session running (relay + guardian, MiB)"),
    ("asleep_pss_mib", "PSS of csup's processes, session asleep (MiB)"),
    ("asleep_wakeups_per_s", "wakeups per second while asleep"),
    ("wake_first_output_ms", "Enter → first output (stand-in; direct: `--resume ID` started) (ms)"),
    ("real_wake_ms", "Enter → Claude Code's first screen (direct: `claude --resume ID`) (ms)"),
]
ADDED = ("_us", "startup_ms", "first_byte_ms", "real_first_screen_ms", "passthrough_ms", "wake_first_output_ms",
         "real_wake_ms", "way_out_ms")  # shown as + direct


def _targets(median: Callable[[str, str], float | None]) -> dict[str, tuple[str, bool | None]]:
    """What csup aims at (the start-up issue), and whether this run met it (None: not measured)."""
    def added(key: str, name: str = "csup") -> float | None:
        value, direct = median(name, key), median("direct", key)
        return None if value is None or direct is None else value - direct

    def over_floor(key: str) -> float | None:
        value, floor = median("csup", key), median("floor", key)
        return None if value is None or floor is None else value - floor

    def check(value: float | None, limit: float | None) -> bool | None:
        return None if value is None or limit is None else value <= limit

    typing_script = added("typing_p50_us", "script")
    return {
        "first_byte_ms": ("≤ the floor + 20 ms", check(over_floor("first_byte_ms"), 20)),
        "typing_p50_us": ("≤ 1.5 × script's added",
                          check(added("typing_p50_us"), None if typing_script is None else 1.5 * typing_script)),
        "passthrough_ms": ("≤ +35 ms", check(added("passthrough_ms"), 35)),
        "max_rss_mb": ("≤ 28 MB", check(median("csup", "max_rss_mb"), 28)),
        "idle_wakeups_per_s": ("0", check(median("csup", "idle_wakeups_per_s"), 0)),
        "way_out_ms": ("≤ +10 ms", check(added("way_out_ms"), 10)),
        "running_pss_mib": ("≤ 16 MiB", check(median("csup", "running_pss_mib"), 16)),
        "asleep_pss_mib": ("≤ 16 MiB", check(median("csup", "asleep_pss_mib"), 16)),
        "asleep_wakeups_per_s": ("0", check(median("csup", "asleep_wakeups_per_s"), 0)),
        "wake_first_output_ms": ("no slower than direct", check(added("wake_first_output_ms"), 0)),
        "real_wake_ms": ("no slower than direct", check(added("real_wake_ms"), 0)),
    }


def derive(results: dict[str, Any], size: int) -> None:
    """Relay CPU per 64 MiB: the wrapper's total CPU minus the program's (direct) and its own start-up."""
    direct = results["direct"]
    for name, entry in results.items():
        if name == "direct":
            entry["relay_cpu_s_per_64mib"] = [0.0]
            continue
        if "total_cpu_s" not in entry:  # a start-up row only (the floor script)
            continue
        per_round = []
        for index, total in enumerate(entry["total_cpu_s"]):
            startup_cpu = statistics.median(entry["startup_cpu_s"]) - statistics.median(direct["startup_cpu_s"])
            relay = total - direct["total_cpu_s"][index] - startup_cpu
            per_round.append(max(0.0, relay) * (64 * 2**20) / size)
        entry["relay_cpu_s_per_64mib"] = per_round
    for entry in results.values():
        entry["startup_added_ms"] = [s - d for s, d in zip(entry["startup_ms"], direct["startup_ms"], strict=False)]


def table(results: dict[str, Any], names: list[str]) -> str:
    def median(name: str, key: str) -> float | None:
        values = results.get(name, {}).get(key)
        return statistics.median(values) if values else None

    targets = _targets(median)
    lines = ["| measure | " + " | ".join(names) + " | csup's target |", "| --- |" + " --- |" * (len(names) + 1)]
    for key, label in ROWS:
        cells = []
        for name in names:
            value = median(name, key)
            direct = median("direct", key)
            if value is None:
                cells.append("—")
            elif key == "throughput_mib_s" and direct:
                cells.append(f"{value:.0f} ({value / direct:.2f})")
            elif key.endswith(ADDED) and direct is not None and name != "direct":
                digits = 0 if key.endswith("_us") else 1
                cells.append(f"{value:.{digits}f} ({value - direct:+.{digits}f})")
            else:
                cells.append(f"{value:.2f}" if value < 10 else f"{value:.0f}")
        aim, met = targets.get(key, ("", None))
        verdict = "" if not aim else f"{aim}: {'met' if met else 'not met' if met is not None else 'not measured'}"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {verdict} |")
    checks = []
    for name in names:
        entry = results.get(name, {})
        ok = all(entry.get("intact", [True])) and all(entry.get("tail_delivered", [True])) \
            and all(entry.get("exit_status_passed", [True]))
        checks.append("all" if ok else "LOST")
    lines.append("| bytes intact, tail delivered, exit status | " + " | ".join(checks) + " | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and counts: a smoke test")
    parser.add_argument("--no-interact", action="store_true", help="leave pexpect's interact() out")
    parser.add_argument("--out", default=str(HERE / "results" / "latest.json"))
    parser.add_argument("--only", default="throughput,keystrokes,startup,real,idle,commands,watch,sleep",
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
        CSUP[:] = installed_csup(work)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "supervisor")], env=env, check=True)
        expected = make_output(work / "output.txt", size)
        parts = set(options.only.split(","))
        breakdown = ""
        if "throughput" in parts or "startup" in parts:  # relay CPU needs both
            print(f"throughput: {size >> 20} MiB x {rounds} rounds", file=sys.stderr)
            throughput(configs, env, work / "output.txt", expected, rounds, results)
            print("start-up", file=sys.stderr)
            # The floor script: the start-up rows only (it relays output, and no more).
            floor = Config("floor", lambda argv: [str(Path(CSUP[0]).parent / "python"), str(HERE / "floor.py"),
                                                  *argv])
            startup([*configs, floor], env, 3 if quick else 15, rounds, results, work / "startup-marks.jsonl")
            names.insert(names.index("csup"), "floor")
            results["filelock_alone_ms"] = filelock_alone(str(Path(CSUP[0]).parent / "python"), 3 if quick else 15)
            breakdown = startup_breakdown(results)
            passthrough(configs, env, work, 3 if quick else 30, results)
            way_out(configs, env, 3 if quick else 20, results)
        if "real" in parts:
            print("the real Claude Code CLI's first screen" if REAL_CLAUDE else "no real Claude Code CLI "
                  "(CLAUDE_CLI_FOR_TESTS): its row is left out", file=sys.stderr)
            real_first_screen(configs, env, work, 1 if quick else 7, results)
        if "keystrokes" in parts:
            print("keystrokes", file=sys.stderr)
            keystrokes(configs, env, 50 if quick else 1000, 0.0, rounds, results, "keystroke")
            keystrokes(configs, env, 10 if quick else 60, 0.03, 1 if quick else 7, results, "typing")
        if "idle" in parts:
            print("idle", file=sys.stderr)
            idle(configs, env, 2.0 if quick else 20.0, results)
        if "commands" in parts:
            print("csup status and refusal", file=sys.stderr)
            csup_commands(env, 50 if quick else 2000, 3 if quick else 10, results)
        if "watch" in parts:
            print("csup watch and status with 20 background sessions", file=sys.stderr)
            watcher(env, 20, 2.0 if quick else 20.0, results)
        if "sleep" in parts:
            import sleep

            print("sleep and wake" + ("" if REAL_CLAUDE else " (the real CLI's row left out: no "
                                      "CLAUDE_CLI_FOR_TESTS)"), file=sys.stderr)
            sleep.measure(Run, _expect, CSUP, env, work, 1 if quick else 5, results, REAL_CLAUDE)
    if "startup_ms" in results.get("direct", {}):
        derive(results, size)
    report = table(results, names) + (f"\n\n{breakdown}" if breakdown else "")
    machine = f"{platform.system()} {platform.release()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n{machine}; {rounds} round(s), {size >> 20} MiB; {time.monotonic() - began:.0f} s\n")
    print(report)
    Path(options.out).parent.mkdir(parents=True, exist_ok=True)
    Path(options.out).write_text(json.dumps({"machine": machine, "rounds": rounds, "size": size,
                                             "results": results, "table": report}, indent=2))
    return 0 if "LOST" not in report else 1


if __name__ == "__main__":
    sys.exit(main())
