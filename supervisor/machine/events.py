"""The event log: JSON lines in the user's state directory, appended atomically by any number of csup processes
and rotated by size. Side effects: appends to and renames files in the state directory."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from supervisor.core.errors import UnsafePath
from supervisor.machine.paths import ensure_private_dir, open_private

MAX_BYTES = 1 << 20  # rotate past this size; one older generation is kept
MAX_LINE = 4000  # below PIPE_BUF-like sizes one write() lands whole, even with concurrent appenders


def log_event(path: Path, event: str, **fields: Any) -> None:
    """Append one event; a log that cannot be written never stops a session."""
    record = {"ts": round(time.time(), 3), "event": event, "pid": os.getpid(), **fields}
    text = json.dumps(record, separators=(",", ":"), default=str)
    if len(text) > MAX_LINE:  # too long to land whole: keep it valid JSON, say what was cut
        text = json.dumps({key: record[key] for key in ("ts", "event", "pid")} | {"truncated": True})
    line = (text + "\n").encode()
    try:
        ensure_private_dir(path.parent)
        fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except (OSError, UnsafePath):  # a log that cannot be written safely is not written
        return
    try:
        os.write(fd, line)  # O_APPEND: each line lands whole at the end, whoever else writes
        if os.fstat(fd).st_size > MAX_BYTES:
            _rotate(path)
    except OSError:
        return
    finally:
        os.close(fd)


def _rotate(path: Path) -> None:
    # rename is atomic: concurrent writers either append to the old file (then renamed) or create a new one.
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, path.with_name(path.name + ".1"))


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every readable event, oldest first, across the rotated generation and the current file."""
    for candidate in (path.with_name(path.name + ".1"), path):
        try:
            fd = open_private(candidate, os.O_RDONLY)
        except (OSError, UnsafePath):  # absent, or planted: never read through a symlink
            continue
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        for line in data.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event
