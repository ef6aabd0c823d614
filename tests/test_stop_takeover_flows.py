"""`csup stop` and `csup takeover` in-process, as tables: which sessions they act on — by name, `--idle` per kind,
`--all`, or the policy's choice when none is named — with a session source of background sessions as values (a
fake daemon that records what it is asked to end), real locks in a temporary directory and a fake clock. The pty
tests (test_many_sessions.py, test_background.py, test_sleep_pty.py) prove the wiring."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from supervisor.clis.adapter import CliStatus, Conversation, LiveSession
from supervisor.core.identity import ProcessView
from supervisor.core.settings import resolve
from supervisor.flows import admission
from supervisor.flows.refusals import NothingToEnd
from supervisor.flows.stop import stop
from supervisor.machine.paths import Paths, ensure_private_dir

from fakes import FakeClock, RecordingReporter

NOW = 1_800_000_000.0


class Daemon:
    """A session source with background sessions only (as values); ending one through it is recorded."""

    name = "claude"
    title = "test sessions"

    def __init__(self, sessions: Sequence[LiveSession]) -> None:
        self.sessions = list(sessions)
        self.ended: list[str] = []

    def live_sessions(self) -> list[LiveSession]:
        return list(self.sessions)

    def end_background(self, session: LiveSession, wait: float) -> str | None:
        self.ended.append(session.short)
        self.sessions = [s for s in self.sessions if s.short != session.short]
        return None

    def bring_back_command(self, session: LiveSession) -> str:
        return f"claude attach {session.short}"

    def live_state(self, pid: int) -> CliStatus | None:
        return None

    def conversation_of(self, pid: int) -> Conversation | None:
        return None

    def can_resume(self, conversation: Conversation) -> bool:
        return False

    def resume_command(self, conversation: Conversation) -> str:
        return f"claude --resume {conversation.id}"

    def is_session_process(self, view: ProcessView) -> bool:
        return False

    def which(self, view: ProcessView) -> str | None:
        return None

    def editor_session(self, view: ProcessView) -> bool:
        return False

    def proven(self, pid: int, cmdline: Sequence[str]) -> bool:
        return False

    def has_session_arguments(self, cmdline: Sequence[str]) -> bool:
        return False

    def helper_role(self, view: ProcessView) -> str | None:
        return None

    def process_hints(self) -> tuple[bytes, ...]:
        return (b"no-such-process-name-at-all",)

    def background_daemon_running(self) -> bool:
        return True

    def fork_of(self, conversation_id: str, since: float) -> str | None:
        return None

    def folders_to_watch(self) -> list[Path]:
        return []


def bg(short: str, idle: float, status: str = "idle", **flags: Any) -> LiveSession:
    return LiveSession(900_000 + int(short[-2:], 16), Conversation(f"c-{short}", "/w"), "background", short=short,
                       status=status, last_activity=NOW - idle, **flags)


def _world(tmp_path: Path, sessions: Sequence[LiveSession], **settings: object) -> tuple[Paths, Any, Daemon]:
    paths = Paths(tmp_path / "run", tmp_path / "state", tmp_path / "config.toml")
    ensure_private_dir(paths.runtime_dir)
    return paths, resolve(settings, "test", {}), Daemon(sessions)


SESSIONS = [bg("aaaa0001", 4000), bg("aaaa0002", 900, "busy"), bg("aaaa0003", 2000, pinned=True),
            bg("aaaa0004", 700), bg("aaaa0005", 100)]


@pytest.mark.parametrize("how, ended", [
    ({"idle": True}, ["aaaa0001", "aaaa0004"]),  # each past its kind's limit (background: 10m), none in use
    ({"idle": True, "idle_at_least": 3000.0}, ["aaaa0001"]),
    ({"target": "aaaa0005"}, ["aaaa0005"]),  # named: ended whatever it is doing
    ({"target": "aaaa0002"}, ["aaaa0002"]),
    ({}, ["aaaa0001"]),  # none named: the policy's choice, the most idle one nobody uses
    ({"everything": True}, ["aaaa0001", "aaaa0003", "aaaa0004", "aaaa0005", "aaaa0002"]),  # most idle first
])
def test_which_sessions_stop_ends(tmp_path: Path, how: dict[str, Any], ended: list[str]) -> None:
    paths, settings, daemon = _world(tmp_path, SESSIONS, max_sessions=5, background_idle_limit="10m")
    reporter = RecordingReporter()
    outcome = stop(paths, settings, daemon, force=True, patience=None, reporter=reporter,  # type: ignore[arg-type]
                   clock=FakeClock(NOW), **how)
    assert daemon.ended == ended
    assert [b.short for b in outcome.background_ended] == ended and outcome.stopped
    if not how:
        assert [s.id for s in reporter.said("chosen")] == ["aaaa0001"]  # said before it is ended


def test_stop_with_none_named_and_every_session_in_use_ends_nothing_and_says_why(tmp_path: Path) -> None:
    paths, settings, daemon = _world(tmp_path, [bg("aaaa0002", 900, "busy"), bg("aaaa0003", 9000, pinned=True)],
                                     max_sessions=5)
    with pytest.raises(NothingToEnd) as refused:
        stop(paths, settings, daemon, force=True, patience=None, reporter=RecordingReporter(),  # type: ignore[arg-type]
             clock=FakeClock(NOW))
    assert daemon.ended == [] and sorted(why for _, why in refused.value.kept) == ["busy", "pinned"]


@pytest.mark.parametrize("named, brought", [
    (None, "aaaa0001"),  # the most idle one nobody uses: brought here live, not ended
    ("aaaa0004", "aaaa0004"),
])
def test_which_session_takeover_brings_here(tmp_path: Path, named: str | None, brought: str) -> None:
    paths, settings, daemon = _world(tmp_path, SESSIONS, max_sessions=6)
    locks = admission.Locks.open(paths, 6)
    handover = admission.take_over(paths, locks, settings, daemon, force=True,  # type: ignore[arg-type]
                                   reporter=RecordingReporter(), named=named, clock=FakeClock(NOW))
    assert handover.attach is not None and handover.attach.short == brought
    assert daemon.ended == [] and locks.slot is not None and not locks.gate.held
    locks.release()
