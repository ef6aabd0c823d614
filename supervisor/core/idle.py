"""The idle clock and what counts as activity. Pure: every method takes `now` (monotonic seconds) as an argument.

Time the machine spends asleep does not count as idle: `now` comes from the monotonic clock, which stops while
the machine sleeps (CLOCK_MONOTONIC on Linux, mach_absolute_time on macOS). A laptop closed overnight wakes up
with its session where it left it; the session then ends after the remaining idle time if nobody comes back.
"""

from __future__ import annotations

import re
from typing import Literal

Phase = Literal["off", "active", "warning", "expired"]
CPU_WINDOW = 10.0  # how long before the warning the CLI's CPU use is first sampled

# What arrives on stdin but was not typed: the terminal's replies to the CLI's queries (device attributes,
# cursor position, mode reports, kitty keyboard flags, XTVERSION, OSC colour replies) and focus in/out reports.
_NOT_TYPED = re.compile(
    rb"\x1b\[(?:I|O)"  # focus in / out
    rb"|\x1b\[[?>=][0-9;]*c"  # primary / secondary / tertiary device attributes
    rb"|\x1b\[[0-9]+;[0-9]+R"  # cursor position report
    rb"|\x1b\[\?[0-9;]*\$y|\x1b\[[0-9;]*\$y"  # DECRQM mode reports
    rb"|\x1b\[\?[0-9]*u"  # kitty keyboard flags reply
    rb"|\x1bP[^\x1b]*\x1b\\"  # DCS replies (XTVERSION, DECRQSS, XTGETTCAP)
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC replies (colours, clipboard)
    rb"|\x1b\[[0-9;]*t"  # window size / state reports
)


def is_typed(data: bytes) -> bool:
    """True when `data` holds anything beyond terminal replies and focus reports."""
    if b"\x1b" not in data:
        return bool(data)
    return bool(_NOT_TYPED.sub(b"", data))


class IdleClock:
    """When the session becomes idle enough to warn about, and to end."""

    def __init__(self, limit: float | None, warn_before: float, last_activity: float) -> None:
        self.limit = limit  # None: the idle limit is off
        self.warn_before = warn_before
        self.last_activity = last_activity

    def touch(self, now: float) -> None:
        self.last_activity = max(self.last_activity, now)

    def idle_for(self, now: float) -> float:
        return max(0.0, now - self.last_activity)

    @property
    def expires_at(self) -> float | None:
        return None if self.limit is None else self.last_activity + self.limit

    @property
    def warn_at(self) -> float | None:
        if self.limit is None:
            return None
        return self.last_activity + max(0.0, self.limit - self.warn_before)

    @property
    def probe_at(self) -> float | None:
        """When to take the first CPU sample, so that the warning can be skipped for a silently busy CLI."""
        if self.warn_at is None:
            return None
        return max(self.last_activity, self.warn_at - min(CPU_WINDOW, (self.warn_at - self.last_activity) / 2))

    def phase(self, now: float) -> Phase:
        if self.limit is None:
            return "off"
        assert self.expires_at is not None and self.warn_at is not None
        if now >= self.expires_at:
            return "expired"
        if now >= self.warn_at:
            return "warning"
        return "active"

    def time_left(self, now: float) -> float | None:
        return None if self.expires_at is None else max(0.0, self.expires_at - now)

    def next_deadline(self, now: float) -> float | None:
        """The next moment something is due (CPU probe, warning, expiry); None when nothing ever is."""
        due = [t for t in (self.probe_at, self.warn_at, self.expires_at) if t is not None and t > now]
        return min(due) if due else None
