"""Process identities and views as values: a pid alone can be reused, a pid with its start time cannot.
Pure: no process is read here (machine/processes.py does that)."""

from __future__ import annotations

import signal
from typing import Any, NamedTuple


class ProcessIdentity(NamedTuple):
    """A process as csup verifies it: its pid and its start stamp."""

    pid: int
    start_time: float

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_time": self.start_time}

    @classmethod
    def from_json(cls, data: Any) -> ProcessIdentity | None:
        if not isinstance(data, dict):
            return None
        pid, start = data.get("pid"), data.get("start_time")
        if type(pid) is not int or not 0 < pid < 1 << 31 or not isinstance(start, int | float) \
                or isinstance(start, bool) or not 0 <= start < 1e12:
            return None
        return cls(pid, float(start))


class ProcessView(NamedTuple):
    """What the census needs to know of one process; tests build these directly."""

    pid: int
    ppid: int
    uid: int
    start_time: float
    cmdline: tuple[str, ...]
    exe: str = ""

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.start_time)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
