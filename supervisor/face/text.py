"""Everything csup says to people, worded from the values the flows hand over: refusals, the waiting line,
takeover notes, end-of-session lines, status, doctor's verdicts, config, log, notifications and errors.
Pure: values in, text out. Text that came from a file or another process is shown without its control bytes."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from supervisor.claude.adapter import LiveSession
from supervisor.core.durations import format_duration
from supervisor.core.errors import CsupError
from supervisor.core.notice import Notice
from supervisor.flows.census import UnmanagedSession
from supervisor.flows.refusals import GaveUpWaiting, LineAhead, SessionHeld, TakeoverLost, UnmanagedRunning
from supervisor.flows.reporting import (
    Escalation,
    ResumeDecision,
    SessionEnd,
    StopOutcome,
    WaitProgress,
)
from supervisor.machine.record import SessionRecord

if TYPE_CHECKING:
    from supervisor.core.settings import Settings
    from supervisor.core.sweep import Step
    from supervisor.flows.census import Census
    from supervisor.flows.doctor import Checkup
    from supervisor.flows.sessions import AnySession
    from supervisor.flows.status import StatusReport

RESOLVE_LINES = (
    "  csup takeover      end it and carry the conversation on here",
    "  csup status        see who holds it and how long it has been idle",
    "  csup run --wait    wait for it to end, then start",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Text from a file or another process, safe to print: control bytes (escape sequences) shown as '?'."""
    return _CONTROL.sub("?", text)


def short_path(path: str, home: str | None = None) -> str:
    home = home if home is not None else os.path.expanduser("~")
    if home and home != "/" and (path == home or path.startswith(home + os.sep)):
        path = "~" + path[len(home):]
    return clean(path)


def clock_time(wall: float, now: float) -> str:
    """14:02 today, or Nov 23 14:02 on another day."""
    fmt = "%H:%M" if time.localtime(wall)[:3] == time.localtime(now)[:3] else "%b %d %H:%M"
    return time.strftime(fmt, time.localtime(wall))


def megabytes(size: int) -> str:
    """One unit for memory everywhere (status and doctor alike): MiB, as `top` and `ps` count."""
    return f"{size / 2**20:.0f} MiB"


# --- errors and refusals -----------------------------------------------------------------------------------------


def error_text(err: CsupError, now: float | None = None) -> str:
    """The one wording of every error csup reports: its message (or refusal block) and the hint."""
    now = time.time() if now is None else now
    if isinstance(err, SessionHeld) and err.max_sessions > 1:
        text = refusal_full(err.holders, [], [], err.max_sessions, now)
    elif isinstance(err, UnmanagedRunning) and err.max_sessions > 1 and err.left_running is None:
        text = refusal_full([], err.sessions, err.background, err.max_sessions, now)
    elif isinstance(err, SessionHeld):
        text = refusal_held(err.holder, now)
    elif isinstance(err, LineAhead):
        text = refusal_queued(err.holder, now)
    elif isinstance(err, TakeoverLost):
        text = ("csup: another takeover got the session first:\n  " + describe_holder(err.holder, now)
                + "\n  csup takeover      take it over again")
    elif isinstance(err, GaveUpWaiting):
        text = (f"csup: gave up waiting after {format_duration(err.patience)}; the session is still running.\n"
                "  csup takeover      end it and carry the conversation on here")
    elif isinstance(err, UnmanagedRunning):
        text = refusal_unmanaged(err.sessions, err.background, now, err.left_running)
    else:
        text = err.message if err.message.startswith("csup:") or "\n" in err.message else f"csup: {err.message}"
    return f"{text}\n  {err.hint}" if err.hint else text


def describe_holder(record: SessionRecord, now: float) -> str:
    cli = f"claude pid {record.cli.pid}" if record.cli else "claude starting"
    idle = format_duration(now - record.last_activity_at)
    return (f"{cli} (csup pid {record.csup.pid}) on {clean(record.tty) or 'no tty'} in {short_path(record.cwd)}, "
            f"started {clock_time(record.started_at, now)} ({format_duration(now - record.started_at)} ago), "
            f"idle {idle}")


def session_line(session: AnySession, now: float) -> str:
    """One session of any kind, as a refusal, a choice or a status lists it."""
    idle = "idle ?" if session.idle_seconds is None else f"idle {format_duration(session.idle_seconds)}"
    where = f" in {short_path(session.cwd)}" if session.cwd else ""
    tty = f" on {clean(session.tty)}" if session.tty else ""
    pid = f" (claude pid {session.pid})" if session.pid else ""
    if session.background is not None:
        return f"{background_line(session.background, now)}"
    return f"{session.kind} {clean(session.id)}{pid}{tty}{where}, {idle}"


def chosen_line(session: AnySession, now: float) -> str:
    return f"csup: the most idle session is {session_line(session, now)}"


def refusal_full(holders: Sequence[SessionRecord], sessions: Sequence[UnmanagedSession],
                 background: Sequence[LiveSession], max_sessions: int, now: float) -> str:
    """At the limit, with more than one session allowed: every session, most idle first, and the way out."""
    listed: list[tuple[float, str]] = []
    for record in holders:
        idle = now - record.last_activity_at
        listed.append((idle, f"supervised {record.session_id[:8]} (claude pid {record.cli.pid if record.cli else '?'})"
                             f" on {clean(record.tty) or 'no tty'} in {short_path(record.cwd)}, idle "
                             f"{format_duration(idle)}"))
    for session in sessions:
        idle = session.idle_seconds if session.idle_seconds is not None else float("inf")
        listed.append((idle, f"unmanaged {session.pid} on {clean(session.tty) or 'no tty'}"
                             f"{' in ' + short_path(session.cwd) if session.cwd else ''}, idle "
                             f"{'?' if session.idle_seconds is None else format_duration(session.idle_seconds)}"))
    for bg in background:
        idle_bg = bg.idle_for(now)
        listed.append((idle_bg if idle_bg is not None else float("inf"), background_line(bg, now)))
    listed.sort(key=lambda pair: -pair[0])
    total = len(listed)
    lines = [f"csup: {total} claude session(s) are running, the limit is {max_sessions} (max_sessions); "
             "most idle first:"]
    lines += [f"  {text}" for _, text in listed]
    lines += ["Resolve it with:",
              "  csup stop ID          end one (the id from the list; claude attach brings a background one back)",
              "  csup stop --idle 30m  end every session idle that long",
              "  csup takeover ID      end one and carry its conversation on here",
              "  csup run --wait       wait for a place, then start"]
    return "\n".join(lines)


def refusal_held(record: SessionRecord | None, now: float) -> str:
    if record is None:
        head = "csup: a claude session is already running (it is just starting, or its record is unreadable)."
    else:
        head = "csup: a claude session is already running:\n  " + describe_holder(record, now)
    return "\n".join((head, "Resolve it with:", *RESOLVE_LINES))


def refusal_queued(holder: SessionRecord | None, now: float) -> str:
    head = "csup: another terminal is taking over or waiting for the session, and goes first."
    if holder is not None:
        head += "\n  " + describe_holder(holder, now)
    return "\n".join((head, "Resolve it with:", *RESOLVE_LINES))


def background_line(session: LiveSession, now: float) -> str:
    """One background session as people recognise it: short id, name, directory, idle time, Claude's state."""
    idle = session.idle_for(now)
    state = "/".join(clean(part) for part in (session.status, session.state) if part and part != "unknown")
    needs = f" — {clean(session.needs)}" if session.needs else ""
    name = f" «{clean(session.name)}»" if session.name and session.name != session.short else ""
    attached = f", {session.attached} terminal(s) attached" if session.attached else ""
    return (f"background {clean(session.short)}{name} in {short_path(session.conversation.cwd)}, "
            f"idle {'?' if idle is None else format_duration(idle)}{attached}; claude says {state or '?'}{needs}")


def unmanaged_lines(sessions: Sequence[UnmanagedSession], background: Sequence[LiveSession], now: float) -> list[str]:
    lines = [f"csup: {len(sessions) + len(background)} claude session(s) running outside csup:"]
    lines += [f"  {background_line(session, now)}" for session in background]
    for session in sessions:
        cpu = f", cpu {session.cpu_seconds:.1f}s" if session.cpu_seconds is not None else ""
        up = f", up {format_duration(now - session.started_at)}" if session.started_at is not None else ""
        where = f" in {short_path(session.cwd)}" if session.cwd else ""
        lines.append(f"  pid {session.pid} on {clean(session.tty) or 'no tty'}{up}{cpu}{where}: "
                     f"{clean(' '.join(session.view.cmdline))[:60]}")
    return lines


def refusal_unmanaged(sessions: Sequence[UnmanagedSession], background: Sequence[LiveSession], now: float,
                      left_running: str | None = None) -> str:
    lines = unmanaged_lines(sessions, background, now)
    if left_running is not None:
        return "\n".join([*lines, f"They were left running; to end them: {left_running}"])
    lines.append("Resolve it with:")
    if background and not sessions:
        lines += [
            "  csup takeover              bring the background session here, live (claude attach)",
            "  csup stop --force          end it; its conversation is kept (claude attach ID brings it back)",
        ]
    else:
        lines.append("  csup takeover              end them and start here")
    lines.append("  csup run --allow-unmanaged start anyway (two sessions share the machine)")
    return "\n".join(lines)


def confirm_question(found: Census, now: float) -> str:
    """Names every session the answer would end."""
    return "\n".join(unmanaged_lines(found.unmanaged, found.background, now)) + "\nEnd them?"


# --- the live line, takeover notes, the end of a session ------------------------------------------------------


def waiting_line(progress: WaitProgress, now: float) -> str:
    holder = progress.holder
    queue = f", {progress.ahead} ahead of you" if progress.ahead else ""
    if holder is None:
        return f"csup: waiting for the session{queue} ({format_duration(progress.waited)}; Ctrl-C leaves the line)"
    idle = format_duration(now - holder.last_activity_at)
    left = ""
    if holder.idle_limit:
        left = f", ends in {format_duration(max(0.0, holder.last_activity_at + holder.idle_limit - now))} if idle"
    who = f"claude pid {holder.cli.pid}" if holder.cli else "claude"
    return (f"csup: waiting for {who} on {clean(holder.tty) or 'no tty'} (idle {idle}{left}){queue}; "
            "Ctrl-C leaves the line")


ESCALATION_LINES: dict[Escalation, str] = {
    "asked": "asked the session to end",
    "SIGTERM": "no answer: sending SIGTERM",
    "SIGKILL": "still no answer: sending SIGKILL",
}


def resume_note(decision: ResumeDecision) -> str:
    kind = decision.kind
    if kind == "attached":
        text = (f"csup: bringing background session {clean(decision.short)} here, live (Ctrl+Z detaches it back"
                " to the background).")
    elif kind == "resumed":
        text = f"csup: resuming conversation {decision.conversation_id} in {short_path(decision.cwd or '')}."
    elif kind == "nothing-running":
        text = "csup: no session was running; starting a new one."
    elif kind == "no-transcript":
        text = "csup: the old session had no conversation yet; starting a new one."
    elif kind == "cwd-gone":
        text = f"csup: {short_path(decision.cwd or '')} is gone; starting a new conversation here."
    elif kind == "declined":
        text = "csup: starting a new conversation (--no-resume)."
    else:
        text = "csup: the old session's conversation is unknown; starting fresh."
    if decision.others:
        text += "\n  other conversations that were ended; resume them with:\n" + "\n".join(
            f"    {clean(command)}" for command in decision.others)
    return text


def ended_line(reason: str, resume: str | None) -> str:
    text = f"csup: session ended: {clean(reason)}."
    return f"{text} Resume it: {resume}" if resume else text


def session_end_text(end: SessionEnd) -> str:
    """What csup prints after the CLI is gone ("" when the CLI ended by itself and said its own last word)."""
    if end.reason is None and end.in_background is None:
        return "\r\n" if end.code > 128 and not end.at_line_start else ""
    lead = "" if end.at_line_start else "\n"
    if end.in_background is not None and end.reason is None:
        return (f"{lead}csup: the conversation is still running in the background; bring it back: "
                f"{clean(end.in_background)}\n")
    if end.continued_elsewhere is not None:
        return (f"{lead}csup: session ended: {clean(end.continued_elsewhere)}. The conversation goes on there; "
                "the resume command above would open it twice.\n")
    if end.in_background is not None:
        return (f"{lead}{ended_line(end.reason or 'detached', None)} The conversation is still running in the "
                f"background; bring it back: {clean(end.in_background)}\n")
    return lead + ended_line(end.reason or "", end.resume) + "\n"


def notice_text(notice: Notice) -> tuple[str, str]:
    """(title, body) of a desktop notification."""
    if notice.kind == "stray":
        return ("A second claude session is running",
                f"pid {notice.pid} runs outside csup. End it: csup stop --force")
    if notice.kind == "unmanaged-idle":
        return ("An idle claude session runs outside csup",
                f"pid {notice.pid} has been idle {format_duration(notice.seconds)}. End it: csup stop {notice.pid}")
    if notice.kind == "unmanaged-ending":
        return ("An idle claude session ends soon",
                f"pid {notice.pid} (idle {format_duration(notice.seconds)}) ends in {format_duration(notice.left)}"
                " unless you use it.")
    if notice.kind == "waiting":
        return "Claude is waiting for you", f"A permission prompt has been waiting {format_duration(notice.seconds)}."
    return ("Claude session idle",
            f"It ends in {format_duration(notice.seconds)} unless you press a key in its terminal.")


def countdown_title(left: float) -> str:
    return f"csup: idle, session ends in {format_duration(left)} - press a key to keep it"


def stop_lines(outcome: StopOutcome) -> list[str]:
    lines = []
    for ended_holder in outcome.holders:
        holder = ended_holder.record
        how = f", escalated to {ended_holder.how}" if ended_holder.how not in (None, "asked") else ""
        lines.append(f"csup: stopped the session {holder.session_id[:8]} "
                     f"(claude pid {holder.cli.pid if holder.cli else '?'}{how}).")
        if ended_holder.resume:
            lines.append(f"  resume it: cd {short_path(holder.cwd)} && {ended_holder.resume}")
    for ended in outcome.background_ended:
        if ended.gone:
            lines.append(f"csup: stopped background session {clean(ended.short)} through Claude Code's daemon; "
                         f"its conversation is kept. Bring it back: {clean(ended.bring_back)}")
        else:
            lines.append(f"csup: background session {clean(ended.short)} did not end in time; "
                         f"see: claude agents")
    if outcome.unmanaged_ended:
        lines.append(f"csup: ended {len(outcome.unmanaged_ended)} claude session(s) outside csup: pid "
                     f"{', '.join(map(str, outcome.unmanaged_ended))}.")
    if not outcome.stopped:
        lines.append("csup: no session is running.")
    return lines


# --- status, doctor, config, log ------------------------------------------------------------------------------


def render_status(status: StatusReport) -> str:
    now = status.time
    lines = []
    if status.max_sessions > 1:
        lines.append(f"{len(status.sessions)} of at most {status.max_sessions} claude session(s) (max_sessions)")
    if not status.supervised:
        lines.append("○ no csup session is running")
    many = len(status.supervised) > 1 or status.max_sessions > 1
    for session in sorted(status.supervised, key=lambda s: -s.idle_seconds):
        limit = (f"limit {format_duration(session.idle_limit)}, ends in {format_duration(session.time_left or 0)}"
                 " if idle" if session.idle_limit else "no idle limit")
        state = "suspended (Ctrl-Z; `fg` in its terminal)" if session.state == "suspended" else session.state
        which = f"claude session {session.id}" if many else "claude session"
        lines.append(f"● {which} {state}: idle {format_duration(session.idle_seconds)} ({limit})")
        cli = f"claude pid {session.cli_pid}" if session.cli_pid else "claude starting"
        lines.append(f"    {cli} (csup pid {session.csup_pid}) on {clean(session.tty) or 'no tty'}")
        lines.append(f"    in {short_path(session.cwd)}, started {clock_time(session.started_at, now)} "
                     f"({format_duration(now - session.started_at)} ago)")
        if session.claude_session_id:
            lines.append(f"    conversation {clean(session.claude_session_id)}")
        if session.attached:
            lines.append(f"    shows background session {clean(session.attached)} (Ctrl+Z there detaches it)")
    if status.unmanaged:
        lines.append(f"! {len(status.unmanaged)} claude session(s) outside csup:")
        for other in status.unmanaged:
            idle = "idle ?" if other.idle_seconds is None else f"idle {format_duration(other.idle_seconds)}"
            cpu = "" if other.cpu_seconds is None else f", cpu {other.cpu_seconds:.1f}s"
            rss = "" if other.rss_bytes is None else f", {megabytes(other.rss_bytes)}"
            orphan = " [orphaned: its csup is gone]" if other.orphaned else ""
            up = "" if other.started_at is None else f", up {format_duration(now - other.started_at)}"
            lines.append(f"    pid {other.pid} on {clean(other.tty) or 'no tty'}{up}, {idle}{cpu}{rss}{orphan}")
            if other.cwd:
                lines.append(f"      in {short_path(other.cwd)}")
        lines.append("  end them: csup stop --force   (or take over: csup takeover)")
    if status.background:
        bg_limit = status.background_idle_limit
        ends = f"ended after {format_duration(bg_limit)} idle" if bg_limit else "no idle limit"
        lines.append(f"◆ {len(status.background)} background session(s) in Claude Code's daemon ({ends}):")
        lines += [f"    {background_line(session, now)}" for session in status.background]
        lines.append("  bring one here: csup takeover   (end them: csup stop --force)")
    lines.append(watcher_line(status.watcher, now))
    one, five, fifteen = status.load
    lines.append(f"load {one:.2f} {five:.2f} {fifteen:.2f} on {status.cores} core(s)")
    return "\n".join(lines)


def watcher_line(watcher: dict[str, object] | None, now: float) -> str:
    if watcher is None:
        return "watcher: not running (it ends idle sessions when no csup runs: csup service install)"
    last, upcoming = watcher.get("last_sweep"), watcher.get("next_sweep")
    swept = f", last sweep {format_duration(now - last)} ago" if isinstance(last, float | int) else ""
    due = f", next in {format_duration(upcoming - now)}" if isinstance(upcoming, float | int) else ""
    return f"watcher: running (pid {watcher.get('pid')}){swept}{due}"


def sweep_lines(steps: Sequence[Step], seen: int, next_at: float, now: float) -> list[str]:
    """What one `csup watch --once` sweep did."""
    words = {"end-background": "ended background session", "notify-unmanaged": "reported unmanaged session",
             "warn-unmanaged": "warned unmanaged session", "end-unmanaged": "ended unmanaged session"}
    lines = [f"csup watch: {words[step.action]} {clean(step.session.key.split(':')[1])} "
             f"(idle {format_duration(step.idle)})" for step in steps]
    lines.append(f"csup watch: {seen} session(s) outside csup looked at, {len(steps)} action(s); "
                 f"next sweep due in {format_duration(max(0.0, next_at - now))}")
    return lines


def render_config(settings: Settings, config_file: str) -> str:
    from supervisor.core.settings import SETTINGS

    lines = [f"# {config_file}"]
    width = max(len(setting.key) for setting in SETTINGS)
    for setting in SETTINGS:
        value = getattr(settings, setting.key)
        if value is None:
            shown = "off"
        elif setting.is_duration:
            shown = format_duration(value)
        elif isinstance(value, tuple):
            shown = ", ".join(value) or "(the CLI's own)"
        else:
            shown = str(value)
        lines.append(f"{setting.key:<{width}}  {shown:<16} ({settings.sources.get(setting.key, 'default')})")
    return "\n".join(lines)


def render_log(summary: dict[str, Any]) -> str:
    lines = []
    for session in summary["sessions"]:
        start = time.strftime("%b %d %H:%M", time.localtime(session["started"])) if session["started"] else "?"
        duration = format_duration(session["duration"] or 0)
        lines.append(f"{start}  {duration:>7}  {clean(str(session['how'])):<9} {clean(session['reason'] or '')}"
                     f"{'  in ' + short_path(session['cwd']) if session['cwd'] else ''}")
    if not lines:
        lines.append("no sessions logged yet")
    ended = ", ".join(f"{clean(how)} {n}" for how, n in sorted(summary["ended_by"].items())) or "none"
    lines.append(f"{summary['total']} session(s); ended by: {ended}; refused {summary['refused']}; "
                 f"idle time the limit ended: {summary['idle_hours_ended']} h")
    return "\n".join(lines)


# --- doctor: the verdicts, each with the command that fixes it ------------------------------------------------

MANY_CONNECTIONS = 10  # a session at its prompt keeps a handful; 20+ is the pile-up csup exists to prevent
BIG_RSS = 1 << 30  # 1 GiB: idle sessions have been reported growing to several
LOW_MEMORY = 0.10  # available memory below this share of the total
LONG_IDLE = 3600.0


@dataclass(frozen=True)
class Finding:
    severity: str  # action, warn, ok
    what: str
    fix: str | None = None


SESSION_KINDS = ("managed", "unmanaged", "orphaned", "background")


def findings(checkup: Checkup, idle_limit: float | None, background_limit: float | None = None,
             max_sessions: int = 1) -> list[Finding]:
    """The verdicts, each with the command that fixes it."""
    found = []
    sessions = [p for p in checkup.processes if p.kind in SESSION_KINDS]
    helpers = [p for p in checkup.processes if p.kind not in SESSION_KINDS]
    outside = [p for p in sessions if p.kind in ("unmanaged", "orphaned")]
    orphans = [p for p in outside if p.kind == "orphaned"]
    if orphans:
        found.append(Finding("action", f"{len(orphans)} orphaned claude process(es) (their csup is gone): pid "
                             + ", ".join(str(p.pid) for p in orphans), "csup stop --force"))
    if len(outside) > len(orphans):
        found.append(Finding("action", f"{len(outside) - len(orphans)} claude session(s) running outside csup",
                             "csup takeover (continue here) or csup stop --force"))
    if len(sessions) > max_sessions:
        rule = "the rule is one" if max_sessions == 1 else f"max_sessions is {max_sessions}"
        found.append(Finding("action", f"{len(sessions)} claude sessions on one machine ({rule})",
                             "csup stop --force, then use `claude` through csup (csup init)" if max_sessions == 1
                             else "csup stop --idle 30m (or csup stop ID), then use `claude` through csup"))
    long_idle = idle_limit if idle_limit is not None else LONG_IDLE
    for proc in [p for p in sessions if p.kind == "background"]:
        limit = background_limit if background_limit is not None else LONG_IDLE
        if proc.idle_seconds is not None and proc.idle_seconds >= limit:
            found.append(Finding("warn", f"background session (pid {proc.pid}) has been idle "
                                 f"{format_duration(proc.idle_seconds)}",
                                 "csup stop --force (claude attach brings it back)"))
    if checkup.status.watcher is None and (checkup.status.unmanaged or checkup.status.background):
        found.append(Finding("info", "no watcher: sessions outside csup end only while a csup session runs",
                             "csup service install"))
    if helpers:
        memory = sum(p.rss_bytes or 0 for p in helpers)
        roles = ", ".join(f"{sum(1 for p in helpers if p.kind == role)} {role}"
                          for role in dict.fromkeys(p.kind for p in helpers))
        found.append(Finding("info", f"Claude Code's background machinery: {roles}, {megabytes(memory)} in all",
                             None if any(p.kind == "background" for p in sessions)
                             else "no background session uses it; it ends by itself (claude daemon stop --any)"))
    for proc in sessions:
        if proc.tcp_connections is not None and proc.tcp_connections >= MANY_CONNECTIONS:
            found.append(Finding("warn", f"claude pid {proc.pid} holds {proc.tcp_connections} TCP connections",
                                 "csup takeover (a fresh process resumes the same conversation)"))
        if proc.rss_bytes is not None and proc.rss_bytes >= BIG_RSS:
            found.append(Finding("warn", f"claude pid {proc.pid} uses {proc.rss_bytes / 2**30:.1f} GiB of memory",
                                 "csup takeover (a fresh process resumes the same conversation)"))
        if proc.kind in ("unmanaged", "orphaned") and proc.idle_seconds is not None \
                and proc.idle_seconds >= long_idle:
            found.append(Finding("warn", f"claude pid {proc.pid} outside csup has been idle "
                                 f"{format_duration(proc.idle_seconds)}", "csup stop --force"))
    for session in checkup.status.supervised:
        which = "the session" if len(checkup.status.supervised) == 1 else f"session {session.id}"
        stop = "csup stop" if len(checkup.status.supervised) == 1 else f"csup stop {session.id}"
        if session.idle_limit is None:
            found.append(Finding("warn", f"{which} has no idle limit", "csup run --idle-limit 30m"))
        if session.idle_seconds > LONG_IDLE:
            found.append(Finding("warn", f"{which} has been idle {format_duration(session.idle_seconds)}", stop))
        if session.state == "suspended":
            found.append(Finding("warn", f"{which} is suspended (Ctrl-Z) in its terminal", f"fg there, or {stop}"))
    one_minute = checkup.load[0]
    if one_minute > checkup.cores:
        found.append(Finding("warn", f"load {one_minute:.2f} is above the {checkup.cores} core(s)",
                             "csup stop (if the session is idle), or find the busy process: top"))
    if checkup.memory_total and checkup.memory_available / checkup.memory_total < LOW_MEMORY:
        found.append(Finding("warn", f"only {checkup.memory_available / 2**30:.1f} GiB of memory available",
                             None))
    if not any(finding.severity in ("action", "warn") for finding in found):
        found.append(Finding("ok", "nothing needs attention"))
    return found


def doctor_json(checkup: Checkup, verdicts: list[Finding]) -> dict[str, Any]:
    return {**checkup.to_json(), "needs_action": needs_action(verdicts), "findings": [asdict(f) for f in verdicts]}


def needs_action(verdicts: list[Finding]) -> bool:
    return any(finding.severity == "action" for finding in verdicts)


def render_doctor(checkup: Checkup, verdicts: list[Finding]) -> str:
    lines = [f"claude processes: {len(checkup.processes)}"]
    for proc in checkup.processes:
        cpu = "cpu ?" if proc.cpu_percent is None else f"cpu {proc.cpu_percent:.1f}%"
        rss = "rss ?" if proc.rss_bytes is None else f"rss {megabytes(proc.rss_bytes)}"
        idle = "idle ?" if proc.idle_seconds is None else f"idle {format_duration(proc.idle_seconds)}"
        tcp = "tcp ?" if proc.tcp_connections is None else \
            f"tcp {proc.tcp_connections} ({proc.https_connections} to :443)"
        lines.append(f"  pid {proc.pid:<7} {proc.kind:<9} up {format_duration(proc.age_seconds):<7} {cpu}, "
                     f"{rss}, {idle}, {tcp}")
    one, five, fifteen = checkup.load
    lines.append(f"load {one:.2f} {five:.2f} {fifteen:.2f} on {checkup.cores} core(s); memory "
                 f"{checkup.memory_available / 2**30:.1f} of {checkup.memory_total / 2**30:.1f} GiB available")
    marks = {"action": "✗", "warn": "!", "ok": "✓", "info": "·"}
    for finding in verdicts:
        fix = f"  → {finding.fix}" if finding.fix else ""
        lines.append(f"{marks[finding.severity]} {finding.what}{fix}")
    return "\n".join(lines)
