"""Fakes for the flows' collaborators, for table tests that run in milliseconds: a clock whose time moves only
when someone sleeps on it (or a test moves it), a reporter that records what it was told, and snapshot values."""

from __future__ import annotations

from typing import Any


class FakeClock:
    """The three clocks of machine/clock.Clock: sleeping moves both forward at once, and nothing else does."""

    def __init__(self, wall: float = 1_000_000.0, mono: float = 100.0) -> None:
        self.now_wall, self.now_mono = wall, mono
        self.slept = 0.0

    def wall(self) -> float:
        return self.now_wall

    def mono(self) -> float:
        return self.now_mono

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        self.slept += max(0.0, seconds)

    def both(self) -> tuple[float, float]:
        return self.now_wall, self.now_mono

    def advance(self, seconds: float) -> None:
        self.now_wall += seconds
        self.now_mono += seconds


class RecordingReporter:
    """The face's port, recording each call as (name, value); confirm_end answers `consent`."""

    def __init__(self, consent: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.consent = consent

    def said(self, name: str) -> list[Any]:
        return [value for called, value in self.calls if called == name]

    def waiting(self, progress: Any) -> None:
        self.calls.append(("waiting", progress))

    def escalation(self, step: Any) -> None:
        self.calls.append(("escalation", step))

    def done_waiting(self) -> None:
        self.calls.append(("done_waiting", None))

    def resume_decision(self, decision: Any) -> None:
        self.calls.append(("resume_decision", decision))

    def session_ended(self, end: Any) -> None:
        self.calls.append(("session_ended", end))

    def notice(self, notice: Any) -> tuple[str, str]:
        self.calls.append(("notice", notice))
        return ("title", "body")

    def countdown_title(self, left: float) -> str:
        return f"{left:.0f}s"

    def confirm_end(self, found: Any) -> bool:
        self.calls.append(("confirm_end", found))
        return self.consent

    def chosen(self, session: Any) -> None:
        self.calls.append(("chosen", session))

    def watch_event(self, event: Any) -> None:
        self.calls.append(("watch_event", event))

    def room_made(self, made: Any) -> None:
        self.calls.append(("room_made", made))

    def asleep(self, note: Any) -> None:
        self.calls.append(("asleep", note))

    def wake_refused(self, refusal: Any) -> None:
        self.calls.append(("wake_refused", refusal))

    def prepare_last_words(self) -> None:
        self.calls.append(("prepare_last_words", None))
