"""What every CLI module asks of a command line run by an interpreter (`node cli.js …`, `python3 script …`):
whether its first word is one, and which script it runs. Pure."""

from __future__ import annotations

import os
from collections.abc import Sequence

INTERPRETERS = frozenset({"node", "nodejs", "bun", "deno", "python", "python3"})


def is_interpreter(path: str) -> bool:
    """`node`, `python3.11`, `/usr/bin/node20`…: the name less its version."""
    return os.path.basename(path).rstrip("0123456789.") in INTERPRETERS


def script_of(args: Sequence[str]) -> tuple[int, str] | None:
    """The script an interpreter runs, by its index in `args` (the interpreter's own arguments): the first
    argument that is not one of its own options (`-u`, `--no-warnings`, `-X dev`…); None for `-c`/`-e` code."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-c", "-e", "--eval", "-p", "--print", "-m"):
            return None
        if arg in ("-X", "-W", "--require", "-r", "--import", "--loader"):
            index += 2
            continue
        if arg.startswith("-"):
            index += 1
            continue
        return index, arg
    return None
