"""Every setting with its default and its type, resolved from the config file's values, then CSUP_* environment
variables, then flags. Pure: the file is read by machine/config_file.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from supervisor.core.durations import EXAMPLE as DURATION_EXAMPLE
from supervisor.core.durations import EXAMPLE_ON as DURATION_EXAMPLE_ON
from supervisor.core.durations import parse_duration
from supervisor.core.errors import ConfigError, UsageError
from supervisor.core.sizes import EXAMPLE as SIZE_EXAMPLE
from supervisor.core.sizes import parse_size

# Set in the CLI's environment by csup (not a setting): a nested `csup run` inside the session passes through.
SESSION_ENV = "CSUP_SESSION"
# Where csup keeps its files, when not where the platform says (machine/paths.py reads them).
RUNTIME_DIR_ENV, STATE_DIR_ENV, CONFIG_FILE_ENV = "CSUP_RUNTIME_DIR", "CSUP_STATE_DIR", "CSUP_CONFIG"
# Take the portable paths (what macOS runs) on Linux too: machine/system.py.
PORTABLE_ENV = "CSUP_PORTABLE"
# bench/run.py: the file each start's phase marks are appended to (machine/trace.py).
TRACE_STARTUP_ENV = "CSUP_TRACE_STARTUP"
# Tests: the file the modules imported after the CLI's exit are written to (machine/trace.py): the way out
# imports nothing.
TRACE_EXIT_ENV = "CSUP_TRACE_EXIT"
OTHER_VARIABLES = frozenset({SESSION_ENV, RUNTIME_DIR_ENV, STATE_DIR_ENV, CONFIG_FILE_ENV, PORTABLE_ENV,
                             TRACE_STARTUP_ENV, TRACE_EXIT_ENV})



class _Duration:
    """Converts "30m", 90, "off"… to seconds (None for off); marks its setting as a duration for display."""

    def __init__(self, allow_off: bool) -> None:
        self.allow_off = allow_off

    def __call__(self, raw: Any) -> float | None:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(f"a duration like {DURATION_EXAMPLE if self.allow_off else DURATION_EXAMPLE_ON}")
        return parse_duration(str(raw), allow_off=self.allow_off)  # DurationError is a ValueError


class _Size:
    """Converts "4GiB", "512MiB", "off"… to bytes (None for off); marks its setting as a size for display."""

    def __call__(self, raw: Any) -> int | None:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValueError(f"a size like {SIZE_EXAMPLE}")
        return parse_size(str(raw))  # SizeError is a ValueError


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(raw, str) and raw.strip().lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("true or false")


def text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("a string")
    if "\0" in raw:
        raise ValueError("a string without NUL characters")
    return raw


def words(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, tuple):
        raw = list(raw)
    if isinstance(raw, str):  # from the environment: comma- or space-separated
        raw = [part for part in raw.replace(",", " ").split() if part]
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise ValueError("a list of non-empty strings")
    return tuple(raw)


def names(raw: Any) -> tuple[str, ...]:
    if raw == () or raw == []:
        return ()  # the default: the adapter's own names
    names = words(raw)
    if not names:
        raise ValueError("a list of at least one name")
    return names


def _limits(raw: Any) -> tuple[tuple[str, int], ...]:
    """`["NAME=2"]` (or "NAME=2, OTHER=1" from the environment): a CLI's own limit on its sessions."""
    found = []
    for word in words(raw) if raw not in ((), []) else ():
        name, _, count = word.partition("=")
        if not name or not re.fullmatch(r"[0-9]{1,2}", count) or not 1 <= int(count) <= 64:
            raise ValueError('a list like ["NAME=2"]: a CLI\'s name and a whole number from 1 to 64')
        found.append((name, int(count)))
    return tuple(found)


def _count(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("a whole number from 1 to 64")
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,3}", raw.strip()):
        raw = int(raw.strip())
    if not isinstance(raw, int) or not 1 <= raw <= 64:
        raise ValueError("a whole number from 1 to 64")
    return raw


def _percent(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("a number from 0 to 100")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError("a number from 0 to 100") from None
    if not 0 <= value <= 100:
        raise ValueError("a number from 0 to 100")
    return value


def _choice(*choices: str) -> Callable[[Any], str]:
    def convert(raw: Any) -> str:
        if not isinstance(raw, str) or raw not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return raw
    return convert


class Setting(NamedTuple):
    key: str
    default: Any
    convert: Callable[[Any], Any]
    help: str

    @property
    def env_var(self) -> str:
        return "CSUP_" + self.key.upper()

    @property
    def is_duration(self) -> bool:
        return isinstance(self.convert, _Duration)

    @property
    def is_size(self) -> bool:
        return isinstance(self.convert, _Size)


SETTINGS: tuple[Setting, ...] = (
    Setting("idle_limit", "30m", _Duration(True), "End a session after this long idle; 0 or off disables."),
    Setting("warn_before", "1m", _Duration(True), "Warn this long before the idle limit ends a session."),
    Setting("idle_action", "sleep", _choice("sleep", "end"),
            "At the idle limit (and when make_room or the memory budget chooses it): sleep = end the CLI's whole "
            "tree, keep the terminal, Enter wakes the same conversation; end = end the session (exit 124)."),
    Setting("waiting_limit", "off", _Duration(True),
            "Idle limit while the CLI waits on a permission prompt; off = never end it, only warn."),
    Setting("activity", "input+output", _choice("input+output", "input"),
            "What counts as activity: keystrokes and the CLI's output, or keystrokes only."),
    Setting("cpu_threshold", 2.0, _percent,
            "Percent of one core the CLI's process tree must use to count as busy near a deadline; 0 disables."),
    Setting("cli", "", text, "The CLI `csup run` starts when --cli names none; empty: the first csup knows."),
    Setting("max_sessions", 1, _count,
            "At most this many agent sessions of yours at once, of every kind and every CLI (but those with a "
            "limit of their own in cli_limits)."),
    Setting("cli_limits", (), _limits,
            "CLIs with a limit of their own, e.g. [\"NAME=2\"]: their sessions count against it, not max_sessions."),
    Setting("count_editor_sessions", False, _boolean,
            "Count editors' sessions (an agent an editor's extension runs) against max_sessions; off: only their "
            "memory counts."),
    Setting("aliases", (), words,
            "The CLIs `csup init` sends through csup, by name; empty: every CLI csup knows that is installed."),
    Setting("make_room", "off", _Duration(True),
            "At the limit, end the most idle session idle at least this long (not busy, waiting, attached or "
            "pinned) and start; off: refuse."),
    Setting("memory_budget", "off", _Size(),
            "At most this much memory held by all your agent sessions (each one's process tree, shared pages "
            "counted fairly), e.g. 4GiB; off."),
    Setting("memory_min_idle", "10m", _Duration(False),
            "Over the memory budget, only a session idle at least this long is ended (the most idle first)."),
    Setting("allow_unmanaged", False, _boolean, "Start even while agent sessions run outside csup."),
    Setting("end_unmanaged", False, _boolean,
            "csup watch ends unmanaged sessions idle past idle_limit (after a warning); off: it only reports them."),
    Setting("background_idle_limit", "off", _Duration(True),
            "End background sessions (in a CLI's own daemon) idle this long, through that daemon; default: "
            "idle_limit."),
    Setting("exit_keys", "", text,
            "Keys typed into the CLI as the first, polite shutdown step (e.g. \"\\u0003\\u0003\"); empty skips it."),
    Setting("exit_keys_wait", "2s", _Duration(False), "How long to wait after typing exit_keys."),
    Setting("term_wait", "5s", _Duration(False), "How long the CLI gets to exit after SIGTERM."),
    Setting("tree_wait", "2s", _Duration(False), "How long its descendants get after SIGTERM before SIGKILL."),
    Setting("stop_wait", "15s", _Duration(False),
            "How long a session asked to end (stop, takeover) may take before csup sends SIGTERM, then SIGKILL."),
    Setting("stray_check", "5m", _Duration(True),
            "During a session, look this often for new agent sessions outside csup and notify once each; off."),
    Setting("notify", True, _boolean, "Desktop notifications (notify-send, osascript) for warnings and strays."),
    Setting("metrics_file", "", text,
            "A file the watcher keeps up to date with `csup metrics` (for node_exporter's textfile collector); "
            "empty: none."),
    Setting("watch_linger", "1m", _Duration(False),
            "A watcher started on demand leaves after this long with no agent session of any kind."),
)
SETTINGS_BY_KEY: Mapping[str, Setting] = {s.key: s for s in SETTINGS}


class Settings(NamedTuple):
    """Every setting, typed; `sources` says where each value came from (default, a file, env, flag)."""

    idle_limit: float | None
    warn_before: float | None
    idle_action: str
    waiting_limit: float | None
    activity: str
    cpu_threshold: float
    cli: str
    max_sessions: int
    cli_limits: tuple[tuple[str, int], ...]
    count_editor_sessions: bool
    aliases: tuple[str, ...]
    make_room: float | None
    memory_budget: int | None
    memory_min_idle: float
    allow_unmanaged: bool
    end_unmanaged: bool
    background_idle_limit: float | None
    exit_keys: str
    exit_keys_wait: float
    term_wait: float
    tree_wait: float
    stop_wait: float
    stray_check: float | None
    notify: bool
    metrics_file: str
    watch_linger: float
    # Each CLI's own settings (its path, the names of its processes…: its module declares them), by key.
    own: Mapping[str, Any] = MappingProxyType({})
    # Where the values came from (read-only: a default shared by every Settings), and what was wrong with them.
    sources: Mapping[str, str] = MappingProxyType({})
    warnings: tuple[str, ...] = ()  # said once, then csup goes on

    @property
    def places(self) -> int:
        """How many supervised sessions may run at once: max_sessions, and each CLI's own limit beside it."""
        return self.max_sessions + sum(count for _, count in self.cli_limits)

    @property
    def values(self) -> dict[str, Any]:
        return {**{setting.key: getattr(self, setting.key) for setting in SETTINGS}, **self.own}


def resolve(
    file_values: Mapping[str, Any],
    file_name: str,
    environ: Mapping[str, str],
    flags: Mapping[str, Any] | None = None,
    more: Sequence[Setting] = (),
    clis: Sequence[str] = (),
) -> Settings:
    """Defaults, overridden by the config file's values, by CSUP_* variables, by flags; every bad value is a
    ConfigError naming where it came from and what is expected. `more`: the settings each CLI declares; `clis`:
    the names of the CLIs csup knows, which the settings that name a CLI must use."""
    table = {**SETTINGS_BY_KEY, **{setting.key: setting for setting in more}}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in table.values():
        values[setting.key] = setting.convert(setting.default)
        sources[setting.key] = "default"
    for key, raw in file_values.items():
        values[key] = _convert(table, key, raw, where=f"{file_name}: key {key!r}", typed=True)
        sources[key] = file_name
    for setting in table.values():
        if setting.env_var in environ:
            values[setting.key] = _convert(table, setting.key, environ[setting.env_var], where=setting.env_var)
            sources[setting.key] = f"env {setting.env_var}"
    for key, raw in (flags or {}).items():
        if raw is None:
            continue
        try:
            values[key] = _convert(table, key, raw, where="--" + key.replace("_", "-"))
        except ConfigError as err:  # a flag is typed on the command line: a usage error, not a configuration one
            raise UsageError(err.message) from None
        sources[key] = "flag"
    if sources["background_idle_limit"] == "default":  # unless set, background sessions follow idle_limit
        values["background_idle_limit"] = values["idle_limit"]
        sources["background_idle_limit"] = "default: idle_limit"
    limit, warn = values["idle_limit"], values["warn_before"]
    if limit is not None and warn is not None and warn >= limit:
        # A warning as long as the limit would ring from the first second and no key could clear it.
        values["warn_before"] = limit / 2
        sources["warn_before"] += ", clamped to half of idle_limit"
    if clis:
        _known_clis(values, sources, clis)
    own = {setting.key: values.pop(setting.key) for setting in more}
    return Settings(**values, own=MappingProxyType(own), sources=sources,
                    warnings=tuple(_unknown_variables(environ, table)))


def _known_clis(values: Mapping[str, Any], sources: Mapping[str, str], clis: Sequence[str]) -> None:
    """Every CLI a setting names is one csup knows: a typo (`codx`) would otherwise count nowhere, in silence."""
    named = {"cli": [values["cli"]] if values["cli"] else [], "cli_limits": [n for n, _ in values["cli_limits"]],
             "aliases": list(values["aliases"])}
    for key, names_given in named.items():
        unknown = [name for name in names_given if name not in clis]
        if not unknown:
            continue
        import difflib

        source = sources[key]
        close = difflib.get_close_matches(unknown[0], list(clis), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        message = f"unknown CLI {unknown[0]!r} ({hint}csup knows {', '.join(clis)})"
        if source == "flag":
            raise UsageError(f"--{key.replace('_', '-')}: {message}")
        where = source.removeprefix("env ") if source.startswith("env ") else f"{source}: key {key!r}"
        raise ConfigError(f"{where}: {message}")


def _unknown_variables(environ: Mapping[str, str], table: Mapping[str, Setting]) -> list[str]:
    """CSUP_* variables csup does not know: a typo would otherwise be ignored in silence."""
    known = {setting.env_var for setting in table.values()} | OTHER_VARIABLES
    unknown = sorted(name for name in environ if name.startswith("CSUP_") and name not in known)
    if not unknown:
        return []
    import difflib

    said = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        said.append(f"csup: warning: {name} is not a csup variable{hint}; it is ignored")
    return said


def _convert(table: Mapping[str, Setting], key: str, raw: Any, *, where: str, typed: bool = False) -> Any:
    """A value as its setting takes it. `typed`: from a TOML file, where numbers and booleans have types of
    their own — `max_sessions = "3"` is a string where a number belongs, said rather than guessed at (the
    environment has only strings, so it is read leniently)."""
    setting = table.get(key)
    if setting is None:
        import difflib

        close = difflib.get_close_matches(key, list(table), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"{where}: unknown setting ({hint}known: {', '.join(table)})")
    if typed and isinstance(raw, str) and not setting.is_duration and not setting.is_size \
            and isinstance(setting.default, bool | int | float):
        kind = "true or false" if isinstance(setting.default, bool) else "a number"
        raise ConfigError(f"{where}: bad value {raw!r}: expected {kind}, without quotes")
    try:
        return setting.convert(raw)
    except ValueError as err:
        raise ConfigError(f"{where}: bad value {raw!r}: expected {err}") from None
