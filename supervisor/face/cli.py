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
    from supervisor.clis.adapter import SessionSource
    from supervisor.core.settings import Settings
    from supervisor.machine.paths import Paths


def _load() -> tuple[Settings, Paths]:
    from supervisor.clis.choose import cli_settings, names
    from supervisor.machine.config_file import load_settings
    from supervisor.machine.paths import default_paths

    paths = default_paths(os.environ)
    settings = load_settings(paths.config_file, os.environ, more=cli_settings(), clis=names())
    for warning in settings.warnings:
        click.echo(warning, err=True)
    return settings, paths


def _census(settings: Settings) -> SessionSource:
    from supervisor.clis.choose import sessions_from

    return sessions_from(settings, os.environ)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, "-V", "--version", prog_name="csup")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Supervise agent CLI sessions: at most max_sessions at a time (one by default), idle ones sleep or end.

    Start with: eval "$(csup init bash)" (or zsh, fish) — then each agent CLI you type runs through csup.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())  # bare `csup` is a question, not a mistake


@cli.command("help")
@click.argument("command", required=False)
@click.pass_context
def help_command(ctx: click.Context, command: str | None) -> None:
    """Show the help of csup, or of one command (csup help stop)."""
    parent = ctx.parent
    assert parent is not None
    if command is None:
        click.echo(parent.get_help())
        return
    found = cli.get_command(parent, command)
    if found is None:
        raise click.UsageError(f"no such command {command!r}; see: csup help")
    with click.Context(found, info_name=command, parent=parent) as sub:
        click.echo(found.get_help(sub))


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


def _cli_options(command: Callable[..., None]) -> Callable[..., None]:
    """`--cli NAME` and, for each CLI csup knows, `--NAME PATH` (its real executable)."""
    from supervisor.clis.choose import names, path_options

    for flag, setting in reversed(path_options().items()):
        command = click.option(flag, setting, metavar="PATH", default=None,
                               help=f"The real {setting} CLI (default: `{setting}` on PATH).")(command)
    known = ", ".join(names())
    return click.option("--cli", "cli_name", metavar="NAME",
                        help=f"The CLI to start: one of {known} (default: {names()[0]}, or the cli setting).")(command)


def _start(cli_args: tuple[str, ...], flags: dict[str, Any], **request: Any) -> None:
    from supervisor.face.launch import start

    start(cli_args, flags, **request)


@cli.command(context_settings=_CLI_ARGS_AFTER)
@click.option("--idle-limit", metavar="DURATION",
              help="End the session after this long idle (default 30m; 0 or off: never).")
@click.option("--warn-before", metavar="DURATION", help="Warn this long before the idle limit (default 1m).")
@click.option("--wait", "wait", is_flag=False, flag_value="", default=None, metavar="[DURATION]",
              help="Queue behind the running session instead of refusing (optionally give up after DURATION).")
@click.option("--takeover", is_flag=True, help="End the running session and start here (as `csup takeover`).")
@click.option("--allow-unmanaged", is_flag=True, default=None,
              help="Start even if agent sessions run outside csup.")
@_cli_options
@click.argument("cli_args", nargs=-1, type=click.UNPROCESSED)
def run(idle_limit: str | None, warn_before: str | None, wait: str | None, takeover: bool,
        allow_unmanaged: bool | None, cli_name: str | None, cli_args: tuple[str, ...], **paths: str | None) -> None:
    """Start a supervised agent session (what the aliases of `csup init` run).

    Everything after `--` goes to the CLI unchanged. A second session is refused (exit 75) unless --wait or
    --takeover says what to do instead.

    \b
    Examples:
      csup run                      # the default CLI, supervised
      csup run --cli NAME           # another CLI csup knows (csup config lists them)
      csup run --idle-limit 2h -- --model opus
      csup run --wait 10m           # queue for up to ten minutes
    """
    if wait is not None and takeover:
        raise click.UsageError("--wait and --takeover exclude each other: choose one")
    mode = "takeover" if takeover else "wait" if wait is not None else "now"
    flags = {"idle_limit": idle_limit, "warn_before": warn_before, "allow_unmanaged": allow_unmanaged,
             "cli": cli_name, **paths}
    _start(cli_args, flags, mode=mode, patience=_duration_arg(wait, "--wait"))


class _ArgsAfterDashes(click.Command):
    """`csup takeover [ID] [--] [CLI_ARGS...]`: what follows `--` is the CLI's, whatever it looks like."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta["cli_args"] = tuple(args[cut + 1:])
            args = args[:cut]
        return super().parse_args(ctx, args)


@cli.command(cls=_ArgsAfterDashes)  # the CLI's arguments are only those after `--`
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Carry the old session's conversation on (resumed by its id, in its directory).")
@click.option("--force", is_flag=True, help="End agent sessions outside csup without asking.")
@_cli_options
@click.argument("target", metavar="[ID]", required=False)
def takeover(resume: bool, force: bool, cli_name: str | None, target: str | None, **paths: str | None) -> None:
    """End a session, wherever it is, and start one here: the session ID names (csup's id, the CLI's session or
    background id, a pid or a terminal, as `csup status` lists them); without one, every session with one
    allowed (max_sessions 1), else the most idle one. A background session is brought here live.

    \b
    Examples:
      csup takeover                 # continue the old conversation here
      csup takeover --no-resume     # start a new conversation
      csup takeover 1a2b3c4d -- --model opus
    """
    cli_args = click.get_current_context().meta.get("cli_args", ())
    _start(cli_args, {"cli": cli_name, **paths}, mode="takeover", resume=resume, force=force, target=target)


@cli.command()
@click.option("--force", is_flag=True, help="Also end agent sessions outside csup without asking.")
@click.option("--wait", "wait", metavar="DURATION", help="How long the session may take to end before csup "
              "escalates to SIGTERM, then SIGKILL (default: the stop_wait setting, 15s).")
@click.option("--idle", "idle", is_flag=False, flag_value="", default=None, metavar="[DURATION]",
              help="End every session idle at least this long (default: its kind's idle limit).")
@click.option("--all", "everything", is_flag=True, help="End every session of every kind, asleep ones too.")
@click.argument("target", metavar="[ID]", required=False)
def stop(force: bool, wait: str | None, idle: str | None, everything: bool, target: str | None) -> None:
    """End sessions from any terminal (or none, e.g. cron); start nothing. ID names one (csup's id, the CLI's
    session or background id, a pid or a terminal, as `csup status` lists them); without one, every session with
    one allowed (max_sessions 1), else the most idle one, said first. Exits 75 when a session it was asked to
    end is still running.

    \b
    Examples:
      csup stop
      csup stop --force --wait 5s
      csup stop 1a2b3c4d
      csup stop --idle              # every session idle past its limit
      csup stop --idle 30m          # every session idle half an hour or more
      csup stop --all --force       # every session there is, gracefully
    """
    from supervisor.face.terminal_reporter import TerminalReporter, live_line
    from supervisor.face.text import stop_lines
    from supervisor.flows.stop import stop as stop_session

    patience = _duration_arg(wait, "--wait")
    idle_at_least = _duration_arg(idle, "--idle")
    if idle and idle_at_least is None:
        raise click.BadParameter(f"{idle!r}: expected a duration longer than zero", param_hint="--idle")
    if sum((idle is not None, target is not None, everything)) > 1:
        raise click.UsageError("--idle, --all and an ID exclude each other: choose one")
    settings, paths = _load()
    if idle == "" and settings.idle_limit is None and settings.background_idle_limit is None:
        raise click.UsageError("--idle without a duration uses each kind's idle limit (idle_limit, "
                               "background_idle_limit), and both are off: give one, e.g. --idle 30m")
    reporter = TerminalReporter()
    outcome = stop_session(paths, settings, _census(settings), force=force, patience=patience,
                           reporter=reporter, target=target, idle=idle is not None, idle_at_least=idle_at_least,
                           everything=everything)
    live_line("")
    click.echo("\n".join(stop_lines(outcome, reporter.clock.wall(), reporter.here)))
    if outcome.incomplete:
        sys.exit(75)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object (schema in the README).")
def status(as_json: bool) -> None:
    """Who holds the session, how long it has been idle, and agent sessions outside csup.

    Exits 0 when a session is running (managed or not), 1 when none is.

    \b
    Examples:
      csup status
      csup status --json | jq .session.idle_seconds
    """
    from supervisor.face.status_text import render_status
    from supervisor.flows.status import gather

    settings, paths = _load()
    report = gather(paths, _census(settings), settings.background_idle_limit, settings.max_sessions,
                    memory_budget=settings.memory_budget, waiting_limit=settings.waiting_limit,
                    places=settings.places, count_editors=settings.count_editor_sessions,
                    own_limits=settings.cli_limits)
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
    from supervisor.core.checkup import needs_action
    from supervisor.face.doctor_text import doctor_json, render_doctor
    from supervisor.flows.doctor import examine

    settings, paths = _load()
    checkup = examine(paths, _census(settings), settings)
    _emit(as_json, lambda: doctor_json(checkup), lambda: render_doctor(checkup))
    sys.exit(1 if needs_action(checkup.findings) else 0)


@cli.command()
@click.option("--once", is_flag=True, help="One sweep, then exit (for cron); while a watcher runs, only a look.")
@click.option("--on-demand", is_flag=True, hidden=True, help="Started by csup run: leave once nothing is left.")
@click.option("--stop", "stop_it", is_flag=True, help="Stop the watcher that runs (on demand or in a terminal).")
def watch(once: bool, on_demand: bool, stop_it: bool) -> None:
    """Apply the policy to every agent session outside csup's terminals: background sessions idle past
    background_idle_limit are ended through their CLI's daemon; unmanaged ones idle past idle_limit are
    reported (and with end_unmanaged warned, then ended). Wakes only at the deadlines it knows, and when a CLI's
    registry of sessions changes. One runs per user: the service (csup service install), or one started on demand
    by the first csup run, which leaves once nothing is left to watch.

    \b
    Examples:
      csup watch                    # in the foreground: says what each sweep does
      csup watch --once             # from cron: */5 * * * * csup watch --once
      csup service install          # as a user service (systemd or launchd)
    """
    from supervisor.face.terminal_reporter import TerminalReporter
    from supervisor.flows.watch import stop_watcher
    from supervisor.flows.watch import watch as run_watch
    from supervisor.machine.notify import notify

    settings, paths = _load()
    if stop_it:
        stopped = stop_watcher(paths)
        if stopped is None:
            click.echo("csup: no watcher runs.")
        else:
            pid, mode = stopped
            service = " It runs as the service and will start again; remove it: csup service uninstall" \
                if mode == "service" else ""
            click.echo(f"csup: stopped the watcher (pid {pid}).{service}")
        return
    result = run_watch(paths, settings, _census(settings), TerminalReporter(),
                       notify if settings.notify else lambda title, body: None, once=once, on_demand=on_demand,
                       reload=lambda: _load()[0])
    if result.failed:
        sys.exit(75)


@cli.group()
def service() -> None:
    """csup watch as a user service: a systemd user unit (Linux) or a launchd agent (macOS)."""


@service.command("install")
def service_install() -> None:
    """Write the unit (or agent), enable it and start it now; it starts again at every login."""
    from supervisor.machine.myself import csup_argv
    from supervisor.machine.service import install

    unit = install(csup_argv(sys.argv[0], search_path=True), os.environ)  # a unit runs with no PATH
    click.echo(f"csup: csup watch runs as a {unit.manager} user service ({unit.path}).\n"
               "  see it: csup service status    remove it: csup service uninstall")


@service.command("uninstall")
def service_uninstall() -> None:
    """Stop the service and remove its file."""
    from supervisor.machine.service import installed, uninstall

    if installed(os.environ) is None:
        click.echo("csup: no csup service is installed; nothing was removed. (A watcher started on demand leaves "
                   "by itself; stop one now: csup watch --stop)")
        return
    unit = uninstall(os.environ)
    click.echo(f"csup: removed {unit.path}; csup watch no longer runs by itself.")


@service.command("status")
def service_status() -> None:
    """Whether the service is installed and the watcher runs, and when it last swept. Exits 0 when it runs."""
    from supervisor.face.status_text import watcher_line
    from supervisor.flows.watch import watcher_state
    from supervisor.machine.clock import SYSTEM
    from supervisor.machine.service import installed

    _, paths = _load()
    unit = installed(os.environ)
    state = watcher_state(paths)
    click.echo(f"service: {'installed: ' + str(unit.path) if unit else 'not installed (csup service install)'}")
    click.echo(watcher_line(state, SYSTEM.wall()))
    sys.exit(0 if state else 1)


@cli.command()
@click.argument("shell", type=click.Choice(SHELLS))
def init(shell: str) -> None:
    """Print the shell integration: an alias for each agent CLI csup knows that is installed (the `aliases` setting
    chooses) and completion for csup.

    \b
    Setup, one line in your rc file:
      eval "$(csup init bash)"     # ~/.bashrc
      eval "$(csup init zsh)"      # ~/.zshrc
      csup init fish | source      # ~/.config/fish/config.fish
    """
    from supervisor.clis.choose import aliased, names
    from supervisor.core.errors import CsupError
    from supervisor.face.shellinit import integration

    try:  # a config file gone bad must not break every new shell: its default CLI is aliased all the same
        clis = aliased(_load()[0], os.environ)
    except CsupError as err:
        clis = [names()[0]]
        click.echo(f"csup: {err.message}; only `{clis[0]}` goes through csup until that is fixed (csup config)",
                   err=True)
    click.echo(integration(shell, cli, sys.argv[0], clis), nl=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object: each key's value and source.")
def config(as_json: bool) -> None:
    """The effective configuration and where each value came from (default, file, env, flag).

    \b
    Examples:
      csup config
      CSUP_IDLE_LIMIT=2h csup config --json
    """
    from supervisor.face.report_text import render_config
    from supervisor.machine.config_file import config_file_exists

    settings, paths = _load()
    exists = config_file_exists(paths.config_file)
    sleeps = _sleeps(settings)
    _emit(as_json, lambda: {"file": str(paths.config_file), "exists": exists, "values": settings.values,
                            "sources": dict(settings.sources), "sleeps": sleeps},
          lambda: render_config(settings, str(paths.config_file), exists, sleeps))


def _sleeps(settings: Settings) -> bool:
    """Whether idle_action "sleep" can take effect: a program given as the CLI's path that csup does not know
    names no conversation csup could resume, so its sessions end instead."""
    from supervisor.clis.choose import cli_of, configured_path, launcher_for

    program = configured_path(settings, cli_of(settings))
    if settings.idle_action != "sleep" or not program:
        return settings.idle_action == "sleep"
    return bool(launcher_for(settings, program, cli_of(settings)).resume_args("x"))


@cli.command()
def metrics() -> None:
    """The figures csup knows, in the Prometheus text format: sessions by CLI, kind and state, each one's memory
    and idle time, the memory budget, and counters of ends, sleeps, wakes, refusals and memory freed.

    \b
    Examples:
      csup metrics
      csup metrics > /var/lib/node_exporter/textfile/csup.prom    # or: metrics_file in csup config
    """
    from supervisor.flows.metrics import gather, render

    settings, paths = _load()
    sys.stdout.buffer.write(render(gather(paths, settings, _census(settings))))


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
    from supervisor.face.report_text import render_log
    from supervisor.machine.events import read_events

    _, paths = _load()
    summary = summarise_log(list(read_events(paths.log_file)), count)
    _emit(as_json, lambda: summary, lambda: render_log(summary))
