"""What csup says to people about starting and ending sessions, worded from the values the flows hand over:
errors and refusals, the waiting line, takeover notes, end-of-session lines, stop's report and notifications
(status and the watcher: status_text.py; doctor: doctor_text.py; config and log: report_text.py).
Pure: values in, text out. Text that came from a file or another process is shown without its control bytes."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from supervisor.clis.adapter import LiveSession
from supervisor.core.durations import format_duration
from supervisor.core.errors import CsupError, SessionBusy
from supervisor.core.notice import Notice
from supervisor.core.sizes import format_size
from supervisor.flows.census import UnmanagedSession
from supervisor.flows.refusals import (
    AtLimit,
    GateBusy,
    GaveUpWaiting,
    LineAhead,
    NothingToEnd,
    SessionHeld,
    TakeoverLost,
    UnmanagedRunning,
    WatcherRunning,
)
from supervisor.machine.record import SessionRecord

if TYPE_CHECKING:  # values it words; a refusal (every refused start) needs none of their modules
    from supervisor.flows.census import Census
    from supervisor.flows.reporting import (
        AsleepNote,
        Escalation,
        ResumeDecision,
        RoomMade,
        SessionEnd,
        StopOutcome,
        WaitProgress,
    )
    from supervisor.flows.sessions import AnySession

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


def error_text(err: CsupError, now: float) -> str:
    """The one wording of every error csup reports: its message (or refusal block) and the hint."""
    if isinstance(err, AtLimit) and err.over == "memory" and err.budget is not None:
        text = refusal_memory(err.sessions, err.held, err.budget, now)
    elif isinstance(err, SessionHeld | AtLimit):
        text = refusal(err.sessions, err.max_sessions, now)
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
    elif isinstance(err, WatcherRunning):
        text = watcher_running(err.data.get("running"), now)
    elif isinstance(err, NothingToEnd):
        text = "\n".join(["csup: every session is in use, so none was chosen:",
                          *(f"  {session_line(session, now)} — {why}" for session, why in err.kept),
                          "Name the one to end: csup stop ID (or csup takeover ID)"])
    elif isinstance(err, GateBusy):
        text = (f"csup: another csup start has been deciding for {format_duration(err.waited)} and still holds "
                "the gate; nothing was started.\n  csup status        see the sessions and who waits")
    else:
        text = err.message if err.message.startswith("csup:") or "\n" in err.message else f"csup: {err.message}"
    if isinstance(err, AtLimit) and err.make_room is not None:
        text += "\n" + no_room_line(err.make_room, err.end_unmanaged, err.sessions)
    if isinstance(err, SessionBusy) and err.starting:
        text = for_cli(text, err.starting, err)
    return f"{text}\n  {err.hint}" if err.hint else text


def for_cli(text: str, cli: str, err: SessionBusy) -> str:
    """The ways out of a refused start of `cli` (named by flag, alias or config): each command names that CLI,
    so none starts another; a takeover of another CLI's session starts a new conversation (that one's stays
    resumable by its own command)."""
    holders = [s.holder.record.cli_label for s in getattr(err, "sessions", []) if s.holder is not None]
    if holders and cli not in holders:
        text = text.replace("end it and carry the conversation on here", f"end it and start {cli} here")
    text = (text.replace("csup takeover ", f"csup takeover --cli {cli} ")
            .replace("csup run --wait", f"csup run --cli {cli} --wait")
            .replace("csup run --allow-unmanaged", f"csup run --cli {cli} --allow-unmanaged"))
    return _aligned(text)


def _aligned(text: str) -> str:
    """The commands of a "Resolve it with:" block in one column again, their explanations in the next."""
    lines = text.split("\n")
    commands = [i for i, line in enumerate(lines) if line.startswith("  csup ") and "   " in line.strip()]
    if not commands:
        return text
    split = [re.split(r"\s{3,}", lines[i].strip(), maxsplit=1) for i in commands]
    width = max(len(parts[0]) for parts in split)
    for i, parts in zip(commands, split, strict=True):
        lines[i] = f"  {parts[0]:<{width}}  {parts[1]}" if len(parts) == 2 else lines[i]
    return "\n".join(lines)


def refusal(sessions: Sequence[AnySession], max_sessions: int, now: float) -> str:
    """A new session refused: one session allowed and one supervised runs (who holds it); one allowed and it
    runs outside csup (what runs there); else every session that fills the limit, most idle first."""
    held = [s for s in sessions if s.holder is not None]
    if max_sessions == 1 and (held or not sessions):
        return refusal_held(held[0] if held else None, now)
    if max_sessions == 1:
        return refusal_unmanaged([s.unmanaged for s in sessions if s.unmanaged is not None],
                                 [s.background for s in sessions if s.background is not None], now,
                                 idle={s.key: s.idle_seconds for s in sessions})
    return refusal_full(sessions, max_sessions, now)


def describe_holder(record: SessionRecord, now: float, idle: float | None = None) -> str:
    """A supervised session as a refusal names it; `idle` is the snapshot's (core/policy.idle_seconds), else
    worked out by that same function from the record's wall-clock time."""
    from supervisor.core.policy import idle_seconds

    if idle is None:
        idle = idle_seconds(now, 0.0, last_wall=record.last_activity_at)
    name = record.cli_label
    cli = f"{name} pid {record.cli.pid}" if record.cli else f"{name} starting"
    return (f"{cli} (csup pid {record.csup.pid}) on {clean(record.tty) or 'no tty'} in {short_path(record.cwd)}, "
            f"started {clock_time(record.started_at, now)} ({format_duration(now - record.started_at)} ago), "
            f"idle {format_duration(idle or 0.0)}")


def session_line(session: AnySession, now: float) -> str:
    """One session of any kind, as a refusal, a choice or a status lists it."""
    held = f", {format_size(session.memory.total)}" if session.memory is not None else ""
    if session.background is not None:
        return background_line(session.background, session.idle_seconds) + held
    idle = "idle ?" if session.idle_seconds is None else f"idle {format_duration(session.idle_seconds)}"
    where = f" in {short_path(session.cwd)}" if session.cwd else ""
    tty = f" on {clean(session.tty)}" if session.tty else ""
    pid = f" ({session.cli or 'cli'} pid {session.pid})" if session.pid else ""
    state = f", {clean(session.state)}" if session.state not in ("", "active", "unknown") else ""
    return f"{session.kind} {clean(session.id)}{pid}{tty}{where}, {idle}{state}{held}"


def chosen_line(session: AnySession, now: float) -> str:
    return f"csup: the most idle session is {session_line(session, now)}"


def refusal_full(sessions: Sequence[AnySession], max_sessions: int, now: float) -> str:
    """At the limit, with more than one session allowed: every session, most idle first, and the way out."""
    return _listed_refusal(
        f"csup: {len(sessions)} agent session(s) are running, the limit is {max_sessions} (max_sessions)",
        sessions, now, "Resolve it with:",
        ("  csup stop ID          end one (the id from the list; its conversation is kept)",
         "  csup stop --idle      end every session idle past its limit",
         "  csup takeover ID      end one and carry its conversation on here",
         "  csup run --wait       wait for a place, then start"))


def _listed_refusal(head: str, sessions: Sequence[AnySession], now: float, lead: str, ways: Sequence[str]) -> str:
    """A refusal that lists every session, most idle first, then the commands that resolve it."""
    return "\n".join([f"{head}; most idle first:", *(f"  {session_line(s, now)}" for s in sessions), lead, *ways])


def no_room_line(make_room: float, end_unmanaged: bool, sessions: Sequence[AnySession] = ()) -> str:
    """Why make_room, though on and tried, ended nothing — each session with the reason it was not chosen."""
    from supervisor.core.policy import may_end, why_not_room

    may = may_end(end_unmanaged)
    reasons = "; ".join(f"{s.kind} {clean(s.id)} {why_not_room(s.seen(), make_room, may)}" for s in sessions)
    return (f"make_room ended none: none is idle {format_duration(make_room)} or more and free to end"
            + (f" ({reasons})." if reasons else "."))


def refusal_memory(sessions: Sequence[AnySession], held: int, budget: int, now: float) -> str:
    """Over the memory budget: every session with what it holds, most idle first, and what makes room."""
    return _listed_refusal(
        f"csup: your agent sessions hold {format_size(held)}, the memory budget is {format_size(budget)} "
        "(memory_budget)", sessions, now, "Make room with:",
        ("  csup stop ID          end one (the id from the list; its conversation is kept)",
         "  csup stop --idle      end every session idle past its limit",
         "  csup run --wait       wait until there is room, then start"))


def refusal_held(session: AnySession | None, now: float) -> str:
    if session is None or session.holder is None:
        head = "csup: a session is already running (it is just starting, or its record is unreadable)."
    else:
        name = session.holder.record.cli_label
        head = f"csup: a {name} session is already running:\n  " + describe_holder(session.holder.record, now,
                                                                                     session.idle_seconds)
    return "\n".join((head, "Resolve it with:", *RESOLVE_LINES))


def refusal_queued(holder: SessionRecord | None, now: float) -> str:
    head = "csup: another terminal is taking over or waiting for the session, and goes first."
    if holder is not None:
        head += "\n  " + describe_holder(holder, now)
    return "\n".join((head, "Resolve it with:", *RESOLVE_LINES))


def background_line(session: LiveSession, idle: float | None) -> str:
    """One background session as people recognise it: short id, name, directory, idle time, its CLI's state."""
    state = "/".join(clean(part) for part in (session.status, session.state) if part and part != "unknown")
    needs = f" — {clean(session.needs)}" if session.needs else ""
    name = f" «{clean(session.name)}»" if session.name and session.name != session.short else ""
    attached = f", {session.attached} terminal(s) attached" if session.attached else ""
    pinned = ", pinned" if session.pinned else ""
    return (f"background {clean(session.short)}{name} in {short_path(session.conversation.cwd)}, "
            f"idle {'?' if idle is None else format_duration(idle)}{attached}{pinned}; "
            f"{clean(session.cli) or 'its CLI'} says {state or '?'}"
            f"{needs}")


def unmanaged_lines(sessions: Sequence[UnmanagedSession], background: Sequence[LiveSession], now: float,
                    idle: Mapping[str, float | None] | None = None) -> list[str]:
    idle = idle or {}
    lines = [f"csup: {len(sessions) + len(background)} agent session(s) running outside csup:"]
    lines += [f"  {background_line(session, idle.get(f'bg:{session.short}', session.idle_for(now)))}"
              for session in background]
    for session in sessions:
        cpu = f", cpu {session.cpu_seconds:.1f}s" if session.cpu_seconds is not None else ""
        up = f", up {format_duration(now - session.started_at)}" if session.started_at is not None else ""
        where = f" in {short_path(session.cwd)}" if session.cwd else ""
        lines.append(f"  {clean(session.cli) or 'cli'} pid {session.pid} on {clean(session.tty) or 'no tty'}"
                     f"{up}{cpu}{where}: "
                     f"{clean(' '.join(session.view.cmdline))[:60]}")
    return lines


def refusal_unmanaged(sessions: Sequence[UnmanagedSession], background: Sequence[LiveSession], now: float,
                      left_running: str | None = None, idle: Mapping[str, float | None] | None = None) -> str:
    lines = unmanaged_lines(sessions, background, now, idle)
    if left_running is not None:
        return "\n".join([*lines, f"They were left running; to end them: {left_running}"])
    lines.append("Resolve it with:")
    if background and not sessions:
        lines += [
            "  csup takeover              bring the background session here, live",
            "  csup stop --force          end it; its conversation is kept (csup status says how to bring it back)",
        ]
    else:
        lines.append("  csup takeover              end them and start here")
    lines.append("  csup run --allow-unmanaged start anyway (two sessions share the machine)")
    return "\n".join(lines)


def confirm_question(found: Census, now: float) -> str:
    """Names every session the answer would end."""
    return "\n".join(unmanaged_lines(found.unmanaged, found.background, now)) + \
        ("\nEnd it?" if found.total == 1 else "\nEnd them?")


# --- the live line, takeover notes, the end of a session ------------------------------------------------------


def room_line(made: RoomMade, here: str) -> str:
    """The new terminal's first line when `make_room` ended a session for it."""
    session = made.session
    what = f"background session {clean(session.id)}" if session.background is not None else \
        f"{'unmanaged ' if session.unmanaged is not None else ''}session {clean(session.id)}"
    where = f" in {short_path(made.cwd)}" if made.cwd else ""
    if made.resume is None:
        back = "its conversation had nothing to resume"
    elif session.background is not None:
        back = f"bring it back: {clean(made.resume)}"
    else:
        back = f"resume: {cd_prefix(made.cwd, here)}{clean(made.resume)}"
    return f"csup: ended {what} idle {format_duration(made.idle)}{where} to make room — {back}"


def waiting_line(progress: WaitProgress, now: float) -> str:
    holder = progress.holder
    queue = f", {progress.ahead} ahead of you" if progress.ahead else ""
    if holder is None:
        return f"csup: waiting for the session{queue} ({format_duration(progress.waited)}; Ctrl-C leaves the line)"
    from supervisor.core.policy import idle_seconds, time_left

    idle = idle_seconds(now, 0.0, last_wall=holder.last_activity_at)
    due = time_left(idle, holder.idle_limit)
    left = f", ends in {format_duration(due)} if idle" if due is not None else ""
    name = holder.cli_label
    who = f"{name} pid {holder.cli.pid}" if holder.cli else name
    return (f"csup: waiting for {who} on {clean(holder.tty) or 'no tty'} (idle {format_duration(idle or 0.0)}{left})"
            f"{queue}; "
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
    elif kind == "other-cli":
        text = "csup: the old session ran another CLI; starting a new conversation here."
    else:
        text = "csup: the old session's conversation is unknown; starting fresh."
    if decision.others:
        text += "\n  other conversations that were ended; resume them with:\n" + "\n".join(
            f"    {clean(command)}" for command in decision.others)
    if kind == "other-cli":
        text = text.replace("other conversations that were ended; resume them with",
                            "its conversation was ended; resume it there with")
    return text


def ended_line(reason: str, resume: str | None) -> str:
    text = f"csup: session ended: {clean(reason)}."
    return f"{text} Resume it: {resume}" if resume else text


def cd_prefix(cwd: str, here: str) -> str:
    """`cd DIR && ` when a command must run in `cwd` and the shell is elsewhere (a conversation resumed from
    another directory opens another tree's); "" when it is already there."""
    if not cwd or os.path.realpath(cwd) == os.path.realpath(here or "."):
        return ""
    import shlex

    home = os.path.expanduser("~")
    if home not in ("", "/") and cwd.startswith(home + os.sep):
        return f"cd ~/{shlex.quote(clean(cwd[len(home) + 1:]))} && "
    return f"cd {shlex.quote(clean(cwd))} && "


def session_end_text(end: SessionEnd, here: str = "") -> str:
    """What csup prints after the CLI is gone ("" when the CLI ended by itself and said its own last word);
    `here` is the shell's directory, where a resume command would run."""
    if end.reason is None and end.in_background is None:
        return "\r\n" if end.code > 128 and not end.at_line_start else ""
    lead = "" if end.at_line_start else "\n"
    if end.in_background is not None and end.reason is None:
        return (f"{lead}csup: the conversation is still running in the background; bring it back: "
                f"{clean(end.in_background)}\n")
    if end.continued_elsewhere is not None:
        return (f"{lead}csup: session ended: {clean(end.continued_elsewhere)}. If that terminal carries the "
                "conversation on, do not resume it here too (two processes on one conversation corrupt it).\n")
    if end.in_background is not None:
        return (f"{lead}{ended_line(end.reason or 'detached', None)} The conversation is still running in the "
                f"background; bring it back: {clean(end.in_background)}\n")
    resume = cd_prefix(end.cwd, here) + clean(end.resume) if end.resume else None
    return lead + ended_line(end.reason or "", resume) + "\n"


def asleep_text(note: AsleepNote, here: str) -> str:
    """The block an asleep session shows (and shows again when a wake can offer only a new conversation)."""
    freed = f", {megabytes(note.freed)} freed" if note.freed else ""
    by_hand = f"{cd_prefix(note.cwd, here)}{clean(note.resume)}"
    if note.offer == "open-elsewhere":
        return (f"csup: its conversation is open elsewhere ({clean(note.open_in)}); waking it here would open it "
                "twice.\n  n + Enter starts a new conversation here; q leaves.")
    if note.offer == "resume-failed":
        return (f"csup: the conversation could not be resumed (the CLI exited at once); by hand: {by_hand}\n"
                "  n + Enter starts a new conversation here; q leaves.")
    return (f"csup: asleep — {clean(note.reason)} in {short_path(note.cwd)}{freed}. Enter wakes it (same "
            "conversation); q or Ctrl-C leaves.")


def wake_refused_text(err: CsupError, now: float) -> str:
    return error_text(err, now) + "\ncsup: still asleep; Enter tries again, q leaves."


def notice_text(notice: Notice) -> tuple[str, str]:
    """(title, body) of a desktop notification."""
    if notice.kind == "stray":
        return ("A second agent session is running",
                f"pid {notice.pid} runs outside csup. End it: csup stop --force")
    if notice.kind == "unmanaged-idle":
        return ("An idle agent session runs outside csup",
                f"pid {notice.pid} has been idle {format_duration(notice.seconds)}. End it: csup stop {notice.pid}")
    if notice.kind == "unmanaged-ending":
        return ("An idle agent session ends soon",
                f"pid {notice.pid} (idle {format_duration(notice.seconds)}) ends in {format_duration(notice.left)}"
                " unless you use it.")
    if notice.kind == "memory-ending":
        return ("Agent sessions over the memory budget",
                f"The most idle one (pid {notice.pid}, idle {format_duration(notice.seconds)}) ends in "
                f"{format_duration(notice.left)} unless you use it.")
    where = f" in {short_path(notice.cwd)}" if notice.cwd else ""
    on = f" on {clean(notice.tty).removeprefix('/dev/')}" if notice.tty else ""
    if notice.kind == "waiting":
        return (f"A session is waiting for you{where}",
                f"A permission prompt{on} has been waiting {format_duration(notice.seconds)}.")
    fate = "falls asleep (Enter wakes it)" if notice.sleeps else "ends"
    return (f"Session idle{where}",
            f"The session{on} {fate} in {format_duration(notice.seconds)} unless you press a key in its terminal.")


def countdown_title(left: float) -> str:
    return f"csup: idle, session ends in {format_duration(left)} - press a key to keep it"


def stop_lines(outcome: StopOutcome, now: float, here: str = "") -> list[str]:
    """What `csup stop` did: only what happened — "ended" once a session is gone, otherwise what is left."""
    lines = []
    for ended_holder in outcome.holders:
        holder = ended_holder.record
        if ended_holder.background is not None:
            lines.append(f"csup: ended background session {clean(ended_holder.background.short)} through its "
                         f"CLI's daemon; the terminal that showed it ({clean(holder.tty) or 'no tty'}) is back at "
                         f"its shell. Bring it back: {clean(ended_holder.background.bring_back)}")
            continue
        how = f", escalated to {ended_holder.how}" if ended_holder.how not in (None, "asked") else ""
        which = holder.session_id[:8]
        lines.append(f"csup: ended the asleep session {which}{how}; its terminal ({clean(holder.tty) or 'no tty'}) "
                     "is back at its shell." if holder.state == "asleep" else
                     f"csup: ended the session {which} ({holder.cli_label} pid "
                     f"{holder.cli.pid if holder.cli else '?'}{how}).")
        if ended_holder.resume:
            lines.append(f"  resume it: {cd_prefix(holder.cwd, here)}{clean(ended_holder.resume)}")
    for ended in outcome.background_ended:
        if ended.gone:
            lines.append(f"csup: ended background session {clean(ended.short)} through its CLI's daemon; "
                         f"its conversation is kept. Bring it back: {clean(ended.bring_back)}")
        else:
            lines.append(f"csup: asked its CLI's daemon to end background session {clean(ended.short)}; it is "
                         f"still running ({clean(ended.failure or 'no answer')}). See it: csup status")
    if outcome.unmanaged_ended:
        lines.append(f"csup: ended {len(outcome.unmanaged_ended)} agent session(s) outside csup: pid "
                     f"{', '.join(map(str, outcome.unmanaged_ended))}.")
    if outcome.unmanaged_left:
        lines.append(f"csup: could not end pid {', '.join(map(str, outcome.unmanaged_left))}: it is still "
                     "running after SIGTERM and SIGKILL (see it: csup status)")
    if outcome.declined is not None and outcome.declined.total:
        lines += unmanaged_lines(outcome.declined.unmanaged, outcome.declined.background, now)
        lines.append("They were left running; to end them: csup stop --force")
    if not outcome.stopped and not outcome.incomplete and not (outcome.declined and outcome.declined.total):
        if outcome.running and outcome.idle:
            enough = format_duration(outcome.idle_at_least) if outcome.idle_at_least is not None \
                else "past its idle limit"
            lines.append(f"csup: none of the {outcome.running} session(s) has been idle {enough} (or each is busy, "
                         "waiting, attached or pinned); nothing was ended. See them: csup status")
        else:
            lines.append("csup: no session is running.")
    return lines


def watcher_running(state: Mapping[str, object] | None, now: float) -> str:
    """A second `csup watch`: where the first runs, and how to reach it."""
    if state is None:
        return "csup: csup watch already runs (it is starting); one watcher per user is enough."
    where = {"service": "as the service; see it: csup service status",
             "on-demand": "started on demand by csup run; it exits by itself once nothing is left to watch",
             "terminal": "in a terminal; stop it there with Ctrl-C"}.get(str(state.get("mode")), "")
    return f"csup: csup watch already runs (pid {state.get('pid')}) {where}; one watcher per user is enough."


