"""Codex under the same policy as Claude Code, with the Codex stand-in (tests/standin_codex.py): supervised
runs, refusals across CLIs, idle end and sleep/wake by `codex resume <id>`, stop and takeover, the census of
unmanaged Codex sessions, and an editor's session shown and not counted."""

from __future__ import annotations

import json
from pathlib import Path

import pexpect

from conftest import DEADLINE, Env, exit_status, run_csup, status_json, wait_for


def codex_ready(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(rb"codex ready pid=(\d+) conversation=([0-9a-f-]{36})")
    return int(child.match.group(1)), child.match.group(2).decode()


def test_codex_runs_supervised_and_its_exit_status_passes_through(env: Env) -> None:
    env.codex()
    child = env.csup("run", "--cli", "codex")
    codex_ready(child)
    child.send(b"echo hello\r")
    child.expect(b"echo: hello")
    status = status_json(env)
    [session] = status["sessions"]  # type: ignore[misc]
    assert session["kind"] == "supervised" and session["cli"] == "codex"
    # The conversation, learnt from the running CLI, under its name and (for older readers) the old one.
    wait_for(lambda: status_json(env)["session"]["conversation_id"] is not None, what="the conversation")  # type: ignore[index]
    listed = status_json(env)
    assert listed["session"]["conversation_id"] == listed["session"]["claude_session_id"]  # type: ignore[index]
    child.send(b"exit 3\r")
    assert exit_status(child) == 3


def test_codex_subcommands_pass_through_without_a_session(env: Env) -> None:
    env.codex()
    child = env.csup("run", "--cli", "codex", "--", "exec", "fix it")
    child.expect(b"codex exec: done")
    assert exit_status(child) == 0
    child = env.csup("run", "--cli", "codex", "--", "--version")
    child.expect(b"codex-cli 0.171.0")
    assert exit_status(child) == 0


def _config(env: Env, text: str) -> None:
    Path(env.vars["CSUP_CONFIG"]).write_text(text)


def _events(env: Env) -> list[dict[str, object]]:
    path = env.root / "state" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_one_session_across_clis_a_claude_session_refuses_codex_and_the_reverse_naming_the_other(env: Env) -> None:
    env.codex()
    claude = env.csup("run", "--claude", str(env.program()))
    claude.expect(rb"ready pid=")
    refused = env.csup("run", "--cli", "codex")
    refused.expect(rb"a claude session is already running")
    assert exit_status(refused) == 75
    said = refused.before.decode()  # what it said after the first line, up to its exit
    assert "csup takeover --cli codex" in said and "end it and start codex here" in said
    assert "csup run --cli codex --wait" in said  # each way out starts codex, not the default CLI
    claude.send(b"exit 0\r")
    assert exit_status(claude) == 0

    codex = env.csup("run", "--cli", "codex")
    codex_ready(codex)
    refused = env.csup("run", "--claude", str(env.program()))
    refused.expect(rb"a codex session is already running:\s+codex pid \d+")
    assert exit_status(refused) == 75
    codex.send(b"exit 0\r")
    assert exit_status(codex) == 0


def test_a_cli_with_a_limit_of_its_own_is_counted_apart(env: Env) -> None:
    env.codex()
    _config(env, 'max_sessions = 1\ncli_limits = ["codex=1"]\n')
    claude = env.csup("run", "--claude", str(env.program()))
    claude.expect(rb"ready pid=")
    codex = env.csup("run", "--cli", "codex")  # its own place, beside the claude one
    codex_ready(codex)
    said = run_csup(env, "status").stdout
    assert "1 of at most 1 agent session(s) (max_sessions); 1 of at most 1 codex (its own limit)" in said
    second = env.csup("run", "--cli", "codex")
    second.expect(rb"a codex session is already running")  # its own limit's holder, not the claude one
    assert exit_status(second) == 75
    assert "claude" not in second.before.decode().split("Resolve it with")[0]
    for child in (claude, codex):
        child.send(b"exit 0\r")
        assert exit_status(child) == 0


def test_an_idle_codex_session_falls_asleep_and_enter_resumes_it_by_its_id(env: Env) -> None:
    env.codex()
    env.vars.update({"CSUP_IDLE_LIMIT": "3s", "CSUP_WARN_BEFORE": "1s", "CSUP_NOTIFY": "off"})
    child = env.csup("run", "--cli", "codex")
    first_pid, conversation = codex_ready(child)
    child.expect(rb"csup: asleep \xe2\x80\x94 idle for \ds \(limit 3s\)", timeout=DEADLINE)
    status = status_json(env)
    [asleep] = status["asleep"]  # type: ignore[misc]
    assert asleep["cli"] == "codex" and asleep["conversation_id"] == conversation
    child.send(b"\r")
    second_pid, resumed = codex_ready(child)
    assert resumed == conversation and second_pid != first_pid
    child.send(b"exit 0\r")
    assert exit_status(child) == 0
    [slept] = [e for e in _events(env) if e["event"] == "slept"]
    assert slept["resume"] == f"codex resume {conversation}"
    log = run_csup(env, "log").stdout
    assert "(codex)" in log and f"codex resume {conversation}" in log  # the log names the CLI, and its resume
    # The polite end came first: Codex's own keys, before any signal.
    assert slept["steps"][0][0] == "keys"  # type: ignore[index]


def test_a_conversation_switched_to_inside_codex_is_the_one_a_wake_resumes(env: Env) -> None:
    env.codex()
    env.vars.update({"CSUP_IDLE_LIMIT": "4s", "CSUP_WARN_BEFORE": "1s", "CSUP_NOTIFY": "off"})
    child = env.csup("run", "--cli", "codex")
    _, first = codex_ready(child)
    child.send(b"new\r")  # its own /new: the session now has another conversation
    child.expect(rb"codex new conversation=([0-9a-f-]{36})")
    second = child.match.group(1).decode()
    child.expect(rb"csup: asleep", timeout=DEADLINE)
    child.send(b"\r")
    _, resumed = codex_ready(child)
    assert resumed == second != first
    child.send(b"exit 0\r")
    assert exit_status(child) == 0


def test_idle_action_end_ends_a_codex_session_with_its_resume_line(env: Env) -> None:
    env.codex()
    env.vars.update({"CSUP_IDLE_LIMIT": "2s", "CSUP_WARN_BEFORE": "1s", "CSUP_NOTIFY": "off",
                     "CSUP_IDLE_ACTION": "end"})
    child = env.csup("run", "--cli", "codex")
    _, conversation = codex_ready(child)
    child.expect(rb"To continue this session, run codex resume")  # its own way out: Ctrl-C twice
    child.expect(f"Resume it: codex resume {conversation}".encode())
    assert exit_status(child) == 124


def test_stop_and_takeover_work_on_codex_sessions(env: Env) -> None:
    env.codex()
    child = env.csup("run", "--cli", "codex")
    _, conversation = codex_ready(child)
    child.send(b"echo hi\r")
    child.expect(b"echo: hi")
    here = env.csup("takeover", "--cli", "codex")
    here.expect(f"resuming conversation {conversation}".encode())
    _, resumed = codex_ready(here)
    assert resumed == conversation
    exit_status(child)
    stopped = run_csup(env, "stop")
    assert stopped.returncode == 0 and "(codex pid" in stopped.stdout
    assert f"codex resume {conversation}" in stopped.stdout
    exit_status(here)


def test_unmanaged_codex_sessions_are_counted_once_and_named(env: Env) -> None:
    stray = env.codex_stray()
    stray.expect(rb"")
    status = status_json(env)
    [session] = status["sessions"]  # type: ignore[misc]
    assert session["kind"] == "unmanaged" and session["cli"] == "codex"  # the launcher, its child nested in it
    refused = env.csup("run", "--claude", str(env.program()))
    refused.expect(rb"1 agent session\(s\) running outside csup:\s+codex pid")
    assert exit_status(refused) == 75
    env.vars.update({"CSUP_IDLE_LIMIT": "1s", "CSUP_NOTIFY": "off"})
    wait_for(lambda: f"reported unmanaged session {stray.pid} (codex)" in run_csup(env, "watch", "--once").stdout,
             what="the watcher to report the idle codex, by its CLI")
    stopped = run_csup(env, "stop", "--force")
    assert "ended 1 agent session(s) outside csup" in stopped.stdout
    wait_for(lambda: not stray.isalive(), what="the stray codex to end")


def test_an_editors_codex_app_server_is_shown_and_not_counted(env: Env) -> None:
    import subprocess

    import psutil

    env.codex()
    server = env.root / "bin" / env.codex_name
    server.parent.mkdir(parents=True, exist_ok=True)
    server.symlink_to(Path(__file__).parent / "standin_codex.py")
    editor = env.root / "bin" / "code"  # the editor's process, by name, above the server
    editor.symlink_to("/bin/sh")
    process = subprocess.Popen([str(editor), "-c", f'"{server}" app-server; true'], env=env.vars,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert b"listening" in process.stdout.readline()
        status = status_json(env)
        [session] = status["sessions"]  # type: ignore[misc]
        assert session["kind"] == "editor" and session["editor"] == "VS Code" and session["cli"] == "codex"
        child = env.csup("run", "--cli", "codex")  # max_sessions 1: the editor's session is not counted
        codex_ready(child)
        text = run_csup(env, "status").stdout
        assert "1 editor session(s) (not counted against max_sessions" in text and "of VS Code" in text
        child.send(b"exit 0\r")
        assert exit_status(child) == 0
        _config(env, "count_editor_sessions = true\n")
        refused = env.csup("run", "--cli", "codex")
        assert exit_status(refused) == 75
    finally:
        for member in psutil.Process(process.pid).children(recursive=True):
            member.kill()
        process.kill()
        process.wait()


def test_a_takeover_by_another_cli_starts_a_new_conversation_and_says_how_to_resume_the_old(env: Env) -> None:
    env.codex()
    claude = env.csup("run", "--claude", str(env.program()))
    claude.expect(rb"ready pid=")
    claude.send(b"transcript\r")
    claude.expect(rb"transcript \S*/([0-9a-f-]{36})\.jsonl")
    conversation = claude.match.group(1).decode()
    here = env.csup("takeover", "--cli", "codex")
    here.expect(rb"the old session ran another CLI; starting a new conversation here")
    here.expect(f"claude --resume {conversation}".encode())  # the claude one is never opened by codex
    _, new = codex_ready(here)
    assert new != conversation
    # The ended terminal is told its conversation goes on nowhere else, and how to resume it.
    claude.expect(rb"which starts a new conversation\.")
    claude.expect(f"Resume it: claude --resume {conversation}".encode())
    assert exit_status(claude) == 143
    here.send(b"exit 0\r")
    assert exit_status(here) == 0


def test_a_takeover_with_limits_of_their_own_ends_only_a_session_of_its_own_cli(env: Env) -> None:
    env.codex()
    _config(env, 'max_sessions = 1\ncli_limits = ["codex=1"]\n')
    claude = env.csup("run", "--claude", str(env.program()))
    claude.expect(rb"ready pid=")
    codex = env.csup("run", "--cli", "codex")
    _, conversation = codex_ready(codex)
    here = env.csup("takeover", "--cli", "codex")
    here.expect(f"resuming conversation {conversation}".encode())  # the codex one, carried on here
    codex_ready(here)
    assert exit_status(codex) == 143
    assert claude.isalive()  # the claude session, counted apart, is untouched
    for child in (claude, here):
        child.send(b"exit 0\r")
        assert exit_status(child) == 0


def test_a_takeover_naming_no_cli_carries_the_session_on_in_its_own_cli(env: Env) -> None:
    env.codex()
    child = env.csup("run", "--cli", "codex")
    _, conversation = codex_ready(child)
    child.send(b"echo hi\r")
    child.expect(b"echo: hi")
    here = env.csup("takeover", "--claude", str(env.program()))  # the default CLI's path given: still codex here
    here.expect(f"resuming conversation {conversation}".encode())
    _, resumed = codex_ready(here)
    assert resumed == conversation
    assert exit_status(child) == 143
    here.send(b"exit 0\r")
    assert exit_status(here) == 0


def test_both_clis_one_after_another_with_sleep_wake_the_log_and_stop_all(env: Env) -> None:
    """As a day strings them together: a Claude session, then a Codex one beside it; the idle Codex falls asleep
    (its place freed) while Claude works on; a third start takes the freed place and is refused at the limit;
    Enter wakes Codex once there is room; status, the log and `stop --all` see both CLIs."""
    env.codex()
    _config(env, 'max_sessions = 2\nidle_limit = "3s"\nwarn_before = "1s"\nnotify = false\n')
    # Claude's own limit is long: it works on while Codex idles past its 3 s (on a loaded machine the steps below
    # take seconds, and a Claude asleep meanwhile would leave room for the wake this test expects refused).
    claude = env.csup("run", "--idle-limit", "60s", "--claude", str(env.program()))
    claude.expect(rb"ready pid=")
    codex = env.csup("run", "--cli", "codex")
    _, conversation = codex_ready(codex)
    for _ in range(8):  # Claude stays in use while Codex idles past its limit
        claude.send(b"echo busy\r")
        claude.expect(b"echo: busy")
        try:
            codex.expect(rb"csup: asleep", timeout=0.6)
            break
        except pexpect.TIMEOUT:
            continue
    assert [s["cli"] for s in status_json(env)["asleep"]] == ["codex"]  # type: ignore[index]
    third = env.csup("run", "--idle-limit", "60s", "--claude", str(env.program()))  # the freed place
    third.expect(rb"ready pid=")
    codex.send(b"\r")  # two running: the wake is refused, Codex stays asleep
    try:
        codex.expect(rb"csup: still asleep")
    except pexpect.TIMEOUT:
        raise AssertionError(f"no answer to the wake: {status_json(env)}\n"
                             f"{(env.root / 'state' / 'events.jsonl').read_text()}") from None
    third.send(b"exit 0\r")
    assert exit_status(third) == 0
    codex.send(b"\r")
    _, resumed = codex_ready(codex)
    assert resumed == conversation
    assert sorted(s["cli"] for s in status_json(env)["sessions"]) == ["claude", "codex"]  # type: ignore[index]
    stopped = run_csup(env, "stop", "--all")
    assert stopped.returncode == 0 and "(claude pid" in stopped.stdout and "(codex pid" in stopped.stdout
    assert exit_status(claude) == 143 and exit_status(codex) == 143
    log = run_csup(env, "log").stdout
    assert "slept" in log and "woke" in log and "(codex)" in log and "(claude)" in log
