"""The words of `csup status` and of the watcher: every session, what it holds, who waits, who enforces and what
each sweep did. Pure: values in, text out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from supervisor.core.durations import format_duration
from supervisor.core.sizes import format_size
from supervisor.face.text import background_line, clean, clock_time, megabytes, short_path

if TYPE_CHECKING:
    from supervisor.flows.reporting import WatchEvent
    from supervisor.flows.sessions import AnySession
    from supervisor.flows.status import StatusReport
    from supervisor.flows.waitline import Ticket


def render_status(status: StatusReport) -> str:
    now = status.time
    lines = []
    if status.max_sessions > 1 or status.own_limits:
        counting = [s for s in status.sessions if s.kind != "editor" or status.count_editors]
        own = dict(status.own_limits)
        shared = [s for s in counting if s.cli not in own]
        lines.append(f"{len(shared)} of at most {status.max_sessions} agent session(s) (max_sessions)"
                     + "".join(f"; {sum(1 for s in counting if s.cli == cli)} of at most {limit} {clean(cli)} "
                               "(its own limit)" for cli, limit in status.own_limits))
    if not status.supervised:
        lines.append("○ no csup session is running")
    many = len(status.supervised) > 1 or status.max_sessions > 1 or bool(status.own_limits)
    for session in sorted(status.supervised, key=lambda s: -s.idle_seconds):
        if not session.idle_limit:
            limit = "no idle limit"
        elif session.kept is not None:
            limit = f"limit {format_duration(session.idle_limit)}; kept awake: {session.kept}"
        else:
            left = format_duration(session.time_left or 0)
            limit = f"limit {format_duration(session.idle_limit)}, ends in {left} if idle"
        state = "suspended (Ctrl-Z; `fg` in its terminal)" if session.state == "suspended" else session.state
        name = session.cli or "cli"
        which = f"{name} session {session.id}" if many else f"{name} session"
        lines.append(f"● {which} {state}: idle {format_duration(session.idle_seconds)} ({limit})")
        cli = f"{name} pid {session.cli_pid}" if session.cli_pid else f"{name} starting"
        lines.append(f"    {cli} (csup pid {session.csup_pid}) on {clean(session.tty) or 'no tty'}")
        lines.append(f"    in {short_path(session.cwd)}, started {clock_time(session.started_at, now)} "
                     f"({format_duration(now - session.started_at)} ago)")
        if session.conversation_id:
            lines.append(f"    conversation {clean(session.conversation_id)}")
        if session.attached:
            lines.append(f"    shows background session {clean(session.attached)} (Ctrl+Z there detaches it)")
    if status.unmanaged:
        lines.append(f"! {len(status.unmanaged)} agent session(s) outside csup:")
        for other in status.unmanaged:
            idle = "idle ?" if other.idle_seconds is None else f"idle {format_duration(other.idle_seconds)}"
            cpu = "" if other.cpu_seconds is None else f", cpu {other.cpu_seconds:.1f}s"
            rss = "" if other.rss_bytes is None else f", {megabytes(other.rss_bytes)}"
            orphan = " [orphaned: its csup is gone]" if other.orphaned else ""
            up = "" if other.started_at is None else f", up {format_duration(now - other.started_at)}"
            lines.append(f"    {clean(other.cli or 'cli')} pid {other.pid} on {clean(other.tty) or 'no tty'}{up}, "
                         f"{idle}{cpu}{rss}{orphan}")
            if other.cwd:
                lines.append(f"      in {short_path(other.cwd)}")
        lines.append("  end them: csup stop --force   (or take over: csup takeover)")
    if status.editors:
        how = "counted against max_sessions" if status.count_editors else "not counted against max_sessions"
        lines.append(f"✎ {len(status.editors)} editor session(s) ({how}; their memory is in the budget):")
        for editor in status.editors:
            rss = "" if editor.rss_bytes is None else f", {megabytes(editor.rss_bytes)}"
            where = f" in {short_path(editor.cwd)}" if editor.cwd else ""
            lines.append(f"    {clean(editor.cli or 'cli')} pid {editor.pid} of {clean(editor.editor)}{where}{rss}")
    if status.background:
        bg_limit = status.background_idle_limit
        enforced = watcher_rule(status.watcher, "background_idle_limit", bg_limit)
        if status.watcher is not None and isinstance(enforced, int | float):
            ends = f"ended after {format_duration(enforced)} idle by the watcher"  # its rule, not this shell's
        elif status.watcher is not None:
            ends = "the watcher ends none of them for idleness (its background_idle_limit is off)"
        elif bg_limit is None:
            ends = "no idle limit"
        else:
            ends = f"limit {format_duration(bg_limit)}, but nothing ends them: no watcher runs"
        bg_idle = {s.background.short: s.idle_seconds for s in status.sessions if s.background is not None}
        lines.append(f"◆ {len(status.background)} background session(s) in their CLI's daemon ({ends}):")
        lines += [f"    {background_line(session, bg_idle.get(session.short))}" for session in status.background]
        lines.append("  bring one here: csup takeover   (end them: csup stop --force)")
    lines += asleep_lines(status.asleep, now)
    lines += memory_lines(status)
    for waiter in status.waiting:
        lines.append(f"… waiting in line: {waiter_line(waiter, now)}")
    lines.append(watcher_line(status.watcher, now))
    one, five, fifteen = status.load
    lines.append(f"load {one:.2f} {five:.2f} {fifteen:.2f} on {status.cores} core(s)")
    return "\n".join(lines)


def asleep_lines(asleep: Sequence[AnySession], now: float) -> list[str]:
    """Asleep sessions, apart: they hold no place and count against nothing, but their conversations wait."""
    if not asleep:
        return []
    lines = [f"☾ {len(asleep)} asleep session(s) (no place held, nothing counted; Enter in its terminal wakes it):"]
    for session in asleep:
        assert session.holder is not None
        record = session.holder.record
        since = f"asleep since {clock_time(record.asleep_since, now)}" if record.asleep_since else "asleep"
        freed = f", {megabytes(record.freed)} freed" if record.freed else ""
        lines.append(f"    {clean(session.id)} on {clean(record.tty) or 'no tty'} in {short_path(record.cwd)}, "
                     f"{since} ({clean(record.end_reason or 'idle')}){freed}")
    lines.append("  bring one here: csup takeover ID   (end it: csup stop ID)")
    return lines


def memory_lines(status: StatusReport) -> list[str]:
    """What the sessions hold, each and together, against the budget (heaviest first)."""
    from supervisor.machine.memory import MEASURE

    measured = sorted(((s, s.memory.total) for s in status.sessions if s.memory is not None), key=lambda p: -p[1])
    if not measured:
        return []
    budget = f" of a budget of {format_size(status.memory_budget)}" if status.memory_budget else ""
    over = " — over it" if status.memory_budget and status.memory_total > status.memory_budget else ""
    lines = [f"memory: {format_size(status.memory_total)}{budget} ({MEASURE} of each session's process tree){over}"]
    lines += [f"    {session.kind} {clean(session.id)}: {format_size(size)}" for session, size in measured]
    return lines


def watcher_rule(watcher: Mapping[str, object] | None, key: str, unknown: object = None) -> object:
    """A rule the running watcher carries out; `unknown` for one that does not say (an older watcher)."""
    rules = watcher.get("rules") if watcher is not None else None
    return rules[key] if isinstance(rules, dict) and key in rules else unknown


def waiter_line(waiter: Ticket, now: float) -> str:
    what = "a takeover" if waiter.priority == 0 else "csup run --wait"
    return (f"{what} (pid {waiter.owner.pid}) on {clean(waiter.tty) or 'no tty'}, for "
            f"{format_duration(max(0.0, now - waiter.created_at))}")


WATCHER_MODES = {"service": "the service", "on-demand": "started on demand; it exits when nothing is left to "
                 "watch", "terminal": "in a terminal"}


def watcher_line(watcher: Mapping[str, object] | None, now: float) -> str:
    if watcher is None:
        return ("watcher: none runs, so nothing ends idle sessions outside csup's terminals "
                "(csup service install; any csup run starts one)")
    last, upcoming = watcher.get("last_sweep"), watcher.get("next_sweep")
    swept = f", last sweep {format_duration(now - last)} ago" if isinstance(last, float | int) else ""
    due = f", next in {format_duration(max(0.0, upcoming - now))}" if isinstance(upcoming, float | int) else ""
    mode = WATCHER_MODES.get(str(watcher.get("mode")), "running")
    return f"watcher: {mode} (pid {watcher.get('pid')}){swept}{due}"


STEP_WORDS = {
    ("end-background", "ended"): "ended background session", ("end-background", "failed"):
    "could not end background session", ("end-unmanaged", "ended"): "ended unmanaged session",
    ("end-unmanaged", "asked"): "signalled unmanaged session, still running:",
    ("notify-unmanaged", "reported"): "reported unmanaged session", ("warn-unmanaged", "warned"):
    "warned unmanaged session", ("warn-memory", "warned"): "over the memory budget, warned session",
    ("end-memory", "ended"): "over the memory budget, ended session",
    ("end-memory", "failed"): "over the memory budget, could not end session",
}
WOULD_WORDS = {"end-background": "would end background session", "end-unmanaged": "would end unmanaged session",
               "notify-unmanaged": "would report unmanaged session", "warn-unmanaged": "would warn unmanaged session",
               "warn-memory": "over the memory budget, would warn session",
               "end-memory": "over the memory budget, would end session"}


def watch_lines(event: WatchEvent, now: float) -> list[str]:
    """What the watcher says on its terminal: that it started, what each sweep did, when it looks again, and
    why it stopped."""
    if event.kind == "started":
        about = event.about or {}
        return [f"csup watch: watching every agent session outside csup's terminals (pid {about.get('pid')}); "
                "Ctrl-C stops it"]
    if event.kind == "stopped":
        return [f"csup watch: stopped ({clean(str((event.about or {}).get('reason', 'stopped')))})"]
    sweep = event.sweep
    lines = []
    for done in sweep.done:
        words = WOULD_WORDS[done.step.action] if done.outcome == "would" else \
            STEP_WORDS.get((done.step.action, done.outcome), f"{done.step.action} ({done.outcome})")
        why = f": {clean(done.why)}" if done.why else ""
        lines.append(f"csup watch: {words} {clean(done.detail)} (idle {format_duration(done.step.idle)}){why}")
    if event.kind == "looked":
        state = event.about
        who = f"the watcher (pid {state.get('pid')})" if state else "the running watcher"
        upcoming = state.get("next_sweep") if state else None
        when = f"; its next sweep is in {format_duration(max(0.0, upcoming - now))}" \
            if isinstance(upcoming, int | float) else ""
        lines.append(f"csup watch: {sweep.seen} session(s) outside csup looked at; {who} acts on them, not this "
                     f"look{when}")
        return lines
    summary = f"csup watch: {sweep.seen} session(s) outside csup looked at, {len(sweep.done)} action(s)"
    if (event.about or {}).get("once"):  # nothing sweeps again unless cron runs this again
        return [*lines, summary, "csup watch: no watcher runs, so nothing acts until the next `csup watch --once` "
                "(cron: */5 * * * * csup watch --once), or: csup service install"]
    lines.append(f"{summary}; the next sweep is due in {format_duration(max(0.0, sweep.next_at - now))}")
    return lines
