"""The words of `csup doctor`: each finding of core/checkup.py as a line and the command that fixes it, the
processes table, and the JSON report. Pure: values in, text out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supervisor.core.checkup import Finding, needs_action
from supervisor.core.durations import format_duration
from supervisor.core.sizes import format_size
from supervisor.face.text import clean, megabytes

if TYPE_CHECKING:
    from supervisor.flows.doctor import Checkup

TAKEOVER_FIX = "csup takeover (a fresh process resumes the same conversation)"
MARKS = {"action": "✗", "warn": "!", "ok": "✓", "info": "·"}


def _which(data: dict[str, Any]) -> tuple[str, str]:
    """A supervised session as a finding names it, and the stop command for it."""
    if data["only"]:
        return "the session", "csup stop"
    return f"session {clean(data['id'])}", f"csup stop {clean(data['id'])}"


def worded(finding: Finding) -> tuple[str, str | None]:
    """(what was found, the command that fixes it — None when nothing needs doing)."""
    data, code = finding.data, finding.code
    if code == "orphans":
        return (f"{len(data['pids'])} orphaned CLI process(es) (their csup is gone): pid "
                + ", ".join(map(str, data["pids"])), "csup stop --force")
    if code == "outside":
        return f"{data['count']} agent session(s) running outside csup", "csup takeover (continue here) or " \
            "csup stop --force"
    if code == "over-limit":
        one = data["max_sessions"] == 1
        rule = "the rule is one" if one else f"max_sessions is {data['max_sessions']}"
        return (f"{data['count']} agent sessions of yours ({rule})",
                "csup stop --force, then start them through csup (csup init)" if one
                else "csup stop --idle (or csup stop ID), then start them through csup")
    if code == "background-idle":
        return (f"background session (pid {data['pid']}) has been idle {format_duration(data['idle'])}",
                "csup stop --force (its conversation is kept)")
    if code == "no-watcher":
        return "no watcher: sessions outside csup end only while a csup session runs", "csup service install"
    if code == "machinery":
        roles = ", ".join(f"{count} {role}" for role, count in data["roles"].items())
        return (f"the CLIs' own background machinery: {roles}, {megabytes(data['memory'])} in all",
                None if data["in_use"] else "no background session uses it; it ends by itself")
    if code == "connections":
        return f"pid {data['pid']} holds {data['count']} TCP connections", TAKEOVER_FIX
    if code == "big-memory":
        return f"pid {data['pid']} uses {data['bytes'] / 2**30:.1f} GiB of memory", TAKEOVER_FIX
    if code == "outside-idle":
        return (f"pid {data['pid']} outside csup has been idle {format_duration(data['idle'])}",
                "csup stop --force")
    if code == "no-idle-limit":
        return f"{_which(data)[0]} has no idle limit", "csup run --idle-limit 30m"
    if code == "supervised-idle":
        which, stop = _which(data)
        return f"{which} has been idle {format_duration(data['idle'])}", stop
    if code == "suspended":
        which, stop = _which(data)
        return f"{which} is suspended (Ctrl-Z) in its terminal", f"fg there, or {stop}"
    if code == "load-agents":
        return (f"load {data['load']:.2f} is above the {data['cores']} core(s); the agents' processes use "
                f"{data['cpu']:.0f}% of a core", "csup stop --idle (the idle ones)")
    if code == "load-elsewhere":
        return (f"load {data['load']:.2f} is above the {data['cores']} core(s), but the agents' processes use only "
                f"{data['cpu']:.0f}% of a core: the load comes from elsewhere", "find the busy process: top")
    if code == "heaviest":
        parts = ", ".join(f"{clean(name)} (pid {pid}) {format_size(size)}" for pid, size, name in data["members"][:3])
        return (f"{data['kind']} {clean(data['id'])} holds {format_size(data['total'])} ({data['measure']}): "
                f"{parts}", None)
    if code == "over-budget":
        return (f"your agent sessions hold {format_size(data['held'])}, over the memory budget of "
                f"{format_size(data['budget'])}", "csup stop --idle (the idle ones)")
    if code == "no-notifications":
        return ("desktop notifications cannot be shown here (no notify-send with a display, or no osascript): "
                "idle warnings show only in the terminal's title and bell",
                "install notify-send (libnotify-bin), or say so: notify = false in csup config")
    if code == "low-memory":
        return f"only {data['available'] / 2**30:.1f} GiB of memory available", None
    return "nothing needs attention", None


def doctor_json(checkup: Checkup) -> dict[str, Any]:
    found = []
    for finding in checkup.findings:
        what, fix = worded(finding)
        found.append({"severity": finding.severity, "code": finding.code, "what": what, "fix": fix})
    return {**checkup.to_json(), "needs_action": needs_action(checkup.findings), "findings": found}


def render_doctor(checkup: Checkup) -> str:
    lines = [f"agent processes: {len(checkup.processes)}"]
    for proc in checkup.processes:
        cpu = "cpu ?" if proc.cpu_percent is None else f"cpu {proc.cpu_percent:.1f}%"
        rss = "rss ?" if proc.rss_bytes is None else f"rss {megabytes(proc.rss_bytes)}"
        idle = "idle ?" if proc.idle_seconds is None else f"idle {format_duration(proc.idle_seconds)}"
        tcp = "tcp ?" if proc.tcp_connections is None else \
            f"tcp {proc.tcp_connections} ({proc.https_connections} to :443)"
        what = f"{clean(proc.cli)} {proc.kind}" if proc.cli else proc.kind
        lines.append(f"  pid {proc.pid:<7} {what:<16} up {format_duration(proc.age_seconds):<7} {cpu}, "
                     f"{rss}, {idle}, {tcp}")
    one, five, fifteen = checkup.load
    lines.append(f"load {one:.2f} {five:.2f} {fifteen:.2f} on {checkup.cores} core(s); memory "
                 f"{checkup.memory_available / 2**30:.1f} of {checkup.memory_total / 2**30:.1f} GiB available")
    for finding in checkup.findings:
        what, fix = worded(finding)
        lines.append(f"{MARKS[finding.severity]} {what}" + (f"  → {fix}" if fix else ""))
    return "\n".join(lines)
