"""The `csup` command line: click commands that parse, call one flow and print what the face's text words.
Errors reach the one boundary (boundary.py) as CsupError."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from supervisor import __version__
from supervisor.face.shellinit import SHELLS

if TYPE_CHECKING:
    from supervisor.claude.adapter import CliAdapter
    from supervisor.core.settings import Settings
    from supervisor.machine.paths import Paths


def _load() -> tuple[Settings, Paths]:
    from supervisor.machine.config_file import load_settings
    from supervisor.machine.paths import default_paths

    paths = default_paths(os.environ)
    settings = load_settings(paths.config_file, os.environ)
    for warning in settings.warnings:
        click.echo(warning, err=True)
    return settings, paths


def _census(settings: Settings) -> CliAdapter:
    from supervisor.claude.choose import adapter_for

    return adapter_for(settings, os.environ)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="csup")
def cli() -> None:
    """Supervise Claude Code sessions: one at a time, idle ones end themselves."""


def _emit(as_json: bool, data: Callable[[], Any], text: Callable[[], str]) -> None:
    """Print a report as one JSON object (--json) or as text for people."""
    if as_json:
        import json

        click.echo(json.dumps(data(), indent=2))
    else:
        click.echo(text())


# csup's own options come first and are parsed strictly (a typo is a usage error with a suggestion, never an
# argument for the CLI); the first positional argument or `--` starts the CLI's arguments.
_CLI_ARGS_AFTER = {"allow_interspersed_args": False}


def _duration_arg(value: str | None, flag: str) -> float | None:
    from supervisor.core.durations import DurationError, parse_duration

    if value is None or value == "":
        return None
    try:
        return parse_duration(value)
    except DurationError as err:
        raise click.BadParameter(f"{value!r}: expected {err}", param_hint=flag) from None


def _start(claude_args: tuple[str, ...], flags: dict[str, Any], **request: Any) -> None:
    from supervisor.face.launch import start

    start(claude_args, flags, **request)


@cli.command(context_settings=_CLI_ARGS_AFTER)
@click.option("--idle-limit", metavar="DURATION",
              help="End the session after this long idle (default 30m; 0 or off: never).")
@click.option("--warn-before", metavar="DURATION", help="Warn this long before the idle limit (default 1m).")
@click.option("--wait", "wait", is_flag=False, flag_value="", default=None, metavar="[DURATION]",
              help="Queue behind the running session instead of refusing (optionally give up after DURATION).")
@click.option("--takeover", is_flag=True, help="End the running session and start here (as `csup takeover`).")
@click.option("--allow-unmanaged", is_flag=True, default=None, help="Start even if claude runs outside csup.")
@click.option("--claude", "claude_path", metavar="PATH", help="The real CLI (default: `claude` on PATH).")
@click.argument("claude_args", nargs=-1, type=click.UNPROCESSED)
def run(idle_limit: str | None, warn_before: str | None, wait: str | None, takeover: bool,
        allow_unmanaged: bool | None, claude_path: str | None, claude_args: tuple[str, ...]) -> None:
    """Start a supervised claude session (what `claude` is aliased to).

    Everything after `--` goes to the CLI unchanged. A second session is refused (exit 75) unless --wait or
    --takeover says what to do instead.

    \b
    Examples:
      csup run                      # claude, supervised
      csup run --idle-limit 2h -- --model opus
      csup run --wait 10m           # queue for up to ten minutes
    """
    if wait is not None and takeover:
        raise click.UsageError("--wait and --takeover exclude each other: choose one")
    mode = "takeover" if takeover else "wait" if wait is not None else "now"
    flags = {"idle_limit": idle_limit, "warn_before": warn_before, "allow_unmanaged": allow_unmanaged,
             "claude": claude_path}
    _start(claude_args, flags, mode=mode, patience=_duration_arg(wait, "--wait"))


@cli.command(context_settings=_CLI_ARGS_AFTER)
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Carry the old session's conversation on (claude --resume ID in its directory).")
@click.option("--force", is_flag=True, help="End claude sessions outside csup without asking.")
@click.option("--claude", "claude_path", metavar="PATH", help="The real CLI (default: `claude` on PATH).")
@click.argument("claude_args", nargs=-1, type=click.UNPROCESSED)
def takeover(resume: bool, force: bool, claude_path: str | None, claude_args: tuple[str, ...]) -> None:
    """End the running session, wherever it is, and start one here.

    \b
    Examples:
      csup takeover                 # continue the old conversation here
      csup takeover --no-resume     # start a new conversation
    """
    _start(claude_args, {"claude": claude_path}, mode="takeover", resume=resume, force=force)


@cli.command()
@click.option("--force", is_flag=True, help="Also end claude sessions outside csup without asking.")
@click.option("--wait", "wait", metavar="DURATION", help="How long the session may take to end before csup "
              "escalates to SIGTERM, then SIGKILL (default: the stop_wait setting, 15s).")
def stop(force: bool, wait: str | None) -> None:
    """End the running session from any terminal (or none, e.g. cron); start nothing.

    \b
    Examples:
      csup stop
      csup stop --force --wait 5s
    """
    from supervisor.face.terminal_reporter import TerminalReporter, live_line
    from supervisor.face.text import stop_lines
    from supervisor.flows.stop import stop as stop_session

    patience = _duration_arg(wait, "--wait")
    settings, paths = _load()
    outcome = stop_session(paths, settings, _census(settings), force=force, patience=patience,
                           reporter=TerminalReporter())
    live_line("")
    click.echo("\n".join(stop_lines(outcome)))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object (schema in the README).")
def status(as_json: bool) -> None:
    """Who holds the session, how long it has been idle, and claude processes outside csup.

    Exits 0 when a session is running (managed or not), 1 when none is.

    \b
    Examples:
      csup status
      csup status --json | jq .session.idle_seconds
    """
    from supervisor.face.text import render_status
    from supervisor.flows.status import gather

    settings, paths = _load()
    report = gather(paths, _census(settings), settings.background_idle_limit)
    _emit(as_json, report.to_json, lambda: render_status(report))
    sys.exit(0 if report.running else 1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object (schema in the README).")
def doctor(as_json: bool) -> None:
    """The machine's health as it bears on sessions, with the command that fixes each finding.

    Exits 1 when something needs action, 0 otherwise.

    \b
    Examples:
      csup doctor
      csup doctor --json | jq '.findings[]'
    """
    from supervisor.face.text import doctor_json, findings, needs_action, render_doctor
    from supervisor.flows.doctor import examine

    settings, paths = _load()
    checkup = examine(paths, _census(settings))
    verdicts = findings(checkup, settings.idle_limit, settings.background_idle_limit)
    _emit(as_json, lambda: doctor_json(checkup, verdicts), lambda: render_doctor(checkup, verdicts))
    sys.exit(1 if needs_action(verdicts) else 0)


@cli.command()
@click.argument("shell", type=click.Choice(SHELLS))
def init(shell: str) -> None:
    """Print the shell integration: the `claude` alias and completion for csup.

    \b
    Setup, one line in your rc file:
      eval "$(csup init bash)"     # ~/.bashrc
      eval "$(csup init zsh)"      # ~/.zshrc
      csup init fish | source      # ~/.config/fish/config.fish
    """
    from supervisor.face.shellinit import integration

    click.echo(integration(shell, cli, sys.argv[0]), nl=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object: each key's value and source.")
def config(as_json: bool) -> None:
    """The effective configuration and where each value came from (default, file, env, flag).

    \b
    Examples:
      csup config
      CSUP_IDLE_LIMIT=2h csup config --json
    """
    from supervisor.face.text import render_config

    settings, paths = _load()
    _emit(as_json, lambda: {"file": str(paths.config_file), "values": settings.values,
                            "sources": dict(settings.sources)}, lambda: render_config(settings, str(paths.config_file)))


@cli.command()
@click.option("-n", "count", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many recent sessions to show.")
@click.option("--json", "as_json", is_flag=True, help="The recent sessions and the summary as one JSON object.")
def log(count: int, as_json: bool) -> None:
    """Past sessions: when they started and ended, how, and the idle time the limit ended.

    \b
    Examples:
      csup log
      csup log -n 50 --json
    """
    from supervisor.core.log_summary import summarise_log
    from supervisor.face.text import render_log
    from supervisor.machine.events import read_events

    _, paths = _load()
    summary = summarise_log(list(read_events(paths.log_file)), count)
    _emit(as_json, lambda: summary, lambda: render_log(summary))
