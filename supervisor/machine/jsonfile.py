"""Small files csup parses (its records, requests and tickets; a CLI's registry; the config file): read
with a size limit, only when they are regular files, never through a symlink when private; JSON without NaN,
infinities or unbounded nesting; private JSON written atomically (write, then rename). Side effects: files."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import Any

from supervisor.core.errors import UnsafePath
from supervisor.machine.paths import open_private


class NotARegularFile(OSError):
    """A FIFO, a device, a socket: reading it could block forever or never end."""


class FileTooLarge(OSError):
    """Larger than the limit given for this kind of file."""


def read_bytes(path: Path, *, limit: int, private: bool = False) -> bytes:
    """The whole file, if it is a regular file of at most `limit` bytes. A private file (csup's own) is opened
    without following symlinks and must belong to the user (see paths.open_private)."""
    if private:
        fd = open_private(path, os.O_RDONLY | os.O_NONBLOCK)
    else:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(errno.EINVAL, "not a regular file", str(path))
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileTooLarge(errno.EFBIG, f"larger than {limit} bytes", str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number csup accepts")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range")
    return value


def parse_json(raw: bytes | str) -> Any:
    """JSON as csup accepts it: finite numbers only; ValueError for anything else (including deep nesting)."""
    import json  # here, not above: a pass-through reads the config file (its bytes, through this module) and no JSON

    try:
        return json.loads(raw, parse_constant=_no_constants, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError as err:
        raise ValueError(str(err)) from None


def read_json(path: Path, *, limit: int, private: bool = False) -> Any:
    """The parsed file, or None when it is absent, unsafe, not a regular file, too large or not valid JSON."""
    try:
        return parse_json(read_bytes(path, limit=limit, private=private))
    except (OSError, UnsafePath, ValueError):
        return None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write-and-rename a private file, so a reader sees the old content or the new, never half of it."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)  # left by an earlier csup with our pid that died mid-write
    fd = open_private(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    import json

    try:
        view = memoryview(json.dumps(data, separators=(",", ":"), allow_nan=False).encode())
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.replace(temp, path)
