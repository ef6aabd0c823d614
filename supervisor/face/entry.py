"""The `csup` entry point. `csup run` with plain arguments — what every aliased agent CLI is — starts without
importing click, whose import alone costs more start-up than csup's budget allows; anything else, and anything
unusual (help, an unknown or malformed option), goes to the click CLI in cli.py, which owns help and usage
errors. Both run inside the one error boundary (boundary.py)."""

from __future__ import annotations

from supervisor.machine.trace import mark

mark("python")  # the interpreter is up and has found csup: the first of the start's phases ended

import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any, NoReturn  # noqa: E402

from supervisor.core.errors import UsageError  # noqa: E402
from supervisor.face.boundary import guarded  # noqa: E402

# `csup run`'s options as the fast path reads them; tests check they are exactly the click command's.
VALUE_OPTIONS = {"--idle-limit": "idle_limit", "--warn-before": "warn_before", "--cli": "cli"}
SWITCHES = {"--takeover": "takeover", "--allow-unmanaged": "allow_unmanaged"}
OPTIONAL_VALUE = "--wait"


def parse_run(args: Sequence[str]) -> dict[str, Any] | None:
    """`csup run`'s arguments, or None when the click parser should see them (help, errors, anything odd)."""
    from supervisor.clis.choose import path_options

    value_options = VALUE_OPTIONS | path_options()  # `--NAME PATH`, for each CLI csup knows
    parsed: dict[str, Any] = {"flags": {}, "wait": None, "takeover": False, "cli_args": ()}
    index = 0
    while index < len(args):
        arg = args[index]
        name, has_value, inline = arg.partition("=")
        if arg == "--":
            index += 1
            break
        if not arg.startswith("-") or arg == "-":
            break  # the first positional: it and everything after it belong to the CLI
        if name in value_options:
            if not has_value:
                if index + 1 >= len(args):
                    return None
                index += 1
                inline = args[index]
            parsed["flags"][value_options[name]] = inline
        elif arg in SWITCHES:
            if arg == "--takeover":
                parsed["takeover"] = True
            else:
                parsed["flags"]["allow_unmanaged"] = True
        elif name == OPTIONAL_VALUE:
            if has_value:
                parsed["wait"] = inline
            elif index + 1 < len(args) and not args[index + 1].startswith("-"):
                index += 1
                parsed["wait"] = args[index]
            else:
                parsed["wait"] = ""
        else:
            return None  # -h, --help, or an option the CLI would pass on: click decides
        index += 1
    parsed["cli_args"] = tuple(args[index:])
    if parsed["wait"] is not None and parsed["takeover"]:
        return None  # a usage error: click says it
    return parsed


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["run"]:
        parsed = parse_run(args[1:])
        if parsed is not None:
            fast_run(parsed)
    from supervisor.face.cli import cli

    guarded(lambda: cli.main(args=args, prog_name="csup", standalone_mode=True))


def _raise(err: Exception) -> NoReturn:
    raise err


def fast_run(parsed: dict[str, Any]) -> NoReturn:
    from supervisor.core.durations import DurationError, parse_duration
    from supervisor.face.launch import start

    patience = None
    if parsed["wait"]:
        try:
            patience = parse_duration(parsed["wait"])
        except DurationError as err:
            message = f"--wait: bad value {parsed['wait']!r}: expected {err}"
            guarded(lambda: _raise(UsageError(message)))
    mode = "takeover" if parsed["takeover"] else "wait" if parsed["wait"] is not None else "now"
    guarded(lambda: start(parsed["cli_args"], parsed["flags"], mode=mode, patience=patience))
