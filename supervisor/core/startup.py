"""Where a start's time goes: csup marks the end of each phase of `csup run` (time.perf_counter, the monotonic
clock all processes on the machine share), and bench/run.py splits the first byte it measured into the phases of
that same run (CSUP_TRACE_STARTUP names the file the marks go to). A mark is one list append: cheap enough to
take on every start, so the measured start is the real one."""

from __future__ import annotations

import time

MARKS: list[tuple[str, float]] = []


def mark(phase: str) -> None:
    """`phase` has just ended."""
    MARKS.append((phase, time.perf_counter()))
