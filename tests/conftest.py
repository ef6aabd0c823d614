"""Shared fixtures: an isolated csup environment, the stand-in CLI, and csup driven in a real pty (pexpect).
Every process a test starts is killed, with its whole tree, at teardown."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import psutil
import pytest

TESTS = Path(__file__).resolve().parent
STANDIN = TESTS / "standin.py"
STANDIN_CODEX = TESTS / "standin_codex.py"
CSUP = [sys.executable, "-m", "supervisor"]
DEADLINE = 10  # seconds any single expectation may take before the test fails (never hangs)


def as_a_terminal_starts_it() -> None:
    """In the child, before exec: the signal dispositions a shell gives a foreground job. The suite itself may
    run with SIGINT and SIGQUIT ignored (a job a non-interactive shell put in the background, as CI may), and
    ignored signals stay ignored across exec: Ctrl-C in a test would then do nothing."""
    for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(signum, signal.SIG_DFL)


@dataclass
class Env:
    """An isolated world for one test: its own runtime/state/config dirs, HOME, and unique claude names."""

    root: Path
    vars: dict[str, str]
    claude_name: str  # the executable name the census treats as claude (unique per test)
    spawned: list[pexpect.spawn] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)

    @property
    def runtime(self) -> Path:
        return Path(self.vars["CSUP_RUNTIME_DIR"])

    @property
    def home(self) -> Path:
        return Path(self.vars["HOME"])

    def program(self, name: str = "claude") -> Path:
        """An executable `name` that runs the stand-in; named `claude`, csup treats it as Claude Code."""
        path = self.root / "bin" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path

    @property
    def codex_name(self) -> str:
        """The executable name the census treats as codex (unique per test)."""
        return self.vars["CSUP_CODEX_NAMES"]

    def codex(self) -> Path:
        """An executable `codex` that runs the Codex stand-in: csup run --cli codex finds it (CSUP_CODEX)."""
        path = self.root / "bin" / "codex"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN_CODEX}" "$@"\n')
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        self.vars["CSUP_CODEX"] = str(path)
        return path

    def codex_stray(self, *args: str) -> pexpect.spawn:
        """An unmanaged Codex session: the stand-in under this test's codex name, in a terminal of its own."""
        path = self.root / "bin" / self.codex_name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(STANDIN_CODEX)
        child = pexpect.spawn(str(path), list(args), env=self.vars, timeout=DEADLINE,
                              preexec_fn=as_a_terminal_starts_it, cwd=str(self.root))
        self.spawned.append(child)
        child.expect(b"codex ready pid=")
        return child

    def unmanaged_program(self) -> Path:
        """The stand-in under this test's unique claude name, as a process the census recognises."""
        path = self.root / "bin" / self.claude_name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(STANDIN)
        return path

    def stray(self, *args: str) -> pexpect.spawn:
        """An unmanaged claude session: the stand-in in a terminal of its own, started without csup."""
        child = pexpect.spawn(str(self.unmanaged_program()), list(args), env=self.vars, timeout=DEADLINE,
                              preexec_fn=as_a_terminal_starts_it,
                              cwd=str(self.root))
        self.spawned.append(child)
        child.expect(b"ready pid=")
        return child

    def csup(self, *args: str, dimensions: tuple[int, int] = (24, 80), env: dict[str, str] | None = None,
             timeout: float = DEADLINE, cwd: str | None = None) -> pexpect.spawn:
        child = pexpect.spawn(CSUP[0], [*CSUP[1:], *args], env=env or self.vars, dimensions=dimensions,
                              preexec_fn=as_a_terminal_starts_it,
                              timeout=timeout, cwd=cwd or str(self.root))
        self.spawned.append(child)
        return child

    def shell(self, command: str, dimensions: tuple[int, int] = (24, 80)) -> pexpect.spawn:
        child = pexpect.spawn("/bin/sh", ["-c", command], env=self.vars, dimensions=dimensions, timeout=DEADLINE,
                              preexec_fn=as_a_terminal_starts_it,
                              cwd=str(self.root))
        self.spawned.append(child)
        return child

    def csup_cmd(self) -> str:
        return " ".join(CSUP)

    def track(self, pid: int) -> None:
        self.pids.append(pid)

    def background(self, *args: str, program: Path | None = None) -> str:
        """A background session of the stand-in's daemon model (`claude --bg`), started without csup; its
        short id. csup is told where the CLI is (CSUP_CLAUDE): it ends such sessions with `claude stop`."""
        import subprocess

        self.vars["CSUP_CLAUDE"] = str(program or self.program())
        result = subprocess.run([str(program or self.program()), "--bg", *args], env=self.vars, cwd=str(self.root),
                                capture_output=True, text=True, timeout=DEADLINE, check=True)
        return result.stdout.split("·")[1].strip()

    def background_registry(self) -> list[dict[str, object]]:
        """The live background entries of Claude Code's registry in this test's HOME."""
        found = []
        for path in (self.home / ".claude" / "sessions").glob("*.json"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if data.get("kind") == "bg" and alive(int(data["pid"])):
                found.append(data)
        return found

    def watcher_pid(self) -> int | None:
        """The pid of the watcher (on demand, or started by the test) that runs for this test's user dirs."""
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return int(json.loads((self.runtime / "watch.json").read_text())["pid"])
        return None

    def watchers(self) -> list[psutil.Process]:
        """Watchers started on demand for this test's dirs (detached: no test's child), found by their
        environment, even one still starting."""
        found = []
        mine = {str(self.root / "run"), str(self.home)}
        for proc in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if "--on-demand" in (proc.info["cmdline"] or []):
                    theirs = proc.environ()
                    if {theirs.get("CSUP_RUNTIME_DIR", ""), theirs.get("HOME", "")} & mine:
                        found.append(proc)
        return found

    def cleanup(self) -> None:
        victims: list[psutil.Process] = self.watchers()
        for host in (self.home / ".claude" / "jobs").glob("*/host.pid"):
            with contextlib.suppress(OSError, ValueError):
                victims += _tree(int(host.read_text()))
        for child in self.spawned:
            if child.pid is not None:
                victims += _tree(child.pid)
        for pid in self.pids:
            victims += _tree(pid)
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
        for child in self.spawned:
            with contextlib.suppress(Exception):
                child.close(force=True)
        psutil.wait_procs(victims, timeout=3)


def _tree(pid: int) -> list[psutil.Process]:
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--stress", action="store_true", help="adversarial suite: many more trials (outside CI)")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    root = tmp_path
    name = f"fake-claude-{uuid.uuid4().hex[:8]}"
    variables = {
        key: value for key, value in os.environ.items()
        if (not key.startswith("CSUP_") or key == "CSUP_PORTABLE")  # the suite's portable pass (.ci/run) goes on
        and key not in ("CLAUDECODE", "CLAUDE_CONFIG_DIR", "INVOCATION_ID", "XPC_SERVICE_NAME")
    }
    (root / "home").mkdir()
    variables.update({
        "HOME": str(root / "home"),
        "CSUP_RUNTIME_DIR": str(root / "run"),
        "CSUP_STATE_DIR": str(root / "state"),
        "CSUP_CONFIG": str(root / "config.toml"),
        "CSUP_CLAUDE_NAMES": name,
        "CSUP_CODEX_NAMES": f"fake-codex-{uuid.uuid4().hex[:8]}",
        "PYTHONPATH": str(TESTS.parent),
        "TERM": "xterm-256color",
    })
    world = Env(root, variables, name)
    yield world
    world.cleanup()


def kill_every_process_of(home: Path) -> None:
    """A real CLI's daemons outlive their launcher: end every process whose HOME is this test's `home`."""
    victims = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("HOME") == str(home):
                victims.append(proc)
    for proc in victims:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(victims, timeout=5)


def wait_for(predicate: Callable[[], object], timeout: float = DEADLINE, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def exit_status(child: pexpect.spawn, timeout: float = DEADLINE) -> int:
    """Wait for csup to exit (reading whatever it still prints) and return its status as a shell would."""
    child.expect(pexpect.EOF, timeout=timeout)
    child.close()
    if child.signalstatus is not None:
        return 128 + child.signalstatus
    return int(child.exitstatus)


def require(condition: bool, reason: str) -> None:
    """A precondition of the machine (a shell installed, root): CI provides it, so there a missing one fails;
    elsewhere the test says what it needs instead of failing for the wrong reason."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide this: {reason}")
        pytest.skip(f"{reason}; CI runs this test")


def finish(child: pexpect.spawn) -> None:
    """End a stand-in session the way its user would (`exit 0`) and check csup passes the status on."""
    child.send(b"exit 0\r")
    assert exit_status(child) == 0


def assert_session_starts(env: Env) -> None:
    """The lock is free: a new session starts at once, and ends cleanly."""
    child = env.csup("run", "--claude", str(env.program()))
    ready_pid(child)
    finish(child)


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def guardian_in(shell: pexpect.spawn) -> psutil.Process:
    """The csup a shell started (its guardian, which the shell waits for): the one csup child of the shell."""
    [guardian] = [p for p in psutil.Process(shell.pid).children() if "supervisor" in " ".join(p.cmdline())]
    return guardian


def relay_pid(child: pexpect.spawn) -> int:
    """The csup that runs a session (the relay: the pid its records and messages name). The process the terminal
    started (`child.pid`) is its guardian, which waits for it."""
    [relay] = [p for p in psutil.Process(child.pid).children() if "supervisor" in " ".join(p.cmdline())
               or "csup" in " ".join(p.cmdline())]
    return relay.pid


def kill_csup_on_the_alternate_screen(terminal: pexpect.spawn, cli_pid: int) -> None:
    """The stand-in turns the alternate screen on; then its csup (the relay, the CLI's parent) is SIGKILLed, and
    the terminal's shell must leave that screen before it draws its prompt ("$ ")."""
    terminal.send(b"out 1b5b3f3130343968\r")
    terminal.expect(b"OUT 8")
    time.sleep(0.3)  # the relay tells its guardian of a new mode just after the bytes reach the terminal
    relay = psutil.Process(cli_pid).parent()
    assert relay is not None
    relay.kill()
    terminal.expect_exact(b"\x1b[?1049l")  # the restore leaves the alternate screen...
    assert b"$ " not in terminal.before  # ...before any prompt
    terminal.expect_exact("$ ")


def ready_pid(child: pexpect.spawn) -> int:
    child.expect(rb"ready pid=(\d+)")
    return int(child.match.group(1))


def run_csup(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """A csup command with no terminal (as from a script or cron): its output and status."""
    return subprocess.run([*CSUP, *args], env=env.vars, capture_output=True, text=True, timeout=DEADLINE * 2,
                          stdin=subprocess.DEVNULL)


def status_json(env: Env) -> dict[str, object]:
    return dict(json.loads(run_csup(env, "status", "--json").stdout))
