"""Writes the start-up marks (core/startup.py) where the benchmark asked for them: CSUP_TRACE_STARTUP=FILE gets
one JSON line per start. Side effect: appends to that file."""

from __future__ import annotations

import json
from collections.abc import Mapping

from supervisor.core.settings import TRACE_STARTUP_ENV
from supervisor.core.startup import MARKS


def write_startup_marks(environ: Mapping[str, str]) -> None:
    target = environ.get(TRACE_STARTUP_ENV)
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(MARKS) + "\n")
    except OSError:  # a benchmark's file: never a reason for a session to fail
        return
