"""Hostile files and odd machines (the independent adversarial run's findings): a working directory too long
for a transcript's name, registry entries that name an unrelated process or carry a NUL, a waiting line that is
not a directory, a watcher memory with a 400-digit number, a hard link into the runtime directory, a service
manager that is missing, refuses, or finds its folder unwritable, and a guardian that restores late. Each is one
clear line and a documented exit code, never a traceback, and never a signal to what csup has not proven."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

import pytest

from supervisor.clis.adapter import Conversation
from supervisor.clis.claude_code import ClaudeCode
from supervisor.clis.claude_registry import parse_entry
from supervisor.core.errors import ExitCode
from supervisor.core.settings import resolve
from supervisor.terminal.guardian import BRACKETED_PASTE_OFF, restore

from conftest import CSUP, DEADLINE, Env, alive, exit_status, ready_pid, wait_for

DOCUMENTED = {int(code) for code in ExitCode} | {130}


def _csup(env: Env, *args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CSUP, *args], env=env.vars, capture_output=True, text=True, timeout=DEADLINE * 3,
                          stdin=subprocess.DEVNULL, cwd=cwd or str(env.root))


def _clean(result: subprocess.CompletedProcess[str]) -> str:
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    assert result.returncode in DOCUMENTED, (result.returncode, text)
    return text


# --- a working directory longer than a file name may be ------------------------------------------------------


def test_a_transcript_check_that_the_filesystem_cannot_answer_means_cannot_tell() -> None:
    adapter = ClaudeCode(resolve({}, "", {}), {"HOME": "/tmp"})
    assert adapter.can_resume(Conversation("0" * 36, "/" + "d" * 300)) is False  # ENAMETOOLONG: no crash
    assert adapter.can_resume(Conversation("x\0y", "/w")) is False


def test_stop_of_a_session_in_a_very_long_directory_is_clean(env: Env) -> None:
    deep = env.root
    for part in ("a" * 100, "b" * 100, "c" * 100):
        deep = deep / part
    deep.mkdir(parents=True)
    child = env.csup("run", "--claude", str(env.program()), cwd=str(deep))
    ready_pid(child)
    result = _csup(env, "stop")
    assert result.returncode == 0, _clean(result)
    assert "ended the session" in result.stdout
    assert exit_status(child) != 0
    assert "Traceback" not in (child.before or b"").decode(errors="replace")


# --- registry entries that prove nothing ---------------------------------------------------------------------


def _plant(env: Env, pid: int, **fields: object) -> None:
    folder = env.home / ".claude" / "sessions"
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"pid": pid, "sessionId": "planted-1", "cwd": str(env.root), "kind": "interactive",
             "status": "idle"} | fields
    (folder / f"{pid}.json").write_text(json.dumps(entry))


@pytest.mark.parametrize("command", [["stop", "--force"], ["watch", "--once"]])
def test_a_registry_entry_without_proof_of_its_process_gets_no_signal(env: Env, command: list[str]) -> None:
    """A stale entry (after a reboot the pid names something else): no procStart, no startedAt."""
    victim = subprocess.Popen(["sleep", "300"])
    env.track(victim.pid)
    grandchild = subprocess.Popen(["sleep", "300"])  # would be in its tree if csup walked it
    env.track(grandchild.pid)
    _plant(env, victim.pid)
    env.vars.update({"CSUP_IDLE_LIMIT": "1s", "CSUP_END_UNMANAGED": "on", "CSUP_WARN_BEFORE": "0"})
    for _ in range(2):
        _clean(_csup(env, *command))
    assert alive(victim.pid) and alive(grandchild.pid)
    status = json.loads(_csup(env, "status", "--json").stdout)
    assert status["unmanaged"] == []


def test_a_nul_in_a_background_id_is_an_entry_csup_ignores(env: Env) -> None:
    assert parse_entry({"pid": 4000, "sessionId": "s-1", "cwd": "/w", "kind": "bg", "jobId": "ab\0cd"},
                       Path("/c")) is None
    assert parse_entry({"pid": 4000, "sessionId": "s-1", "cwd": "/w\0x", "kind": "interactive"}, Path("/c")) is None
    assert parse_entry({"pid": 4000, "sessionId": "../../x", "cwd": "/w", "kind": "interactive"}, Path("/c")) is None
    sleeper = subprocess.Popen(["sleep", "300"])
    env.track(sleeper.pid)
    start = Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[19] \
        if Path("/proc").is_dir() else ""
    _plant(env, sleeper.pid, kind="bg", jobId="ab\0cd", procStart=start)
    env.vars.update({"CSUP_BACKGROUND_IDLE_LIMIT": "1s", "CSUP_CLAUDE": str(env.program())})
    for command in (["stop", "--force"], ["watch", "--once"], ["status"]):
        _clean(_csup(env, *command))
    assert alive(sleeper.pid)


# --- csup's own files, hostile ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "fifo", "symlink"])
def test_a_waiting_line_that_is_not_a_directory_is_77_with_what_to_remove(env: Env, kind: str) -> None:
    env.runtime.mkdir(mode=0o700)
    queue = env.runtime / "queue"
    if kind == "file":
        queue.write_text("x")
    elif kind == "fifo":
        os.mkfifo(queue)
    else:
        (env.root / "elsewhere").mkdir()
        queue.symlink_to(env.root / "elsewhere")
    child = env.csup("run", "--claude", str(env.program()))
    assert exit_status(child) == 77
    text = child.before.decode()
    assert "Traceback" not in text and f"rm {queue}" in text


def test_a_400_digit_number_in_the_watchers_memory_is_none_of_it(env: Env) -> None:
    env.runtime.mkdir(mode=0o700)
    memory = env.runtime / "watch-memory.json"
    memory.write_text('{"notified": [], "warned": {"pid:1:1.0": ' + "9" * 400 + "}}")
    memory.chmod(0o600)
    assert _csup(env, "watch", "--once").returncode == 0


def test_a_read_only_command_changes_no_files_mode(env: Env) -> None:
    env.runtime.mkdir(mode=0o700)
    mine = env.root / "my-notes.txt"
    mine.write_text("{}")
    mine.chmod(0o644)
    os.link(mine, env.runtime / "session.json")  # a second name for a file of the user's
    for command in (["status"], ["status", "--json"], ["doctor"]):
        _clean(_csup(env, *command))
    assert mine.stat().st_mode & 0o777 == 0o644


# --- the service, on machines that cannot have one -------------------------------------------------------------


@pytest.mark.parametrize("config_home", ["/dev/null", "file", "/proc/self", "readonly"])
def test_service_install_where_its_folder_cannot_be_written_is_one_line(env: Env, config_home: str) -> None:
    if config_home == "file":
        config_home = str(env.root / "a-file")
        Path(config_home).write_text("x")
    elif config_home == "readonly":
        folder = env.root / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        config_home = str(folder)
        if os.geteuid() == 0:  # root writes anywhere: make the unit's place a file instead
            folder.chmod(0o700)
            (folder / "systemd").write_text("x")
    env.vars["XDG_CONFIG_HOME"] = config_home
    for command in (["service", "install"], ["service", "uninstall"], ["service", "status"]):
        result = _csup(env, *command)
        text = _clean(result)
        assert result.returncode in (0, 1, 69), text


def test_service_install_where_the_unit_path_is_a_directory_is_one_line(env: Env) -> None:
    unit = env.home / ".config" / "systemd" / "user" / "csup-watch.service"
    unit.mkdir(parents=True)
    env.vars.pop("XDG_CONFIG_HOME", None)
    result = _csup(env, "service", "install")
    assert result.returncode == 69 and "is a directory" in _clean(result)


def test_service_install_never_writes_through_a_planted_symlink(env: Env) -> None:
    folder = env.home / ".config" / "systemd" / "user"
    folder.mkdir(parents=True)
    victim = env.root / "victim"
    victim.write_text("precious")
    for name in (".csup-watch.service.tmp", "csup-watch.service.tmp"):
        (folder / name).symlink_to(victim)
    fake = env.root / "fakebin"
    fake.mkdir()
    (fake / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (fake / "systemctl").chmod(0o755)
    env.vars.update({"PATH": f"{fake}:{env.vars['PATH']}"})
    env.vars.pop("XDG_CONFIG_HOME", None)
    assert _csup(env, "service", "install").returncode == 0
    assert victim.read_text() == "precious"
    assert (folder / "csup-watch.service").read_text().startswith("[Unit]")


def test_service_install_with_no_user_instance_of_systemd_takes_the_unit_back_out(env: Env) -> None:
    fake = env.root / "fakebin"
    fake.mkdir()
    (fake / "systemctl").write_text("#!/bin/sh\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n")
    (fake / "systemctl").chmod(0o755)
    env.vars.update({"PATH": f"{fake}:{env.vars['PATH']}"})
    env.vars.pop("XDG_CONFIG_HOME", None)
    result = _csup(env, "service", "install")
    text = _clean(result)
    assert result.returncode == 69 and "nothing is installed" in text and "csup watch --once" in text
    assert not (env.home / ".config" / "systemd" / "user" / "csup-watch.service").exists()
    status = _csup(env, "service", "status")
    assert "not installed" in status.stdout


# --- the guardian, when the shell was quicker ------------------------------------------------------------------


@pytest.mark.parametrize("late", [False, True])
def test_a_late_restore_leaves_the_shells_own_modes_alone(late: bool) -> None:
    master, slave = pty.openpty()
    try:
        saved = termios.tcgetattr(slave)
        tty.setraw(slave)  # csup's raw mode, left behind by its death
        undo = b"\x1b[?1000l" + BRACKETED_PASTE_OFF
        restore(slave, slave, saved, undo, late=late)
        written = b""
        while select.select([master], [], [], 0.2)[0]:  # everything it wrote, however the pty hands it over
            written += os.read(master, 4096)
        assert b"\x1b[?1000l" in written  # the CLI's mouse mode is undone either way
        assert (BRACKETED_PASTE_OFF in written) is not late  # the shell's line editor owns bracketed paste
        assert written.endswith(b"\r\n") is not late  # no newline in the middle of its prompt
        assert termios.tcgetattr(slave)[:4] == saved[:4]  # raw attributes are csup's: put back, even late
        # A shell that already set its own attributes (signals on) keeps them when the restore is late.
        mine = termios.tcgetattr(slave)
        mine[3] &= ~(termios.ICANON | termios.ECHO)
        termios.tcsetattr(slave, termios.TCSANOW, mine)
        restore(slave, slave, saved, b"", late=True)
        assert termios.tcgetattr(slave)[:4] == mine[:4]
    finally:
        os.close(master)
        os.close(slave)


def test_a_registry_start_that_only_unicode_calls_a_digit_is_no_crash(env: Env) -> None:
    sleeper = subprocess.Popen(["sleep", "300"])
    env.track(sleeper.pid)
    _plant(env, sleeper.pid, procStart="\u00b2")  # "²": str.isdigit() says yes, int() says no
    for command in (["status"], ["stop", "--force"], ["watch", "--once"]):
        _clean(_csup(env, *command))
    assert alive(sleeper.pid)


def test_a_cli_known_only_by_its_registry_is_ended_itself_and_only_then_called_ended(env: Env) -> None:
    """The native binary shows its version as its name (anthropics/claude-code#17219): its command line says
    nothing, its registry entry (with its real procStart) says it is a session. csup must prove it by its own
    start stamp and end the CLI itself — not only its children — and say "ended" only once it is gone."""
    import pexpect

    from conftest import STANDIN, as_a_terminal_starts_it

    # Its executable is the CLI's (under this test's own claude name: another test's census must not count it,
    # as a binary in a real versions folder would be), its process named like its version.
    binary = env.root / "native" / env.claude_name
    binary.parent.mkdir(parents=True)
    shutil.copy2(os.path.realpath(sys.executable), binary)
    renamed = pexpect.spawn("bash", ["-c", f"exec -a 2.1.330 {binary} {STANDIN}"], env=env.vars,
                            cwd=str(env.root), timeout=DEADLINE, preexec_fn=as_a_terminal_starts_it)
    env.spawned.append(renamed)
    cli = ready_pid(renamed)
    status = json.loads(_csup(env, "status", "--json").stdout)
    assert [s["pid"] for s in status["unmanaged"]] == [cli]
    result = _csup(env, "stop", "--force")
    assert result.returncode == 0 and f"pid {cli}" in result.stdout, result.stdout + result.stderr
    wait_for(lambda: not alive(cli), what="the renamed CLI itself to end")


@pytest.mark.parametrize("command", [["stop", "--force"], ["stop", "PID"], ["takeover", "--force"],
                                     ["watch", "--once"]])
def test_a_registry_entry_naming_an_unrelated_process_with_its_real_start_gets_no_signal(
        env: Env, command: list[str]) -> None:
    """A forged entry in Claude Code's registry may name any process of the user, with its real start: only a
    process proven to be Claude Code (its executable) is ever counted or signalled."""
    victim = subprocess.Popen(["sleep", "300"])
    env.track(victim.pid)
    with open(f"/proc/{victim.pid}/stat", "rb") as handle:
        start = handle.read().rsplit(b")", 1)[1].split()[19].decode()
    _plant(env, victim.pid, procStart=start, startedAt=int(time.time() * 1000))
    env.vars.update({"CSUP_END_UNMANAGED": "1", "CSUP_IDLE_LIMIT": "1s", "CSUP_WARN_BEFORE": "0.5s",
                     "CSUP_NOTIFY": "off", "CSUP_CLAUDE": "/bin/true"})
    status = json.loads(_csup(env, "status", "--json").stdout)
    assert status["unmanaged"] == [] and status["sessions"] == []
    args = [str(victim.pid) if arg == "PID" else arg for arg in command]
    for _ in range(2):
        if args[0] == "takeover":  # it starts a session: in a terminal (the CLI here is /bin/true)
            exit_status(env.csup(*args))
        else:
            _clean(_csup(env, *args))
        time.sleep(0.6)
    assert alive(victim.pid)


def test_an_entry_written_in_another_pid_namespace_names_no_process_here(tmp_path: Path) -> None:
    """A container's Claude Code writes its own pids (`pidDomain` says whose): on Linux the same number here is
    another process, and the entry is no session of this machine. Where there are no PID namespaces (macOS) there
    is nothing to compare, and an entry is judged by its pid and start alone."""
    from supervisor.clis.claude_registry import live_entries
    from supervisor.machine.processes import pid_domain

    here = pid_domain()
    entry: dict[str, object] = {"pid": os.getpid(), "sessionId": "c-1", "cwd": str(tmp_path),
                                "kind": "interactive", "startedAt": int(time.time() * 1000)}
    if os.path.exists(f"/proc/{os.getpid()}/stat"):
        with open(f"/proc/{os.getpid()}/stat", "rb") as handle:
            entry["procStart"] = handle.read().rsplit(b")", 1)[1].split()[19].decode()
    folder = tmp_path / ".claude" / "sessions"
    folder.mkdir(parents=True)
    (folder / f"{os.getpid()}.json").write_text(json.dumps(entry | {"pidDomain": here or "darwin:this-mac"}))
    assert [e.session_id for e in live_entries([tmp_path / ".claude"])] == ["c-1"]
    (folder / f"{os.getpid()}.json").write_text(json.dumps(entry | {"pidDomain": "linux:other:pid:[1]"}))
    foreign = [e.session_id for e in live_entries([tmp_path / ".claude"])]
    assert foreign == ([] if here is not None else ["c-1"])
