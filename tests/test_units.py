"""Pure logic as tables: durations, config precedence and errors, the mode journal, records, the census."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from supervisor.clis.choose import cli_settings, names
from supervisor.clis.claude_code import (
    SUBCOMMANDS,
    ClaudeCode,
    chooses_session,
    is_session_invocation,
    session_id_from_args,
    transcript_path,
)
from supervisor.core.durations import DurationError, format_duration, parse_duration
from supervisor.core.errors import ConfigError, UnsafePath, UsageError
from supervisor.core.identity import ProcessIdentity, ProcessView
from supervisor.core.settings import Settings, resolve
from supervisor.machine.config_file import load_settings
from supervisor.machine.paths import ensure_private_dir, open_private
from supervisor.machine.processes import find_unmanaged
from supervisor.machine.record import SessionRecord, read_record, remove_record, write_record
from supervisor.terminal.modes import ModeJournal


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("1h30m", 5400), ("2h", 7200), ("1.5s", 1.5), ("45", 45), ("500ms", 0.5),
    ("off", None), ("0", None), ("never", None), (" 10M ", 600), ("1d", 86400),
])
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "-5m", "1h 30m", "m", "5m10", "99999d", "nan", "inf",
                                  "١٢", "١٢s", "1" * 400, "1e3", "+5m", "0x10"])
def test_bad_durations_say_what_is_expected_once(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert message.startswith("a duration") and "not a duration" not in message  # the caller names the value


def test_zero_is_refused_where_off_is_not_allowed() -> None:
    with pytest.raises(DurationError):
        parse_duration("0s", allow_off=False)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (59.9, "59s"), (60, "1m"), (125, "2m05s"), (3600, "1h"), (7260, "2h01m"), (90000, "1d01h"),
])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_config_precedence_default_file_env_flag(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('idle_limit = "10m"\nwarn_before = "30s"\nallow_unmanaged = true\n')
    cfg = load_config(config, {"CSUP_WARN_BEFORE": "20s", "CSUP_SESSION": "ignored"}, {"idle_limit": "5m"})
    assert (cfg.idle_limit, cfg.sources["idle_limit"]) == (300, "flag")
    assert (cfg.warn_before, cfg.sources["warn_before"]) == (20, "env CSUP_WARN_BEFORE")
    assert (cfg.allow_unmanaged, cfg.sources["allow_unmanaged"]) == (True, str(config))
    assert (cfg.term_wait, cfg.sources["term_wait"]) == (5, "default")
    assert cfg.own["passthrough_commands"] == () == cfg.own["codex_passthrough_commands"]  # each CLI's own list


def load_config(path: Path | None, environ: dict[str, str], flags: dict[str, object] | None = None) -> Settings:
    """The settings as csup loads them: its own and every CLI's."""
    return load_settings(path, environ, flags, more=cli_settings(), clis=names())


@pytest.mark.parametrize(("content", "words"), [
    ('idle_limt = "5m"', ["unknown setting", "idle_limt"]),
    ('idle_limit = "5 minutes"', ["idle_limit", "5 minutes", "duration"]),
    ("idle_limit = true", ["idle_limit", "duration"]),
    ('allow_unmanaged = "maybe"', ["allow_unmanaged", "true or false"]),
    ("claude_names = [1]", ["claude_names", "list"]),
    ('cli_limits = ["codx=2"]', ["cli_limits", "unknown CLI 'codx'", "claude, codex"]),  # a typo counts nowhere
    ('cli = "nope"', ["key 'cli'", "unknown CLI 'nope'"]),
    ('aliases = ["claude", "codx"]', ["aliases", "unknown CLI 'codx'"]),
    ("claude_names = \"\"", ["claude_names"]),
    ('activity = "all"', ["activity", "one of"]),
    ("cpu_threshold = 250", ["cpu_threshold", "0 to 100"]),
    ("idle_limit = ", ["not valid TOML"]),
])
def test_config_file_errors_name_file_key_value_and_expectation(tmp_path: Path, content: str,
                                                                 words: list[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(content + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config, {})
    message = caught.value.message
    assert str(config) in message
    for word in words:
        assert word in message


def test_config_env_and_flag_errors_name_their_source() -> None:
    with pytest.raises(ConfigError, match="CSUP_IDLE_LIMIT: bad value 'soon'"):
        load_config(None, {"CSUP_IDLE_LIMIT": "soon"})
    with pytest.raises(UsageError, match="--warn-before: bad value 'x': expected a duration like"):
        load_config(None, {}, {"warn_before": "x"})  # typed on the command line: a usage error (2)
    with pytest.raises(ConfigError, match="CSUP_CLI_LIMITS: unknown CLI 'codx'"):
        load_config(None, {"CSUP_CLI_LIMITS": "codx=2"})
    with pytest.raises(UsageError, match="--cli: unknown CLI 'nope'"):
        load_config(None, {}, {"cli": "nope"})


def test_config_file_that_is_not_text_or_is_a_directory(tmp_path: Path) -> None:
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary, {})
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, {})


def test_mode_journal_undoes_exactly_what_is_left_on() -> None:
    journal = ModeJournal()
    journal.feed(b"hello \x1b[?1049h\x1b[?1000;1006h\x1b[?2004h text \x1b[?25l\x1b[>1u\x1b[>4;2m")
    assert journal.undo() == b"\x1b[?1049l\x1b[?1000l\x1b[?1006l\x1b[?2004l\x1b[?25h\x1b[<1u\x1b[>4;0m"
    journal.feed(b"\x1b[?1000l\x1b[?1006l\x1b[?25h\x1b[<u\x1b[>4m\x1b[?2004l\x1b[?1049l")
    assert journal.undo() == b""
    assert journal.active == []


def test_mode_journal_follows_sequences_split_across_chunks() -> None:
    journal = ModeJournal()
    for piece in (b"abc\x1b", b"[?10", b"04", b"h more"):
        journal.feed(piece)
    assert journal.undo() == b"\x1b[?1004l"
    assert journal.active == ["focus reports"]


def test_mode_journal_ignores_colors_and_unrelated_modes() -> None:
    journal = ModeJournal()
    journal.feed(b"\x1b[31mred\x1b[0m \x1b[?12h \x1b[2J \x1b[?1049")
    assert journal.undo() == b""


def test_mode_journal_redo_restores_after_suspend() -> None:
    journal = ModeJournal()
    journal.feed(b"\x1b[?2004h\x1b[>1u\x1b[?25l")
    assert journal.redo() == b"\x1b[?25l\x1b[?2004h\x1b[>1u"


def _record(**changes: object) -> SessionRecord:
    base = SessionRecord(session_id="abc", csup=ProcessIdentity(os.getpid(), 1.0), cli=None, tty="/dev/pts/1",
                         cwd="/tmp", argv=("claude",), started_at=1.0, last_activity_at=2.0, idle_limit=1800.0,
                         warn_before=60.0)
    return base.with_changes(**changes)


def test_record_round_trip_and_owner_only_mode(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    record = _record(cli=ProcessIdentity(42, 3.5), state="warning", conversation_id="id-1")
    write_record(path, record)
    assert read_record(path) == record
    assert path.stat().st_mode & 0o777 == 0o600
    remove_record(path, "someone-else")
    assert path.exists()
    remove_record(path, "abc")
    assert not path.exists()


def test_a_record_an_earlier_csup_wrote_keeps_its_conversation(tmp_path: Path) -> None:
    """A session running across an upgrade (or asleep) named its conversation `claude_session_id`."""
    import json

    path = tmp_path / "session.json"
    write_record(path, _record(cli=ProcessIdentity(42, 3.5), conversation_id="id-1"))
    data = json.loads(path.read_text())
    data["claude_session_id"] = data.pop("conversation_id")
    del data["cli_name"]
    path.write_text(json.dumps(data))
    old = read_record(path)
    assert old is not None and old.conversation_id == "id-1" and old.cli_name == ""


@pytest.mark.parametrize("content", [
    b"", b"{", b"[]", b'{"schema": 99}', b"\xff\xfe", b'{"schema": 1, "csup": {"pid": "x"}}',
    b'{"schema": 1, "csup": {"pid": 5, "start_time": 1}, "session_id": 7}',
])
def test_corrupt_records_read_as_none(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "session.json"
    path.write_bytes(content)
    path.chmod(0o600)
    assert read_record(path) is None


def test_records_are_never_read_or_written_through_symlinks(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("secret")
    link = tmp_path / "session.json"
    link.symlink_to(target)
    assert read_record(link) is None  # a planted record is never trusted, and never read through
    with pytest.raises(UnsafePath, match="symlink"):
        open_private(link, os.O_WRONLY)
    assert target.read_text() == "secret"


def test_private_dir_is_created_0700_and_repaired_or_refused(tmp_path: Path) -> None:
    path = ensure_private_dir(tmp_path / "a" / "csup")
    assert path.stat().st_mode & 0o777 == 0o700
    path.chmod(0o755)
    ensure_private_dir(path)
    assert path.stat().st_mode & 0o777 == 0o700
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(UnsafePath, match="symlink"):
        ensure_private_dir(link)
    plain = tmp_path / "file"
    plain.write_text("")
    with pytest.raises(UnsafePath, match="not a directory"):
        ensure_private_dir(plain)


MATCHER = ClaudeCode(resolve({}, "", {}), {"HOME": "/nonexistent"})


def _view(pid: int, cmdline: tuple[str, ...], ppid: int = 1, exe: str = "") -> ProcessView:
    return ProcessView(pid=pid, ppid=ppid, uid=os.getuid(), start_time=100.0 + pid, cmdline=cmdline, exe=exe)


@pytest.mark.parametrize(("cmdline", "exe", "is_session"), [
    (("claude",), "", True),
    (("/usr/local/bin/claude", "--model", "opus"), "", True),
    (("/home/u/.local/share/claude/versions/2.1.330",), "", True),
    (("2.1.330",), "/home/u/.local/share/claude/versions/2.1.330", True),
    (("node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"), "", True),
    (("claude", "-p", "hello"), "", False),
    (("claude", "--version"), "", False),
    (("claude", "mcp", "serve"), "", False),
    (("vim", "claude.md"), "", False),
    (("grep", "claude"), "", False),
    (("python3", "/opt/claude-tools/run.py"), "", False),
    (("python3", "-u", "/opt/bin/claude"), "", True),  # an interpreter with options of its own
    (("node", "--no-warnings", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", "-c"), "", True),
    (("node", "--no-warnings", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", "mcp"), "", False),
    (("python3", "-c", "print('claude')"), "", False),
])
def test_matcher_uses_cmdline_and_exe_not_the_name(cmdline: tuple[str, ...], exe: str, is_session: bool) -> None:
    assert MATCHER.is_session_process(_view(10, cmdline, exe=exe)) is is_session


def test_census_skips_managed_and_nested_sessions() -> None:
    views = [
        _view(100, ("bash",)),
        _view(101, ("claude",), ppid=100),  # unmanaged
        _view(102, ("bash", "-c", "claude"), ppid=101),
        _view(103, ("claude",), ppid=102),  # nested inside 101: not a second session
        _view(200, ("claude",), ppid=100),  # managed by csup
        _view(201, ("claude",), ppid=200),  # nested in the managed one
    ]
    found = find_unmanaged(MATCHER, managed={200}, views=lambda: views)
    assert [view.pid for view in found] == [101]


@pytest.mark.parametrize(("args", "session"), [
    ([], True), (["--model", "opus"], True), (["-p", "x"], False), (["--print=x"], False), (["mcp"], False),
    (["--model", "mcp"], True), (["-h"], False), (["fix", "the", "bug"], True),
])
def test_session_invocations(args: list[str], session: bool) -> None:
    assert is_session_invocation(args, SUBCOMMANDS) is session


def test_session_choice_flags() -> None:
    assert chooses_session(["--resume", "x"]) and chooses_session(["-c"]) and chooses_session(["--session-id=u"])
    assert not chooses_session(["--model", "x"])
    assert session_id_from_args(["--model", "x", "--resume", "abc"]) == "abc"
    assert session_id_from_args(["--session-id=u-1"]) == "u-1"
    assert session_id_from_args(["--continue"]) is None


def test_transcript_path_follows_claude_code_layout() -> None:
    path = transcript_path({"HOME": "/h"}, "/work/my.proj", "id")
    assert path == Path("/h/.claude/projects/-work-my-proj/id.jsonl")
    assert transcript_path({"CLAUDE_CONFIG_DIR": "/c"}, "/", "i") == Path("/c/projects/-/i.jsonl")


def test_a_warning_as_long_as_the_limit_is_clamped_to_half_and_says_so() -> None:
    settings = resolve({}, "", {}, {"idle_limit": "20s"})  # the default warn_before is 1m
    assert settings.warn_before == 10 and "clamped" in settings.sources["warn_before"]
    assert resolve({}, "", {}, {"idle_limit": "20s", "warn_before": "5s"}).warn_before == 5
    assert resolve({}, "", {}, {"idle_limit": "off"}).warn_before == 60


def test_config_shows_every_duration_as_people_type_it() -> None:
    from supervisor.face.report_text import render_config

    text = render_config(resolve({}, "", {}, more=cli_settings()), "config.toml", True)
    assert re.search(r'^stray_check\s+= "5m"\s', text, re.M) and "300" not in text


def test_config_output_is_toml_that_reads_back_as_the_same_settings() -> None:
    import tomllib

    from supervisor.face.report_text import render_config

    settings = resolve({"end_unmanaged": True, "claude_config_dirs": ["~/work/.claude"], "waiting_limit": "2h",
                        "cli_limits": ["codex=2"]}, "config.toml", {}, more=cli_settings())
    parsed = tomllib.loads(render_config(settings, "config.toml", True))
    assert parsed["end_unmanaged"] is True and parsed["notify"] is True and parsed["idle_limit"] == "30m"
    assert resolve(parsed, "config.toml", {}, more=cli_settings()).values == settings.values


def test_the_cli_is_found_under_a_local_npm_prefix(tmp_path: Path) -> None:
    from supervisor.clis.claude_code import PROGRAM
    from supervisor.clis.locate import find_program
    from supervisor.core.errors import CliNotFound

    environ = {"HOME": str(tmp_path), "PATH": str(tmp_path / "empty")}
    with pytest.raises(CliNotFound) as missing:
        find_program("", environ, (), PROGRAM)
    assert "~/.local/node_modules/.bin/claude" in missing.value.message
    assert "@latest" in (missing.value.hint or "")
    program = tmp_path / ".local" / "node_modules" / ".bin" / "claude"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    assert find_program("", environ, (), PROGRAM) == str(program)
    prefixed = tmp_path / "npm-prefix" / "bin" / "claude"
    prefixed.parent.mkdir(parents=True)
    prefixed.write_text("#!/bin/sh\nexit 0\n")
    prefixed.chmod(0o755)
    program.unlink()
    assert find_program("", environ | {"npm_config_prefix": str(tmp_path / "npm-prefix")}, (), PROGRAM) == str(prefixed)


def test_a_resume_command_says_where_to_run_it_when_the_shell_is_elsewhere(tmp_path: Path) -> None:
    from supervisor.face.text import session_end_text
    from supervisor.flows.reporting import SessionEnd

    end = SessionEnd(reason="idle for 30m (limit 30m)", resume="claude --resume abc", code=124, at_line_start=True,
                     cwd=str(tmp_path / "app"))
    (tmp_path / "app").mkdir()
    assert "Resume it: claude --resume abc" in session_end_text(end, str(tmp_path / "app"))
    assert f"Resume it: cd {tmp_path / 'app'} && claude --resume abc" in session_end_text(end, str(tmp_path))
    spaced = SessionEnd(reason="idle", resume="claude --resume abc", code=124, at_line_start=True,
                        cwd=str(tmp_path / "my app"))
    assert f"cd '{tmp_path / 'my app'}' && claude" in session_end_text(spaced, str(tmp_path))


def test_after_a_takeover_the_old_terminal_promises_no_command_it_did_not_show() -> None:
    from supervisor.face.text import session_end_text
    from supervisor.flows.reporting import SessionEnd

    why = "taken over by `csup takeover` from /dev/pts/5 (pid 77)"
    text = session_end_text(SessionEnd(reason=why, resume=None, code=143, at_line_start=True,
                                       continued_elsewhere=why))
    assert "above" not in text and "do not resume it here too" in text


def test_only_claudes_own_bg_flag_starts_a_background_session() -> None:
    from supervisor.clis.claude_code import ClaudeLauncher
    from supervisor.core.settings import resolve

    adapter = ClaudeLauncher("claude", resolve({}, "", {}))
    assert adapter.starts_background(["--bg"]) and adapter.starts_background(["-n", "x", "--bg", "fix it"])
    assert not adapter.starts_background(["mcp", "add", "s", "--", "srv", "--bg"])  # a subcommand's own argument
    assert not adapter.starts_background(["-p", "hi", "--bg"])  # print mode is no session
    assert not adapter.starts_background(["--", "--bg"])
