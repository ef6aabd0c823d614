"""Ending one chosen session its kind's way, for a reason the policy gave (making room for a new session, the
memory budget): a supervised one is asked as `csup stop` asks, a background one through its CLI's daemon,
an unmanaged one with SIGTERM, then SIGKILL (each signal to a proven process); then it is waited for. Which
session, and whether at all, is core/policy's decision (flows/admission.py and the watcher carry it out).
Side effects: those of ending a session, the log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from supervisor.clis.adapter import SessionSource
from supervisor.core.settings import Settings
from supervisor.flows import ending
from supervisor.flows.sessions import AnySession, conversation_in, resume_of
from supervisor.machine.clock import SYSTEM, Clock
from supervisor.machine.lock import FileFlock
from supervisor.machine.paths import Paths

if TYPE_CHECKING:
    from supervisor.flows.reporting import Reporter


def end_session(paths: Paths, settings: Settings, adapter: SessionSource, reporter: Reporter, chosen: AnySession,
                reason: str, cause: str, clock: Clock = SYSTEM) -> tuple[bool, str | None]:
    """End one session its kind's way, for `cause` (make-room, memory); (gone, the command that brings it back)."""
    from supervisor.flows.stop import end_background, end_unmanaged

    if chosen.background is not None:
        ended = end_background(paths, adapter, chosen.background, cause, reason=reason)
        return ended.gone, ended.bring_back
    if chosen.unmanaged is not None:
        conversation = adapter.conversation_of(chosen.unmanaged.pid)
        gone = end_unmanaged(paths, settings, adapter, [chosen.unmanaged], cause, reason=reason)
        return gone, resume_of(adapter, conversation)
    assert chosen.holder is not None
    holder = chosen.holder
    lock = FileFlock(holder.slot.lock_file)
    # It was chosen as idle at least this long by its record, which learns of activity every few seconds: the
    # session itself confirms, and declines when it is in use after all.
    min_idle = settings.make_room if cause == ending.MAKE_ROOM else settings.memory_min_idle
    try:
        if not lock.try_acquire() and ending.end_holder(
                paths, holder.slot, holder.record, cause, lock, settings.stop_wait, reporter.escalation,
                min_idle=min_idle) is None:
            return False, None
    finally:
        lock.release()  # the place is claimed by whoever holds the gate: the newcomer
    record = holder.record
    gone = ending.wait_gone(record.cli, settings.term_wait, clock)
    return gone, resume_of(adapter, conversation_in(record))
