"""Sleep and wake, measured (bench/run.py's `sleep` part): what csup keeps for a session — PSS of all its processes
(the relay and its guardian while running; csup alone while asleep: no guardian) —, its wakeups while asleep, and
the time from Enter to the CLI's first output beside the same CLI started directly with `--resume ID`: with the
stand-in (tests/standin.py), and with the real Claude Code CLI when CLAUDE_CLI_FOR_TESTS names it (offline; its
first screen's `/login` token, as bench/run.py's real row waits for)."""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
STANDIN = HERE.parent / "tests" / "standin.py"


def pss_mib(pid: int) -> float:
    """A process's proportional set size (its fair share of shared pages): smaps_rollup on Linux, USS elsewhere."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float(psutil.Process(pid).memory_full_info().uss) / 2**20


def own_processes(pid: int) -> list[psutil.Process]:
    """csup and its own forks (the guardian shares its command line), not the CLI it runs."""
    wrapper = psutil.Process(pid)
    return [wrapper, *(child for child in wrapper.children() if child.cmdline() == wrapper.cmdline())]


def switches(procs: list[psutil.Process]) -> int:
    total = 0
    for proc in procs:
        counts = proc.num_ctx_switches()
        total += counts.voluntary + counts.involuntary
    return total


def measure(run_type: Any, expect: Any, csup: list[str], env: dict[str, str], work: Path, rounds: int,
            results: dict[str, Any], real_claude: str = "") -> None:
    """`run_type`, `expect`: bench/run.py's Run and _expect (one pty each, read as a terminal would)."""
    program = _standin_program(work)
    settle = {**env, "CSUP_IDLE_LIMIT": "3s", "CSUP_WARN_BEFORE": "1s", "CSUP_BACKGROUND_IDLE_LIMIT": "off"}
    csup_entry = results.setdefault("csup", {})
    direct_entry = results.setdefault("direct", {})
    run = run_type.start([*csup, "run", "--claude", str(program)], settle, cwd=str(work))
    expect(run.fd, b"ready pid=")
    os.write(run.fd, b"transcript\r")
    seen = expect(run.fd, b".jsonl")
    conversation = re.search(rb"/([0-9a-f-]{36})\.jsonl", seen)
    assert conversation is not None, seen
    time.sleep(0.5)
    csup_entry["running_pss_mib"] = [round(sum(pss_mib(p.pid) for p in own_processes(run.proc.pid)), 1)]
    for index in range(rounds):
        expect(run.fd, b"csup: asleep", timeout=30)
        time.sleep(1.0)  # what falling asleep does is done
        if index == 0:
            procs = own_processes(run.proc.pid)
            csup_entry["asleep_pss_mib"] = [round(sum(pss_mib(p.pid) for p in procs), 1)]
            csup_entry["asleep_processes"] = [len(procs)]
            before = switches(procs)
            time.sleep(10.0)
            csup_entry["asleep_wakeups_per_s"] = [round((switches(procs) - before) / 10.0, 2)]
        started = time.perf_counter()
        os.write(run.fd, b"\r")
        expect(run.fd, b"resumed ")
        csup_entry.setdefault("wake_first_output_ms", []).append((time.perf_counter() - started) * 1000)
    os.write(run.fd, b"exit 0\r")
    run.read_until_exit(keep=False)
    for _ in range(rounds):  # the same CLI, the same conversation, started directly
        direct = run_type.start([str(program), "--resume", conversation.group(1).decode()], env, cwd=str(work))
        expect(direct.fd, b"resumed ")
        direct_entry.setdefault("wake_first_output_ms", []).append((time.perf_counter() - direct.started) * 1000)
        os.write(direct.fd, b"exit 0\r")
        direct.read_until_exit(keep=False)
    if real_claude and Path(real_claude).exists():
        _real(run_type, expect, csup, env, work, rounds, results, real_claude)


def _real(run_type: Any, expect: Any, csup: list[str], env: dict[str, str], work: Path, rounds: int,
          results: dict[str, Any], real_claude: str) -> None:
    home, project = work / "sleep-home", work / "sleep-project"
    home.mkdir()
    project.mkdir()
    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "lastOnboardingVersion": "2.1.330",
        "projects": {str(project): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}}}))
    real_env = {**env, "HOME": str(home), "DISABLE_AUTOUPDATER": "1", "CSUP_IDLE_LIMIT": "8s",
                "CSUP_WARN_BEFORE": "2s", "CSUP_BACKGROUND_IDLE_LIMIT": "off"}
    run = run_type.start([*csup, "run", "--claude", real_claude], real_env, cwd=str(project))
    expect(run.fd, b"/login", timeout=60)
    os.write(run.fd, b"hello")
    time.sleep(0.5)
    os.write(run.fd, b"\r")
    record = json.loads((Path(env["CSUP_RUNTIME_DIR"]) / "session.json").read_text())
    conversation = record["conversation_id"]
    for _ in range(rounds):
        expect(run.fd, b"csup: asleep", timeout=60)
        time.sleep(1.0)
        started = time.perf_counter()
        os.write(run.fd, b"\r")
        expect(run.fd, b"/login", timeout=60)
        results["csup"].setdefault("real_wake_ms", []).append((time.perf_counter() - started) * 1000)
    os.kill(run.proc.pid, 15)
    run.read_until_exit(keep=False)
    for _ in range(rounds):
        direct = run_type.start([real_claude, "--resume", conversation], real_env, cwd=str(project))
        expect(direct.fd, b"/login", timeout=60)
        results["direct"].setdefault("real_wake_ms", []).append((time.perf_counter() - direct.started) * 1000)
        os.kill(direct.proc.pid, 15)
        direct.read_until_exit(keep=False)


def _standin_program(work: Path) -> Path:
    """The stand-in as `claude` (csup resumes what it calls claude), in this run's own folder."""
    program = work / "sleep-bin" / "claude"
    program.parent.mkdir(exist_ok=True)
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    program.chmod(0o755)
    return program


def median(values: list[float]) -> float:
    return statistics.median(values)
