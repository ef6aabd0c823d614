"""The graceful shutdown plan: timed steps from the politest to SIGKILL. Pure: it says which step is due; the
session carries the steps out and reports what each did."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

Action = Literal["keys", "term_cli", "term_tree", "kill_all"]
KILL_WAIT = 2.0  # after SIGKILL only a process stuck in the kernel survives; do not wait on it for long


class Step(NamedTuple):
    action: Action
    wait: float  # how long to wait for the CLI to exit before the next step


def default_steps(cfg: Any, *, exit_keys: bool) -> list[Step]:
    """The CLI's own polite exit (keys typed into it, for a CLI that has them), then SIGTERM (a CLI's usual way
    out: it saves and prints the resume command), then its tree."""
    steps = [Step("keys", cfg.exit_keys_wait)] if exit_keys else []
    steps += [Step("term_cli", cfg.term_wait), Step("term_tree", cfg.tree_wait), Step("kill_all", KILL_WAIT)]
    return steps


class ShutdownPlan:
    def __init__(self, steps: list[Step], reason: str, started_at: float) -> None:
        self.steps, self.reason, self.started_at = steps, reason, started_at
        self.taken: list[tuple[Action, str]] = []  # each step done, with what it did
        self._index = -1
        self._next_at = started_at  # the first step is due at once

    def due(self, now: float) -> Step | None:
        """The next step, if its time has come; each step is returned once."""
        if self.exhausted or now < self._next_at:
            return None
        self._index += 1
        step = self.steps[self._index]
        self._next_at = now + step.wait
        return step

    def note(self, action: Action, outcome: str) -> None:
        self.taken.append((action, outcome))

    @property
    def exhausted(self) -> bool:
        return self._index + 1 >= len(self.steps)

    def deadline(self) -> float | None:
        return self._next_at

    def past_last_wait(self, now: float) -> bool:
        """Every step taken and the last wait over: stop waiting for the CLI."""
        return self.exhausted and now >= self._next_at
