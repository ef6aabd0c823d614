"""The decisions taken while a session runs: when to shut down and which shutdown step is next. Driven by the
relay's events with an injected clock; its side effects go through the relay and the `Actions` it is given."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from .procs import ProcessIdentity, signal_name
from .shutdown import ShutdownPlan, Step


@dataclass
class Actions:
    """The side effects the controller may take, passed in so tests can watch them."""

    snapshot_tree: Callable[[], list[ProcessIdentity]]
    signal_verified: Callable[[ProcessIdentity, int], bool]


class RelayHandle:
    """The part of PtyRelay the controller uses (a Protocol in spirit; kept small)."""

    child_exited: bool

    def send_to_child(self, data: bytes) -> None: ...
    def signal_child(self, signum: int, *, group: bool = False) -> bool: ...
    def abandon(self) -> None: ...


SIGNAL_REASONS = {
    signal.SIGTERM: "csup received SIGTERM",
    signal.SIGHUP: "the terminal was closed",
}


@dataclass
class SessionController:
    steps: list[Step]
    actions: Actions
    exit_keys: bytes = b""
    relay: RelayHandle | None = None
    shutdown: ShutdownPlan | None = None
    tree: list[ProcessIdentity] = field(default_factory=list)
    end_reason: str | None = None
    end_kind: str | None = None  # "idle", "signal", "stop", "takeover": why csup ended it, None if the CLI did

    # --- relay events ---

    def deadline(self) -> float | None:
        return self.shutdown.deadline() if self.shutdown else None

    def on_wake(self, now: float) -> None:
        if self.shutdown is not None:
            self._advance_shutdown(now)

    def on_input(self, data: bytes, now: float) -> None:
        return None

    def on_output(self, data: bytes, now: float) -> None:
        return None

    def on_resize(self, now: float) -> None:
        return None

    def on_signal(self, signum: int, now: float) -> None:
        self.request_shutdown(SIGNAL_REASONS.get(signum, f"csup received {signal_name(signum)}"), "signal", now)

    # --- shutdown ---

    def request_shutdown(self, reason: str, kind: str, now: float) -> None:
        """Idempotent: a second request (SIGHUP after SIGTERM) does not restart the plan."""
        if self.shutdown is not None:
            return
        self.end_reason, self.end_kind = reason, kind
        self.shutdown = ShutdownPlan(list(self.steps), reason, now)
        self._advance_shutdown(now)

    def _advance_shutdown(self, now: float) -> None:
        assert self.shutdown is not None and self.relay is not None
        if self.relay.child_exited:
            return
        if self.shutdown.past_last_wait(now):
            self.relay.abandon()
            return
        step = self.shutdown.due(now)
        if step is None:
            return
        if not self.tree:
            # Before the first signal: tool children live in their own sessions, outside the CLI's group, and
            # once the CLI is gone they can no longer be found through it.
            self.tree = self.actions.snapshot_tree()
        self.shutdown.note(step.action, self._carry_out(step))

    def _carry_out(self, step: Step) -> str:
        assert self.relay is not None
        if step.action == "keys":
            self.relay.send_to_child(self.exit_keys)
            return f"typed {len(self.exit_keys)} exit key(s)"
        if step.action == "term_cli":
            return "SIGTERM to the CLI" if self.relay.signal_child(signal.SIGTERM) else "the CLI was gone"
        if step.action == "term_tree":
            sent = sum(self.actions.signal_verified(proc, signal.SIGTERM) for proc in self.tree)
            self.relay.signal_child(signal.SIGTERM, group=True)
            return f"SIGTERM to the CLI's group and {sent} descendant(s)"
        sent = sum(self.actions.signal_verified(proc, signal.SIGKILL) for proc in self.tree)
        self.relay.signal_child(signal.SIGKILL, group=True)
        return f"SIGKILL to the CLI's group and {sent} descendant(s)"

    def leftover_descendants(self) -> list[ProcessIdentity]:
        """Descendants recorded before the shutdown, to be ended even when the CLI itself left quickly."""
        return list(self.tree) if self.shutdown is not None else []
