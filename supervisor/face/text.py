"""What csup tells people: the refusal block, end-of-session lines. Pure: values in, text out."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from supervisor.core.durations import format_duration
from supervisor.machine.processes import ProcessView
from supervisor.machine.record import SessionRecord

if TYPE_CHECKING:
    from supervisor.flows.status import StatusReport

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


def refusal_unmanaged(unmanaged: Sequence[ProcessView], details: Sequence[dict[str, Any]], now: float,
                      how_to: str | None = None) -> str:
    lines = [f"csup: {len(unmanaged)} claude session(s) running outside csup:"]
    for view, info in zip(unmanaged, details, strict=True):
        tty = info.get("tty") or "no tty"
        cpu = info.get("cpu_seconds")
        cpu_text = f", cpu {cpu:.1f}s" if isinstance(cpu, float) else ""
        up = f", up {format_duration(now - info['start_time'])}" if "start_time" in info else ""
        lines.append(f"  pid {view.pid} on {tty}{up}{cpu_text}: "
                     f"{' '.join(view.cmdline)[:60]}")
    if how_to is not None:
        return "\n".join([*lines, f"They were left running; to end them: {how_to}"])
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


def refusal_queued(holder: SessionRecord | None, now: float) -> str:
    head = "csup: another terminal is taking over or waiting for the session, and goes first."
    if holder is not None:
        head += "\n  " + describe_holder(holder, now)
    return "\n".join((head, "Resolve it with:", *RESOLVE_LINES))


def waiting_line(holder: SessionRecord | None, ahead: int, now: float, waited: float) -> str:
    queue = f", {ahead} ahead of you" if ahead else ""
    if holder is None:
        return f"csup: waiting for the session{queue} ({format_duration(waited)}; Ctrl-C leaves the line)"
    idle = format_duration(now - holder.last_activity_at)
    left = ""
    if holder.idle_limit:
        left = f", ends in {format_duration(max(0.0, holder.last_activity_at + holder.idle_limit - now))} if idle"
    who = f"claude pid {holder.cli.pid}" if holder.cli else "claude"
    return (f"csup: waiting for {who} on {holder.tty or 'no tty'} (idle {idle}{left}){queue}; "
            "Ctrl-C leaves the line")


def render_status(status: StatusReport) -> str:
    now = status.time
    lines = []
    session = status.session
    if session is None:
        lines.append("○ no csup session is running")
    else:
        limit = (f"limit {format_duration(session.idle_limit)}, ends in {format_duration(session.time_left or 0)}"
                 " if idle" if session.idle_limit else "no idle limit")
        lines.append(f"● claude session {session.state}: idle {format_duration(session.idle_seconds)} ({limit})")
        cli = f"claude pid {session.cli_pid}" if session.cli_pid else "claude starting"
        lines.append(f"    {cli} (csup pid {session.csup_pid}) on {session.tty or 'no tty'}")
        lines.append(f"    in {short_path(session.cwd)}, started {clock_time(session.started_at, now)} "
                     f"({format_duration(now - session.started_at)} ago)")
        if session.claude_session_id:
            lines.append(f"    conversation {session.claude_session_id}")
    if status.unmanaged:
        lines.append(f"! {len(status.unmanaged)} claude session(s) outside csup:")
        for stray in status.unmanaged:
            idle = "idle ?" if stray.idle_seconds is None else f"idle {format_duration(stray.idle_seconds)}"
            cpu = "" if stray.cpu_seconds is None else f", cpu {stray.cpu_seconds:.1f}s"
            rss = "" if stray.rss_bytes is None else f", {stray.rss_bytes / 1e6:.0f} MB"
            orphan = " [orphaned: its csup is gone]" if stray.orphaned else ""
            lines.append(f"    pid {stray.pid} on {stray.tty or 'no tty'}, up "
                         f"{format_duration(now - stray.started_at)}, {idle}{cpu}{rss}{orphan}")
            if stray.cwd:
                lines.append(f"      in {short_path(stray.cwd)}")
        lines.append("  end them: csup stop --force   (or take over: csup takeover)")
    one, five, fifteen = status.load
    lines.append(f"load {one:.2f} {five:.2f} {fifteen:.2f} on {status.cores} core(s)")
    return "\n".join(lines)


def render_config(cfg: Any, config_file: str) -> str:
    from supervisor.core.settings import SETTINGS

    lines = [f"# {config_file}"]
    width = max(len(setting.key) for setting in SETTINGS)
    for setting in SETTINGS:
        value = cfg.values[setting.key]
        shown = "off" if value is None else format_duration(value) if setting.key.endswith(("_limit", "_before",
                                                                                            "_wait")) else value
        if isinstance(shown, tuple):
            shown = ", ".join(shown)
        lines.append(f"{setting.key:<{width}}  {shown!s:<16} ({cfg.sources[setting.key]})")
    return "\n".join(lines)


def summarise_log(events: Sequence[dict[str, Any]], count: int) -> dict[str, Any]:
    """Sessions from the event log (started + ended, joined by session id) and totals of how they ended."""
    started = {e.get("session"): e for e in events if e.get("event") == "started"}
    sessions = []
    for event in events:
        if event.get("event") != "ended":
            continue
        begin = started.get(event.get("session"), {})
        sessions.append({"session": event.get("session"), "started": begin.get("ts"), "ended": event.get("ts"),
                         "how": event.get("how"), "reason": event.get("reason"), "code": event.get("code"),
                         "duration": event.get("duration"), "idle": event.get("idle"), "cwd": begin.get("cwd")})
    totals: dict[str, int] = {}
    for session in sessions:
        totals[str(session["how"])] = totals.get(str(session["how"]), 0) + 1
    idle_ended = sum(float(s["idle"] or 0) for s in sessions if s["how"] == "idle")
    refused = sum(1 for e in events if e.get("event") == "refused")
    return {"sessions": sessions[-count:], "total": len(sessions), "ended_by": totals, "refused": refused,
            "idle_hours_ended": round(idle_ended / 3600, 2)}


def render_log(summary: dict[str, Any]) -> str:
    lines = []
    for session in summary["sessions"]:
        start = time.strftime("%b %d %H:%M", time.localtime(session["started"])) if session["started"] else "?"
        duration = format_duration(session["duration"] or 0)
        lines.append(f"{start}  {duration:>7}  {session['how']:<9} {session['reason'] or ''}"
                     f"{'  in ' + short_path(session['cwd']) if session['cwd'] else ''}")
    if not lines:
        lines.append("no sessions logged yet")
    ended = ", ".join(f"{how} {n}" for how, n in sorted(summary["ended_by"].items())) or "none"
    lines.append(f"{summary['total']} session(s); ended by: {ended}; refused {summary['refused']}; "
                 f"idle time the limit ended: {summary['idle_hours_ended']} h")
    return "\n".join(lines)
