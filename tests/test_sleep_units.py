"""Sleep and wake's decisions as tables (core/sleep.py): sleep or end, what a line typed at the asleep prompt
leads to, which wakes resume and which only offer a new conversation, the draft a wake keeps, the memory a
sleep frees; that a background command keeps a session awake (Claude Code's `shell`); and the log's lines."""

from __future__ import annotations

import pytest

from supervisor.clis.claude_registry import working
from supervisor.core.log_summary import summarise_log
from supervisor.core.sleep import Freed, draft_of, plan_wake, read_answer, why_not_asleep


@pytest.mark.parametrize("action, end_kind, facts, sleeps", [
    ("sleep", "idle", {}, True),
    ("sleep", "make-room", {}, True),
    ("sleep", "memory", {}, True),
    ("end", "idle", {}, False),  # idle_action end: as before
    ("sleep", None, {}, False),  # the CLI left by itself
    ("sleep", "stop", {}, False),  # stopped, taken over, a signal: an end
    ("sleep", "takeover", {}, False),
    ("sleep", "signal", {}, False),
    ("sleep", "idle", {"resumable": False}, False),  # no conversation csup can resume (any program, no prompt yet)
    ("sleep", "idle", {"suspended": True}, False),  # Ctrl-Z: the shell has the terminal
    ("sleep", "idle", {"terminal_gone": True}, False),
    ("sleep", "idle", {"attached": True}, False),  # an attach: its daemon keeps the session
])
def test_sleep_or_end(action: str, end_kind: str | None, facts: dict[str, bool], sleeps: bool) -> None:
    why = why_not_asleep(action, end_kind, **({"resumable": True} | facts))
    assert (why is None) is sleeps


@pytest.mark.parametrize("line, answer", [
    (b"\n", "wake"), (b" \n", "wake"), (b"fix the tests\n", "wake"), (b"q\n", "leave"), (b"Quit\n", "leave"),
    (b"", "leave"),  # Ctrl-D: the end of input
    (b"n\n", "new"), (b"new\n", "new"),
])
def test_a_line_at_the_asleep_prompt(line: bytes, answer: str) -> None:
    assert read_answer(line) == answer


@pytest.mark.parametrize("answer, open_elsewhere, resume_failed, plan", [
    ("wake", False, False, "resume"),
    ("new", False, False, "resume"),  # nothing wrong with the conversation: n is a wake like any other line
    ("wake", True, False, "offer-new"),  # never a second resume of a live conversation
    ("new", True, False, "new"),
    ("wake", False, True, "offer-new"),  # never an empty session passed off as the old one
    ("new", False, True, "new"),
    ("leave", True, True, "leave"),
])
def test_which_wakes_resume(answer: str, open_elsewhere: bool, resume_failed: bool, plan: str) -> None:
    assert plan_wake(answer, open_elsewhere=open_elsewhere, resume_failed=resume_failed) == plan  # type: ignore[arg-type]


def test_the_line_that_woke_it_is_kept_as_a_draft() -> None:
    assert draft_of(b"fix the tests\n", "wake") == b"fix the tests"
    assert draft_of(b"\n", "wake") == b"" and draft_of(b"n\n", "new") == b""


def test_the_memory_freed_is_what_is_gone() -> None:
    assert Freed(400, 0).bytes == 400
    assert Freed(400, 150, (7,)).bytes == 250  # a survivor's memory is not counted as freed
    assert Freed(None).bytes is None


def test_a_background_command_is_work() -> None:
    assert working("shell") == "busy" and working("idle") == "idle" and working("waiting") == "waiting"


def test_the_log_shows_sleeps_and_wakes_and_counts_sessions_once() -> None:
    events = [
        {"event": "started", "ts": 100.0, "session": "s1", "cwd": "/w"},
        {"event": "slept", "ts": 2000.0, "session": "s1", "reason": "idle for 30m (limit 30m)", "freed": 1 << 28,
         "resume": "claude --resume c1"},
        {"event": "woke", "ts": 3000.0, "session": "s1", "to_first_output": 0.4},
        {"event": "ended", "ts": 4000.0, "session": "s1", "how": "exit", "code": 0, "resume": "claude --resume c1"},
    ]
    summary = summarise_log(events, 10)
    assert [e["how"] for e in summary["entries"]] == ["slept", "woke", "exit"]
    assert summary["total"] == 1 and summary["ended_by"] == {"slept": 1, "exit": 1}
    assert summary["entries"][0]["started"] is None  # a sleep is no span from the start
