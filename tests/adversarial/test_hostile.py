"""Hostile files, identities and bad input: csup refuses or repairs safely, never writes through a symlink,
never signals what it has not verified, and answers every bad input with one line and a documented code."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import pytest

from supervisor.core.errors import ExitCode

from conftest import CSUP, Env, exit_status, finish, ready_pid, require

DOCUMENTED = {int(code) for code in ExitCode} | {130}  # 130: interrupted


def _csup(env: Env, *args: str | bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CSUP, *args], env=env.vars, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)


def _one_clear_line(result: subprocess.CompletedProcess[bytes]) -> str:
    text = result.stderr.decode(errors="replace")
    assert "Traceback" not in text, text
    assert result.returncode in DOCUMENTED, (result.returncode, text)
    return text


def _run_in_pty(env: Env) -> tuple[int, str]:
    child = env.csup("run", "--claude", str(env.program()))
    index = child.expect([rb"ready pid=", b"csup: "], timeout=15)
    if index == 0:
        child.send(b"exit 0\r")
    code = exit_status(child)
    return code, (child.before or b"").decode(errors="replace")


@pytest.mark.parametrize("name", ["session.lock", "gate.lock", "session.json", "request.json"])
def test_runtime_files_as_symlinks_are_never_followed(env: Env, name: str) -> None:
    env.runtime.mkdir(mode=0o700)
    victim = env.root / "victim.txt"
    victim.write_text("precious")
    (env.runtime / name).symlink_to(victim)
    code, text = _run_in_pty(env)
    assert "Traceback" not in text
    assert code in (0, 77), text
    if code == 77:
        assert "symlink" in text and name in text
    assert victim.read_text() == "precious"
    status = _csup(env, "status")
    _one_clear_line(status)
    assert victim.read_text() == "precious"


def test_runtime_dir_as_a_symlink_or_a_file_is_refused(env: Env) -> None:
    elsewhere = env.root / "elsewhere"
    elsewhere.mkdir()
    env.runtime.symlink_to(elsewhere)
    code, text = _run_in_pty(env)
    assert code == 77 and "symlink" in text
    assert list(elsewhere.iterdir()) == []
    env.runtime.unlink()
    env.runtime.write_text("")
    code, text = _run_in_pty(env)
    assert code == 77 and "not a directory" in text


def test_state_dir_log_as_a_symlink_does_not_stop_a_session(env: Env) -> None:
    state = Path(env.vars["CSUP_STATE_DIR"])
    state.mkdir(mode=0o700)
    victim = env.root / "victim.txt"
    victim.write_text("precious")
    (state / "events.jsonl").symlink_to(victim)
    code, text = _run_in_pty(env)
    assert code == 0, text
    assert victim.read_text() == "precious"
    _one_clear_line(_csup(env, "log"))


def test_files_owned_by_another_user_are_refused(env: Env) -> None:
    require(os.geteuid() == 0, "root, to make files owned by another user")
    nobody = pwd.getpwnam("nobody")
    env.runtime.mkdir(mode=0o700)
    os.chown(env.runtime, nobody.pw_uid, nobody.pw_gid)
    code, text = _run_in_pty(env)
    assert code == 77 and f"uid {nobody.pw_uid}" in text
    os.chown(env.runtime, 0, 0)
    record = env.runtime / "session.json"
    record.write_text("{}")
    os.chown(record, nobody.pw_uid, nobody.pw_gid)
    code, text = _run_in_pty(env)
    assert code == 0, text  # a foreign record is not ours to trust: ignored, then replaced by ours


def test_wrong_permissions_are_repaired(env: Env) -> None:
    env.runtime.mkdir(mode=0o777)
    os.chmod(env.runtime, 0o777)
    lock = env.runtime / "session.lock"
    lock.write_text("")
    os.chmod(lock, 0o666)
    child = env.csup("run", "--claude", str(env.program()))
    ready_pid(child)
    assert env.runtime.stat().st_mode & 0o777 == 0o700
    assert (env.runtime / "session.json").stat().st_mode & 0o777 == 0o600
    finish(child)


@pytest.mark.parametrize("content", [b"", b"{", b"\x00\xff" * 100, b'{"schema": 1}', b"[" * 100_000])
def test_corrupt_records_are_ignored_and_replaced(env: Env, content: bytes) -> None:
    env.runtime.mkdir(mode=0o700)
    (env.runtime / "session.json").write_bytes(content)
    (env.runtime / "session.json").chmod(0o600)
    assert _csup(env, "status").returncode == 1
    code, text = _run_in_pty(env)
    assert code == 0, text


def test_another_users_process_in_the_record_is_never_signalled(env: Env) -> None:
    require(os.geteuid() == 0, "root, to start a process as another user")
    nobody = pwd.getpwnam("nobody")
    other = subprocess.Popen(["sleep", "60"], user=nobody.pw_uid)
    env.track(other.pid)
    time.sleep(0.1)
    with open(f"/proc/{other.pid}/stat", "rb") as handle:
        ticks = int(handle.read().rsplit(b")", 1)[1].split()[19])
    stamp = ticks / os.sysconf("SC_CLK_TCK")
    env.runtime.mkdir(mode=0o700)
    record = {"schema": 1, "session_id": "x", "csup": {"pid": other.pid, "start_time": stamp},
              "cli": {"pid": other.pid, "start_time": stamp}, "tty": "", "cwd": "/", "argv": ["claude"],
              "started_at": 1.0, "last_activity_at": 1.0, "idle_limit": 60, "warn_before": 10}
    (env.runtime / "session.json").write_text(json.dumps(record))
    (env.runtime / "session.json").chmod(0o600)
    result = _csup(env, "stop", "--wait", "1s")
    _one_clear_line(result)
    assert other.poll() is None  # alive: its pid and start time match, its owner does not
    other.kill()
    other.wait()


def test_csup_never_signals_itself_or_its_parent(env: Env) -> None:
    """A record naming the process that runs `csup stop` (its parent, here this test) is never signalled:
    if it were, SIGUSR1 would kill this test process."""
    with open(f"/proc/{os.getpid()}/stat", "rb") as handle:
        ticks = int(handle.read().rsplit(b")", 1)[1].split()[19])
    stamp = ticks / os.sysconf("SC_CLK_TCK")
    env.runtime.mkdir(mode=0o700)
    me = {"pid": os.getpid(), "start_time": stamp}
    record = {"schema": 1, "session_id": "x", "csup": me, "cli": me, "tty": "", "cwd": "/", "argv": ["claude"],
              "started_at": 1.0, "last_activity_at": 1.0, "idle_limit": 60, "warn_before": 10}
    (env.runtime / "session.json").write_text(json.dumps(record))
    (env.runtime / "session.json").chmod(0o600)
    previous = signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    try:
        _one_clear_line(_csup(env, "stop", "--wait", "0.5s"))
    finally:
        signal.signal(signal.SIGUSR1, previous)


@pytest.mark.parametrize(("args", "code"), [
    (["run", "--idle-limit", "-5m"], 2), (["run", "--idle-limit", "99999h"], 2), (["run", "--warn-before", "x"], 2),
    (["run", "--idle-limit", ""], 2), (["stop", "--wait", "-1s"], 2), (["log", "-n", "many"], 2),
    (["run", "--claude", b"/nonexistent/\xff\xfe"], 127), (["run", "--claude", "/etc"], 126),
    (["run", "--claude", "/etc/hostname"], 126), ([b"\xff"], 2), (["status", b"--js\xffon"], 2),
])
def test_bad_input_gets_one_line_and_a_documented_code(env: Env, args: list[str | bytes], code: int) -> None:
    for key in ("CSUP_IDLE_LIMIT", "CSUP_WARN_BEFORE"):
        env.vars.pop(key, None)
    child_args: list[str | bytes] = list(args)
    if args and args[0] == "run":  # `run` needs a terminal to be a session; use a pty
        import pexpect

        argv = [a if isinstance(a, str) else a.decode("utf-8", "surrogateescape") for a in child_args]
        child = env.csup(*argv)
        child.expect(pexpect.EOF)
        child.close()
        text = child.before.decode(errors="replace")
        assert "Traceback" not in text, text
        assert child.exitstatus == code, text
        assert text.count("\n") <= 3, text
        return
    result = _csup(env, *child_args)
    text = _one_clear_line(result)
    assert result.returncode == code, text


@pytest.mark.parametrize(("key", "value"), [
    ("CSUP_IDLE_LIMIT", "soon"), ("CSUP_CPU_THRESHOLD", "-1"), ("CSUP_ALLOW_UNMANAGED", "perhaps"),
    ("CSUP_ACTIVITY", "everything"), ("CSUP_CLAUDE_NAMES", ","), ("CSUP_TERM_WAIT", "0"),
    ("CSUP_STOP_WAIT", "1e9"), ("CSUP_WARN_BEFORE", "١٢"), ("CSUP_IDLE_LIMIT", "1" * 400),
    ("CSUP_MAX_SESSIONS", "0"), ("CSUP_MAX_SESSIONS", "65"), ("CSUP_MAX_SESSIONS", "３"), ("CSUP_MAX_SESSIONS", "2.5"),
])
def test_bad_environment_values_are_78_naming_the_variable(env: Env, key: str, value: str) -> None:
    env.vars[key] = value
    result = _csup(env, "config")
    text = _one_clear_line(result)
    assert result.returncode == 78 and key in text


def test_config_file_with_wrong_types_for_every_key(env: Env, tmp_path: Path) -> None:
    from supervisor.core.settings import SETTINGS

    for setting in SETTINGS:
        Path(env.vars["CSUP_CONFIG"]).write_text(f"{setting.key} = {{ nested = 1 }}\n")
        result = _csup(env, "config")
        text = _one_clear_line(result)
        assert result.returncode == 78 and setting.key in text, setting.key
