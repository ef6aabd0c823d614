"""Durations as people type and read them ("90s", "30m", "1h30m"); pure, no side effects."""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")  # ASCII digits only: "١٢" is no duration
_OFF_WORDS = frozenset({"off", "never", "none", "0"})
# A week is far past any sensible idle limit or wait; larger values are typos (e.g. a missing unit).
MAX_SECONDS = 7 * 86400.0

EXAMPLE = "90s, 30m, 1h30m or off"
EXAMPLE_ON = "90s, 30m or 1h30m"  # for a duration that cannot be off


class DurationError(ValueError):
    """A duration that cannot be read; the message says what is expected (the caller names the value)."""


def parse_duration(text: str, *, allow_off: bool = True) -> float | None:
    """Seconds for `text`, or None when it means "off". A bare number is seconds."""
    value = text.strip().lower()
    if allow_off and value in _OFF_WORDS:
        return None
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", value):
        seconds = float(value)
    else:
        pos = 0
        seconds = 0.0
        for match in _PART.finditer(value):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos != len(value) or not value:
            raise DurationError(f"a duration like {EXAMPLE if allow_off else EXAMPLE_ON}")
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise DurationError("a duration of at most 7d")
    if seconds == 0 and not allow_off:
        raise DurationError(f"a duration longer than zero, like {EXAMPLE_ON}")
    return seconds if seconds > 0 else None


def format_duration(seconds: float) -> str:
    """Short human form: 45s, 3m05s, 2h07m, 3d04h."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h" if hours else f"{days}d"
