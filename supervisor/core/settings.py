"""Every setting with its default, read from TOML, then CSUP_* environment variables, then flags (pure but for
reading the config file)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.core.durations import EXAMPLE as DURATION_EXAMPLE
from supervisor.core.durations import DurationError, parse_duration
from supervisor.core.errors import ConfigError

# Set in the CLI's environment by csup (not a setting): a nested `csup run` inside the session passes through.
SESSION_ENV = "CSUP_SESSION"

# Claude Code's own subcommands: invocations that are not sessions and go straight to the CLI (CLAUDE_CLI.md).
CLAUDE_SUBCOMMANDS = (
    "agents", "attach", "auth", "config", "doctor", "install", "kill", "logs", "mcp", "migrate-installer",
    "plugin", "purge", "respawn", "rm", "setup-token", "stop", "update",
)


def _duration(allow_off: bool) -> Callable[[Any], float | None]:
    def convert(raw: Any) -> float | None:
        if isinstance(raw, bool):
            raise ValueError(f"a duration like {DURATION_EXAMPLE}")
        if isinstance(raw, int | float):
            raw = str(raw)
        if not isinstance(raw, str):
            raise ValueError(f"a duration like {DURATION_EXAMPLE}")
        try:
            return parse_duration(raw, allow_off=allow_off)
        except DurationError as err:
            raise ValueError(str(err)) from None
    return convert


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(raw, str) and raw.strip().lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("true or false")


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("a string")
    if "\0" in raw:
        raise ValueError("a string without NUL characters")
    return raw


def _words(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, tuple):
        raw = list(raw)
    if isinstance(raw, str):  # from the environment: comma- or space-separated
        raw = [part for part in raw.replace(",", " ").split() if part]
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise ValueError("a list of non-empty strings")
    return tuple(raw)


def _names(raw: Any) -> tuple[str, ...]:
    names = _words(raw)
    if not names:
        raise ValueError("a list of at least one name")
    return names


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


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    convert: Callable[[Any], Any]
    help: str

    @property
    def env_var(self) -> str:
        return "CSUP_" + self.key.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("idle_limit", "30m", _duration(True), "End a session after this long idle; 0 or off disables."),
    Setting("warn_before", "1m", _duration(True), "Warn this long before the idle limit ends a session."),
    Setting("waiting_limit", "off", _duration(True),
            "Idle limit while the CLI waits on a permission prompt; off = never end it, only warn."),
    Setting("activity", "input+output", _choice("input+output", "input"),
            "What counts as activity: keystrokes and the CLI's output, or keystrokes only."),
    Setting("cpu_threshold", 2.0, _percent,
            "Percent of one core the CLI's process tree must use to count as busy near a deadline; 0 disables."),
    Setting("claude", "", _text, "Path of the real CLI; empty means search PATH for `claude`."),
    Setting("allow_unmanaged", False, _boolean, "Start even while claude processes run outside csup."),
    Setting("claude_names", ("claude",), _names,
            "Executable names that identify a claude process (for finding unmanaged sessions)."),
    Setting("passthrough_commands", CLAUDE_SUBCOMMANDS, _words,
            "The CLI's subcommands that are not sessions: run directly, without lock or pty."),
    Setting("exit_keys", "", _text,
            "Keys typed into the CLI as the first, polite shutdown step (e.g. \"\\u0003\\u0003\"); empty skips it."),
    Setting("exit_keys_wait", "2s", _duration(False), "How long to wait after typing exit_keys."),
    Setting("term_wait", "5s", _duration(False), "How long the CLI gets to exit after SIGTERM."),
    Setting("tree_wait", "2s", _duration(False), "How long its descendants get after SIGTERM before SIGKILL."),
    Setting("stop_wait", "15s", _duration(False),
            "How long a session asked to end (stop, takeover) may take before csup sends SIGTERM, then SIGKILL."),
    Setting("stray_check", "5m", _duration(True),
            "During a session, look this often for new claude processes outside csup and notify once each; off."),
    Setting("notify", True, _boolean, "Desktop notifications (notify-send, osascript) for warnings and strays."),
)
SETTINGS_BY_KEY: Mapping[str, Setting] = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(key) from None


def load_config(
    config_file: Path | None,
    environ: Mapping[str, str],
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Defaults, overridden by the TOML file, by CSUP_* variables, by flags; every bad value is a ConfigError."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        values[setting.key] = setting.convert(setting.default)
        sources[setting.key] = "default"
    if config_file is not None:
        for key, raw in _read_toml(config_file).items():
            values[key] = _convert(key, raw, where=f"{config_file}: key {key!r}")
            sources[key] = str(config_file)
    for setting in SETTINGS:
        if setting.env_var in environ:
            values[setting.key] = _convert(setting.key, environ[setting.env_var], where=setting.env_var)
            sources[setting.key] = f"env {setting.env_var}"
    for key, raw in (flags or {}).items():
        if raw is None:
            continue
        values[key] = _convert(key, raw, where="--" + key.replace("_", "-"))
        sources[key] = "flag"
    return Config(values, sources)


def _convert(key: str, raw: Any, *, where: str) -> Any:
    setting = SETTINGS_BY_KEY.get(key)
    if setting is None:
        known = ", ".join(SETTINGS_BY_KEY)
        raise ConfigError(f"{where}: unknown setting (known: {known})")
    try:
        return setting.convert(raw)
    except ValueError as err:
        raise ConfigError(f"{where}: bad value {raw!r}: expected {err}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    import tomllib  # only when a config file exists: it costs start-up time

    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return parsed

