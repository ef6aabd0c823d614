"""`csup stop`, and ending the sessions that run outside csup (for stop and takeover): the holder is asked
through `ending`; unmanaged interactive sessions are ended with their process trees, background sessions through
Claude Code's daemon (never a signal); both only with consent. Side effects: signals, the daemon, the lock, the
log."""

from __future__ import annotations

from dataclasses import dataclass, field

from supervisor.claude.adapter import CliAdapter, Conversation, LiveSession
from supervisor.core.settings import Settings
from supervisor.flows import ending
from supervisor.flows.census import Census, UnmanagedSession, take_census
from supervisor.flows.refusals import UnmanagedRunning
from supervisor.flows.reporting import BackgroundEnded, HolderEnded, Reporter, StopOutcome
from supervisor.machine import processes
from supervisor.machine.events import log_event
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths
from supervisor.machine.record import Holder, live_holders


@dataclass
class OthersEnded:
    sessions: list[UnmanagedSession] = field(default_factory=list)
    background: list[BackgroundEnded] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)  # resumable ones, most recently active first


def end_others(paths: Paths, settings: Settings, adapter: CliAdapter, found: Census, *, force: bool,
               reporter: Reporter, how_to: str, cause: str) -> OthersEnded:
    """Claude sessions outside csup: ended only with consent (--force, or a yes on the terminal). Interactive
    ones get SIGTERM, then SIGKILL with their trees; background ones `claude stop` through their daemon."""
    if not found.count:
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
    victims = []
    for session in found.unmanaged:
        victims += [session.view.identity, *processes.descendants(session.pid)]
    processes.terminate(victims, settings.term_wait)
    for session in found.unmanaged:
        log_event(paths.log_file, "ended-unmanaged", cli_pid=session.pid, how=cause,
                  cmdline=" ".join(session.view.cmdline)[:200])
    recent.sort(key=lambda pair: pair[0], reverse=True)
    ended = OthersEnded(found.unmanaged, [], [conversation for _, conversation in recent])
    for background in found.background:
        ended.background.append(end_background(paths, adapter, background, cause))
    return ended


def end_background(paths: Paths, adapter: CliAdapter, session: LiveSession, cause: str,
                   reason: str | None = None) -> BackgroundEnded:
    gone = adapter.end_background(session, ending.BACKGROUND_WAIT)
    bring_back = adapter.bring_back_command(session)
    log_event(paths.log_file, "ended-background", short=session.short, name=session.name, how=cause,
              reason=reason or f"csup {cause}", gone=gone, resume=bring_back, cli_pid=session.pid)
    return BackgroundEnded(session.short, session.name, gone, bring_back)


def stop(paths: Paths, settings: Settings, adapter: CliAdapter, *, force: bool, patience: float | None,
         reporter: Reporter, target: str | None = None, idle_at_least: float | None = None) -> StopOutcome:
    """`csup stop`: end sessions from anywhere; start nothing. Which ones: those idle at least `idle_at_least`;
    else the one `target` names; else, with one session allowed, every session there is (there should be one);
    else the most idle one, said before it is ended. Naming a session is consent to end it."""
    from supervisor.flows.sessions import everyone, resolve

    if idle_at_least is None and target is None and settings.max_sessions == 1:
        return _stop_all(paths, settings, adapter, force=force, patience=patience, reporter=reporter)
    found = everyone(paths, settings.max_sessions, adapter)
    if idle_at_least is not None:
        chosen = [s for s in found if s.idle_seconds is not None and s.idle_seconds >= idle_at_least]
    elif target is not None:
        chosen = [resolve(found, target)]
        force = True
    else:
        chosen = found[:1]
        if chosen:
            reporter.chosen(chosen[0])
    outcome = StopOutcome(stopped=False)
    unmanaged = [s.unmanaged for s in chosen if s.unmanaged is not None]
    background = [s.background for s in chosen if s.background is not None]
    for session in chosen:
        if session.holder is not None:
            outcome.holders.append(_end_supervised(paths, settings, adapter, session.holder, patience, reporter))
    if unmanaged or background:
        ended = end_others(paths, settings, adapter, Census(unmanaged, background), force=force, reporter=reporter,
                           how_to="csup stop --force" + (f" {target}" if target else ""), cause="stop")
        outcome.unmanaged_ended += [session.pid for session in ended.sessions]
        outcome.background_ended += ended.background
    outcome.stopped = bool(outcome.holders or outcome.unmanaged_ended or outcome.background_ended)
    return outcome


def _end_supervised(paths: Paths, settings: Settings, adapter: CliAdapter, holder: Holder, patience: float | None,
                    reporter: Reporter) -> HolderEnded:
    lock = FileFlock(holder.slot.lock_file)
    try:
        if lock.try_acquire():
            # Nobody holds the session: the record names a process that is no csup of ours.
            return HolderEnded(holder.record, None, None)
        answer_within = patience if patience is not None else settings.stop_wait
        how = ending.end_holder(paths, holder.slot, holder.record, "stop", lock, answer_within, reporter.escalation)
    finally:
        lock.release()
    log_event(paths.log_file, "stopped", holder=holder.record.session_id, how=how)
    record = holder.record
    resume = None
    if record.claude_session_id and adapter.can_resume(Conversation(record.claude_session_id, record.cwd)):
        resume = adapter.resume_command(record.claude_session_id)
    return HolderEnded(record, how, resume)


def _stop_all(paths: Paths, settings: Settings, adapter: CliAdapter, *, force: bool, patience: float | None,
              reporter: Reporter) -> StopOutcome:
    """One session allowed: end the supervised one and, with consent, every other there is."""
    outcome = StopOutcome(stopped=False)
    for holder in live_holders(paths.known_slots(settings.max_sessions)):
        ended = _end_supervised(paths, settings, adapter, holder, patience, reporter)
        if ended.how is not None:
            outcome.holders.append(ended)
    ended_others = end_others(paths, settings, adapter, take_census(adapter), force=force, reporter=reporter,
                              how_to="csup stop --force", cause="stop")
    outcome.unmanaged_ended += [session.pid for session in ended_others.sessions]
    outcome.background_ended += ended_others.background
    outcome.stopped = bool(outcome.holders or outcome.unmanaged_ended or outcome.background_ended)
    return outcome
