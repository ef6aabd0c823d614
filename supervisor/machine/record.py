"""The session record (session.json): who holds the session, written atomically by the holder and read by
everyone else; a record is trusted only while its csup process (pid + start time) still runs (`live_record`).
Side effects: the record file."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Any, NamedTuple

from supervisor.core.identity import ProcessIdentity
from supervisor.machine import processes
from supervisor.machine.jsonfile import read_json, write_json_atomic
from supervisor.machine.paths import Slot

SCHEMA_VERSION = 1
STATES = ("starting", "active", "warning", "suspended", "ending", "asleep")
MAX_TIME = 1e11  # seconds: anything later is forged or corrupt
MAX_RECORD_BYTES = 1 << 20


class SessionRecord(NamedTuple):
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
    conversation_id: str | None = None  # the CLI's own id of the conversation it has open, once known
    last_activity_mono: float | None = None  # the machine-wide monotonic clock: idle time without sleep
    end_reason: str | None = None
    attached: str | None = None  # the background session this one shows (an attach), by its short id
    asleep_since: float | None = None  # asleep: when its CLI's tree was ended (wall clock)
    freed: int | None = None  # asleep: the memory its CLI's tree held, measured before the end and gone after it
    cli_name: str = ""  # which CLI runs there (clis/choose.py's names; "" for a program csup does not know)

    @property
    def cli_label(self) -> str:
        """The CLI as people read it: its name, or the program's own for a program csup does not know."""
        return self.cli_name or (os.path.basename(self.argv[0]) if self.argv else "") or "cli"

    def with_changes(self, **changes: Any) -> SessionRecord:
        return self._replace(**changes)

    def to_json(self) -> dict[str, Any]:
        data = self._asdict()
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
                started_at=_moment(data, "started_at"),
                last_activity_at=_moment(data, "last_activity_at"),
                idle_limit=_optional_number(data.get("idle_limit")),
                warn_before=_optional_number(data.get("warn_before")),
                state=str(data["state"]) if data.get("state") in STATES else "active",
                conversation_id=_conversation(data),
                last_activity_mono=_optional_number(data.get("last_activity_mono")),
                end_reason=data.get("end_reason") if isinstance(data.get("end_reason"), str) else None,
                attached=str(data["attached"])[:64] if isinstance(data.get("attached"), str) else None,
                asleep_since=_optional_number(data.get("asleep_since")),
                freed=int(data["freed"]) if type(data.get("freed")) is int and 0 <= data["freed"] < 1 << 50 else None,
                cli_name=str(data["cli_name"])[:32] if isinstance(data.get("cli_name"), str) else "",
            )
        except (TypeError, ValueError):
            return None


def _conversation(data: dict[str, Any]) -> str | None:
    """Its conversation's id, when it has a plausible one — in a record an earlier csup wrote (a session running
    across an upgrade, or asleep), under its CLI's own word for it (`<cli>_session_id`)."""
    keys = ["conversation_id", *(key for key in data if key.endswith("_session_id") and key != "session_id")]
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return None


def _typed(data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(key)
    return value


def _moment(data: dict[str, Any], key: str) -> float:
    """A wall-clock time: finite, after 1970 and before the year 5000 (a forged 1e308 is refused)."""
    value = float(_typed(data, key, (int, float)))
    if not 0 <= value < MAX_TIME:
        raise ValueError(key)
    return value


def _optional_number(value: Any) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(value) if 0 < value < MAX_TIME else None


def write_record(path: Path, record: SessionRecord) -> None:
    write_json_atomic(path, record.to_json())


def read_record(path: Path) -> SessionRecord | None:
    """The record as written, or None when there is none or it is unreadable; staleness is the caller's test."""
    return SessionRecord.from_json(read_json(path, limit=MAX_RECORD_BYTES, private=True))


class Holder(NamedTuple):
    """A live supervised session: its slot and its record."""

    slot: Slot
    record: SessionRecord


def live_holders(slots: list[Slot]) -> list[Holder]:
    found = []
    for slot in slots:
        record = live_record(slot.record_file)
        if record is not None:
            found.append(Holder(slot, record))
    return found


def is_live(record: SessionRecord) -> bool:
    """A record is trusted only while the csup that wrote it (pid and start time) still runs."""
    return processes.is_running(record.csup)


def live_record(path: Path) -> SessionRecord | None:
    """The record, if it is live; a stale one is ignored."""
    record = read_record(path)
    return record if record is not None and is_live(record) else None


def remove_record(path: Path, session_id: str) -> None:
    """Remove the record only if it is still ours: a takeover may already have written its own."""
    current = read_record(path)
    if current is not None and current.session_id != session_id:
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
