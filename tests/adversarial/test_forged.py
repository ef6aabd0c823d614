"""Forged state, hostile file types, numeric edge values and output errors, as tables: csup trusts only what it
has proven (a record's csup must be a running csup holding the lock before anything is signalled), reads every
file with a limit and only when it is a regular file, prints no control bytes that came from a file, and turns
every failure into one line and a documented exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from supervisor.core.errors import ExitCode
from supervisor.machine.jsonfile import parse_json, read_json
from supervisor.machine.processes import identity_of
from supervisor.machine.record import read_record

from conftest import CSUP, Env, alive, exit_status, finish

DOCUMENTED = {int(code) for code in ExitCode} | {130}


def _csup(env: Env, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CSUP, *args], env=env.vars, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _forge_record(env: Env, csup_pid: int, cli_pid: int | None = None, **fields: object) -> None:
    me = identity_of(csup_pid)
    assert me is not None
    cli = identity_of(cli_pid) if cli_pid else None
    record = {"schema": 1, "session_id": "f" * 32, "csup": me.to_json(), "cli": cli.to_json() if cli else None,
              "tty": "/dev/pts/99", "cwd": str(env.root), "argv": ["claude"], "started_at": time.time() - 60,
              "last_activity_at": time.time() - 30, "idle_limit": 1800, "warn_before": 60, "state": "active"}
    env.runtime.mkdir(mode=0o700, exist_ok=True)
    path = env.runtime / "session.json"
    path.write_text(json.dumps(record | fields))
    path.chmod(0o600)


@pytest.mark.parametrize("command", [["stop"], ["stop", "--force"], ["takeover", "--no-resume"]])
def test_a_forged_record_naming_an_unrelated_process_gets_no_signal(env: Env, command: list[str]) -> None:
    victim = subprocess.Popen(["sleep", "60"])
    bystander = subprocess.Popen(["sleep", "60"])
    env.track(victim.pid)
    env.track(bystander.pid)
    _forge_record(env, victim.pid, bystander.pid)  # a record naming our own `sleep`s, pid and start time right
    if command[0] == "takeover":
        child = env.csup(*command, "--claude", str(env.program()))
        child.expect(rb"ready pid=")  # the lock was free: the session is simply ours
        child.send(b"exit 0\r")
        child.expect(b"\n")
    else:
        result = _csup(env, *command)
        assert result.returncode in DOCUMENTED and "Traceback" not in result.stderr
        assert "no session is running" in result.stdout
    time.sleep(0.3)
    assert victim.poll() is None and bystander.poll() is None  # neither SIGUSR1 nor SIGKILL reached them


@pytest.mark.parametrize("content", [
    b'{"kind": "stop", "by_pid": 1, "by_tty": "", "at": Infinity}',
    b'{"kind": "stop", "by_pid": 1, "by_tty": "", "at": 1e400}',
    b'{"kind": "stop", "by_pid": 1, "by_tty": "", "at": NaN}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"kind": "stop", "by_pid": "1", "by_tty": 7, "at": 0}',
    b"\xff\xfe" * 10,
    b"{" + b'"a":1,' * 200_000 + b'"b":2}',  # over the size limit
])
def test_hostile_request_files_are_ignored_not_crashed_on(tmp_path: Path, content: bytes) -> None:
    from supervisor.flows.ending import take_request
    from supervisor.machine.paths import Paths

    slot = Paths(tmp_path, tmp_path / "state", tmp_path / "config.toml").slot(0)
    slot.request_file.write_bytes(content)
    slot.request_file.chmod(0o600)
    assert take_request(slot) is None
    assert not slot.request_file.exists()  # consumed either way


@pytest.mark.parametrize(("value", "valid"), [
    ("1795500000.5", True), ("NaN", False), ("Infinity", False), ("-Infinity", False), ("1e308", False),
    ("-1", False), ("1e400", False), ('"soon"', False), ("true", False), ("0", True),
])
def test_numeric_edge_values_in_records(tmp_path: Path, value: str, valid: bool) -> None:
    record = {"schema": 1, "session_id": "s", "csup": {"pid": 100, "start_time": 1.0}, "cli": None, "tty": "",
              "cwd": "/", "argv": [], "started_at": 1795500000.0, "idle_limit": None, "warn_before": None}
    path = tmp_path / "session.json"
    path.write_text(json.dumps(record)[:-1] + f', "last_activity_at": {value}}}')
    path.chmod(0o600)
    assert (read_record(path) is not None) is valid


@pytest.mark.parametrize("pid", ["0", "-5", "2147483648", "1e3", "true", '"123"', "null"])
def test_numeric_edge_values_in_identities(tmp_path: Path, pid: str) -> None:
    path = tmp_path / "session.json"
    path.write_text('{"schema": 1, "session_id": "s", "csup": {"pid": ' + pid + ', "start_time": 1.0}, "cli": null,'
                    ' "tty": "", "cwd": "/", "argv": [], "started_at": 1, "last_activity_at": 1}')
    path.chmod(0o600)
    assert read_record(path) is None


def test_json_edge_values_are_refused_by_the_one_parser() -> None:
    for text in ("NaN", "Infinity", "[1e400]", "[" * 50_000 + "]" * 50_000):
        with pytest.raises(ValueError):
            parse_json(text)
    assert parse_json("[1.5, 2]") == [1.5, 2]


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(("make", "words"), [
    (lambda tmp: _fifo(tmp / "fifo.toml"), "not a regular file"),
    (lambda tmp: Path("/dev/zero"), "not a regular file"),
    (lambda tmp: tmp, "is a directory"),
    (lambda tmp: (tmp / "deep.toml", (tmp / "deep.toml").write_text("a = " + "[" * 5000 + "]" * 5000))[0],
     "nested too deeply"),
    (lambda tmp: (tmp / "big.toml", (tmp / "big.toml").write_text("# x\n" * 400_000))[0], "larger than"),
    (lambda tmp: (tmp / "bin.toml", (tmp / "bin.toml").write_bytes(b"\xff\xfe\x00"))[0], "not UTF-8"),
])
def test_hostile_config_files_are_one_line_and_78(env: Env, tmp_path: Path, make: object, words: str) -> None:
    env.vars["CSUP_CONFIG"] = str(make(tmp_path))  # type: ignore[operator]
    for command in (["status"], ["config"], ["doctor"]):
        result = _csup(env, *command, timeout=15)  # a FIFO must not hang it
        assert result.returncode == 78, (command, result.stderr)
        assert words in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("runtime", ["/dev/null", "/proc/version"])
def test_a_runtime_dir_that_cannot_be_one_is_one_line(env: Env, runtime: str) -> None:
    env.vars.pop("CSUP_RUNTIME_DIR")
    env.vars["XDG_RUNTIME_DIR"] = runtime
    child = env.csup("run", "--claude", str(env.program()))
    if os.environ.get("CSUP_PORTABLE") == "1" or not sys.platform.startswith("linux"):
        # platformdirs (the portable path, as on macOS) ignores an unusable XDG_RUNTIME_DIR and falls back to a
        # private directory of its own: the session simply starts.
        child.expect(rb"ready pid=")
        finish(child)
        return
    child.expect(rb"csup: cannot create")
    assert exit_status(child) == ExitCode.UNSAFE


def test_a_relative_xdg_runtime_dir_is_ignored(env: Env) -> None:
    from supervisor.machine.paths import default_paths

    paths = default_paths({"XDG_RUNTIME_DIR": "relative/run", "HOME": str(env.home)})
    assert paths.runtime_dir.is_absolute()


NO_DEV_FULL = pytest.mark.skipif(not Path("/dev/full").exists(), reason="this system has no /dev/full (macOS)")


@NO_DEV_FULL
@pytest.mark.parametrize("command", [["log"], ["config"], ["status"], ["doctor"], ["config", "--json"],
                                     ["init", "bash"], ["log", "--json"]])
def test_output_errors_are_one_line_and_74(env: Env, command: list[str]) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run([*CSUP, *command], env=env.vars, stdout=full, stderr=subprocess.PIPE, text=True,
                                timeout=30)
    assert result.returncode == ExitCode.IO_ERROR, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "No space left" in result.stderr


def test_a_closed_pipe_is_not_an_error(env: Env) -> None:
    shell = subprocess.run(f"{' '.join(CSUP)} config | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}",
                           shell=True, executable="/bin/bash", env=env.vars, capture_output=True, text=True,
                           timeout=30)
    assert shell.stdout.strip() in ("0", "141") and "Traceback" not in shell.stderr


def test_control_bytes_from_a_record_are_never_printed(env: Env) -> None:
    holder = subprocess.Popen(["sleep", "60"])
    env.track(holder.pid)
    _forge_record(env, holder.pid, tty="/dev/pts/1\x1b]2;owned\x07\x1b[2J", cwd="/tmp/\x1b[31mred")
    result = _csup(env, "status")
    assert "\x1b" not in result.stdout and "?]2;owned" in result.stdout
    status = json.loads(_csup(env, "status", "--json").stdout)  # JSON keeps the value, escaped
    assert status["session"]["tty"].startswith("/dev/pts/1\x1b")


def test_unknown_csup_variables_are_warned_about_once(env: Env) -> None:
    env.vars["CSUP_IDEL_LIMIT"] = "5m"
    result = _csup(env, "config")
    assert result.returncode == 0
    assert "CSUP_IDEL_LIMIT is not a csup variable (did you mean CSUP_IDLE_LIMIT?)" in result.stderr


def test_read_json_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    assert read_json(_fifo(tmp_path / "fifo"), limit=100) is None
    assert read_json(Path("/dev/zero"), limit=100) is None
    assert read_json(tmp_path, limit=100) is None
    link = tmp_path / "link.json"
    (tmp_path / "real.json").write_text("{}")
    link.symlink_to(tmp_path / "real.json")
    assert read_json(link, limit=100) == {}  # Claude Code's files may be links
    assert read_json(link, limit=100, private=True) is None  # csup's own never are


def test_stop_proves_the_holder_before_it_escalates(env: Env) -> None:
    """A holder that holds the lock but whose record was forged to name a bystander: the bystander lives."""
    child = env.csup("run", "--claude", str(env.program()))
    child.expect(rb"ready pid=")
    record = json.loads((env.runtime / "session.json").read_text())
    bystander = subprocess.Popen(["sleep", "60"])
    env.track(bystander.pid)
    me = identity_of(bystander.pid)
    assert me is not None
    record["csup"] = me.to_json()  # the lock is held (by the real csup), but the record names the bystander
    (env.runtime / "session.json").write_text(json.dumps(record))
    os.kill(child.pid, signal.SIGSTOP)  # the real holder cannot answer either
    try:
        result = _csup(env, "stop", "--wait", "1s", timeout=30)
    finally:
        os.kill(child.pid, signal.SIGCONT)
    assert result.returncode == ExitCode.TEMPFAIL and "cannot prove" in result.stderr
    assert bystander.poll() is None and alive(child.pid)
