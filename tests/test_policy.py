"""The one policy (core/policy.py) as tables: admission against max_sessions for every kind of session (sessions
started one after another, a waiter handed a free place, a SIGKILLed holder, takeovers, attaches), idle ends and
warnings for every kind, what is spared, and clock jumps (sleep and resume). Values in, steps out: no process,
no file, no real clock."""

from __future__ import annotations

import pytest

from supervisor.core.policy import (
    STALE_WARNING,
    Limits,
    Memory,
    Rules,
    Seen,
    admit,
    choose_to_end,
    idle_past,
    idle_seconds,
    may_end,
    most_idle_first,
    spared,
    sweep,
    time_left,
    waiting_spares,
    why_not_room,
)

NOW = 10_000.0
RULES = Rules(idle_limit=600, background_idle_limit=300, warn_before=60, end_unmanaged=False, rescan=900)


def sup(idle: float | None = 5.0, key: str = "csup:a") -> Seen:
    return Seen("supervised", key, idle)


def bg(idle: float | None = 5.0, key: str = "bg:abcd1234", **flags: bool) -> Seen:
    return Seen("background", key, idle, **flags)


def um(idle: float | None = 5.0, key: str = "pid:7:1.0", **flags: bool) -> Seen:
    return Seen("unmanaged", key, idle, **flags)


# --- admission ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_sessions_started_one_after_another_fill_exactly_the_limit(limit: int) -> None:
    running: list[Seen] = []
    for number in range(limit):
        decision = admit(running, limit)
        assert decision.admitted, f"session {number + 1} of {limit} refused"
        running.append(sup(key=f"csup:{number}"))  # it started, and counts from now on
    refused = admit(running, limit)
    assert not refused.admitted and refused.total == limit + 1
    assert [s.key for s in refused.sessions] == [s.key for s in running]


@pytest.mark.parametrize(("others", "starting", "limit", "admitted"), [
    ([], 0, 1, True),
    ([sup()], 0, 1, False),  # one session per user, by default
    ([um()], 0, 1, False),  # unmanaged sessions count
    ([bg()], 0, 1, False),  # and background ones
    ([sup(), bg()], 0, 3, True),
    ([sup(), bg(), um()], 0, 3, False),
    ([sup()], 1, 3, True),  # a csup starting beside us holds a place before its record says so
    ([sup()], 2, 3, False),
    ([], 1, 1, False),
])
def test_admission_counts_every_kind_once(others: list[Seen], starting: int, limit: int, admitted: bool) -> None:
    assert admit(others, limit, starting=starting).admitted is admitted


def test_a_waiter_handed_a_free_place_is_admitted() -> None:
    # Three run, the fourth waits; one ends, and the waiter's place is that one's: the rest are not counted twice.
    assert not admit([sup(key="csup:1"), sup(key="csup:2"), sup(key="csup:3")], 3).admitted
    assert admit([sup(key="csup:1"), sup(key="csup:3")], 3).admitted


def test_a_sigkilled_holder_frees_its_place_and_its_orphan_counts_until_it_is_gone() -> None:
    # The holder's csup died: its record is stale (not supervised any more); its CLI, if it lives on, is an
    # unmanaged (orphaned) session until the guardian ends it.
    assert not admit([sup(key="csup:1"), um(key="pid:50:1.0")], 2).admitted
    assert admit([sup(key="csup:1")], 2).admitted


def test_the_refusal_lists_most_idle_first_and_unknown_idle_counts_as_most_idle() -> None:
    decision = admit([sup(10, "csup:a"), bg(None), um(500), sup(3000, "csup:b")], 2)
    assert [s.key for s in decision.sessions] == ["bg:abcd1234", "csup:b", "pid:7:1.0", "csup:a"]
    assert [s.key for s in most_idle_first([sup(1, "x"), sup(2, "y")])] == ["y", "x"]


@pytest.mark.parametrize(("others", "chosen"), [
    ([sup(900, "csup:old"), sup(10, "csup:new")], "csup:old"),  # the most idle one long enough
    ([sup(100, "csup:a")], None),  # not idle long enough
    ([bg(900, busy=True)], None),  # busy: never chosen
    ([bg(900, waiting=True)], None),  # waiting for the user
    ([bg(900, attached=True)], None),  # a terminal shows it
    ([bg(900, pinned=True)], None),
    ([um(900)], None),  # unmanaged ones only where end_unmanaged allows
    ([sup(600, "csup:a"), bg(600)], "csup:a"),  # a tie: the first listed
    ([bg(None)], None),  # idle unknown: never guessed
])
def test_making_room_picks_the_most_idle_session_that_may_be_ended(others: list[Seen], chosen: str | None) -> None:
    decision = admit(others, len(others), make_room_after=300)
    assert not decision.admitted
    assert (decision.make_room.key if decision.make_room else None) == chosen


def test_making_room_never_ends_more_than_the_limit_requires() -> None:
    # Two over the limit (the limit was lowered): ending one would not be enough, so nothing is ended.
    assert admit([sup(900, "csup:a"), sup(900, "csup:b")], 1, make_room_after=60).make_room is None
    assert admit([sup(900, "csup:a")], 1, make_room_after=60, may_end=frozenset({"unmanaged"})).make_room is None


# --- idle ends, for every kind ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("session", "actions", "next_in"), [
    (bg(400), ["end-background"], 900),  # idle past its limit
    (bg(100), [], 200),  # not yet: wake when it would be
    (bg(400, busy=True), [], 300),  # working
    (bg(400, waiting=True), [], 300),  # waiting on a permission prompt: someone must answer, not be culled
    (bg(400, attached=True), [], 300),  # a terminal shows it
    (bg(400, pinned=True), [], 300),  # pinned in the agent view
    (bg(None), [], 900),  # no timestamps: never guessed idle
    (um(700), ["notify-unmanaged"], 900),  # reported, not ended (end_unmanaged is off)
    (um(100), [], 500),
    (um(700, busy=True), [], 600),
    (um(700, waiting=True), [], 600),
    (sup(5000), [], 900),  # a supervised session is its own csup's to end
])
def test_the_sweep_decides(session: Seen, actions: list[str], next_in: float) -> None:
    steps, next_at = sweep([session], RULES, Memory(), NOW)
    assert [step.action for step in steps] == actions
    assert next_at - NOW == pytest.approx(next_in)


@pytest.mark.parametrize(("session", "reason"), [
    (bg(busy=True), "busy"), (um(waiting=True), "waiting for you"), (bg(attached=True), "attached"),
    (bg(pinned=True), "pinned"), (bg(), None), (sup(), None),
])
def test_what_is_spared_is_one_rule(session: Seen, reason: str | None) -> None:
    assert spared(session) == reason


def test_an_unmanaged_session_is_reported_once_and_again_after_its_pid_is_reused() -> None:
    memory = Memory()
    assert [s.action for s in sweep([um(700)], RULES, memory, NOW)[0]] == ["notify-unmanaged"]
    assert sweep([um(800)], RULES, memory, NOW + 100)[0] == []  # told already
    sweep([], RULES, memory, NOW + 200)  # it ended: forgotten
    assert [s.action for s in sweep([um(700)], RULES, memory, NOW)[0]] == ["notify-unmanaged"]
    # the same pid, another start: another process, another report
    assert [s.action for s in sweep([um(700), um(700, key="pid:7:2.0")], RULES, memory, NOW)[0]] == \
        ["notify-unmanaged"]


def test_ending_unmanaged_sessions_warns_first_then_ends_after_warn_before() -> None:
    rules = Rules(600, 300, warn_before=60, end_unmanaged=True, rescan=900)
    memory = Memory()
    steps, next_at = sweep([um(560)], rules, memory, NOW)  # within warn_before of the limit
    assert [s.action for s in steps] == ["warn-unmanaged"] and next_at == NOW + 40
    steps, _ = sweep([um(600)], rules, memory, NOW + 40)
    assert [s.action for s in steps] == ["notify-unmanaged"]  # at the limit, warned 40 s ago: not yet ended
    steps, _ = sweep([um(621)], rules, memory, NOW + 61)
    assert [s.action for s in steps] == ["end-unmanaged"]
    # Activity in between starts over: no end on the strength of an old warning.
    memory = Memory()
    sweep([um(560)], rules, memory, NOW)
    steps, _ = sweep([um(51)], rules, memory, NOW + 61)
    assert steps == [] and memory.warned == {}


@pytest.mark.parametrize(("jump", "idle", "actions", "next_in"), [
    (8 * 3600.0, 560 + 8 * 3600.0, ["notify-unmanaged", "warn-unmanaged"], 60),  # slept overnight
    (-3600.0, 570, ["warn-unmanaged"], 30),  # the clock was set back an hour
])
def test_a_warning_across_a_clock_jump_is_given_again_rather_than_ending_at_once(
        jump: float, idle: float, actions: list[str], next_in: float) -> None:
    """The machine slept (or its clock was set back) between the warning and the end: whoever comes back is
    warned again, and the session ends warn_before after that, not the moment the machine wakes."""
    rules = Rules(600, 300, warn_before=60, end_unmanaged=True)
    memory = Memory()
    sweep([um(560)], rules, memory, NOW)
    steps, next_at = sweep([um(idle)], rules, memory, NOW + jump)
    assert [s.action for s in steps] == actions
    assert next_at == NOW + jump + next_in
    assert memory.warned == {"pid:7:1.0": NOW + jump}


def test_a_late_sweep_within_the_grace_still_ends_the_warned_session() -> None:
    rules = Rules(600, 300, warn_before=60, end_unmanaged=True)
    memory = Memory()
    sweep([um(600)], rules, memory, NOW)  # warned at the limit
    steps, _ = sweep([um(700)], rules, memory, NOW + 60 + STALE_WARNING / 2)  # a loaded machine woke late
    assert [s.action for s in steps] == ["end-unmanaged"]


def test_memory_from_a_hostile_file_is_none_of_it() -> None:
    assert Memory.from_json({"warned": {"pid:1:1": 10 ** 400, "pid:2:1": True, "pid:3:1": 5.0},
                             "notified": ["a", 7]}).to_json() == {"notified": ["a"], "warned": {"pid:3:1": 5.0}}
    assert Memory.from_json([1, 2]).to_json() == {"notified": [], "warned": {}}


# --- one idle time ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("last_wall", "last_mono", "idle"), [
    (NOW - 30, 970.0, 30.0),  # both clocks agree
    (NOW - 8 * 3600 - 30, 970.0, 30.0),  # the machine slept 8 h: csup's own sessions count awake time
    (NOW - 30, None, 30.0),  # the CLI's files keep wall-clock times only
    (NOW + 50, None, 0.0),  # a time in the future (a clock set back) is not negative idleness
    (None, None, None),
])
def test_one_idle_function_after_sleep_and_resume(last_wall: float | None, last_mono: float | None,
                                                  idle: float | None) -> None:
    assert idle_seconds(NOW, 1000.0, last_wall=last_wall, last_mono=last_mono) == idle


def test_making_room_for_memory_ends_only_a_session_whose_end_is_enough() -> None:
    mib = 1 << 20
    small = Seen("background", "bg:x", 7200, memory=100 * mib)
    big_busy = Seen("supervised", "csup:y", 10, busy=True, memory=4500 * mib)
    decision = admit([small, big_busy], 5, make_room_after=60, memory_budget=4096 * mib)
    assert not decision.admitted and decision.over == "memory" and decision.make_room is None
    idle_big = Seen("supervised", "csup:z", 7000, memory=4100 * mib)  # less idle, but ending the small one
    decision = admit([small, idle_big], 5, make_room_after=60, memory_budget=4096 * mib)  # would leave 4100
    assert decision.make_room is not None and decision.make_room.key == "csup:z"  # the one whose end is enough


def test_one_session_gets_one_end_in_a_sweep_even_when_two_rules_want_it() -> None:
    mib = 1 << 20
    rules = Rules(idle_limit=None, background_idle_limit=1800, warn_before=60, memory_budget=100 * mib,
                  memory_min_idle=600)
    remembered = Memory()
    session = Seen("background", "bg:x", 1770, memory=200 * mib)
    sweep([session], rules, remembered, NOW)  # the memory rule warns
    steps, _ = sweep([Seen("background", "bg:x", 1830, memory=200 * mib)], rules, remembered, NOW + 60)
    assert [step.action for step in steps] == ["end-memory"]


# --- which one, and may it: stop and takeover with no id, stop --idle, the waiting rule, deadlines -------------


@pytest.mark.parametrize("sessions, chosen", [
    ([sup(10, "csup:a"), bg(500, "bg:b")], "bg:b"),  # the most idle one
    ([sup(10, "csup:a"), bg(500, "bg:b", busy=True)], "csup:a"),  # never a busy one
    ([sup(10, "csup:a"), bg(500, "bg:b", attached=True)], "csup:a"),
    ([sup(10, "csup:a"), bg(500, "bg:b", pinned=True)], "csup:a"),
    ([um(900, "pid:1:1", waiting=True), sup(10, "csup:a")], "csup:a"),
    ([um(None, "pid:1:1"), sup(10, "csup:a")], "pid:1:1"),  # an unknown idle time counts as the most idle
    ([bg(500, "bg:b", busy=True)], None),  # every one in use: none, and why
    ([], None),
])
def test_stop_or_takeover_without_an_id_take_the_most_idle_one_nobody_uses(sessions: list[Seen],
                                                                           chosen: str | None) -> None:
    choice = choose_to_end(sessions)
    assert (choice.chosen.key if choice.chosen else None) == chosen
    if chosen is None:
        assert [why for _, why in choice.kept] == [spared(s) for s in most_idle_first(sessions)]


@pytest.mark.parametrize("at_least, expected", [
    (None, ["bg:b"]),  # each kind its own limit: background 300 s, the others 600 s
    (100.0, ["csup:a", "bg:b", "pid:1:1"]),  # a duration given applies to every kind
    (1000.0, []),
])
def test_stop_idle_applies_each_kinds_limit_unless_given_one(at_least: float | None, expected: list[str]) -> None:
    sessions = [sup(400, "csup:a"), bg(400, "bg:b"), bg(900, "bg:c", busy=True), um(200, "pid:1:1")]
    found = idle_past(sessions, idle_limit=600, background_idle_limit=300, at_least=at_least)
    assert [s.key for s in found] == expected


@pytest.mark.parametrize("idle, waiting_limit, kept", [
    (5000.0, None, True),  # off: a prompt keeps its session for as long as it waits
    (50.0, 600.0, True),
    (700.0, 600.0, False),  # waited that long: idle like any other
    (None, 600.0, True),
])
def test_one_waiting_rule(idle: float | None, waiting_limit: float | None, kept: bool) -> None:
    assert waiting_spares(idle, waiting_limit) is kept
    waiting = Seen("background", "bg:w", idle, waiting=True)
    assert (spared(waiting, waiting_limit) == "waiting for you") is kept
    steps, _ = sweep([waiting], RULES._replace(waiting_limit=waiting_limit), Memory(), NOW)
    assert (steps == []) is (kept or idle is None)


@pytest.mark.parametrize("idle, limit, left", [(100.0, 600.0, 500.0), (700.0, 600.0, 0.0), (5.0, None, None),
                                               (None, 600.0, None)])
def test_time_left(idle: float | None, limit: float | None, left: float | None) -> None:
    assert time_left(idle, limit) == left


def test_what_a_new_session_may_end_to_make_room() -> None:
    assert may_end(False) == {"supervised", "background"}
    assert may_end(True) == {"supervised", "background", "unmanaged"}
    assert may_end(True, free_place=False) == {"supervised"}  # every place held: only a supervised end frees one


@pytest.mark.parametrize("session, reason", [
    (sup(90, "csup:a")._replace(busy=True), "busy"),
    (bg(90, "bg:b", waiting=True), "waiting for you"),
    (bg(90, "bg:b", pinned=True), "pinned"),
    (sup(20, "csup:a"), "idle 20s"),
    (um(900, "pid:1:1"), "unmanaged (ended only with end_unmanaged)"),
    (sup(900, "csup:a"), "ending it alone would not be enough"),
])
def test_a_make_room_refusal_says_why_each_session_was_not_ended(session: Seen, reason: str) -> None:
    assert why_not_room(session, 60.0, may_end(False)) == reason


# --- every agent CLI under one policy ------------------------------------------------------------------------


def of(cli: str, kind: str = "supervised", idle: float = 5.0, key: str = "") -> Seen:
    return Seen(kind, key or f"{kind}:{cli}:{idle}", idle, cli=cli)  # type: ignore[arg-type]


@pytest.mark.parametrize(("others", "cli", "limits", "admitted"), [
    ([of("claude")], "codex", Limits(1), False),  # one session of any CLI: a claude one refuses codex
    ([of("codex")], "claude", Limits(1), False),  # and the reverse
    ([of("claude")], "codex", Limits(2), True),
    ([of("claude")], "codex", Limits(1, (("codex", 1),)), True),  # codex has a place of its own
    ([of("claude"), of("codex")], "codex", Limits(1, (("codex", 1),)), False),  # which is taken
    ([of("codex"), of("codex", idle=6)], "claude", Limits(1, (("codex", 2),)), True),  # apart from claude's
    ([of("codex", "editor")], "codex", Limits(1), True),  # an editor's session is not counted...
    ([of("codex", "editor")], "codex", Limits(1, count_editors=True), False),  # ...unless asked
    ([of("claude", "unmanaged"), of("codex", "background")], "claude", Limits(3), True),
])
def test_one_limit_counts_every_cli_unless_one_has_its_own(others: list[Seen], cli: str, limits: Limits,
                                                          admitted: bool) -> None:
    assert admit(others, limits, cli=cli).admitted is admitted


def test_an_editors_session_counts_in_the_memory_budget_but_is_never_ended() -> None:
    editor = Seen("editor", "pid:9:1.0", 99_999.0, memory=900, cli="codex")
    assert admit([editor], Limits(1), memory_budget=1000, cli="claude").admitted is True
    over = admit([editor], Limits(1), memory_budget=800, cli="claude", make_room_after=0.0)
    assert not over.admitted and over.over == "memory" and over.make_room is None
    assert spared(editor) == "an editor's"
    steps, _ = sweep([editor], RULES._replace(end_unmanaged=True, memory_budget=100, memory_min_idle=0), Memory(),
                     NOW)
    assert steps == []


def test_making_room_for_a_cli_with_its_own_limit_ends_only_one_of_its_own() -> None:
    others = [of("claude", idle=900.0, key="csup:claude"), of("codex", idle=100.0, key="csup:codex")]
    decision = admit(others, Limits(1, (("codex", 1),)), cli="codex", make_room_after=60.0)
    assert decision.make_room is not None and decision.make_room.key == "csup:codex"
