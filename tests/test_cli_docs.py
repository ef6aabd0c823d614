"""The command line as a user meets it: every command has help and a README section, bad input is one line with
a documented exit code, config shows where each value came from, and the log survives concurrent writers."""

from __future__ import annotations

import json
import re
import subprocess
from multiprocessing import Process
from pathlib import Path

import pytest
from click.testing import CliRunner

from supervisor.face.cli import cli
from supervisor.machine.events import MAX_BYTES, log_event, read_events

from conftest import CSUP, Env

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_and_a_readme_section(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    assert cli.commands[name].help, f"{name} has no help text"
    assert re.search(rf"^#+ `csup {name}\b", README, re.MULTILINE), f"README has no section for csup {name}"


def test_every_exit_code_is_documented() -> None:
    from supervisor.core.errors import ExitCode

    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \|", README, re.MULTILINE), f"exit code {int(code)} not in README"


def test_every_setting_is_documented() -> None:
    from supervisor.clis.choose import cli_settings
    from supervisor.core.settings import SETTINGS

    for setting in (*SETTINGS, *cli_settings()):
        assert f"| `{setting.key}` |" in README, setting.key


def _csup(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CSUP, *args], env=env.vars, capture_output=True, text=True, timeout=20)


@pytest.mark.parametrize(("args", "code", "words"), [
    (["run", "--idle-limit", "soon"], 2, "--idle-limit: bad value 'soon': expected a duration like 90s"),
    (["run", "--idle-limit", "١٢"], 2, "--idle-limit: bad value"),
    (["run", "--idle-limit", "1" * 400], 2, "at most 7d"),
    (["run", "--warn-before", "-1m"], 2, "--warn-before"),
    (["run", "--wait", "forever"], 2, "--wait"),
    (["run", "--wait=-5"], 2, "'-5': expected a duration"),
    (["run", "--idle-limt", "20s"], 2, "Did you mean '--idle-limit'?"),
    (["run", "--model", "opus"], 2, "No such option"),  # the CLI's options go after `--`
    (["takeover", "--froce"], 2, "Did you mean '--force'?"),
    (["run", "--wait", "1m", "--takeover"], 2, "exclude each other"),
    (["stop", "--wait", "10x"], 2, "'10x': expected a duration"),
    (["stop", "--idle", "0"], 2, "longer than zero"),
    (["stop", "--idle", "5m", "abcd1234"], 2, "exclude each other"),
    (["stop", "nosuchsession"], 2, "no session matches 'nosuchsession'"),
    (["init", "tcsh"], 2, "tcsh"),
    (["nonsense"], 2, "No such command"),
    (["log", "-n", "0"], 2, "-n"),
])
def test_bad_input_is_one_clear_line_and_a_documented_code(env: Env, args: list[str], code: int, words: str) -> None:
    env.vars["CSUP_CLAUDE"] = "/bin/true"
    result = _csup(env, *args)
    assert result.returncode == code, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_file_is_exit_78_naming_file_and_key(env: Env) -> None:
    Path(env.vars["CSUP_CONFIG"]).write_text('idle_limit = "forever"\n')
    result = _csup(env, "config")
    assert result.returncode == 78
    assert env.vars["CSUP_CONFIG"] in result.stderr and "idle_limit" in result.stderr and "forever" in result.stderr


def test_config_shows_values_and_sources(env: Env) -> None:
    Path(env.vars["CSUP_CONFIG"]).write_text('idle_limit = "2h"\nwarn_before = "5m"\n')
    env.vars["CSUP_WARN_BEFORE"] = "90s"
    report = json.loads(_csup(env, "config", "--json").stdout)
    assert report["values"]["idle_limit"] == 7200 and report["sources"]["idle_limit"] == env.vars["CSUP_CONFIG"]
    assert report["values"]["warn_before"] == 90 and report["sources"]["warn_before"] == "env CSUP_WARN_BEFORE"
    text = _csup(env, "config").stdout
    assert re.search(r'idle_limit\s+= "2h"\s+#', text) and "env CSUP_WARN_BEFORE" in text


def _writer(path: str, worker: int) -> None:
    for index in range(200):
        log_event(Path(path), "test", worker=worker, index=index, padding="x" * 200)


def test_log_survives_concurrent_writers_and_rotates(tmp_path: Path) -> None:
    path = tmp_path / "state" / "events.jsonl"
    workers = [Process(target=_writer, args=(str(path), n)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    events = list(read_events(path))
    seen = {(e["worker"], e["index"]) for e in events}
    # every line is whole JSON; rotation keeps one old generation, so the newest events are all there
    assert all(isinstance(e, dict) for e in events)
    assert {(w, 199) for w in range(4)} <= seen
    assert path.stat().st_size <= MAX_BYTES + 4096
    assert path.stat().st_mode & 0o777 == 0o600


def test_log_command_summarises_sessions(env: Env) -> None:
    state = Path(env.vars["CSUP_STATE_DIR"])
    log_path = state / "events.jsonl"
    log_event(log_path, "started", session="a", cwd="/tmp")
    log_event(log_path, "ended", session="a", how="idle", reason="idle for 30m (limit 30m)", code=124,
              duration=3600, idle=1800)
    log_event(log_path, "refused")
    summary = json.loads(_csup(env, "log", "--json").stdout)
    assert summary["total"] == 1 and summary["ended_by"] == {"idle": 1} and summary["idle_hours_ended"] == 0.5
    assert summary["refused"] == 1
    text = _csup(env, "log").stdout
    assert "idle for 30m" in text and "idle time the limit ended: 0.5 h" in text


def test_fast_run_parser_knows_exactly_the_click_options() -> None:
    """`csup run` starts without click; both parsers must agree on which options exist."""
    from supervisor.clis.choose import path_options
    from supervisor.face.entry import OPTIONAL_VALUE, SWITCHES, VALUE_OPTIONS

    click_options = {opt for param in cli.commands["run"].params for opt in getattr(param, "opts", [])
                     if opt.startswith("--")} - {"--help"}
    assert click_options == set(VALUE_OPTIONS) | set(path_options()) | set(SWITCHES) | {OPTIONAL_VALUE}
    assert {"--claude", "--codex"} <= set(path_options())


@pytest.mark.parametrize(("args", "expected"), [
    ([], {"flags": {}, "wait": None, "takeover": False, "cli_args": ()}),
    (["--", "--model", "x"], {"flags": {}, "wait": None, "takeover": False, "cli_args": ("--model", "x")}),
    (["--idle-limit", "5m", "--claude=/x", "fix", "--it"],
     {"flags": {"idle_limit": "5m", "claude": "/x"}, "wait": None, "takeover": False,
      "cli_args": ("fix", "--it")}),
    (["--wait", "--", "-p"], {"flags": {}, "wait": "", "takeover": False, "cli_args": ("-p",)}),
    (["--wait", "10m"], {"flags": {}, "wait": "10m", "takeover": False, "cli_args": ()}),
    (["--takeover", "--allow-unmanaged"],
     {"flags": {"allow_unmanaged": True}, "wait": None, "takeover": True, "cli_args": ()}),
    (["--help"], None), (["-h"], None), (["--model", "x"], None), (["--idle-limit"], None),
    (["--wait", "--takeover"], None),
])
def test_fast_run_parser(args: list[str], expected: dict[str, object] | None) -> None:
    from supervisor.face.entry import parse_run

    assert parse_run(args) == expected


@pytest.mark.parametrize("args", [
    ["--idle-limit", "5m", "--", "x"], ["--wait", "1m", "--", "x"], ["--claude", "/bin/x", "a", "--b"],
])
def test_fast_and_click_parsers_read_run_alike(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from supervisor.face import entry, launch
    from supervisor.face.entry import parse_run

    seen: list[tuple[object, ...]] = []
    monkeypatch.setattr(launch, "start", lambda cli_args, flags, **request: seen.append(
        (tuple(cli_args), {k: v for k, v in flags.items() if v is not None}, request)))
    CliRunner().invoke(cli, ["run", *args])
    parsed = parse_run(args)
    assert parsed is not None
    try:
        entry.fast_run(parsed)
    except SystemExit:
        pass
    assert len(seen) == 2 and seen[0] == seen[1]


def test_bare_csup_and_csup_help_show_the_help_and_exit_0(env: Env) -> None:
    bare = _csup(env)
    assert bare.returncode == 0 and "Usage: csup" in bare.stdout and "csup init" in bare.stdout
    assert _csup(env, "help").stdout == bare.stdout
    one = _csup(env, "help", "stop")
    assert one.returncode == 0 and "Usage: csup stop" in one.stdout
    assert _csup(env, "help", "nope").returncode == 2


@pytest.mark.parametrize(("content", "words"), [
    ('max_sessions = "3"\n', "expected a number, without quotes"),
    ('notify = "yes"\n', "expected true or false, without quotes"),
    ('idle_limt = "30m"\n', "did you mean 'idle_limit'?"),
])
def test_a_config_file_says_what_it_expects_rather_than_guessing(env: Env, content: str, words: str) -> None:
    Path(env.vars["CSUP_CONFIG"]).write_text(content)
    result = _csup(env, "config")
    assert result.returncode == 78 and words in result.stderr


def test_stop_idle_without_a_value_uses_each_kinds_idle_limit(env: Env) -> None:
    result = _csup(env, "stop", "--idle")
    assert result.returncode == 0 and "no session is running" in result.stdout
    env.vars["CSUP_IDLE_LIMIT"] = "off"
    off = _csup(env, "stop", "--idle")
    assert off.returncode == 2 and "both are off" in off.stderr
