"""What csup tells people: the refusal block, end-of-session lines. Pure: values in, text out."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from .durations import format_duration
from .procs import ProcessView
from .record import SessionRecord

RESOLVE_LINES = (
    "  csup takeover      end it and carry the conversation on here",
    "  csup status        see who holds it and how long it has been idle",
    "  csup run --wait    wait for it to end, then start",
)


def short_path(path: str, home: str | None = None) -> str:
    home = home if home is not None else os.path.expanduser("~")
    if home and home != "/" and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


def clock_time(wall: float, now: float) -> str:
    """14:02 today, or Nov 23 14:02 on another day."""
    fmt = "%H:%M" if time.localtime(wall)[:3] == time.localtime(now)[:3] else "%b %d %H:%M"
    return time.strftime(fmt, time.localtime(wall))


def describe_holder(record: SessionRecord, now: float) -> str:
    cli = f"claude pid {record.cli.pid}" if record.cli else "claude starting"
    idle = format_duration(now - record.last_activity_at)
    return (f"{cli} (csup pid {record.csup.pid}) on {record.tty or 'no tty'} in {short_path(record.cwd)}, "
            f"started {clock_time(record.started_at, now)} ({format_duration(now - record.started_at)} ago), "
            f"idle {idle}")


def refusal_held(record: SessionRecord | None, now: float) -> str:
    if record is None:
        head = "csup: a claude session is already running (it is just starting, or its record is unreadable)."
    else:
        head = "csup: a claude session is already running:\n  " + describe_holder(record, now)
    return "\n".join((head, "Resolve it with:", *RESOLVE_LINES))


def refusal_unmanaged(unmanaged: Sequence[ProcessView], details: Sequence[dict[str, Any]], now: float) -> str:
    lines = [f"csup: {len(unmanaged)} claude session(s) running outside csup:"]
    for view, info in zip(unmanaged, details, strict=True):
        tty = info.get("tty") or "no tty"
        cpu = info.get("cpu_seconds")
        cpu_text = f", cpu {cpu:.1f}s" if isinstance(cpu, float) else ""
        lines.append(f"  pid {view.pid} on {tty}, up {format_duration(now - view.start_time)}{cpu_text}: "
                     f"{' '.join(view.cmdline)[:60]}")
    lines += [
        "Resolve it with:",
        "  csup takeover              end them and start here",
        "  csup run --allow-unmanaged start anyway (two sessions share the machine)",
    ]
    return "\n".join(lines)


def resume_command(claude_session_id: str | None) -> str:
    return f"claude --resume {claude_session_id}" if claude_session_id else "claude --continue"


def ended_line(reason: str, resume: str | None) -> str:
    text = f"csup: session ended: {reason}."
    return f"{text} Resume it: {resume}" if resume else text
