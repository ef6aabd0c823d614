"""The CLIs csup knows — adding one is a module beside the others and a line in `_known()` — which
launcher runs a program, and the one source every session is counted from. Pure but for the path checks a
launcher makes."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from supervisor.clis.adapter import Launcher
from supervisor.clis.agents import Agents
from supervisor.clis.locate import Program
from supervisor.core.errors import UsageError
from supervisor.core.settings import Setting, Settings


def _known() -> tuple[ModuleType, ...]:
    from supervisor.clis import claude_code, codex

    return (claude_code, codex)  # the first is the default CLI: `csup run` with no --cli


def names() -> tuple[str, ...]:
    return tuple(module.NAME for module in _known())


def cli_of(settings: Settings) -> str:
    """The CLI a `csup run` starts: --cli (the `cli` setting), else the default one."""
    return settings.cli or names()[0]


def _module(cli: str) -> ModuleType:
    for module in _known():
        if cli == module.NAME:
            return module
    raise UsageError(f"unknown CLI {cli!r}: csup knows {', '.join(names())}")


def program_of(cli: str) -> Program:
    """How the CLI named `cli` is found (its name, the setting naming its path, its usual places)."""
    found: Program = _module(cli or names()[0]).PROGRAM
    return found


def configured_path(settings: Settings, cli: str) -> str:
    """The path the user gave for this CLI (its setting), or ""."""
    return str(settings.own.get(program_of(cli).setting, "") or "")


def cli_settings() -> tuple[Setting, ...]:
    """Every CLI's own settings (its path, the names of its processes…), for core/settings.py to resolve."""
    return tuple(setting for module in _known() for setting in module.SETTINGS)


def legacy_fields() -> dict[str, str]:
    """Older names of `status --json` fields (new name → old), as the CLI modules that had them say."""
    return {new: old for module in _known() for new, old in module.LEGACY_FIELDS.items()}


def path_options() -> dict[str, str]:
    """`csup run`'s option naming each CLI's path (`--NAME PATH`), and the setting it sets."""
    return {f"--{module.PROGRAM.setting}": module.PROGRAM.setting for module in _known()}


def aliased(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """The CLIs `csup init` aliases: those the `aliases` setting lists, else the default CLI and every other one
    that is installed (found as `csup run --cli NAME` would find it)."""
    from supervisor.clis.locate import find_program
    from supervisor.core.errors import CsupError

    if settings.aliases:
        for name in settings.aliases:
            _module(name)  # an unknown name is said, not skipped
        return list(dict.fromkeys(settings.aliases))
    found = [names()[0]]
    for name in names()[1:]:
        try:
            find_program(configured_path(settings, name), environ, (), program_of(name))
        except CsupError:
            continue
        found.append(name)
    return found


def launcher_for(settings: Settings, path: str, cli: str = "") -> Launcher:
    """The launcher of the CLI named `cli` (the default CLI when not named) — unless the program is evidently
    another program, which csup runs knowing nothing of it."""
    module = _module(cli or names()[0])
    if not module.looks_like(path):
        from supervisor.clis.generic import GenericCli

        return GenericCli(path, settings)
    launcher: Launcher = module.Launcher(path, settings)
    return launcher


def sessions_from(settings: Settings, environ: Mapping[str, str]) -> Agents:
    """Where the sessions csup counts come from: every CLI it knows."""
    return Agents([module.Source(settings, environ) for module in _known()])
