"""The clocks csup reads, as one collaborator: the wall clock (for times shown and stored), the monotonic clock
(for deadlines) and sleeping. Flows take a `Clock` as an argument, so their logic runs in tables against a fake
one in milliseconds; `wait_until` is the one poll loop. Side effects: reading the time, sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    """The real clocks. A test's fake has the same three methods and moves time forward when it sleeps."""

    def wall(self) -> float:
        return time.time()

    def mono(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def both(self) -> tuple[float, float]:
        """Wall and monotonic time read together (a snapshot's `now`)."""
        return self.wall(), self.mono()


SYSTEM = Clock()


def wait_until(predicate: Callable[[], object], within: float, clock: Clock = SYSTEM, every: float = 0.1) -> bool:
    """Ask `predicate` until it holds or `within` seconds have passed (asked once more at the end); True when it
    held. The one way a flow waits for something that says nothing when it happens (a process gone, a file)."""
    deadline = clock.mono() + within
    while True:
        if predicate():
            return True
        left = deadline - clock.mono()
        if left <= 0:
            return bool(predicate())
        clock.sleep(min(every, left))
