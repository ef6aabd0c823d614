"""The watcher's decisions, pure: given every session outside a `csup run` (what it is, how long it has been
idle, whether a terminal shows it) and the policy, what to do now and when to look again. Takes `now` as an
argument; tested as tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["unmanaged", "background"]
Action = Literal["end-background", "notify-unmanaged", "warn-unmanaged", "end-unmanaged"]


@dataclass(frozen=True)
class Seen:
    """One session as the watcher sees it in a sweep."""

    kind: Kind
    key: str  # stable across sweeps: pid and start time, or the background session's id
    idle_since: float | None  # wall-clock seconds of its last activity; None when unknown
    busy: bool = False  # the CLI says it is working
    waiting: bool = False  # the CLI waits on a permission prompt
    attached: bool = False  # a terminal shows it (`claude attach`): someone is there
    pinned: bool = False  # the user pinned it in Claude Code's agent view


@dataclass(frozen=True)
class Rules:
    idle_limit: float | None  # unmanaged interactive sessions
    background_idle_limit: float | None
    warn_before: float
    end_unmanaged: bool = False  # off: unmanaged sessions are only reported
    rescan: float = 300.0  # new sessions may appear at any time: look at least this often


@dataclass(frozen=True)
class Step:
    action: Action
    session: Seen
    idle: float


@dataclass
class Memory:
    """What the watcher remembers between sweeps: whom it told already, and whom it warned (and when)."""

    notified: set[str] = field(default_factory=set)
    warned: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"notified": sorted(self.notified), "warned": self.warned}

    @classmethod
    def from_json(cls, data: object) -> Memory:
        """What a previous sweep remembered (a cron `--once` is a new process each time); odd content is none."""
        if not isinstance(data, dict):
            return cls()
        notified, warned = data.get("notified"), data.get("warned")
        return cls({key for key in notified if isinstance(key, str)} if isinstance(notified, list) else set(),
                   {key: float(at) for key, at in warned.items() if isinstance(key, str)
                    and isinstance(at, int | float) and not isinstance(at, bool)} if isinstance(warned, dict) else {})

    def forget_all_but(self, keys: set[str]) -> None:
        """Sessions that are gone (or whose pid now names another process) are forgotten."""
        self.notified &= keys
        self.warned = {key: at for key, at in self.warned.items() if key in keys}


def decide(sessions: list[Seen], rules: Rules, memory: Memory, now: float) -> tuple[list[Step], float]:
    """The steps due now (memory updated for them) and when the next one may be due (wall-clock seconds)."""
    memory.forget_all_but({s.key for s in sessions})
    steps: list[Step] = []
    due = [now + rules.rescan]
    for session in sessions:
        limit = rules.background_idle_limit if session.kind == "background" else rules.idle_limit
        if limit is None or session.idle_since is None:
            continue
        if session.busy or session.attached or session.pinned or session.waiting:
            memory.warned.pop(session.key, None)  # someone is there, or it is working: start over later
            due.append(now + limit)
            continue
        idle = max(0.0, now - session.idle_since)
        expires = session.idle_since + limit
        if session.kind == "background":
            if idle >= limit:
                steps.append(Step("end-background", session, idle))
            else:
                due.append(expires)
            continue
        if idle < limit:
            if rules.end_unmanaged and now >= expires - rules.warn_before:
                steps += _warn_once(session, memory, idle, now)
                due.append(expires)
            else:
                memory.warned.pop(session.key, None)
                due.append(expires - rules.warn_before if rules.end_unmanaged else expires)
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


def _warn_once(session: Seen, memory: Memory, idle: float, now: float) -> list[Step]:
    if session.key in memory.warned:
        return []
    memory.warned[session.key] = now
    return [Step("warn-unmanaged", session, idle)]
