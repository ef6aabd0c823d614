"""Sleep and wake, decided: whether a session's idle end is a sleep (its CLI's tree ends, its terminal keeps its
place) or an end, and what a line typed at the asleep prompt leads to — resume the same conversation, offer a
new one (the conversation is open elsewhere, or its resume failed), or leave. Pure: values in, a decision out;
tested as tables (tests/test_sleep_units.py)."""

from __future__ import annotations

from typing import Literal, NamedTuple

# What puts a session to sleep: its idle limit, or the policy choosing it to make room or for the memory budget.
SLEEP_CAUSES = frozenset({"idle", "make-room", "memory"})
RESUME_GRACE = 5.0  # a resumed CLI that exits with an error sooner than this did not resume
LEAVE_WORDS = frozenset({"q", "quit", "exit"})
NEW_WORDS = frozenset({"n", "new"})

Answer = Literal["wake", "new", "leave"]
Plan = Literal["resume", "new", "offer-new", "leave"]


def why_not_asleep(idle_action: str, end_kind: str | None, *, resumable: bool, attached: bool = False,
                   suspended: bool = False, terminal_gone: bool = False) -> str | None:
    """None when the session's end is a sleep; otherwise why it ends for good (what the log says)."""
    if end_kind not in SLEEP_CAUSES:
        return "it did not end for idleness"
    if idle_action != "sleep":
        return "idle_action is end"
    if terminal_gone:
        return "its terminal is gone"
    if suspended:
        return "it was suspended (Ctrl-Z)"  # the shell owns the terminal: nobody could press Enter there
    if attached:
        return "it showed a background session (its daemon keeps it)"
    if not resumable:
        return "it has no conversation to resume"
    return None


def read_answer(line: bytes) -> Answer:
    """A line typed at the asleep prompt: end of input (Ctrl-D) or q leaves, n asks for a new conversation,
    anything else (Enter) wakes."""
    if not line:
        return "leave"
    word = line.strip().lower()
    if word.decode(errors="replace") in LEAVE_WORDS:
        return "leave"
    if word.decode(errors="replace") in NEW_WORDS:
        return "new"
    return "wake"


def plan_wake(answer: Answer, *, open_elsewhere: bool, resume_failed: bool) -> Plan:
    """What a wake does: resume the conversation — never while it is open elsewhere (a second resume of a live
    conversation overwrites it) nor after its resume failed (an empty session is never passed off as the old
    one); then only a new conversation, when asked for (`n`), is offered."""
    if answer == "leave":
        return "leave"
    if open_elsewhere or resume_failed:
        return "new" if answer == "new" else "offer-new"
    return "resume"


def draft_of(line: bytes, answer: Answer) -> bytes:
    """What the user typed on the line that woke the session: given to the CLI as a draft in its prompt (not
    sent), so nothing typed is lost. A command word (n) is no draft."""
    if answer != "wake":
        return b""
    return line.rstrip(b"\r\n")


class Freed(NamedTuple):
    """The memory a sleep gave back: what the CLI's tree held before its end, less what is still there."""

    held: int | None  # measured before the end; None when it could not be
    kept: int = 0  # of it, still held by processes of the tree that survived the end
    survivors: tuple[int, ...] = ()

    @property
    def bytes(self) -> int | None:
        return None if self.held is None else max(0, self.held - self.kept)
