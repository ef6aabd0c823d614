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
from supervisor.flows.reporting import BackgroundEnded, Reporter, StopOutcome
from supervisor.machine import processes
from supervisor.machine.events import log_event
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths
from supervisor.machine.record import live_record


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
         reporter: Reporter) -> StopOutcome:
    """`csup stop`: end the session from anywhere; start nothing."""
    outcome = StopOutcome(stopped=False)
    holder = live_record(paths.record_file)
    session = FileFlock(paths.lock_file)
    if holder is not None and session.try_acquire():
        session.release()  # nobody holds the session: the record names a process that is no csup of ours
        holder = None
    if holder is not None:
        answer_within = patience if patience is not None else settings.stop_wait
        how = ending.end_holder(paths, holder, "stop", session, answer_within, reporter.escalation)
        session.release()
        log_event(paths.log_file, "stopped", holder=holder.session_id, how=how)
        resume = None
        if holder.claude_session_id and adapter.can_resume(Conversation(holder.claude_session_id, holder.cwd)):
            resume = adapter.resume_command(holder.claude_session_id)
        outcome = StopOutcome(stopped=True, holder=holder, how=how, resume=resume)
    ended = end_others(paths, settings, adapter, take_census(adapter), force=force, reporter=reporter,
                       how_to="csup stop --force", cause="stop")
    if ended.sessions or ended.background:
        outcome = StopOutcome(stopped=True, holder=outcome.holder, how=outcome.how, resume=outcome.resume,
                              unmanaged_ended=[session.pid for session in ended.sessions],
                              background_ended=ended.background)
    return outcome
