"""Where csup keeps its files (runtime, state, config) and how it creates them safely; touches the filesystem."""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from supervisor.core.errors import UnsafePath
from supervisor.core.settings import CONFIG_FILE_ENV, RUNTIME_DIR_ENV, STATE_DIR_ENV
from supervisor.machine.system import fast_paths

APP = "csup"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class Slot(NamedTuple):
    """One supervised session's place (of at most `max_sessions`): its lock, its record, the requests sent to it.
    Slot 0 keeps the names a single session always had."""

    number: int  # 0, 1, …
    lock_file: Path
    record_file: Path
    request_file: Path

    @property
    def declined_file(self) -> Path:
        """Where its holder says it declined a request that took it for idle (it was in use after all)."""
        return self.request_file.with_name(self.request_file.name + ".declined")


_SLOT_FILE = re.compile(r"session(?:-([0-9]{1,3}))?\.(?:lock|json)")
MAX_SLOTS = 256
_ASLEEP_FILE = re.compile(r"asleep-([0-9a-f]{32})\.json")


class Paths(NamedTuple):
    runtime_dir: Path  # locks, records, requests: gone at reboot, like the sessions they describe
    state_dir: Path  # the event log
    config_file: Path

    def slot(self, index: int) -> Slot:
        suffix = "" if index == 0 else f"-{index}"
        return Slot(index, self.runtime_dir / f"session{suffix}.lock", self.runtime_dir / f"session{suffix}.json",
                    self.runtime_dir / f"request{suffix}.json")

    def slots(self, count: int) -> list[Slot]:
        return [self.slot(index) for index in range(min(max(count, 1), MAX_SLOTS))]

    def known_slots(self, count: int = 1) -> list[Slot]:
        """The first `count` slots and any other one that has files (max_sessions may have been larger)."""
        indices = set(range(min(max(count, 1), MAX_SLOTS)))
        try:
            names = os.listdir(self.runtime_dir)
        except OSError:
            names = []
        for name in names:
            match = _SLOT_FILE.fullmatch(name)
            if match and int(match.group(1) or 0) < MAX_SLOTS:
                indices.add(int(match.group(1) or 0))
        return [self.slot(index) for index in sorted(indices)]

    def asleep_place(self, session_id: str) -> Slot:
        """Where an asleep session is found (it holds no slot): its lock (held by its csup), record, requests."""
        return Slot(-1, self.runtime_dir / f"asleep-{session_id}.lock", self.runtime_dir / f"asleep-{session_id}.json",
                    self.runtime_dir / f"asleep-{session_id}.request")

    def asleep_places(self) -> list[Slot]:
        """Every asleep session's place that has a record (csup's own session ids only: 32 hex digits)."""
        try:
            names = os.listdir(self.runtime_dir)
        except OSError:
            return []
        return [self.asleep_place(match.group(1)) for match in map(_ASLEEP_FILE.fullmatch, sorted(names))
                if match]

    @property
    def gate_file(self) -> Path:
        return self.runtime_dir / "gate.lock"

    @property
    def queue_dir(self) -> Path:
        return self.runtime_dir / "queue"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "events.jsonl"


def default_paths(environ: Mapping[str, str] = os.environ) -> Paths:
    """CSUP_RUNTIME_DIR / CSUP_STATE_DIR / CSUP_CONFIG override the platform's per-user directories."""
    runtime = environ.get(RUNTIME_DIR_ENV) or _platform_dir("user_runtime_dir")
    state = environ.get(STATE_DIR_ENV) or _platform_dir("user_state_dir")
    config = environ.get(CONFIG_FILE_ENV) or str(Path(_platform_dir("user_config_dir")) / "config.toml")
    return Paths(Path(runtime), Path(state), Path(config))


def _platform_dir(kind: str) -> str:
    if fast_paths():
        return _xdg_dir(kind)
    import warnings

    import platformdirs  # lazily, and only off Linux: it costs start-up time

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(getattr(platformdirs, kind)(APP))


def _xdg_dir(kind: str) -> str:
    """The XDG base directories, as platformdirs reads them on Linux, without its import."""
    home = os.path.expanduser("~")
    if kind == "user_runtime_dir":
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime and os.path.isabs(runtime):  # the XDG spec: a relative path is invalid and ignored
            return os.path.join(runtime, APP)
        import tempfile  # no runtime dir (a container, cron): a per-user folder in the temporary directory

        return os.path.join(tempfile.gettempdir(), f"{APP}-{os.geteuid()}")
    variable, default = {"user_state_dir": ("XDG_STATE_HOME", ".local/state"),
                         "user_config_dir": ("XDG_CONFIG_HOME", ".config")}[kind]
    chosen = os.environ.get(variable)
    return os.path.join(chosen if chosen and os.path.isabs(chosen) else os.path.join(home, default), APP)


def ensure_private_dir(path: Path) -> Path:
    """Create `path` 0700 (parents as usual) and check it is a real directory of ours, not a symlink."""
    try:
        try:
            os.mkdir(path, PRIVATE_DIR_MODE)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(path, PRIVATE_DIR_MODE)
    except FileExistsError:
        pass
    except OSError as err:  # a parent that is a file (XDG_RUNTIME_DIR=/dev/null), read-only, full
        raise UnsafePath(f"cannot create {path}: {err.strerror}", hint="check the directory csup was given",
                         path=str(path)) from None
    try:
        info = os.lstat(path)
    except OSError as err:
        raise UnsafePath(f"cannot use {path}: {err.strerror}", path=str(path)) from None
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePath(f"{path} is a symlink; csup keeps its files only in a real directory",
                         hint=f"remove it: rm {path}", path=str(path))
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePath(f"{path} is not a directory", hint=f"remove it: rm {path}", path=str(path))
    if info.st_uid != os.geteuid():
        raise UnsafePath(f"{path} belongs to uid {info.st_uid}, not to you", path=str(path))
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, PRIVATE_DIR_MODE)  # ours but too open (an old umask): repair rather than refuse
    return path


def open_private(path: Path, flags: int) -> int:
    """Open a 0600 file of ours without following a symlink; refuse anything else."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafePath(f"{path} is a symlink; csup does not follow it", hint=f"remove it: rm {path}",
                             path=str(path)) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        raise UnsafePath(f"{path} is not a regular file of yours", hint=f"remove it: rm {path}", path=str(path))
    # Too open: repaired only when csup is writing and the file is its own alone. A reader changes nothing, and
    # a file with a second name (a hard link to one of the user's files) is not csup's to change.
    if stat.S_IMODE(info.st_mode) & 0o077 and flags & (os.O_WRONLY | os.O_RDWR) and info.st_nlink == 1:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    return fd
