"""Where a start's time goes: csup marks the end of each phase of `csup run` (time.perf_counter, the monotonic
clock every process on the machine shares), and bench/run.py splits the first byte it measured into the phases of
that same run. A mark is one list append, taken on every start, so the start measured is the real one; the marks
are written (CSUP_TRACE_STARTUP=FILE, one JSON line per start) only once the session is over. Imported first of
all csup's modules: it imports nothing of csup's at its top. Side effects: reads the clock, appends to FILE."""

from __future__ import annotations

import time

TYPE_CHECKING = False  # not typing's: importing typing here would be charged to Python's own start
if TYPE_CHECKING:
    from collections.abc import Mapping

MARKS: list[tuple[str, float]] = []
AT_EXIT: list[frozenset[str]] = []  # the modules loaded when the CLI exited (the way out must import nothing)


def mark(phase: str) -> None:
    """`phase` has just ended."""
    MARKS.append((phase, time.perf_counter()))


def cli_exited() -> None:
    """The CLI is gone: from here to csup's exit, the way out should import nothing (tests check it)."""
    import sys

    if not AT_EXIT:
        AT_EXIT.append(frozenset(sys.modules))


def write_exit_imports(environ: Mapping[str, str]) -> None:
    """CSUP_TRACE_EXIT=FILE: the modules imported since the CLI exited, one per line (none, when all is well)."""
    import sys

    target = environ.get("CSUP_TRACE_EXIT")
    if not target or not AT_EXIT:
        return
    try:
        with open(target, "w", encoding="utf-8") as out:
            out.write("".join(f"{name}\n" for name in sorted(set(sys.modules) - AT_EXIT[0])))
    except OSError:
        return


def write_startup_marks(environ: Mapping[str, str]) -> None:
    import json

    from supervisor.core.settings import TRACE_STARTUP_ENV

    target = environ.get(TRACE_STARTUP_ENV)
    if not target or not MARKS:
        return
    try:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(MARKS) + "\n")
    except OSError:  # a benchmark's file: never a reason for a session to fail
        return
