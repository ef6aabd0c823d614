"""Making room at the limit (the `make_room` setting): instead of refusing a new session, end the most idle session
that has been idle at least that long — the policy chooses (core/policy.admit), never a busy one, one waiting
for the user, an attached or a pinned one — gracefully and the way its kind is ended (a supervised one is asked
as `csup stop` asks, a background one through Claude Code's daemon, an unmanaged one only where `end_unmanaged`
allows), and wait until it is gone. Racing starts decide one at a time under the gate, so together they end no
more than the limit requires, and never a session one of them just started (it is not idle long enough).
Side effects: those of ending a session, the log."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from supervisor.claude.adapter import CliAdapter, Conversation
from supervisor.core.policy import Kind, admit
from supervisor.core.settings import Settings
from supervisor.flows import ending
from supervisor.flows.refusals import AtLimit
from supervisor.flows.reporting import RoomMade
from supervisor.flows.sessions import AnySession, Snapshot
from supervisor.machine import processes
from supervisor.machine.events import log_event
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths

if TYPE_CHECKING:
    from supervisor.flows.reporting import Reporter


def may_end(settings: Settings, supervised_only: bool = False) -> frozenset[Kind]:
    if supervised_only:  # every place is held: only ending a supervised session frees one
        return frozenset({"supervised"})
    kinds: set[Kind] = {"supervised", "background"}
    if settings.end_unmanaged:
        kinds.add("unmanaged")
    return frozenset(kinds)


def make_room(paths: Paths, settings: Settings, adapter: CliAdapter, reporter: Reporter, snapshot: Snapshot,
              others: list[AnySession], *, starting: int = 0, supervised_only: bool = False) -> RoomMade:
    """End the one session the policy names to make room for this one, and wait until it is gone; AtLimit (the
    usual refusal, listing every session most idle first) when none qualifies or it would not end."""
    assert settings.make_room is not None
    decision = admit([s.seen() for s in others], settings.max_sessions, starting=starting,
                     make_room_after=settings.make_room, may_end=may_end(settings, supervised_only),
                     memory_budget=settings.memory_budget)
    chosen = snapshot.by_key(decision.make_room.key) if decision.make_room is not None else None
    if chosen is None:
        raise AtLimit(others, settings.max_sessions)
    me = f"pid {os.getpid()} on {processes.own_tty() or 'no terminal'}"
    reason = f"made room for {me} (make_room)"
    idle = chosen.idle_seconds or 0.0
    gone, resume = end_session(paths, settings, adapter, reporter, chosen, reason, ending.MAKE_ROOM)
    log_event(paths.log_file, "made-room", kind=chosen.kind, id=chosen.id, cli_pid=chosen.pid, cwd=chosen.cwd,
              idle=round(idle, 1), gone=gone, resume=resume, reason=reason)
    if not gone:
        raise AtLimit(others, settings.max_sessions)
    return RoomMade(chosen, idle, resume, chosen.cwd)


def end_session(paths: Paths, settings: Settings, adapter: CliAdapter, reporter: Reporter, chosen: AnySession,
                reason: str, cause: str) -> tuple[bool, str | None]:
    """End one session its kind's way, for `cause` (make-room, memory): a supervised one asked as `csup stop`
    asks, a background one through its daemon, an unmanaged one with SIGTERM, then SIGKILL; (gone, the command
    that brings it back)."""
    from supervisor.flows.stop import end_background, end_unmanaged

    if chosen.background is not None:
        ended = end_background(paths, adapter, chosen.background, cause, reason=reason)
        return ended.gone, ended.bring_back
    if chosen.unmanaged is not None:
        conversation = adapter.conversation_of(chosen.unmanaged.pid)
        gone = end_unmanaged(paths, settings, adapter, [chosen.unmanaged], cause, reason=reason)
        resume = adapter.resume_command(conversation.id) \
            if conversation is not None and adapter.can_resume(conversation) else None
        return gone, resume
    assert chosen.holder is not None
    holder = chosen.holder
    lock = FileFlock(holder.slot.lock_file)
    try:
        if not lock.try_acquire():
            ending.end_holder(paths, holder.slot, holder.record, cause, lock, settings.stop_wait,
                              reporter.escalation)
    finally:
        lock.release()  # the place is claimed by whoever is first through the gate: the newcomer holds it
    record = holder.record
    gone = ending.wait_gone(record.cli, settings.term_wait)
    resume = None
    if record.claude_session_id and adapter.can_resume(Conversation(record.claude_session_id, record.cwd)):
        resume = adapter.resume_command(record.claude_session_id)
    return gone, resume
