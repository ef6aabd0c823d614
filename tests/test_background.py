"""Claude Code's background sessions (CLAUDE_BG.md) are sessions: csup sees them in Claude Code's registry,
counts them toward the rule, stops them through the daemon (never a signal: the daemon would respawn them),
brings them here live with `claude attach`, and ends them when idle. Driven against the stand-in's model of
the daemon (tests/standin_bg.py); the real CLI's path is tests/test_real_claude.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from supervisor.clis.claude_code import ClaudeCode, ClaudeLauncher
from supervisor.clis.claude_registry import RegistryEntry, live_entries, parse_entry
from supervisor.core.identity import ProcessView
from supervisor.core.settings import resolve
from supervisor.flows.census import take_census
from supervisor.flows.live import FIRST_LOOK

from conftest import CSUP, DEADLINE, Env, alive, exit_status, finish, ready_pid, wait_for

# --- the registry and the census, with their views of processes handed in ----------------------------------


def _entry_file(folder: Path, **fields: object) -> None:
    data = {"pid": 4000, "sessionId": "s-1", "cwd": "/w", "kind": "bg", "status": "idle", "jobId": "abcd1234",
            "procStart": "100", "updatedAt": 1_700_000_000_000} | fields
    (folder / "sessions").mkdir(parents=True, exist_ok=True)
    (folder / "sessions" / f"{data['pid']}.json").write_text(json.dumps(data))


@pytest.mark.parametrize(("fields", "kept"), [
    ({}, True),
    ({"kind": "interactive", "jobId": None}, True),
    ({"spare": True}, False),  # a pre-claimed spare is hidden, as `claude agents` hides it
    ({"kind": "daemon"}, False),
    ({"pid": "4000"}, False),
    ({"sessionId": 7}, False),
])
def test_registry_entries_are_read_defensively(tmp_path: Path, fields: dict[str, object], kept: bool) -> None:
    _entry_file(tmp_path, **fields)
    assert bool(live_entries([tmp_path], alive=lambda entry: True)) is kept


def test_a_dead_entry_is_ignored_and_a_respawned_twin_merges(tmp_path: Path) -> None:
    _entry_file(tmp_path, pid=4000)  # SIGKILLed: its file stays
    _entry_file(tmp_path, pid=4100)  # the daemon's respawn: same conversation, new pid
    entries = live_entries([tmp_path], alive=lambda entry: entry.pid == 4100)
    assert [entry.pid for entry in entries] == [4100]
    _entry_file(tmp_path / "other", pid=4200, sessionId="s-1")  # the same conversation seen from a second dir
    both = live_entries([tmp_path, tmp_path / "other"], alive=lambda entry: True)
    assert len(both) == 1


def test_a_file_whose_name_disagrees_with_its_pid_is_ignored(tmp_path: Path) -> None:
    _entry_file(tmp_path, pid=4000)
    (tmp_path / "sessions" / "4000.json").rename(tmp_path / "sessions" / "5000.json")
    assert live_entries([tmp_path], alive=lambda entry: True) == []


def _adapter(entries: list[RegistryEntry]) -> ClaudeCode:
    return ClaudeCode(resolve({}, "", {}), {"HOME": "/nonexistent"}, entries=lambda: entries)


def _view(pid: int, *cmdline: str, ppid: int = 1) -> ProcessView:
    return ProcessView(pid, ppid, os.getuid(), 100.0, cmdline)


@pytest.mark.parametrize(("cmdline", "session"), [
    (("claude", "bg-pty-host", "--bg-pty-host", "/tmp/x.sock", "200", "50", "--", "claude.exe"), False),
    (("claude bg-pty-host", "--bg-pty-host", "/tmp/x.sock", "200", "50", "--", "claude.exe"), False),  # its title
    (("claude bg-spare", "--bg-spare", "/tmp/x.claim.sock"), False),
    (("/opt/claude-code/bin/claude.exe", "daemon", "run", "--origin", "transient"), False),
    (("claude", "daemon", "run", "--origin", "transient"), False),
    (("claude", "attach", "abcd1234"), False),  # a client that shows a session, not one
    (("claude", "agents"), False),
    (("node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", "bg-spare"), False),
    (("claude", "--model", "opus"), True),
])
def test_the_daemons_processes_are_not_sessions_by_command_line(cmdline: tuple[str, ...], session: bool) -> None:
    assert _adapter([]).is_session_process(_view(10, *cmdline)) is session


def test_census_counts_a_claimed_spare_as_the_background_session_its_registry_says(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from supervisor.machine import processes

    # A claimed spare keeps a spare's command line; a REPL started by the daemon shows `claude.exe`; one matched
    # by command line anyway (the native installer's path) is background because the registry says so.
    views = [_view(300, "/home/u/.local/share/claude/versions/2.1.330", "--session-id", "x"),
             _view(301, "claude", "bg-spare", "--bg-spare", "s"), _view(302, "claude")]
    monkeypatch.setattr(processes, "describe", lambda pid: {})
    bg = [RegistryEntry(300, "s-300", "/w", "bg", Path("/c"), job="aaaa0001"),
          RegistryEntry(301, "s-301", "/w", "bg", Path("/c"), job="aaaa0002")]
    found = take_census(_adapter(bg), views=lambda: views)  # the process table is handed in, not read
    assert sorted(s.short for s in found.background) == ["aaaa0001", "aaaa0002"]
    assert [s.pid for s in found.unmanaged] == [302]
    assert found.total == 3
    assert found.without("aaaa0001").total == 2  # `claude attach aaaa0001` brings that one here


# --- real processes: the stand-in's daemon ------------------------------------------------------------------


def _status(env: Env) -> dict[str, object]:
    result = subprocess.run([*CSUP, "status", "--json"], env=env.vars, capture_output=True, text=True,
                            timeout=DEADLINE, cwd=str(env.root))
    return dict(json.loads(result.stdout))


def test_a_background_session_is_seen_counted_and_refused_against(env: Env) -> None:
    short = env.background("-n", "demo")
    status = _status(env)
    [entry] = status["background"]  # type: ignore[misc]
    assert (entry["kind"], entry["id"], entry["name"], entry["cwd"]) == ("background", short, "demo", str(env.root))
    assert entry["needs"] == "send a prompt to start" and entry["idle_seconds"] is not None
    assert status["running"] is True and status["unmanaged"] == []  # its spare and host are not sessions

    second = env.csup("run", "--claude", str(env.program()))
    assert exit_status(second) == 75
    text = second.before.decode()
    assert f"background {short}" in text and "demo" in text and "csup takeover" in text
    events = (env.root / "state" / "events.jsonl").read_text()
    assert '"reason":"limit"' in events and short in events


def test_stop_ends_it_through_the_daemon_and_it_stays_gone(env: Env) -> None:
    short = env.background()
    [entry] = env.background_registry()
    result = subprocess.run([*CSUP, "stop", "--force"], env=env.vars, capture_output=True, text=True,
                            timeout=DEADLINE + 10, cwd=str(env.root))
    assert result.returncode == 0, result.stderr
    assert f"claude attach {short}" in result.stdout
    assert not alive(int(str(entry["pid"])))
    # The daemon would start a signalled session again within a second; a stopped one stays gone.
    subprocess.run(["sleep", "1.5"], check=True)
    assert env.background_registry() == []
    events = [json.loads(line) for line in (env.root / "state" / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "ended-background" and e["short"] == short and e["gone"] for e in events)


def test_the_trap_csup_avoids_a_signal_makes_the_daemon_respawn_it(env: Env) -> None:
    env.background()
    [entry] = env.background_registry()
    os.kill(int(str(entry["pid"])), signal.SIGTERM)
    wait_for(lambda: [e for e in env.background_registry() if e["pid"] != entry["pid"]], what="the respawn")


def test_stop_without_consent_leaves_it_running_and_says_how(env: Env) -> None:
    short = env.background()
    result = subprocess.run([*CSUP, "stop"], env=env.vars, capture_output=True, text=True, timeout=DEADLINE,
                            cwd=str(env.root), stdin=subprocess.DEVNULL)
    assert result.returncode == 75  # what it was asked to end still runs
    assert f"background {short}" in result.stdout and "csup stop --force" in result.stdout
    assert len(env.background_registry()) == 1


def test_takeover_brings_it_here_live_and_ctrl_z_detaches_it_back(env: Env) -> None:
    short = env.background("-n", "work")
    [before] = env.background_registry()
    taker = env.csup("takeover")
    taker.expect(f"attached {short}".encode())
    cli_pid = ready_pid(taker)
    record = json.loads((env.runtime / "session.json").read_text())
    assert record["attached"] == short and record["argv"][1:] == ["attach", short]
    status = _status(env)
    assert status["background"] == []  # shown here, not counted twice
    taker.send(b"\x1a")  # attach's own Ctrl+Z: detach
    taker.expect(f"still running in the background; bring it back: claude attach {short}".encode())
    assert exit_status(taker) == 0
    assert not alive(cli_pid)
    [after] = env.background_registry()
    assert after["pid"] == before["pid"]  # no restart: the same process, still running


def test_claude_bg_through_the_alias_obeys_the_rule(env: Env) -> None:
    holder = env.csup("run", "--claude", str(env.program()))
    ready_pid(holder)
    refused = env.csup("run", "--claude", str(env.program()), "--", "--bg")
    assert exit_status(refused) == 75
    assert env.background_registry() == []
    finish(holder)
    started = env.csup("run", "--claude", str(env.program()), "--", "--bg")
    started.expect(b"backgrounded")
    assert exit_status(started) == 0
    assert len(env.background_registry()) == 1


def test_claude_attach_through_the_alias_is_supervised_and_not_refused_by_its_own_target(env: Env) -> None:
    short = env.background()
    child = env.csup("run", "--claude", str(env.program()), "--", "attach", short)
    child.expect(f"attached {short}".encode())
    ready_pid(child)
    assert json.loads((env.runtime / "session.json").read_text())["attached"] == short
    child.send(b"\x1a")
    assert exit_status(child) == 0


def test_background_sessions_idle_past_their_limit_are_ended_once_by_the_watcher_the_runs_start(env: Env) -> None:
    """Two `csup run`s live; neither sweeps background sessions itself (once two ended the same one, twice):
    the one watcher they start on demand does, once."""
    short = env.background()
    Path(env.vars["CSUP_CONFIG"]).write_text('background_idle_limit = "1s"\nmax_sessions = 3\n')
    first = env.csup("run", "--claude", str(env.program()))
    ready_pid(first)
    second = env.csup("run", "--claude", str(env.program()))
    ready_pid(second)
    log = env.root / "state" / "events.jsonl"
    # The sessions start the watcher once their CLI's first screen is out of the way (FIRST_LOOK after start).
    wait_for(lambda: log.exists() and "ended-background" in log.read_text(), timeout=FIRST_LOOK + DEADLINE,
             what="the idle background session to be ended")
    assert env.background_registry() == []
    events = [json.loads(line) for line in log.read_text().splitlines()]
    [ended] = [e for e in events if e["event"] == "ended-background"]
    assert ended["short"] == short and ended["how"] == "idle" and "background limit 1s" in ended["reason"]
    assert ended["resume"] == f"claude attach {short}"
    assert ended["pid"] == env.watcher_pid() and ended["pid"] not in (first.pid, second.pid)
    assert [e["event"] for e in events].count("watch-started") == 1
    finish(first)
    finish(second)


def test_moving_to_the_background_says_where_the_conversation_went(env: Env) -> None:
    child = env.csup("run", "--claude", str(env.program()))
    ready_pid(child)
    child.send(b"background\r")
    child.expect(rb"still running in the background; bring it back: claude attach ([0-9a-f]{8})")
    short = child.match.group(1).decode()
    assert exit_status(child) == 0
    # Said from the daemon's record of the fork, as it starts it: the session itself registers a moment later.
    wait_for(lambda: [e["jobId"] for e in env.background_registry()] == [short], what="the session to register")


def test_doctor_shows_the_background_session_and_the_daemons_machinery(env: Env) -> None:
    env.background()
    result = subprocess.run([*CSUP, "doctor", "--json"], env=env.vars, capture_output=True, text=True,
                            timeout=DEADLINE, cwd=str(env.root))
    report = json.loads(result.stdout)
    kinds = sorted(process["kind"] for process in report["processes"])
    assert kinds == ["background", "spare"]  # the spare costs memory but is no session
    assert any("background machinery: 1 spare" in finding["what"] for finding in report["findings"])


def test_what_brings_a_background_session_here() -> None:
    entry = RegistryEntry(300, "conv-1", "/w", "bg", Path("/c"), job="aaaa0001", name="fix the bug")
    adapter = _adapter([entry])
    launcher = ClaudeLauncher("claude", resolve({}, "", {}))
    live = adapter.live_sessions()
    assert launcher.foreground_target(["attach", "aaaa0001"], live) == "aaaa0001"
    # Claude Code turns `--resume` of a live background session into an attach: csup counts it as that one.
    assert launcher.foreground_target(["--resume", "conv-1"], live) == "conv-1"
    assert launcher.foreground_target(["--resume", "conv-2"], live) is None
    assert launcher.foreground_target(["--model", "opus"], live) is None
    assert launcher.starts_background(["--bg", "-n", "x"]) and not launcher.starts_background(["-n", "x"])
    assert launcher.prepare(["attach", "aaaa0001"]) == (["attach", "aaaa0001"], None)  # no --session-id added
    session = adapter.live_sessions()[0]
    # The census sees only the views handed in: a `claude` the user runs meanwhile is no part of this test.
    # A name fragment names it, as `claude attach` takes one — when it names only one.
    from supervisor.flows.census import resolve_target

    found = take_census(adapter, views=lambda: [])
    assert found.without(resolve_target(found.background, "fix")).total == 0
    twin = RegistryEntry(301, "conv-2", "/w", "bg", Path("/c"), job="aaaa0002", name="fix the tests")
    both = take_census(_adapter([entry, twin]), views=lambda: [])
    assert resolve_target(both.background, "fix") is None  # names two: both go on counting
    assert both.without(resolve_target(both.background, "fix the bug")).total == 1

    assert launcher.attach_args(session) == ["attach", "aaaa0001"]
    assert adapter.bring_back_command(session) == "claude attach aaaa0001"


def test_parse_entry_keeps_what_the_real_registry_writes() -> None:
    real = {"pid": 7989, "sessionId": "23be69ca-fcf8-4494-ac6a-354752906412", "cwd": "/tmp/bgt/work",
            "startedAt": 1795545346993, "procStart": "96493", "version": "2.1.330", "kind": "bg", "name": "demo",
            "jobId": "23be69ca", "status": "idle", "updatedAt": 1795545347013, "statusUpdatedAt": 1795545346782}
    entry = parse_entry(real, Path("/c"))
    assert entry is not None and entry.is_background and entry.job == "23be69ca" and entry.proc_start == "96493"
    assert entry.status_since == 1795545346.782


def test_stop_of_an_attached_background_session_ends_it_through_the_daemon_in_plain_words(env: Env) -> None:
    """`csup stop` with a supervised `claude attach` running: that attach is the background session, which ends
    through its daemon; the attach leaves by itself; nothing is asked, and the output is whole lines in order."""
    short = env.background()
    attach = env.csup("run", "--claude", str(env.program()), "--", "attach", short)
    attach.expect(f"attached {short}".encode())
    ready_pid(attach)
    stopper = env.csup("stop")
    assert exit_status(stopper) == 0
    said = stopper.before.decode()
    assert f"ended background session {short} through its CLI's daemon" in said and "[y/N]" not in said
    assert "\x1b[K" not in said.split("csup: ended")[-1]  # no live line written over the report
    assert exit_status(attach) == 0
    assert env.background_registry() == []


def test_another_sessions_background_in_the_same_directory_is_never_claimed(env: Env) -> None:
    """Two supervised sessions in one directory, then a third moves its conversation to the background there:
    the two, stopped later, keep their own resume lines — the background session came from another
    conversation (the daemon's roster says which) — and the log gains one `backgrounded`, the mover's."""
    env.vars["CSUP_MAX_SESSIONS"] = "3"
    first = env.csup("run", "--claude", str(env.program()))
    ready_pid(first)
    second = env.csup("run", "--claude", str(env.program()))
    ready_pid(second)
    for child in (first, second):
        child.send(b"transcript\r")
        child.expect(b"transcript ")
    mover = env.csup("run", "--claude", str(env.program()))
    ready_pid(mover)
    mover.send(b"background\r")
    mover.expect(rb"still running in the background; bring it back: claude attach ([0-9a-f]{8})")
    assert exit_status(mover) == 0
    wait_for(lambda: env.background_registry(), what="the background session")
    stopped = subprocess.run([*CSUP, "stop", "--idle", "0.1s"], env=env.vars, capture_output=True, text=True,
                             timeout=DEADLINE * 2, cwd=str(env.root), stdin=subprocess.DEVNULL)
    resumes = [line for line in stopped.stdout.splitlines() if "resume it:" in line]
    assert len(resumes) == 2 and all("claude --resume" in line for line in resumes), stopped.stdout
    for child in (first, second):
        child.expect(rb"session ended: stopped by `csup stop`.*Resume it: claude --resume")
        assert b"still running in the background" not in child.before
        exit_status(child)
    events = [json.loads(line) for line in (env.root / "state" / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("backgrounded") == 1


def test_stop_with_no_claude_to_ask_says_so_not_that_the_daemon_was_slow(env: Env) -> None:
    """cron's PATH has no `claude`: the background session cannot be ended through its daemon, and the report
    says what was not found (and how to name it), not that the daemon did not answer in time."""
    short = env.background()
    env.vars.pop("CSUP_CLAUDE")
    env.vars["PATH"] = str(env.root / "no-bin")  # and none in the known places under this test's HOME
    result = subprocess.run([*CSUP, "stop", "--force"], env=env.vars, capture_output=True, text=True,
                            timeout=DEADLINE * 2, cwd=str(env.root), stdin=subprocess.DEVNULL)
    assert result.returncode == 75
    assert f"background session {short}" in result.stdout and "no claude CLI to ask its daemon" in result.stdout
    assert "did not end it in time" not in result.stdout
    assert [e["jobId"] for e in env.background_registry()] == [short]


def test_the_cli_is_found_where_npm_prefix_npm_global_puts_it(tmp_path: Path) -> None:
    from supervisor.clis.claude_code import PROGRAM
    from supervisor.clis.locate import find_program

    program = tmp_path / ".npm-global" / "node_modules" / ".bin" / "claude"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert find_program("", {"HOME": str(tmp_path), "PATH": str(tmp_path / "empty")}, (), PROGRAM) == str(program)


def test_only_a_fork_made_since_the_cli_started_is_where_its_conversation_went(tmp_path: Path) -> None:
    """The daemon's roster keeps entries of sessions a killed daemon left: an old fork of the same conversation
    is not where it went this time."""
    roster = tmp_path / ".claude" / "daemon" / "roster.json"
    roster.parent.mkdir(parents=True)
    source = str(tmp_path / ".claude" / "projects" / "-w" / "conv-1.jsonl")
    roster.write_text(json.dumps({"workers": {
        "aaaa0001": {"dispatch": {"createdAt": 1_000_000, "launch": {"sessionId": source}}},
        "aaaa0002": {"dispatch": {"createdAt": 2_000_000, "launch": {"sessionId": source}}}}}))
    census = ClaudeCode(resolve({}, "", {}), {"HOME": str(tmp_path)})
    assert census.fork_of("conv-1", since=1500.0) == "aaaa0002"
    assert census.fork_of("conv-1", since=2500.0) is None
    assert census.fork_of("conv-2", since=0.0) is None


def test_two_claude_bg_in_a_row_at_max_sessions_1_admit_one(env: Env) -> None:
    """`claude --bg` leaves before its session registers (0.1 to 0.4 s later with the real CLI): csup keeps the
    place until the daemon lists the new session, so the second `claude --bg` right after it is refused."""
    env.vars.update({"CSUP_MAX_SESSIONS": "1", "CSUP_CLAUDE": str(env.program())})
    first = subprocess.run([*CSUP, "run", "--", "--bg", "--register-late"], env=env.vars, capture_output=True,
                           text=True, timeout=DEADLINE, cwd=str(env.root), stdin=subprocess.DEVNULL)
    assert first.returncode == 0, first.stderr
    second = subprocess.run([*CSUP, "run", "--", "--bg", "--register-late"], env=env.vars, capture_output=True,
                            text=True, timeout=DEADLINE, cwd=str(env.root), stdin=subprocess.DEVNULL)
    assert second.returncode == 75, second.stdout + second.stderr
    wait_for(lambda: len(env.background_registry()) == 1, what="the one background session")
    time.sleep(1.0)
    assert len(env.background_registry()) == 1
