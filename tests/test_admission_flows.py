"""Admission in-process, as tables: the one decision under the one gate (flows/admission.py) with real locks in a
temporary directory, a fake clock and a world of session values — who starts, who is refused and why, what is
ended to make room and that the gate is held all the while, the waiter's line, and the gate's patience. Each
case runs in milliseconds; the pty tests (test_make_room.py, test_many_sessions.py) prove the wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supervisor.clis.adapter import Conversation, LiveSession
from supervisor.core.identity import ProcessIdentity, ProcessView
from supervisor.core.settings import resolve
from supervisor.flows import admission
from supervisor.flows.census import Census, UnmanagedSession
from supervisor.flows.refusals import AtLimit, GateBusy, GaveUpWaiting, LineAhead, SessionHeld
from supervisor.flows.sessions import AnySession, Snapshot
from supervisor.flows.waitline import TAKEOVER, take_ticket
from supervisor.machine.lock import FileFlock
from supervisor.machine.memory import TreeMemory
from supervisor.machine.paths import Paths, ensure_private_dir
from supervisor.machine.record import Holder, SessionRecord

from fakes import FakeClock, RecordingReporter

MiB = 1 << 20


def _paths(tmp_path: Path) -> Paths:
    paths = Paths(tmp_path / "run", tmp_path / "state", tmp_path / "config.toml")
    ensure_private_dir(paths.runtime_dir)
    return paths


def unmanaged(pid: int, idle: float | None, status: str = "idle", memory: int | None = None) -> AnySession:
    view = ProcessView(pid, 1, 0, 1000.0 + pid, ("claude",))
    return AnySession("unmanaged", str(pid), pid, "/dev/pts/9", "/w", idle, status,
                      unmanaged=UnmanagedSession(view, idle_seconds=idle, status=status),
                      memory=TreeMemory(memory) if memory is not None else None)


def background(short: str, idle: float | None, status: str = "idle", attached: int = 0) -> AnySession:
    live = LiveSession(3000 + len(short), Conversation(f"c-{short}", "/w"), "background", short=short,
                       status=status, attached=attached)
    return AnySession("background", short, live.pid, "", "/w", idle, status, background=live)


class World:
    """Sessions as values; the supervised ones hold their slot's real lock (as their csup would), and ending one
    lets it go. Records every snapshot and end, and what the gate was at each end."""

    def __init__(self, paths: Paths, clock: FakeClock, sessions: list[AnySession] | None = None,
                 ends: bool = True) -> None:
        self.paths, self.clock = paths, clock
        self.sessions = list(sessions or [])
        self.ends = ends
        self.ended: list[tuple[str, str]] = []
        self.gate_free_at_end: list[bool] = []
        self.snapshots = 0
        self.held: dict[str, FileFlock] = {}
        self.on_sleep: list[Any] = []

    def supervised(self, slot: int, idle: float | None, status: str = "idle") -> AnySession:
        """A supervised session in `slot`: its csup holds the slot's lock."""
        place = self.paths.slot(slot)
        lock = FileFlock(place.lock_file)
        assert lock.try_acquire()
        record = SessionRecord(f"{slot:08x}" * 4, ProcessIdentity(50_000 + slot, 1.0), ProcessIdentity(
            60_000 + slot, 1.0), "/dev/pts/1", "/w", ("claude",), 0.0, 0.0, None, None, "active")
        session = AnySession("supervised", f"{slot:08x}", 60_000 + slot, "/dev/pts/1", "/w", idle, "active",
                             holder=Holder(place, record), cli_status=status)
        self.held[session.key] = lock
        self.sessions.append(session)
        return session

    def starting(self, slot: int) -> None:
        """A csup that holds a place and has not written its record yet: no session in the snapshot."""
        lock = FileFlock(self.paths.slot(slot).lock_file)
        assert lock.try_acquire()
        self.held[f"starting:{slot}"] = lock

    def snapshot(self) -> Snapshot:
        self.snapshots += 1
        outside = Census([s.unmanaged for s in self.sessions if s.unmanaged is not None],
                         [s.background for s in self.sessions if s.background is not None])
        listed = sorted(self.sessions, key=lambda s: -(s.idle_seconds if s.idle_seconds is not None else 1e18))
        return Snapshot(listed, self.clock.wall(), outside, [s.holder for s in listed if s.holder is not None],
                        measured=True)

    def end(self, session: AnySession, reason: str) -> tuple[bool, str | None]:
        gate = FileFlock(self.paths.gate_file)
        self.gate_free_at_end.append(gate.try_acquire())
        gate.release()
        self.ended.append((session.key, reason))
        if not self.ends:
            return False, None
        self.sessions = [s for s in self.sessions if s.key != session.key]
        lock = self.held.pop(session.key, None)
        if lock is not None:
            lock.release()
        return True, f"claude --resume c-{session.id}"

    def as_world(self) -> admission.World:
        return admission.World(self.snapshot, self.end, self.clock)  # type: ignore[arg-type]


def _settings(**values: object) -> Any:
    return resolve(values, "test", {})


def _admit(paths: Paths, world: World, settings: Any) -> tuple[admission.Locks, RecordingReporter]:
    locks = admission.Locks.open(paths, settings.max_sessions)
    reporter = RecordingReporter()
    admission.admit_now(paths, locks, settings, world.as_world(), reporter)  # type: ignore[arg-type]
    return locks, reporter


# --- who starts, who is refused -------------------------------------------------------------------------------


def test_a_free_place_and_nobody_else_starts_and_the_gate_is_given_back(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    world = World(paths, FakeClock())
    locks, _ = _admit(paths, world, _settings())
    assert locks.slot == paths.slot(0) and locks.session.held
    assert not locks.gate.held and FileFlock(paths.gate_file).try_acquire()


@pytest.mark.parametrize("limit, others, admitted", [
    (1, [], True),
    (1, ["unmanaged idle"], False),
    (2, ["unmanaged idle"], True),
    (2, ["unmanaged idle", "background idle"], False),
    (3, ["unmanaged idle", "background idle"], True),
    (2, ["starting"], True),
    (2, ["starting", "unmanaged idle"], False),  # a place held without a record is a session about to start
    (2, ["supervised idle"], True),
    (2, ["supervised idle", "background busy"], False),
])
def test_the_count_of_every_kind_decides(tmp_path: Path, limit: int, others: list[str], admitted: bool) -> None:
    paths = _paths(tmp_path)
    world = World(paths, FakeClock())
    for index, what in enumerate(others):
        kind, status = [*what.split(), "idle"][:2]
        if kind == "unmanaged":
            world.sessions.append(unmanaged(7000 + index, 60.0, status))
        elif kind == "background":
            world.sessions.append(background(f"bg{index:06d}", 60.0, status))
        elif kind == "supervised":
            world.supervised(limit - 1, 60.0, status)
        else:
            world.starting(limit - 1)
    settings = _settings(max_sessions=limit)
    locks = admission.Locks.open(paths, limit)
    if admitted:
        admission.admit_now(paths, locks, settings, world.as_world(), RecordingReporter())  # type: ignore[arg-type]
        assert locks.slot is not None
    else:
        with pytest.raises((AtLimit, SessionHeld)):
            admission.admit_now(paths, locks, settings, world.as_world(), RecordingReporter())  # type: ignore[arg-type]
        assert locks.slot is None  # the place is given back
        assert all(lock.try_acquire() for _, lock in locks.slots if _.number >= len(others))
    assert not locks.gate.held and world.ended == []


def test_every_place_held_is_refused_from_the_records_alone(tmp_path: Path) -> None:
    """A refusal at full places stays fast: no snapshot (no census) is taken."""
    paths = _paths(tmp_path)
    world = World(paths, FakeClock())
    world.supervised(0, 10.0)
    with pytest.raises(SessionHeld):
        _admit(paths, world, _settings())
    assert world.snapshots == 0


def test_the_memory_budget_refuses_when_spent(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    world = World(paths, FakeClock(), [unmanaged(7001, 60.0, memory=300 * MiB)])
    with pytest.raises(AtLimit) as refused:
        _admit(paths, world, _settings(max_sessions=5, memory_budget="256MiB"))
    assert refused.value.over == "memory" and refused.value.held == 300 * MiB


# --- making room: one entry, the gate held throughout -------------------------------------------------------------


@pytest.mark.parametrize("limit, present, ended", [
    (1, ["supervised 90"], "csup:"),  # every place held: the supervised one frees it
    (2, ["supervised 90", "unmanaged 200"], "csup:"),  # unmanaged ones only with end_unmanaged
    (2, ["background 30", "unmanaged 200"], "bg:"),
    (2, ["background 90", "supervised 30"], "bg:"),  # the most idle one
    (2, ["background 90 busy", "supervised 30"], "csup:"),  # never a busy one
    (2, ["background 90 attached", "supervised 30"], "csup:"),
    (2, ["background 90 waiting", "supervised 30"], "csup:"),
])
def test_make_room_ends_the_policys_choice_under_the_gate(tmp_path: Path, limit: int, present: list[str],
                                                          ended: str) -> None:
    paths = _paths(tmp_path)
    world = World(paths, FakeClock())
    slot = 0
    for index, what in enumerate(present):
        kind, idle, *extra = what.split()
        status = extra[0] if extra and extra[0] in ("busy", "waiting") else "idle"
        if kind == "supervised":
            world.supervised(slot, float(idle), status)
            slot += 1
        elif kind == "unmanaged":
            world.sessions.append(unmanaged(7000 + index, float(idle), status))
        else:
            world.sessions.append(background(f"bg{index:06d}", float(idle), status,
                                             attached=1 if "attached" in extra else 0))
    locks, reporter = _admit(paths, world, _settings(max_sessions=limit, make_room="20s"))
    assert [key.split(":")[0] + ":" for key, _ in world.ended] == [ended]
    assert "made room for pid" in world.ended[0][1]
    assert world.gate_free_at_end == [False]  # nobody could take the gate while the session was ending
    [made] = reporter.said("room_made")
    assert made.session.key == world.ended[0][0] and made.resume is not None
    assert locks.slot is not None and not locks.gate.held


@pytest.mark.parametrize("why, present", [
    ("not idle long enough", ["supervised 5"]),
    ("busy", ["supervised 90 busy"]),
    ("waiting for you", ["supervised 90 waiting"]),
])
def test_make_room_ends_nothing_it_may_not_and_says_the_rule(tmp_path: Path, why: str, present: list[str]) -> None:
    paths = _paths(tmp_path)
    world = World(paths, FakeClock())
    for what in present:
        _, idle, *extra = what.split()
        world.supervised(0, float(idle), extra[0] if extra else "idle")
    with pytest.raises((AtLimit, SessionHeld)) as refused:
        _admit(paths, world, _settings(make_room="20s"))
    assert world.ended == []
    assert getattr(refused.value, "make_room", None) == 20.0, why


def test_a_waiting_session_past_the_waiting_limit_may_make_room(tmp_path: Path) -> None:
    """One waiting rule (core/policy.waiting_spares): with waiting_limit set, a prompt nobody answered that long
    no longer keeps the session."""
    paths = _paths(tmp_path)
    world = World(paths, FakeClock())
    world.supervised(0, 90.0, "waiting")
    _admit(paths, world, _settings(make_room="20s", waiting_limit="1m"))
    assert [key for key, _ in world.ended] == ["csup:" + "00000000" * 4]


def test_a_victim_that_will_not_go_is_the_usual_refusal(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    world = World(paths, FakeClock(), [background("bg000001", 90.0)], ends=False)
    with pytest.raises(AtLimit):
        _admit(paths, world, _settings(make_room="20s"))
    assert len(world.ended) == 1 and world.snapshots == 1


def test_make_room_ends_one_session_and_decides_once_more(tmp_path: Path) -> None:
    """Ending one must be enough: with two over the limit nothing is ended (the policy makes room for one)."""
    paths = _paths(tmp_path)
    world = World(paths, FakeClock(), [background("bg000001", 90.0), background("bg000002", 80.0)])
    with pytest.raises(AtLimit):
        _admit(paths, world, _settings(make_room="20s"))
    assert world.ended == []


# --- the gate -------------------------------------------------------------------------------------------------


def test_a_start_waits_for_the_gate_as_long_as_a_decision_may_take_then_says_so(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    clock = FakeClock()
    other = FileFlock(paths.gate_file)
    assert other.try_acquire()  # another start is deciding (and hangs)
    settings = _settings()
    with pytest.raises(GateBusy):
        _admit(paths, World(paths, clock), settings)
    assert clock.slept == pytest.approx(admission.gate_patience(settings), abs=admission.GATE_POLL * 2)


def test_someone_in_line_goes_first(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    take_ticket(paths.queue_dir, TAKEOVER)  # this process is alive: its ticket is first in line
    with pytest.raises(LineAhead):
        _admit(paths, World(paths, FakeClock()), _settings())


def test_a_lock_never_releases_what_an_outer_holder_took(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    gate = FileFlock(paths.gate_file)
    assert gate.try_acquire() and gate.try_acquire()  # re-entry is counted
    gate.release()
    assert gate.held and not FileFlock(paths.gate_file).try_acquire()
    gate.release()
    gate.release()  # one more than taken: nothing
    assert not gate.held and FileFlock(paths.gate_file).try_acquire()


# --- in line ------------------------------------------------------------------------------------------------------


def test_a_waiter_is_admitted_once_the_one_decision_admits_it(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    clock = FakeClock()
    world = World(paths, clock, [unmanaged(7001, 60.0)])
    original = clock.sleep

    def sleep(seconds: float) -> None:  # the unmanaged session ends after ten seconds in line
        original(seconds)
        if clock.slept >= 10:
            world.sessions = []

    clock.sleep = sleep  # type: ignore[method-assign]
    locks = admission.Locks.open(paths, 1)
    reporter = RecordingReporter()
    admission.wait_for_room(paths, locks, _settings(), world.as_world(), reporter, None)  # type: ignore[arg-type]
    assert locks.slot is not None and not locks.gate.held
    assert 10 <= clock.slept < 12 and reporter.said("waiting")
    assert list(paths.queue_dir.iterdir()) == []  # the ticket is gone


def test_a_waiter_gives_up_after_its_patience(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    clock = FakeClock()
    world = World(paths, clock)
    world.supervised(0, 5.0)
    locks = admission.Locks.open(paths, 1)
    with pytest.raises(GaveUpWaiting):
        admission.wait_for_room(paths, locks, _settings(), world.as_world(), RecordingReporter(), 30.0)  # type: ignore[arg-type]
    assert 30 <= clock.slept < 31 and locks.slot is None and not locks.gate.held
