"""The config file: TOML at the user's config directory, read with a size limit and only if it is a regular
file, then resolved into typed settings. Side effect: reads one file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from supervisor.core.errors import ConfigError
from supervisor.core.settings import Setting, Settings, resolve
from supervisor.machine.jsonfile import FileTooLarge, NotARegularFile, read_bytes

MAX_CONFIG_BYTES = 1 << 20  # a config file is a few lines; more is a mistake (or /dev/zero)


def load_settings(config_file: Path | None, environ: Mapping[str, str],
                  flags: Mapping[str, Any] | None = None, more: Sequence[Setting] = (),
                  clis: Sequence[str] = ()) -> Settings:
    """The settings, with `more` (each CLI's own) beside csup's; names of CLIs checked against `clis`."""
    file_values = read_config_file(config_file) if config_file is not None else {}
    return resolve(file_values, str(config_file), environ, flags, more, clis)


def config_file_exists(path: Path) -> bool:
    """Whether there is a config file at all (`csup config` says when every value is a default)."""
    return path.exists()


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's table; {} when it does not exist; ConfigError for anything unreadable, naming the file."""
    try:
        data = read_bytes(path, limit=MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except NotARegularFile:
        raise ConfigError(f"{path}: not a regular file, expected a TOML file") from None
    except FileTooLarge:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not a config file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    import tomllib  # only when a config file exists: it costs start-up time

    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config file") from None
