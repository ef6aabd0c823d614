"""Finding a real CLI: the path given (flag or config), else its name on PATH, else the places its installers
use — never csup itself, whether through its console script, a shim that calls `csup run`, or an alias. Each CLI
module says its name, places and install hint (a `Program`). Reads the filesystem, runs nothing."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Collection, Mapping
from typing import NamedTuple

from supervisor.core.errors import CliNotExecutable, CliNotFound


class Program(NamedTuple):
    """What finding a CLI needs to know of it."""

    name: str  # as people type it, and as it is looked for on PATH
    setting: str  # the setting (and CSUP_ variable) that names its path
    places: tuple[str, ...]  # where its installers put it when that is not on PATH
    install_hint: str
    name_it: str  # how a person names its path ("name the real CLI: --NAME PATH")


# Markers of csup's own launchers: the console script pip writes, and a shim that calls `csup run`.
_CSUP_MARKERS = (re.compile(rb"from supervisor(?:\.\w+)+ import main|-m supervisor\b"), re.compile(rb"\bcsup\s+run\b"))
_SHIM_SIZE_LIMIT = 64 * 1024


def find_program(explicit: str, environ: Mapping[str, str], self_paths: Collection[str], program: Program) -> str:
    """`explicit` (flag or config) when given, else the first `program` on PATH that is not csup, else one in
    its usual places."""
    if explicit:
        path = _expand(explicit, environ)
        if os.sep not in explicit:
            found = _search_path(explicit, environ, self_paths)
            if found is None:
                raise CliNotFound(f"{explicit!r} not found on PATH ({_path_summary(environ)})",
                                  hint=program.install_hint)
            path = found
        _check_runnable(path, program)
        if _is_csup(path, self_paths):
            raise CliNotExecutable(f"{path} is csup itself, not the CLI", hint=program.name_it)
        return path
    found = _search_path(program.name, environ, self_paths) or _known_place(environ, self_paths, program)
    if found is None:
        raise CliNotFound(f"the real `{program.name}` CLI is not on PATH (searched: {_path_summary(environ)}, and "
                          f"{', '.join(_places(environ, program))})", hint=program.install_hint)
    return found


def _places(environ: Mapping[str, str], program: Program) -> list[str]:
    """The known places, and the bin folder of the npm prefix the environment names (npm_config_prefix)."""
    prefix = environ.get("npm_config_prefix") or environ.get("NPM_CONFIG_PREFIX")
    return [*program.places, *((os.path.join(prefix, "bin", program.name),) if prefix else ())]


def _known_place(environ: Mapping[str, str], self_paths: Collection[str], program: Program) -> str | None:
    for place in _places(environ, program):
        path = _expand(place, environ)
        if os.path.isfile(path) and os.access(path, os.X_OK) and not _is_csup(path, self_paths):
            return path
    return None


def _expand(path: str, environ: Mapping[str, str]) -> str:
    home = environ.get("HOME")
    if path.startswith("~") and home:
        path = home + path[1:]
    return os.path.abspath(path)


def _search_path(name: str, environ: Mapping[str, str], self_paths: Collection[str]) -> str | None:
    for directory in environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        try:
            info = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and os.access(candidate, os.X_OK) and not _is_csup(candidate, self_paths):
            return os.path.abspath(candidate)
    return None


def _path_summary(environ: Mapping[str, str]) -> str:
    entries = [entry for entry in environ.get("PATH", os.defpath).split(os.pathsep) if entry]
    return ":".join(entries) if entries else "PATH is empty"


def _check_runnable(path: str, program: Program) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CliNotFound(f"{path} does not exist", hint=program.install_hint) from None
    except OSError as err:
        raise CliNotExecutable(f"cannot use {path}: {err.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise CliNotExecutable(f"{path} is a directory, not the CLI", hint=program.name_it)
    if not os.access(path, os.X_OK):
        raise CliNotExecutable(f"{path} is not executable", hint=program.name_it)


def _is_csup(path: str, self_paths: Collection[str]) -> bool:
    """An alias, a shim or the console script that would make csup run csup."""
    real = os.path.realpath(path)
    if real in {os.path.realpath(p) for p in self_paths}:
        return True
    try:
        if os.path.getsize(real) > _SHIM_SIZE_LIMIT:
            return False
        with open(real, "rb") as handle:
            head = handle.read(_SHIM_SIZE_LIMIT)
    except OSError:
        return False
    return head.startswith(b"#!") and any(marker.search(head) for marker in _CSUP_MARKERS)
