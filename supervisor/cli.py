"""The `csup` command line: click commands that parse, call one function and print. Errors become one line and
an exit code here, and only here."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from . import __version__
from .errors import CsupError


def _load(flags: dict[str, Any]) -> tuple[Any, Any]:
    from .config import load_config
    from .paths import default_paths

    paths = default_paths(os.environ)
    return load_config(paths.config_file, os.environ, flags), paths


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="csup")
def cli() -> None:
    """Supervise Claude Code sessions: one at a time, idle ones end themselves."""


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--idle-limit", metavar="DURATION", help="End the session after this long idle (default 30m; off).")
@click.option("--warn-before", metavar="DURATION", help="Warn this long before the idle limit (default 1m).")
@click.option("--allow-unmanaged", is_flag=True, default=None, help="Start even if claude runs outside csup.")
@click.option("--claude", "claude_path", metavar="PATH", help="The real CLI (default: `claude` on PATH).")
@click.argument("claude_args", nargs=-1, type=click.UNPROCESSED)
def run(idle_limit: str | None, warn_before: str | None, allow_unmanaged: bool | None, claude_path: str | None,
        claude_args: tuple[str, ...]) -> None:
    """Start a supervised claude session (what `claude` is aliased to).

    Everything after `--` goes to the CLI unchanged.
    """
    from .session import RunRequest
    from .session import run as run_session

    cfg, paths = _load({"idle_limit": idle_limit, "warn_before": warn_before,
                        "allow_unmanaged": allow_unmanaged, "claude": claude_path})
    request = RunRequest(claude_args=claude_args, self_paths=(sys.argv[0],))
    sys.exit(run_session(request, cfg, paths, os.environ))


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="csup", standalone_mode=True)
    except CsupError as err:
        click.echo(_one_line(err), err=True)
        sys.exit(int(err.exit_code))
    except KeyboardInterrupt:
        sys.exit(130)


def _one_line(err: CsupError) -> str:
    text = err.message if err.message.startswith("csup:") or "\n" in err.message else f"csup: {err.message}"
    return f"{text}\n  {err.hint}" if err.hint else text

