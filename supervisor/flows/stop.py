"""`csup stop`, and ending the sessions that run outside csup (for stop and takeover): the holder is asked
through `ending`; unmanaged interactive sessions are ended with their process trees, background sessions through
their CLI's daemon (never a signal); both only with consent. Side effects: signals, the daemon, the lock, the
log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from supervisor.clis.adapter import Conversation, LiveSession, SessionSource
from supervisor.core.settings import Settings
from supervisor.flows import ending
from supervisor.flows.census import Census, UnmanagedSession
from supervisor.flows.refusals import UnmanagedRunning
from supervisor.flows.reporting import BackgroundEnded, HolderEnded, Reporter, StopOutcome
from supervisor.flows.sessions import conversation_in, resume_of
from supervisor.machine import processes
from supervisor.machine.clock import SYSTEM, Clock
from supervisor.machine.events import log_event
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths
from supervisor.machine.record import Holder

if TYPE_CHECKING:
    from supervisor.flows.sessions import AnySession, Snapshot


@dataclass
class OthersEnded:
    sessions: list[UnmanagedSession] = field(default_factory=list)  # ended: gone
    background: list[BackgroundEnded] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)  # resumable ones, most recently active first
    left_running: list[UnmanagedSession] = field(default_factory=list)  # signalled, and still there


def end_others(paths: Paths, settings: Settings, adapter: SessionSource, found: Census, *, force: bool,
               reporter: Reporter, how_to: str, cause: str) -> OthersEnded:
    """Agent sessions outside csup: ended only with consent (--force, or a yes on the terminal). Interactive
    ones get SIGTERM, then SIGKILL with their trees; background ones through their daemon."""
    if not found.total:
        return OthersEnded()
    if not force and not reporter.confirm_end(found):
        log_event(paths.log_file, "refused", reason="unmanaged", pids=[s.pid for s in found.unmanaged],
                  background=[s.short for s in found.background])
        raise UnmanagedRunning(found.unmanaged, found.background, left_running=how_to)
    recent: list[tuple[float, Conversation]] = []
    for session in found.unmanaged:
        conversation = adapter.conversation_of(session.pid)
        if conversation is not None and adapter.can_resume(conversation):
            state = adapter.live_state(session.pid)
            active = state.changed_wall if state is not None and state.changed_wall else session.view.start_time
            recent.append((active, conversation))
    end_unmanaged(paths, settings, adapter, found.unmanaged, cause)
    gone = [s for s in found.unmanaged if not processes.is_running(s.view.identity)]
    recent.sort(key=lambda pair: pair[0], reverse=True)
    ended = OthersEnded(gone, [], [conversation for _, conversation in recent],
                        [s for s in found.unmanaged if s not in gone])
    for background in found.background:
        ended.background.append(end_background(paths, adapter, background, cause))
    return ended


def end_unmanaged(paths: Paths, settings: Settings, adapter: SessionSource, sessions: list[UnmanagedSession],
                  cause: str, reason: str | None = None) -> bool:
    """The CLI's own graceful exit first (SIGTERM: it saves and prints its resume line), then SIGKILL, each with
    the process tree taken before the first signal (its tool children left its group); only processes proven by
    pid and start time are signalled. Each is one event, saying whether it is gone; True when all are."""
    victims = []
    conversations = {}  # read first: a CLI that exits gracefully takes its registry entry with it
    for session in sessions:
        if processes.is_running(session.view.identity):  # proven again now: the pid may be another's by now
            victims += [session.view.identity, *processes.descendants(session.pid)]
            conversations[session.pid] = adapter.conversation_of(session.pid)
    processes.terminate(victims, settings.term_wait)
    all_gone = True
    for session in sessions:
        gone = not processes.is_running(session.view.identity)
        all_gone = all_gone and gone
        conversation = conversations.get(session.pid)
        resume = resume_of(adapter, conversation)
        log_event(paths.log_file, "ended-unmanaged", cli_pid=session.pid, cli=session.cli or None, how=cause,
                  gone=gone,
                  reason=reason or f"csup {cause}", cwd=session.cwd, started=session.started_at, resume=resume,
                  cmdline=" ".join(session.view.cmdline)[:200])
    return all_gone


def end_background(paths: Paths, adapter: SessionSource, session: LiveSession, cause: str,
                   reason: str | None = None) -> BackgroundEnded:
    failure = adapter.end_background(session, ending.BACKGROUND_WAIT)
    gone = failure is None
    bring_back = adapter.bring_back_command(session)
    log_event(paths.log_file, "ended-background", short=session.short, name=session.name, cli=session.cli or None,
              how=cause,
              reason=reason or f"csup {cause}", gone=gone, resume=bring_back, cli_pid=session.pid,
              cwd=session.conversation.cwd, started=session.started_at)
    return BackgroundEnded(session.short, session.name, gone, bring_back, failure)


def stop(paths: Paths, settings: Settings, adapter: SessionSource, *, force: bool, patience: float | None,
         reporter: Reporter, target: str | None = None, idle: bool = False, idle_at_least: float | None = None,
         everything: bool = False, clock: Clock = SYSTEM) -> StopOutcome:
    """`csup stop`: end sessions from anywhere; start nothing. Which ones: with `idle`, every session idle at
    least `idle_at_least` (without it, past its own kind's limit) that nobody uses; else the one `target` names;
    with `everything` (`--all`), every session of every kind, asleep ones too; else, with one session allowed,
    every session there is (there should be one); else the policy's choice —
    the most idle one nobody uses, said before it is ended. Naming a session is consent to end it; sessions
    outside csup are otherwise asked about first, before anything is ended."""
    from supervisor.core.policy import idle_past
    from supervisor.flows.sessions import resolve, take_snapshot

    snapshot = take_snapshot(paths, settings.places, adapter, clock=clock)
    found = snapshot.sessions
    if idle:  # what the policy spares (busy, waiting, attached, pinned) is spared here too
        past = {seen.key for seen in idle_past([s.seen() for s in found], idle_limit=settings.idle_limit,
                                               background_idle_limit=settings.background_idle_limit,
                                               at_least=idle_at_least, waiting_limit=settings.waiting_limit)}
        chosen = [s for s in found if s.key in past]
    elif target is not None:
        chosen = [resolve(snapshot.nameable, target)]  # an asleep session too, when named
        force = True
    elif everything:  # an editor's session is its editor's to end, unless named
        chosen = [s for s in snapshot.nameable if s.kind != "editor"]
    elif settings.places == 1:  # one session allowed, of any CLI: whatever runs is what is meant
        chosen = [s for s in found if s.kind != "editor"]
    else:
        one = choose(snapshot, settings, reporter)
        chosen = [one] if one is not None else []
    outcome = StopOutcome(stopped=False, running=len(snapshot.nameable if everything else found), idle=idle,
                          idle_at_least=idle_at_least)
    outside = Census([s.unmanaged for s in chosen if s.unmanaged is not None],
                     [s.background for s in chosen if s.background is not None])
    if outside.total and not force and not reporter.confirm_end(outside):
        log_event(paths.log_file, "refused", reason="declined", pids=[s.pid for s in outside.unmanaged],
                  background=[s.short for s in outside.background])
        outcome.declined = outside
        outside = Census([], [])
    for session in chosen:
        if session.holder is not None:
            ended = _end_supervised(paths, settings, adapter, session.holder, patience, reporter)
            if ended.how is not None:
                outcome.holders.append(ended)
    if outside.total:
        ended_others = end_others(paths, settings, adapter, outside, force=True, reporter=reporter,
                                  how_to="csup stop --force" + (f" {target}" if target else ""), cause="stop")
        outcome.unmanaged_ended += [session.pid for session in ended_others.sessions]
        outcome.unmanaged_left += [session.pid for session in ended_others.left_running]
        outcome.background_ended += ended_others.background
    outcome.stopped = bool(outcome.holders or outcome.unmanaged_ended
                           or any(bg.gone for bg in outcome.background_ended))
    return outcome


def _end_supervised(paths: Paths, settings: Settings, adapter: SessionSource, holder: Holder, patience: float | None,
                    reporter: Reporter) -> HolderEnded:
    """Ask the holder's csup to end its session (escalating when it does not answer). A supervised
    attach shows a background session: that session is what the user means, and it ends through its daemon
    (the attach then leaves by itself, as its CLI's client does when its session exits)."""
    lock = FileFlock(holder.slot.lock_file)
    record = holder.record
    try:
        if lock.try_acquire():
            # Nobody holds the session: the record names a process that is no csup of ours.
            return HolderEnded(record, None, None)
        shown = _attached_session(adapter, record.attached)
        if shown is not None:
            ended = end_background(paths, adapter, shown, "stop")
            if ended.gone and lock.try_acquire(timeout=ending.DETACH_WAIT):
                log_event(paths.log_file, "stopped", holder=record.session_id, how="asked", short=shown.short)
                return HolderEnded(record, "asked", None, background=ended)
        answer_within = patience if patience is not None else settings.stop_wait
        how = ending.end_holder(paths, holder.slot, record, "stop", lock, answer_within, reporter.escalation)
        if record.state == "asleep":
            ending.clear_asleep_place(holder.slot)
    finally:
        lock.release()
    log_event(paths.log_file, "stopped", holder=record.session_id, how=how)
    return HolderEnded(record, how, resume_of(adapter, conversation_in(record)))


def _attached_session(adapter: SessionSource, attached: str | None) -> LiveSession | None:
    if attached is None:
        return None
    from supervisor.flows.census import names

    return next((s for s in adapter.live_sessions() if s.kind == "background" and names(s, attached)), None)


def choose(snapshot: Snapshot, settings: Settings, reporter: Reporter, for_cli: str | None = None
           ) -> AnySession | None:
    """The session a stop or takeover that names none means (core/policy.choose_to_end), said before anything is
    done to it; None when there is none at all; NothingToEnd when every one is in use. A takeover starting
    `for_cli` chooses among the sessions counted with it (a CLI with a limit of its own: its own sessions)."""
    from supervisor.core.policy import Limits, choose_to_end
    from supervisor.flows.refusals import NothingToEnd

    seen = [s.seen() for s in snapshot.sessions if s.kind != "editor"]
    if for_cli is not None:
        seen = Limits(settings.max_sessions, settings.cli_limits, settings.count_editor_sessions).counted_with(
            for_cli, seen)[0]
    if not seen:
        return None
    choice = choose_to_end(seen, settings.waiting_limit)
    if choice.chosen is None:
        raise NothingToEnd([(snapshot.by_key(seen.key), why) for seen, why in choice.kept])
    chosen = snapshot.by_key(choice.chosen.key)
    assert chosen is not None
    reporter.chosen(chosen)
    return chosen
