"""`csup init SHELL`: the shell integration from shell/ (an alias for each CLI csup supervises) plus click's
completion for csup. Pure but for reading the snippet files."""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Sequence
from importlib import resources

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_CSUP_COMPLETE"


def integration(shell: str, command: click.Command, argv0: str, clis: Sequence[str]) -> str:
    """The snippet with an alias per CLI in `clis` — each names its CLI (`--cli NAME`): the `cli` setting, which
    chooses what a bare `csup run` starts, must never turn one CLI's alias into another's — and the completion."""
    snippet = resources.files("supervisor.shell").joinpath(f"csup.{shell}").read_text()
    completion_class = get_completion_class(shell)
    assert completion_class is not None
    completion = completion_class(command, {}, "csup", COMPLETE_VAR).source()
    aliases = "\n".join(_alias(shell, name, f"--cli {name} ") for name in clis)
    return snippet.replace("@ALIASES@", aliases).replace("@CSUP@", csup_command(argv0)) + "\n" + completion


def _alias(shell: str, name: str, choose: str) -> str:
    if shell == "fish":
        return f"function {name} --description '{name}, supervised by csup'\n    @CSUP@ run {choose}-- $argv\nend"
    return f"alias {name}='@CSUP@ run {choose}--'"


def csup_command(argv0: str) -> str:
    """`csup` when that is what PATH finds, else the absolute path of this csup (a venv not on PATH)."""
    me = os.path.realpath(argv0)
    found = shutil.which("csup")
    if found is not None and os.path.realpath(found) == me:
        return "csup"
    return shlex.quote(me) if os.path.basename(me) == "csup" else "csup"
