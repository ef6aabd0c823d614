"""`csup stop`, and ending claude sessions that run outside csup (for stop and takeover): the holder is asked
through `ending`; unmanaged sessions are ended only with consent, with their process trees. Side effects:
signals, the lock, the log."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from supervisor.claude.adapter import CliAdapter, Conversation
from supervisor.core.settings import Settings
from supervisor.flows import ending
from supervisor.flows.refusals import UnmanagedRunning
from supervisor.flows.reporting import Reporter, StopOutcome, UnmanagedSession
from supervisor.machine import processes
from supervisor.machine.events import log_event
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths
from supervisor.machine.record import live_record


def unmanaged_sessions(adapter: CliAdapter, managed: set[int] | None = None) -> list[UnmanagedSession]:
    """Claude sessions outside csup, each with what a person needs to recognise it."""
    from supervisor.flows.status import describe_unmanaged

    return [describe_unmanaged(view, adapter, time.time(), None)
            for view in processes.find_unmanaged(adapter, managed=managed or set())]


@dataclass
class UnmanagedEnded:
    sessions: list[UnmanagedSession] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)  # resumable ones, most recently active first


def end_unmanaged(paths: Paths, settings: Settings, adapter: CliAdapter, *, force: bool, reporter: Reporter,
                  how_to: str, cause: str) -> UnmanagedEnded:
    """Claude sessions outside csup: ended (SIGTERM, then SIGKILL with their trees) only with consent."""
    sessions = unmanaged_sessions(adapter)
    if not sessions:
        return UnmanagedEnded()
    if not force and not reporter.confirm_end(sessions):
        log_event(paths.log_file, "refused", reason="unmanaged", pids=[s.view.pid for s in sessions])
        raise UnmanagedRunning(sessions, left_running=how_to)
    recent: list[tuple[float, Conversation]] = []
    for session in sessions:
        conversation = adapter.conversation_of(session.view.pid)
        if conversation is not None and adapter.can_resume(conversation):
            state = adapter.live_state(session.view.pid)
            active = state.changed_wall if state is not None and state.changed_wall else session.view.start_time
            recent.append((active, conversation))
    victims = []
    for session in sessions:
        victims += [session.view.identity, *processes.descendants(session.view.pid)]
    processes.terminate(victims, settings.term_wait)
    for session in sessions:
        log_event(paths.log_file, "ended-unmanaged", cli_pid=session.view.pid, how=cause,
                  cmdline=" ".join(session.view.cmdline)[:200])
    recent.sort(key=lambda pair: pair[0], reverse=True)
    return UnmanagedEnded(sessions, [conversation for _, conversation in recent])


def stop(paths: Paths, settings: Settings, adapter: CliAdapter, *, force: bool, patience: float | None,
         reporter: Reporter) -> StopOutcome:
    """`csup stop`: end the session from anywhere; start nothing."""
    outcome = StopOutcome(stopped=False)
    holder = live_record(paths.record_file)
    if holder is not None:
        session = FileFlock(paths.lock_file)
        answer_within = patience if patience is not None else settings.stop_wait
        how = ending.end_holder(paths, holder, "stop", session, answer_within, reporter.escalation)
        session.release()
        log_event(paths.log_file, "stopped", holder=holder.session_id, how=how)
        resume = None
        if holder.claude_session_id and adapter.can_resume(Conversation(holder.claude_session_id, holder.cwd)):
            resume = adapter.resume_command(holder.claude_session_id)
        outcome = StopOutcome(stopped=True, holder=holder, how=how, resume=resume)
    ended = end_unmanaged(paths, settings, adapter, force=force, reporter=reporter, how_to="csup stop --force",
                          cause="stop")
    if ended.sessions:
        outcome = StopOutcome(stopped=True, holder=outcome.holder, how=outcome.how, resume=outcome.resume,
                              unmanaged_ended=[session.view.pid for session in ended.sessions])
    return outcome
