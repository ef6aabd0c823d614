"""`csup metrics`: the figures csup knows, in the Prometheus text format written by the ecosystem's own client
library (prometheus_client, imported only here): the sessions by CLI, kind and state, each session's memory and
idle time, the budget, and counters of what csup did (ends, sleeps, wakes, refusals, memory freed), counted over
its event log. The watcher can keep a file of them up to date for node_exporter's textfile collector (the
`metrics_file` setting). Side effects: the snapshot, the log, the file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from supervisor.clis.adapter import SessionSource
from supervisor.core.settings import Settings
from supervisor.flows.sessions import AnySession, Snapshot, take_snapshot
from supervisor.machine.clock import SYSTEM, Clock
from supervisor.machine.events import read_events
from supervisor.machine.memory import of_trees
from supervisor.machine.paths import Paths


class Figures(NamedTuple):
    """Everything `csup metrics` reports, as values."""

    sessions: Sequence[AnySession]
    asleep: Sequence[AnySession]
    max_sessions: int
    memory_budget: int | None
    events: Mapping[str, int]  # event name (and for refusals, ends: its reason or how) → how many
    freed: int  # bytes given back by sleeps, over the log


def gather(paths: Paths, settings: Settings, census: SessionSource, clock: Clock = SYSTEM,
           snapshot: Snapshot | None = None) -> Figures:
    snap = snapshot or take_snapshot(paths, settings.places, census, memory=of_trees, clock=clock)
    counted, freed = count_events(read_events(paths.log_file))
    return Figures(snap.sessions, snap.asleep, settings.max_sessions, settings.memory_budget, counted,
                   freed)


def count_events(events: Iterable[Mapping[str, Any]]) -> tuple[dict[str, int], int]:
    """How often each thing happened (ends by how, refusals by reason) and the memory sleeps freed."""
    counted: Counter[str] = Counter()
    freed = 0
    for event in events:
        name = str(event.get("event"))
        if name in ("ended", "ended-background", "ended-unmanaged"):
            if event.get("gone") is False:
                continue
            counted[f"ended:{name.removeprefix('ended').strip('-') or 'supervised'}:{event.get('how')}"] += 1
        elif name == "refused":
            counted[f"refused:{event.get('reason')}"] += 1
        elif name in ("slept", "woke", "wake-refused", "made-room"):
            counted[name] += 1
            if name == "slept" and isinstance(event.get("freed"), int):
                freed += int(event["freed"])
    return dict(counted), freed


def render(figures: Figures) -> bytes:
    """The figures in the Prometheus text exposition format."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(figures))
    return bytes(generate_latest(registry))


def write_textfile(path: Path, figures: Figures) -> None:
    """For node_exporter's textfile collector: written whole (a temporary file renamed), never half."""
    import os
    import tempfile

    data = render(figures)
    fd, temporary = tempfile.mkstemp(prefix=".csup-", suffix=".prom.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)  # node_exporter runs as another user: the figures are no secret
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


class _Collector:
    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        f = self.figures
        counts = GaugeMetricFamily("csup_sessions", "Sessions of the user now, by CLI, kind and state",
                                   labels=["cli", "kind", "state"])
        tally: Counter[tuple[str, str, str]] = Counter((_cli(s), s.kind, s.state or "unknown") for s in f.sessions)
        tally.update((_cli(s), "asleep", "asleep") for s in f.asleep)
        for (cli, kind, state), n in sorted(tally.items()):
            counts.add_metric([cli, kind, state], n)
        yield counts
        memory = GaugeMetricFamily("csup_session_memory_bytes", "Memory each session's process tree holds "
                                   "(PSS on Linux, USS elsewhere)", labels=["cli", "kind", "id"])
        idle = GaugeMetricFamily("csup_session_idle_seconds", "How long each session has been idle",
                                 labels=["cli", "kind", "id"])
        for session in f.sessions:
            if session.memory is not None:
                memory.add_metric([_cli(session), session.kind, session.id], session.memory.total)
            if session.idle_seconds is not None:
                idle.add_metric([_cli(session), session.kind, session.id], session.idle_seconds)
        yield memory
        yield idle
        yield GaugeMetricFamily("csup_memory_held_bytes", "Memory all sessions hold together",
                                value=sum(s.memory.total for s in f.sessions if s.memory is not None))
        if f.memory_budget is not None:
            yield GaugeMetricFamily("csup_memory_budget_bytes", "The memory budget (memory_budget)",
                                    value=f.memory_budget)
        yield GaugeMetricFamily("csup_max_sessions", "At most this many sessions (max_sessions)", value=f.max_sessions)
        ends = CounterMetricFamily("csup_ends", "Sessions csup ended (or saw end), by kind and how",
                                   labels=["kind", "how"])
        refusals = CounterMetricFamily("csup_refusals", "Starts csup refused, by reason", labels=["reason"])
        for key, n in sorted(f.events.items()):
            parts = key.split(":")
            if parts[0] == "ended":
                ends.add_metric([parts[1], parts[2]], n)
            elif parts[0] == "refused":
                refusals.add_metric([parts[1]], n)
        yield ends
        yield refusals
        for name, what in (("slept", "Sessions put to sleep"), ("woke", "Asleep sessions woken"),
                           ("wake-refused", "Wakes refused (at the limit, open elsewhere, resume failed)"),
                           ("made-room", "Sessions ended to make room")):
            yield CounterMetricFamily(f"csup_{name.replace('-', '_')}", what, value=f.events.get(name, 0))
        yield CounterMetricFamily("csup_memory_freed_bytes", "Memory sleeps gave back", value=f.freed)


def _cli(session: AnySession) -> str:
    return session.cli or "other"  # a program csup runs without knowing it
