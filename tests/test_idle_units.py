"""The idle clock and the session controller as tables, with an injected clock: no sleeping."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

import pytest

from supervisor.core.identity import ProcessIdentity
from supervisor.core.idle import IdleClock, is_typed
from supervisor.core.session_policy import Actions, CliState, IdleRules, Published, SessionPolicy
from supervisor.core.shutdown import ShutdownPlan, Step
from supervisor.face.text import countdown_title, notice_text


@pytest.mark.parametrize(("now", "phase"), [
    (0, "active"), (539.9, "active"), (540, "warning"), (599.9, "warning"), (600, "expired"), (10_000, "expired"),
])
def test_clock_phases(now: float, phase: str) -> None:
    clock = IdleClock(limit=600, warn_before=60, last_activity=0)
    assert clock.phase(now) == phase


def test_clock_touch_restarts_and_never_goes_back() -> None:
    clock = IdleClock(limit=600, warn_before=60, last_activity=0)
    clock.touch(550)
    assert clock.phase(560) == "active" and clock.time_left(560) == 590
    clock.touch(100)  # an older timestamp (a registry change seen late) never rewinds the clock
    assert clock.last_activity == 550


def test_clock_deadlines_probe_then_warn_then_expire() -> None:
    clock = IdleClock(limit=600, warn_before=60, last_activity=0)
    assert clock.probe_at == 530
    assert clock.next_deadline(0) == 530
    assert clock.next_deadline(530) == 540
    assert clock.next_deadline(540) == 600
    assert clock.next_deadline(600) is None


def test_disabled_limit_has_no_deadline() -> None:
    clock = IdleClock(limit=None, warn_before=60, last_activity=0)
    assert clock.phase(1e9) == "off" and clock.next_deadline(0) is None and clock.time_left(5) is None


def test_warn_before_longer_than_limit_warns_at_once() -> None:
    clock = IdleClock(limit=30, warn_before=60, last_activity=0)
    assert clock.phase(0) == "warning" and clock.phase(30) == "expired"


def test_machine_sleep_does_not_count_as_idle() -> None:
    # The clock reads the monotonic clock, which stops while the machine sleeps: a wall-clock jump of 8 hours
    # (laptop closed overnight) is no time at all to it.
    clock = IdleClock(limit=1800, warn_before=60, last_activity=1000)
    monotonic_after_wake = 1000 + 5  # five seconds of uptime passed around the sleep
    assert clock.phase(monotonic_after_wake) == "active"
    assert clock.time_left(monotonic_after_wake) == 1795


@pytest.mark.parametrize(("data", "typed"), [
    (b"a", True), (b"\r", True), (b"\x1b[A", True), (b"\x1b", True), (b"\x03", True),
    (b"\x1b[I", False), (b"\x1b[O", False), (b"\x1b[I\x1b[O", False), (b"\x1b[?62;22c", False),
    (b"\x1b[>0;276;0c", False), (b"\x1b[12;40R", False), (b"\x1b[?1u", False),
    (b"\x1bP>|xterm(388)\x1b\\", False), (b"\x1b]11;rgb:0000/0000/0000\x1b\\", False),
    (b"\x1b]10;rgb:ffff/ffff/ffff\x07", False), (b"\x1b[?2004;1$y", False),
    (b"\x1b[Ix", True), (b"", False),
])
def test_terminal_replies_and_focus_reports_are_not_keystrokes(data: bytes, typed: bool) -> None:
    assert is_typed(data) is typed


@dataclass
class FakeRelay:
    child_exited: bool = False
    sent: list[bytes] = field(default_factory=list)
    signals: list[tuple[int, bool]] = field(default_factory=list)
    screen: list[bytes] = field(default_factory=list)
    abandoned: bool = False

    def send_to_child(self, data: bytes) -> None:
        self.sent.append(data)

    def signal_child(self, signum: int, *, group: bool = False) -> bool:
        self.signals.append((signum, group))
        return True

    def abandon(self) -> None:
        self.abandoned = True

    def inject(self, data: bytes) -> None:
        self.screen.append(data)


@dataclass
class World:
    """The controller's collaborators, scripted: CPU seconds, the CLI's registry state, what it published."""

    cpu: float | None = None
    state: CliState | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)
    published: list[Published] = field(default_factory=list)
    signalled: list[tuple[ProcessIdentity, int]] = field(default_factory=list)
    tree: list[ProcessIdentity] = field(default_factory=list)

    def actions(self) -> Actions:
        def signal_verified(proc: ProcessIdentity, signum: int) -> bool:
            self.signalled.append((proc, signum))
            return True

        return Actions(snapshot_tree=lambda: list(self.tree), signal_verified=signal_verified,
                       cpu_seconds=lambda: self.cpu, cli_state=lambda: self.state,
                       notify=lambda notice: self.notes.append(notice_text(notice)),
                       countdown_title=countdown_title,
                       publish=self.published.append)


def make(world: World, limit: float | None = 600, warn: float = 60, **policy: object) -> tuple[SessionPolicy,
                                                                                               FakeRelay]:
    steps = [Step("term_cli", 5), Step("term_tree", 2), Step("kill_all", 2)]
    relay = FakeRelay()
    controller = SessionPolicy(steps=steps, actions=world.actions(),
                               rules=IdleRules(limit, warn, **policy),  # type: ignore[arg-type]
                               clock=IdleClock(limit, warn, 0.0), relay=relay)
    return controller, relay


def run_until(controller: SessionPolicy, end: float, start: float = 0.0) -> list[float]:
    """Wake the controller at each deadline it asks for, as the relay's select would; returns the wake times."""
    now, wakes = start, []
    while True:
        deadline = controller.deadline(now)
        if deadline is None or deadline > end:
            return wakes
        now = max(now, deadline)
        wakes.append(now)
        controller.on_wake(now)
        if len(wakes) > 1000:
            raise AssertionError("the controller asks to be woken without end")


def test_idle_session_warns_then_ends_with_few_wakeups() -> None:
    world = World()
    controller, relay = make(world)
    wakes = run_until(controller, 700)
    assert controller.end_kind == "idle" and controller.end_reason == "idle for 10m (limit 10m)"
    assert (signal.SIGTERM, False) in relay.signals
    assert any(b"\x07" in data for data in relay.screen)  # the bell
    assert any(b"session ends in 1m" in data for data in relay.screen)  # the title's countdown
    assert world.notes and "idle" in world.notes[0][0]
    # Deadlines only: the CPU probe, the warning, the countdown every 5 s, the end — never a busy loop.
    assert len([t for t in wakes if t < 540]) <= 2
    assert [p.state for p in world.published] == ["active", "warning", "ending"]


def test_keystroke_during_warning_cancels_it_and_restores_the_title() -> None:
    world = World()
    controller, relay = make(world)
    run_until(controller, 550)
    assert controller.warning_since is not None
    controller.on_input(b"x", 550)
    assert controller.warning_since is None and relay.screen[-1] == b"\x1b[23;0t"
    run_until(controller, 1100, start=550)
    assert controller.shutdown is None  # the clock restarted at 550: it expires at 1150


def test_focus_report_during_warning_does_not_cancel_it() -> None:
    world = World()
    controller, _ = make(world)
    run_until(controller, 550)
    controller.on_input(b"\x1b[I", 551)
    assert controller.warning_since is not None


def test_output_counts_unless_input_only() -> None:
    world = World()
    controller, _ = make(world)
    controller.on_output(b"tool output", 500)
    assert controller.clock.last_activity == 500
    input_only, _ = make(World(), count_output=False)
    input_only.on_output(b"tool output", 500)
    assert input_only.clock.last_activity == 0


def test_repaint_after_a_forwarded_resize_is_not_activity() -> None:
    controller, _ = make(World())
    controller.on_resize(100)
    controller.on_output(b"repaint", 100.2)
    assert controller.clock.last_activity == 0
    controller.on_output(b"real output", 101)
    assert controller.clock.last_activity == 101


def test_silent_cpu_work_keeps_the_session_and_ends_when_cpu_stops() -> None:
    world = World(cpu=0.0)
    controller, _ = make(world, cpu_threshold=2.0)
    # 50 % of a core from the start: at every probe the CLI has been busy.
    for second in range(0, 2000, 10):
        world.cpu = second * 0.5
        run_until(controller, second, start=max(0, second - 10))
    assert controller.shutdown is None
    # Then it falls silent: the session ends one limit later.
    run_until(controller, 2000 + 700, start=2000)
    assert controller.end_kind == "idle"


def test_cpu_below_threshold_does_not_keep_it() -> None:
    world = World(cpu=0.0)
    controller, _ = make(world, cpu_threshold=2.0)
    for second in range(0, 700, 10):
        world.cpu = second * 0.001  # 0.1 % of a core: the CLI's own idle hum
        run_until(controller, second, start=max(0, second - 10))
    assert controller.end_kind == "idle"


def test_busy_registry_is_activity_and_the_clock_restarts_when_the_turn_ends() -> None:
    world = World(state=CliState("busy", changed_at=10))
    controller, _ = make(world)
    run_until(controller, 3000)
    assert controller.shutdown is None  # busy the whole time
    world.state = CliState("idle", changed_at=3000)  # the turn ended at 3000
    run_until(controller, 3500, start=3000)
    assert controller.shutdown is None  # not culled the moment the job finished
    run_until(controller, 3700, start=3500)
    assert controller.end_kind == "idle"


def test_a_turn_that_ended_before_the_warning_does_not_cancel_it_through_clock_drift() -> None:
    """The warning that was cancelled with no keystroke, after a `!sleep 50`: the turn's end (a wall-clock time
    in the registry) looked a few milliseconds newer at each look as the clocks drifted, and the warning was
    judged by the phase at that old moment. Only a real new status change moves the clock, and the warning
    is judged now; the cancel says why."""
    world = World(state=CliState("idle", changed_at=100.0))
    controller, _ = make(world)
    events: list[tuple[str, dict[str, object]]] = []
    controller.actions = controller.actions._replace(event=lambda name, **fields: events.append((name, fields)))
    run_until(controller, 100 + 560)  # the warning is on (limit 600, warn 60, from the turn's end at 100)
    assert controller.warning_since is not None
    world.state = CliState("idle", changed_at=100.004)  # the same change, seen through drifting clocks
    run_until(controller, 100 + 700, start=100 + 560)
    assert controller.end_kind == "idle"
    assert [name for name, _ in events].count("cancelled") == 0


def test_a_new_status_change_during_the_warning_cancels_it_with_its_reason() -> None:
    world = World(state=CliState("idle", changed_at=0.0))
    controller, _ = make(world)
    events: list[tuple[str, dict[str, object]]] = []
    controller.actions = controller.actions._replace(event=lambda name, **fields: events.append((name, fields)))
    run_until(controller, 560)
    assert controller.warning_since is not None
    world.state = CliState("idle", changed_at=565.0)  # a turn ended just now (a prompt answered elsewhere)
    run_until(controller, 580, start=560)
    assert controller.warning_since is None and controller.shutdown is None
    assert ("cancelled", {"reason": "cli-status-changed"}) in events


def test_waiting_on_a_permission_prompt_notifies_once_and_never_ends_by_default() -> None:
    world = World(state=CliState("waiting", changed_at=0))
    controller, _ = make(world)
    run_until(controller, 50_000)
    assert controller.shutdown is None
    assert len([n for n in world.notes if "waiting" in n[0]]) == 1


def test_waiting_limit_ends_it_later() -> None:
    world = World(state=CliState("waiting", changed_at=0))
    controller, _ = make(world, waiting_limit=3600)
    run_until(controller, 3000)
    assert controller.shutdown is None
    run_until(controller, 3700, start=3000)
    assert controller.end_kind == "idle"


def test_disabled_limit_never_wakes() -> None:
    controller, _ = make(World(), limit=None)
    assert run_until(controller, 1e7) == []


def test_shutdown_escalates_step_by_step_and_signals_the_recorded_tree() -> None:
    grandchild = ProcessIdentity(4242, 1.0)
    world = World(tree=[grandchild])
    controller, relay = make(world)
    controller.on_signal(signal.SIGTERM, 100)
    assert controller.end_reason == "csup received SIGTERM"
    assert relay.signals == [(signal.SIGTERM, False)]
    controller.on_signal(signal.SIGHUP, 101)  # a second request does not restart the plan
    assert controller.end_reason == "csup received SIGTERM"
    run_until(controller, 106, start=100)
    assert (grandchild, signal.SIGTERM) in world.signalled and (signal.SIGTERM, True) in relay.signals
    run_until(controller, 108, start=106)
    assert (grandchild, signal.SIGKILL) in world.signalled and (signal.SIGKILL, True) in relay.signals
    assert controller.shutdown is not None
    assert [action for action, _ in controller.shutdown.taken] == ["term_cli", "term_tree", "kill_all"]
    run_until(controller, 111, start=108)
    assert relay.abandoned  # survived SIGKILL (stuck in the kernel): csup stops waiting


def test_shutdown_stops_when_the_cli_exits() -> None:
    controller, relay = make(World())
    controller.request_shutdown("test", "stop", 0)
    relay.child_exited = True
    run_until(controller, 100)
    assert relay.signals == [(signal.SIGTERM, False)]


def test_exit_keys_come_first_when_configured() -> None:
    plan = ShutdownPlan([Step("keys", 2), Step("term_cli", 5)], "r", 0)
    assert plan.due(0) == Step("keys", 2)
    assert plan.due(1) is None
    assert plan.due(2) == Step("term_cli", 5)
    assert plan.exhausted and not plan.past_last_wait(6) and plan.past_last_wait(7)


def test_record_activity_is_published_at_most_every_few_seconds() -> None:
    world = World()
    controller, _ = make(world)
    for tenth in range(0, 200):
        now = tenth / 10
        controller.on_input(b"k", now)
        controller.on_wake(now)
    assert 3 <= len(world.published) <= 5  # 20 s of typing: about one write per 5 s


def test_new_strays_are_reported_once_each_at_their_check_interval() -> None:
    world = World()
    stray = ProcessIdentity(777, 5.0)
    strays: list[ProcessIdentity] = []
    events: list[tuple[str, dict[str, object]]] = []
    controller, _ = make(world, limit=None)
    controller.stray_every = 300
    controller.actions = controller.actions._replace(find_strays=lambda: list(strays),
                                                     event=lambda name, **fields: events.append((name, fields)))
    controller.on_wake(0)
    assert controller.deadline(0) == 300
    strays.append(stray)
    wakes = run_until(controller, 1000)
    assert wakes == [300, 600, 900]
    assert events == [("stray", {"stray_pid": 777})]
    assert [title for title, _ in world.notes] == ["A second agent session is running"]
