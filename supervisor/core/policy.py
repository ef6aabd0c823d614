"""The one session policy, pure: who may start (admission against `max_sessions`), which idle sessions end and
when (every kind, with warnings where a terminal can show one), and what is never ended (busy, waiting for the
user, attached, pinned). Values in, steps out: the sessions as one snapshot saw them, the rules, what was
remembered from earlier sweeps, and `now` as an argument. Every place csup decides asks this module; the flows
only gather the values and carry out the steps. Tested as tables (tests/test_policy.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

Kind = Literal["supervised", "unmanaged", "background", "editor"]  # editor: run by an editor's extension
Action = Literal["end-background", "notify-unmanaged", "warn-unmanaged", "end-unmanaged", "warn-memory",
                 "end-memory"]

# A warning older than warn_before by this much was not followed by its end in time: the machine slept, or no
# enforcer ran. Ending on the strength of it would surprise whoever came back; it is given again instead.
STALE_WARNING = 60.0


def waiting_spares(idle: float | None, waiting_limit: float | None) -> bool:
    """The one waiting rule: a session waiting on a permission prompt is kept while someone may still answer
    it — always with `waiting_limit` off (the default), else until it has waited that long (then it is idle like
    any other). The enforcer, admission and a supervised session's own clock all ask this."""
    return waiting_limit is None or idle is None or idle < waiting_limit


class Seen(NamedTuple):
    """One session as the snapshot saw it: what it is, how long it has been idle (the snapshot's one idle
    function, at the snapshot's `now`), and what the CLI says it is doing."""

    kind: Kind
    key: str  # stable across sweeps: pid and start time, csup's session id, or the background session's id
    idle: float | None  # seconds; None when unknown (never guessed idle)
    busy: bool = False  # the CLI says it is working
    waiting: bool = False  # the CLI waits on a permission prompt: someone must answer it
    attached: bool = False  # a terminal shows it (an attach): someone is there
    pinned: bool = False  # pinned in its CLI's agent view
    memory: int | None = None  # bytes its process tree holds, counted fairly; None when not measured
    cli: str = ""  # which CLI it is: a CLI with a limit of its own is counted apart


def spared(session: Seen, waiting_limit: float | None = None) -> str | None:
    """Why a session is never ended for idleness (nor chosen to make room or to stop), or None when it may be."""
    if session.kind == "editor":
        return "an editor's"  # its editor's panel talks to it; ending it would break that editor's chat
    if session.busy:
        return "busy"
    if session.waiting and waiting_spares(session.idle, waiting_limit):
        return "waiting for you"
    if session.attached:
        return "attached"
    if session.pinned:
        return "pinned"
    return None


def most_idle_first(sessions: Sequence[Seen]) -> list[Seen]:
    """An unknown idle time counts as the most idle: nothing says it is in use."""
    return sorted(sessions, key=lambda s: -(s.idle if s.idle is not None else float("inf")))


def limit_for(kind: Kind, idle_limit: float | None, background_idle_limit: float | None) -> float | None:
    """The idle limit of a kind of session: background sessions have their own; an editor's has none."""
    if kind == "editor":
        return None
    return background_idle_limit if kind == "background" else idle_limit


def time_left(idle: float | None, limit: float | None) -> float | None:
    """How long until an idle limit is reached (0 once past it); None with no limit or no idle time known."""
    if limit is None or idle is None:
        return None
    return max(0.0, limit - idle)


def may_end(end_unmanaged: bool, *, free_place: bool = True) -> frozenset[Kind]:
    """The kinds a new session may end to make room: with every place held (no `free_place`) only a supervised
    one frees a place; unmanaged ones only where the user allowed csup to end them."""
    if not free_place:
        return frozenset({"supervised"})
    return frozenset({"supervised", "background", "unmanaged"} if end_unmanaged else {"supervised", "background"})


def why_not_room(session: Seen, make_room_after: float, may: frozenset[Kind],
                 waiting_limit: float | None = None) -> str:
    """Why making room did not end this session, in words a refusal shows: a kind it may not end, in use, not
    idle long enough — or, when none of those, that ending it alone would not have been enough."""
    from supervisor.core.durations import format_duration

    if session.kind not in may:
        return "unmanaged (ended only with end_unmanaged)" if session.kind == "unmanaged" \
            else "ending it frees no place"
    why = spared(session, waiting_limit)
    if why is not None:
        return why
    if session.idle is not None and session.idle < make_room_after:
        return f"idle {format_duration(session.idle)}"
    return "ending it alone would not be enough"


class Choice(NamedTuple):
    """Which session a command that names none means: `chosen`, or none — and why each one is kept."""

    chosen: Seen | None
    kept: tuple[tuple[Seen, str], ...] = ()


def choose_to_end(sessions: Sequence[Seen], waiting_limit: float | None = None) -> Choice:
    """`csup stop` or `csup takeover` with no id and more than one session allowed: the most idle session that
    nobody is using (never a busy, waiting, attached or pinned one); none when every one is in use."""
    listed = most_idle_first(sessions)
    for session in listed:
        if spared(session, waiting_limit) is None:
            return Choice(session)
    return Choice(None, tuple((s, spared(s, waiting_limit) or "") for s in listed))


def idle_past(sessions: Sequence[Seen], *, idle_limit: float | None, background_idle_limit: float | None,
              at_least: float | None = None, waiting_limit: float | None = None) -> list[Seen]:
    """`csup stop --idle [DURATION]`: the sessions idle at least DURATION — without one, each past its own
    kind's limit — that nobody is using (what the policy never ends, this spares too)."""
    found = []
    for session in sessions:
        limit = at_least if at_least is not None else limit_for(session.kind, idle_limit, background_idle_limit)
        if limit is None or session.idle is None or session.idle < limit:
            continue
        if spared(session, waiting_limit) is None:
            found.append(session)
    return found


# --- admission ---------------------------------------------------------------------------------------------


class Admission(NamedTuple):
    """Whether a new session may start now; when not, why (too many, or the memory budget is spent) and every
    session there is, most idle first."""

    admitted: bool
    total: int  # sessions there would be with the new one
    sessions: tuple[Seen, ...] = ()
    make_room: Seen | None = None  # admitted once this one has ended (the `make_room` setting)
    over: Literal["count", "memory"] | None = None
    memory: int = 0  # what the sessions hold together (when measured)
    limit: int = 1  # the limit the new session was counted against (max_sessions, or its CLI's own)
    counted: tuple[Seen, ...] = ()  # the sessions counted with it, most idle first


def held(sessions: Sequence[Seen]) -> int:
    """What the sessions hold together (the measured ones)."""
    return sum(s.memory or 0 for s in sessions)


class Limits(NamedTuple):
    """Which sessions a new one is counted with, and against what: every CLI's together against `max_sessions`,
    but a CLI with a limit of its own (`own`) is counted apart; editors' sessions only when asked."""

    max_sessions: int
    own: tuple[tuple[str, int], ...] = ()
    count_editors: bool = False

    def counted_with(self, cli: str, sessions: Sequence[Seen]) -> tuple[list[Seen], int]:
        """The sessions a new session of `cli` is counted with, and the limit they share."""
        own = dict(self.own)
        with_it = [s for s in sessions if (s.kind != "editor" or self.count_editors)
                   and ((s.cli == cli) if cli in own else (s.cli not in own))]
        return with_it, own.get(cli, self.max_sessions)


def admit(others: Sequence[Seen], max_sessions: int | Limits, *, starting: int = 0,
          make_room_after: float | None = None,
          may_end: frozenset[Kind] = frozenset({"supervised", "background"}),
          memory_budget: int | None = None, waiting_limit: float | None = None, cli: str = "") -> Admission:
    """A new session of `cli` beside `others` (every session there is, each once, the new one excluded) and
    `starting` (csups that hold a place but have not said what they run yet): at most the limit it shares with
    the sessions it is counted with (Limits), and none while all the sessions hold `memory_budget` or more. With
    `make_room_after`, a full machine makes room by ending the most idle session of a kind it `may_end` that has
    been idle at least that long and is not spared (a tie goes to the first listed): one, and only where one is
    enough for the count."""
    limits = max_sessions if isinstance(max_sessions, Limits) else Limits(max_sessions)
    counted, max_sessions = limits.counted_with(cli, others)
    count = len(counted) + starting + 1
    listed = tuple(most_idle_first(others))
    mine = tuple(s for s in listed if s in counted)
    total = held(others)
    over: Literal["count", "memory"] | None = None
    if count > max_sessions:
        over = "count"
    elif memory_budget is not None and total >= memory_budget:
        over = "memory"
    if over is None:
        return Admission(True, count, listed, memory=total, limit=max_sessions, counted=mine)
    if make_room_after is not None and (over == "memory" or count - 1 == max_sessions):
        # Over the count, only a session counted with the new one frees a place.
        pool = listed if over == "memory" else mine
        candidates = [s for s in pool if s.kind in may_end and spared(s, waiting_limit) is None
                      and s.idle is not None and s.idle >= make_room_after]
        if memory_budget is not None and (over == "memory" or total >= memory_budget):
            # Ending it must be enough: one that leaves the total still over would be ended for nothing.
            candidates = [s for s in candidates if total - (s.memory or 0) < memory_budget]
        if candidates:
            return Admission(False, count, listed, make_room=candidates[0], over=over, memory=total,
                             limit=max_sessions, counted=mine)
    return Admission(False, count, listed, over=over, memory=total, limit=max_sessions, counted=mine)


# --- idle ends, outside the supervised ptys (the enforcer's sweep) -----------------------------------------


class Rules(NamedTuple):
    idle_limit: float | None  # unmanaged interactive sessions
    background_idle_limit: float | None
    warn_before: float
    end_unmanaged: bool = False  # off: unmanaged sessions are only reported
    rescan: float = 300.0  # sessions that announce themselves nowhere may appear at any time: look this often
    memory_budget: int | None = None  # bytes all sessions may hold together; None: no budget
    memory_min_idle: float = 600.0  # over the budget, only a session idle this long is ended
    memory_every: float = 60.0  # memory grows without a word to anyone: with a budget, look this often
    waiting_limit: float | None = None  # a session waiting on a permission prompt: see waiting_spares


MEMORY = "mem:"  # the memory rule's warnings, remembered apart from the idle rule's

class Step(NamedTuple):
    action: Action
    session: Seen
    idle: float
    held: int = 0  # the memory rule's steps: what all sessions held together


class Memory:
    """What the enforcer remembers between sweeps: whom it told already, and whom it warned (and when)."""

    def __init__(self, notified: set[str] | None = None, warned: dict[str, float] | None = None) -> None:
        self.notified: set[str] = set() if notified is None else notified
        self.warned: dict[str, float] = {} if warned is None else warned

    def to_json(self) -> dict[str, object]:
        return {"notified": sorted(self.notified), "warned": self.warned}

    @classmethod
    def from_json(cls, data: object) -> Memory:
        """What a previous sweep remembered (a cron `--once` is a new process each time); odd content is none."""
        if not isinstance(data, dict):
            return cls()
        notified, warned = data.get("notified"), data.get("warned")
        return cls({key for key in notified if isinstance(key, str)} if isinstance(notified, list) else set(),
                   {key: float(at) for key, at in warned.items() if isinstance(key, str) and is_moment(at)}
                   if isinstance(warned, dict) else {})

    def forget_all_but(self, keys: set[str]) -> None:
        """Sessions that are gone (or whose pid now names another process) are forgotten."""
        self.notified &= keys
        self.warned = {key: at for key, at in self.warned.items() if key in keys}


def is_moment(value: object) -> bool:
    """A wall-clock time as JSON may hold it: a finite number in range (a 400-digit integer is not one)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e11


def sweep(sessions: Sequence[Seen], rules: Rules, memory: Memory, now: float) -> tuple[list[Step], float]:
    """The steps due now (memory updated for them) and when the next one may be due (`now`'s clock).

    Supervised sessions are their own csup's: its pty knows every keystroke, so it alone ends them. Background
    sessions have no terminal to warn in and are ended at their limit through their daemon; unmanaged ones are
    reported once, and with `end_unmanaged` warned, then ended `warn_before` later."""
    memory.forget_all_but({s.key for s in sessions if s.kind != "supervised"}
                          | {MEMORY + s.key for s in sessions})
    steps: list[Step] = []
    due = [now + rules.rescan]
    if rules.memory_budget is not None:
        steps += _memory_pressure(sessions, rules, memory, now, due)
    ending = {step.session.key for step in steps if step.action == "end-memory"}  # one end per session
    for session in sessions:
        if session.kind == "supervised" or session.key in ending:
            continue
        limit = limit_for(session.kind, rules.idle_limit, rules.background_idle_limit)
        if limit is None or session.idle is None:
            continue
        if spared(session, rules.waiting_limit) is not None:
            memory.warned.pop(session.key, None)  # someone is there, or it is working: start over later
            due.append(now + limit)
            continue
        idle = session.idle
        left = limit - idle
        warned_at = memory.warned.get(session.key)
        if warned_at is not None and not warned_at <= now <= warned_at + rules.warn_before + STALE_WARNING:
            del memory.warned[session.key]  # the clock jumped (sleep, or set back): warn again, never end unannounced
        if session.kind == "background":
            if left <= 0:
                steps.append(Step("end-background", session, idle))
            else:
                due.append(now + left)
            continue
        if left > 0:
            if rules.end_unmanaged and left <= rules.warn_before:
                steps += _warn_once(session, memory, idle, now)
                due.append(now + left)
            else:
                memory.warned.pop(session.key, None)
                due.append(now + left - (rules.warn_before if rules.end_unmanaged else 0.0))
            continue
        if session.key not in memory.notified:
            memory.notified.add(session.key)
            steps.append(Step("notify-unmanaged", session, idle))
        if rules.end_unmanaged:
            warned_at = memory.warned.get(session.key)
            if warned_at is None:
                steps += _warn_once(session, memory, idle, now)
                due.append(now + rules.warn_before)
            elif now >= warned_at + rules.warn_before:
                steps.append(Step("end-unmanaged", session, idle))
                memory.warned.pop(session.key)
            else:
                due.append(warned_at + rules.warn_before)
    return steps, min(due)


def _memory_pressure(sessions: Sequence[Seen], rules: Rules, memory: Memory, now: float,
                     due: list[float]) -> list[Step]:
    """Over the budget: the most idle session that may be ended (idle at least memory_min_idle, not spared; an
    unmanaged one only with end_unmanaged) is warned, then ended warn_before later — one at a time, until the
    total is under. Under it, every memory warning is forgotten."""
    assert rules.memory_budget is not None
    due.append(now + rules.memory_every)
    total = held(sessions)
    kinds = {"supervised", "background"} | ({"unmanaged"} if rules.end_unmanaged else set())
    candidates = [s for s in most_idle_first(sessions) if s.kind in kinds and spared(s, rules.waiting_limit) is None
                  and s.idle is not None and s.idle >= rules.memory_min_idle and s.memory]
    chosen = candidates[0] if total > rules.memory_budget and candidates else None
    for key in [key for key in memory.warned if key.startswith(MEMORY)]:
        if chosen is None or key != MEMORY + chosen.key:
            del memory.warned[key]  # under the budget again, or another is the most idle now: start over
    if chosen is None:
        return []
    assert chosen.idle is not None
    key = MEMORY + chosen.key
    warned_at = memory.warned.get(key)
    if warned_at is not None and not warned_at <= now <= warned_at + rules.warn_before + STALE_WARNING:
        warned_at = None
    if warned_at is None:
        memory.warned[key] = now
        due.append(now + rules.warn_before)
        return [Step("warn-memory", chosen, chosen.idle, total)]
    if now >= warned_at + rules.warn_before:
        del memory.warned[key]
        return [Step("end-memory", chosen, chosen.idle, total)]
    due.append(warned_at + rules.warn_before)
    return []


def _warn_once(session: Seen, memory: Memory, idle: float, now: float) -> list[Step]:
    if session.key in memory.warned:
        return []
    memory.warned[session.key] = now
    return [Step("warn-unmanaged", session, idle)]


# --- one idle time ---------------------------------------------------------------------------------------------


def idle_seconds(now_wall: float, now_mono: float, *, last_wall: float | None,
                 last_mono: float | None = None) -> float | None:
    """How long a session has been idle: by the machine-wide monotonic clock when its last activity was taken
    on it (csup's own sessions: time asleep is not idle), else by the wall clock of the CLI's own files (they
    keep nothing else, so a machine that slept counts its sleep). None when nothing is known."""
    if last_mono is not None:
        return max(0.0, now_mono - last_mono)
    if last_wall is not None:
        return max(0.0, now_wall - last_wall)
    return None
