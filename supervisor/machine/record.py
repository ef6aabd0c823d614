"""The session record (session.json): who holds the session, written atomically by the holder and read by
everyone else; a record is trusted only while its csup process (pid + start time) still runs."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from supervisor.core.errors import UnsafePath
from supervisor.machine.paths import open_private
from supervisor.machine.processes import ProcessIdentity

SCHEMA_VERSION = 1
STATES = ("starting", "active", "warning", "ending")


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    csup: ProcessIdentity
    cli: ProcessIdentity | None
    tty: str
    cwd: str
    argv: tuple[str, ...]
    started_at: float  # wall-clock seconds, for display only
    last_activity_at: float
    idle_limit: float | None
    warn_before: float | None
    state: str = "starting"
    claude_session_id: str | None = None
    last_activity_mono: float | None = None  # the machine-wide monotonic clock: idle time without sleep
    end_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def with_changes(self, **changes: Any) -> SessionRecord:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema"] = SCHEMA_VERSION
        data["csup"] = self.csup.to_json()
        data["cli"] = self.cli.to_json() if self.cli else None
        data["argv"] = list(self.argv)
        return data

    @classmethod
    def from_json(cls, data: Any) -> SessionRecord | None:
        """A record from parsed JSON, or None when it is not one we can trust to read (wrong schema, bad types)."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
            return None
        csup = ProcessIdentity.from_json(data.get("csup"))
        if csup is None:
            return None
        try:
            return cls(
                session_id=_typed(data, "session_id", str),
                csup=csup,
                cli=ProcessIdentity.from_json(data.get("cli")),
                tty=_typed(data, "tty", str),
                cwd=_typed(data, "cwd", str),
                argv=tuple(_typed(data, "argv", list)),
                started_at=float(_typed(data, "started_at", (int, float))),
                last_activity_at=float(_typed(data, "last_activity_at", (int, float))),
                idle_limit=_optional_number(data.get("idle_limit")),
                warn_before=_optional_number(data.get("warn_before")),
                state=data.get("state") if data.get("state") in STATES else "active",
                claude_session_id=data.get("claude_session_id") if isinstance(data.get("claude_session_id"), str)
                else None,
                last_activity_mono=_optional_number(data.get("last_activity_mono")),
                end_reason=data.get("end_reason") if isinstance(data.get("end_reason"), str) else None,
                extra=data.get("extra") if isinstance(data.get("extra"), dict) else {},
            )
        except (TypeError, ValueError):
            return None


def _typed(data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(key)
    return value


def _optional_number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


def write_record(path: Path, record: SessionRecord) -> None:
    """Write-and-rename, so a reader sees the old record or the new one, never half of one."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)  # left by an earlier csup with our pid that died mid-write
    fd = open_private(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        payload = json.dumps(record.to_json(), separators=(",", ":")).encode()
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.replace(temp, path)


def read_record(path: Path) -> SessionRecord | None:
    """The record as written, or None when there is none or it is unreadable; staleness is the caller's test."""
    try:
        fd = open_private(path, os.O_RDONLY)
    except (OSError, UnsafePath):  # absent, or planted (a symlink, another user's): never trusted, never followed
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(1 << 20)
    except OSError:
        return None
    try:
        return SessionRecord.from_json(json.loads(raw))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def remove_record(path: Path, session_id: str) -> None:
    """Remove the record only if it is still ours: a takeover may already have written its own."""
    current = read_record(path)
    if current is not None and current.session_id != session_id:
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
