"""The decisions taken while a session runs: what counts as activity, when to warn, when to end the session and
which shutdown step is next. Driven by the relay's events with the monotonic `now` they carry; every side effect
goes through the relay handle or the `Actions` it is given, so tests drive it with fakes and a fake clock."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import NamedTuple, Protocol

from supervisor.core.durations import format_duration
from supervisor.core.identity import ProcessIdentity, signal_name
from supervisor.core.idle import IdleClock, is_typed
from supervisor.core.notice import Notice
from supervisor.core.policy import waiting_spares
from supervisor.core.shutdown import Action, ShutdownPlan, Step

DRAFT_SETTLE = 0.5  # a woken CLI's first screen settles this long before the line that woke it goes to its prompt
REPAINT_GRACE = 0.5  # output this soon after a resize csup forwarded is the CLI's repaint, not activity
PUBLISH_EVERY = 5.0  # the record's last activity is rewritten at most this often (never per keystroke)
TITLE_EVERY = 5.0  # the warning's countdown in the terminal title moves this often
MIN_CPU_SPAN = 0.5  # a CPU rate over a shorter span is noise
# The CLI's status changes are wall-clock times, turned into monotonic ones at each look; the two clocks drift
# apart (NTP slews the wall clock), so the same change can look a few milliseconds newer the next time. Only a
# change later than this is a new one (it once cancelled a warning nobody had answered).
STATUS_DRIFT = 1.0


class IdleRules(NamedTuple):
    limit: float | None
    warn_before: float
    count_output: bool = True
    cpu_threshold: float = 2.0  # percent of one core; 0 disables the CPU inhibitor
    waiting_limit: float | None = None  # while the CLI waits on a permission prompt; None = never end, only warn


class CliState(NamedTuple):
    """What the CLI publishes about itself (its live-session registry)."""

    status: str  # idle, busy, waiting, …
    changed_at: float | None = None  # monotonic time of the last status change, when known


class Published(NamedTuple):
    state: str  # active, warning, ending
    last_activity: float  # monotonic
    reason: str | None = None


def _nothing(*_: object, **__: object) -> None:
    return None


class Actions(NamedTuple):
    """The side effects the controller may ask for."""

    snapshot_tree: Callable[[], list[ProcessIdentity]]
    signal_verified: Callable[[ProcessIdentity, int], bool]
    cpu_seconds: Callable[[], float | None] = lambda: None
    cli_state: Callable[[], CliState | None] = lambda: None
    notify: Callable[[Notice], None] = _nothing
    countdown_title: Callable[[float], str] = lambda left: f"{left:.0f}s"  # the face words it
    find_strays: Callable[[], list[ProcessIdentity]] = list
    publish: Callable[[Published], None] = _nothing
    # Another terminal asked (stop, takeover; SIGUSR1): what it asks for as (why, kind), or None.
    # (why, kind, and — for a request that chose it as idle — how long it must have been idle), or None.
    take_request: Callable[[], tuple[str, str, float | None] | None] = lambda: None
    decline: Callable[[str], None] = _nothing  # tell the asker the session is in use after all
    # Once the CLI has drawn its first screen: what can wait until then (the enforcer outside the pty).
    after_start: Callable[[], None] = _nothing
    event: Callable[..., None] = _nothing


class RelayHandle(Protocol):
    @property
    def child_exited(self) -> bool: ...
    def send_to_child(self, data: bytes) -> None: ...
    def signal_child(self, signum: int, *, group: bool = False) -> bool: ...
    def abandon(self) -> None: ...
    def inject(self, data: bytes) -> None: ...


SIGNAL_REASONS: dict[int, str] = {
    signal.SIGTERM: "csup received SIGTERM",
    signal.SIGHUP: "its terminal was closed",
}


def _title(text: str) -> bytes:
    return b"\x1b]2;" + text.encode(errors="replace") + b"\x07"


PUSH_TITLE = b"\x1b[22;0t"
POP_TITLE = b"\x1b[23;0t"


class SessionPolicy:
    """Built complete: the relay it acts through, the actions it may ask for, its rules and its clock. (A plain
    class: it is built on every start, after the spawn, and a dataclass's generated code costs a millisecond.)"""

    def __init__(self, steps: list[Step], actions: Actions, rules: IdleRules, clock: IdleClock, relay: RelayHandle,
                 exit_keys: bytes = b"", start_tasks_at: float | None = None,
                 stray_every: float | None = None, draft: bytes = b"", woke_at: float | None = None) -> None:
        self.steps, self.actions, self.rules, self.clock, self.relay = steps, actions, rules, clock, relay
        self.exit_keys = exit_keys
        self.start_tasks_at = start_tasks_at  # when `actions.after_start` runs (monotonic); None: never
        self.stray_every = stray_every  # how often to look for agent sessions started outside csup
        self.shutdown: ShutdownPlan | None = None
        self.tree: list[ProcessIdentity] = []
        self.end_reason: str | None = None
        self.end_kind: str | None = None  # idle, signal, stop, takeover: why csup ended it; None when the CLI did
        self.idle_at_end = 0.0
        self.warning_since: float | None = None
        self.next_stray_check: float | None = None
        self.suspended = False  # the job is stopped in the user's shell (Ctrl-Z), or runs on in its background
        self.strays_seen: set[ProcessIdentity] = set()
        self._repaint_until = 0.0
        self._probe: tuple[float, float] | None = None
        self._published: Published | None = None
        self._published_at = float("-inf")
        self._title_at = 0.0
        self._waiting_noticed = False
        # The next moment anything is due, cached: the relay asks every loop, and activity only ever moves
        # deadlines later, so a cached one is a safe lower bound (an early wake recomputes it).
        self._due: float | None = None
        self._due_known = False
        # The line typed to wake the session, for the CLI's prompt once its first screen has settled: sooner, a
        # CLI that flushes its input as it enters raw mode would lose it.
        self.draft = draft
        self._draft_at: float | None = None
        self.woke_at = woke_at  # a woken session: the moment of the Enter (monotonic), until the wake is logged
        self.first_output_at: float | None = None

    # --- relay events ---

    def deadline(self, now: float) -> float | None:
        if not self._due_known:
            self._due, self._due_known = self._compute_deadline(now), True
        return self._due

    def _compute_deadline(self, now: float) -> float | None:
        if self.shutdown is not None:
            done = self.relay.child_exited or self.shutdown.past_last_wait(now)
            return None if done else self.shutdown.deadline()
        due = [self.clock.next_deadline(now), self.next_stray_check, self.start_tasks_at, self._draft_at]
        if self.warning_since is not None and self.clock.phase(now) == "warning":
            due.append(self._title_at + TITLE_EVERY)
        if self._waiting_noticed and self.rules.waiting_limit is not None:
            due.append(self.clock.last_activity + self.rules.waiting_limit)
        if self._published is not None and self._published.last_activity != self.clock.last_activity:
            due.append(self._published_at + PUBLISH_EVERY)
        present = [t for t in due if t is not None]
        return min(present) if present else None

    def on_wake(self, now: float) -> None:
        if self._due_known and (self._due is None or now < self._due):
            return  # the relay wakes for every chunk; nothing is due
        if self.shutdown is not None:
            self._advance_shutdown(now)
        else:
            self._check_idle(now)
            if self.shutdown is None:
                self._publish(now)
                self._check_strays(now)
                if self.start_tasks_at is not None and now >= self.start_tasks_at:
                    self.start_tasks_at = None
                    self.actions.after_start()
                    self.log_wake()
                if self._draft_at is not None and now >= self._draft_at:
                    self.relay.send_to_child(self.draft)  # in its prompt, not sent: the user presses Enter
                    self.draft, self._draft_at = b"", None
        self._due_known = False

    def on_input(self, data: bytes, now: float) -> None:
        if is_typed(data):
            self._activity(now, "keystroke")

    def on_output(self, data: bytes, now: float) -> None:
        if self.first_output_at is None:
            self.first_output_at = now
        if self.rules.count_output and now >= self._repaint_until:
            self._activity(now, "output")
        if self.draft:
            self._draft_at = now + DRAFT_SETTLE  # output moves it on: it waits until the screen is quiet
            self._due_known = False

    def on_resize(self, now: float) -> None:
        self._repaint_until = now + REPAINT_GRACE

    def on_signal(self, signum: int, now: float) -> None:
        if signum == signal.SIGUSR1:
            request = self.actions.take_request()
            if request is None:
                return
            why, kind, min_idle = request
            in_use = self._in_use(now, min_idle)
            if in_use is not None:
                self.actions.decline(in_use)  # chosen as idle from a record seconds old: it is not
                return
            self.request_shutdown(why, kind, now)
            return
        self.request_shutdown(SIGNAL_REASONS.get(signum, f"csup received {signal_name(signum)}"), "signal", now)

    def _in_use(self, now: float, min_idle: float | None) -> str | None:
        """Why a session asked to end as an idle one is not idle after all (its own clock, its CLI's state), or
        None when it is — or when the request did not ask it as an idle one."""
        if min_idle is None:
            return None
        state = self.actions.cli_state()
        if state is not None and state.status == "busy":
            return "busy"
        if state is not None and state.status == "waiting" and waiting_spares(self.clock.idle_for(now),
                                                                                self.rules.waiting_limit):
            return "waiting for you"
        idle = self.clock.idle_for(now)
        return None if idle >= min_idle else f"idle only {format_duration(idle)}"

    def on_suspend(self, now: float) -> float | None:
        """Ctrl-Z: the session waits in the shell's job list, and its idle limit keeps running there. Returns when
        csup must be woken to end it (the guardian's alarm): a suspended session is no hiding place."""
        self.suspended = True
        self._publish(now, force=True)
        return self.clock.expires_at if self.shutdown is None else None

    def on_continue(self, now: float, foreground: bool) -> None:
        if foreground:
            self.suspended = False
            self._publish(now, force=True)
        self._due_known = False  # woken at a deadline, or by a request: look at everything again

    def log_wake(self) -> None:
        """A woken session's event, once: how long from the Enter to the CLI's first output."""
        if self.woke_at is None:
            return
        took = None if self.first_output_at is None else round(self.first_output_at - self.woke_at, 3)
        self.actions.event("woke", to_first_output=took)
        self.woke_at = None

    # --- strays ---

    def _check_strays(self, now: float) -> None:
        """An agent session started outside csup while this session runs breaks the one-session rule: say so, once."""
        if self.stray_every is None:
            return
        if self.next_stray_check is None:
            self.next_stray_check = now + self.stray_every
        if now < self.next_stray_check:
            return
        self.next_stray_check = now + self.stray_every
        for stray in self.actions.find_strays():
            if stray in self.strays_seen:
                continue
            self.strays_seen.add(stray)
            self.actions.event("stray", stray_pid=stray.pid)
            self.actions.notify(Notice("stray", pid=stray.pid))

    # --- idle ---

    def _activity(self, at: float, why: str, now: float | None = None) -> None:
        # The hot path (every keystroke and output burst): a few assignments and comparisons.
        self.clock.touch(at)
        self._probe = None
        self._waiting_noticed = False
        # Activity in the past (a turn that ended then) ends the warning only if it moves the deadline out of
        # the warning now: the phase at that past moment says nothing about now.
        if self.warning_since is not None and self.clock.phase(at if now is None else now) == "active":
            self._end_warning(at if now is None else now, why)
        publish_at = self._published_at + PUBLISH_EVERY
        if self._due is None or publish_at < self._due:
            self._due = publish_at  # the record must learn of this activity within a few seconds

    def _check_idle(self, now: float) -> None:
        phase = self.clock.phase(now)
        if phase == "off":
            return
        if phase == "active":
            probe_at = self.clock.probe_at
            if self._probe is None and probe_at is not None and now >= probe_at:
                self._take_probe(now)
            return
        if self._probe is None:
            self._take_probe(now)
        elif self._silently_busy(now):
            self._activity(now, "cpu")
            return
        if self._cli_reports_activity(now):
            return
        if phase == "warning":
            if self.warning_since is None:
                self._begin_warning(now)
            elif now >= self._title_at + TITLE_EVERY:
                self._show_countdown(now)
            return
        state = self.actions.cli_state()
        if state is not None and state.status == "waiting" and self._waiting_keeps_it(now):
            if self.warning_since is not None:
                self._end_warning(now, "cli-waiting")  # the session stays: the countdown would be a lie
            return
        idle = self.clock.idle_for(now)
        self.idle_at_end = idle
        limit = format_duration(self.clock.limit or 0)
        self.request_shutdown(f"idle for {format_duration(idle)} (limit {limit})", "idle", now)

    def _take_probe(self, now: float) -> None:
        cpu = self.actions.cpu_seconds() if self.rules.cpu_threshold > 0 else None
        self._probe = (now, cpu) if cpu is not None else None

    def _silently_busy(self, now: float) -> bool:
        """The CLI's process tree used CPU above the threshold since the last sample (a long silent tool run)."""
        if self._probe is None or self.rules.cpu_threshold <= 0:
            return False
        then, cpu_then = self._probe
        if now - then < MIN_CPU_SPAN:
            return False
        cpu_now = self.actions.cpu_seconds()
        if cpu_now is None:
            return False
        self._probe = (now, cpu_now)
        return (cpu_now - cpu_then) / (now - then) * 100 >= self.rules.cpu_threshold

    def _cli_reports_activity(self, now: float) -> bool:
        """The CLI's registry: `busy` is activity, and the clock restarts when a busy turn ends."""
        state = self.actions.cli_state()
        if state is None:
            return False
        if state.status == "busy":
            self._activity(now, "cli-busy")
            return True
        if state.changed_at is not None and state.changed_at > self.clock.last_activity + STATUS_DRIFT:
            # The turn ended then: count from there, not from now.
            self._activity(min(state.changed_at, now), "cli-status-changed", now)
            return self.clock.phase(now) == "active"
        return False

    def _waiting_keeps_it(self, now: float) -> bool:
        """A CLI waiting on a permission prompt: its own, longer limit, or (None) a notice and no end."""
        if not self._waiting_noticed:
            self._waiting_noticed = True
            self.actions.notify(Notice("waiting", seconds=self.clock.idle_for(now)))
        return waiting_spares(self.clock.idle_for(now), self.rules.waiting_limit)

    def _begin_warning(self, now: float) -> None:
        self.warning_since = now
        self.relay.inject(PUSH_TITLE + b"\x07")
        self._show_countdown(now)
        self.actions.notify(Notice("idle", seconds=self.clock.time_left(now) or 0.0))
        self.actions.event("warned", idle=round(self.clock.idle_for(now), 1), left=round(self.clock.time_left(now)
                                                                                             or 0, 1))
        self._publish(now, force=True)

    def _show_countdown(self, now: float) -> None:
        self._title_at = now
        self.relay.inject(_title(self.actions.countdown_title(self.clock.time_left(now) or 0.0)))

    def _end_warning(self, now: float, why: str) -> None:
        """The warning is over: activity (`why` says which kind: the log keeps it, so a surprise can be traced)."""
        self.warning_since = None
        self.relay.inject(POP_TITLE)
        self.actions.event("cancelled", reason=why)
        self._publish(now, force=True)

    def _publish(self, now: float, force: bool = False) -> None:
        state = "ending" if self.shutdown else "suspended" if self.suspended else \
            "warning" if self.warning_since is not None else "active"
        current = Published(state, self.clock.last_activity, self.end_reason)
        if current == self._published:
            return
        if not force and self._published is not None and state == self._published.state \
                and now - self._published_at < PUBLISH_EVERY:
            return
        self._published, self._published_at = current, now
        self.actions.publish(current)

    # --- shutdown ---

    def request_shutdown(self, reason: str, kind: str, now: float) -> None:
        """Idempotent: a second request (SIGHUP after SIGTERM) does not restart the plan."""
        if self.shutdown is not None:
            return
        self.end_reason, self.end_kind = reason, kind
        self.idle_at_end = self.idle_at_end or self.clock.idle_for(now)  # how idle it was, whatever ended it
        if self.warning_since is not None:
            self.relay.inject(POP_TITLE)
            self.warning_since = None
        self.shutdown = ShutdownPlan(list(self.steps), reason, now)
        self._publish(now, force=True)
        self._advance_shutdown(now)
        self._due_known = False

    def _advance_shutdown(self, now: float) -> None:
        assert self.shutdown is not None
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
        self.shutdown.note(step.action, self._carry_out(step.action))

    def _carry_out(self, action: Action) -> str:
        if action == "keys":
            self.relay.send_to_child(self.exit_keys)
            return f"typed {len(self.exit_keys)} exit key(s)"
        if action == "term_cli":
            return "SIGTERM to the CLI" if self.relay.signal_child(signal.SIGTERM) else "the CLI was gone"
        signum = signal.SIGTERM if action == "term_tree" else signal.SIGKILL
        sent = sum(self.actions.signal_verified(proc, signum) for proc in self.tree)
        self.relay.signal_child(signum, group=True)
        return f"{signal_name(signum)} to the CLI's group and {sent} descendant(s)"

    def leftover_descendants(self) -> list[ProcessIdentity]:
        """Descendants recorded before the shutdown, to be ended even when the CLI itself left quickly."""
        return list(self.tree) if self.shutdown is not None else []
