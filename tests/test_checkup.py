"""Doctor's rules as a table (core/checkup.py): facts in, findings out — each with its code and the values it is
about — and the words and fixes the face gives them (face/doctor_text.py)."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.core.checkup import AgentProcess, Facts, HeldMemory, SupervisedFacts, findings, needs_action
from supervisor.face.doctor_text import worded


def process(kind: str = "managed", pid: int = 7, idle: float | None = 5.0, **values: Any) -> AgentProcess:
    fields: dict[str, Any] = {"age_seconds": 9000.0, "cpu_seconds": 1.0, "cpu_percent": 0.1, "rss_bytes": 200 << 20,
                              "tcp_connections": 3, "https_connections": 2} | values
    return AgentProcess(pid=pid, kind=kind, idle_seconds=idle, **fields)


def facts(*processes: AgentProcess, **values: Any) -> Facts:
    base: dict[str, Any] = {"supervised": [], "memory": [], "load": 0.1, "cores": 2, "memory_total": 1 << 34,
                            "memory_available": 1 << 33, "watcher_runs": True, "sessions_outside": False,
                            "idle_limit": 1800.0, "background_idle_limit": 1800.0}
    return Facts(processes=list(processes), **(base | values))


def codes(given: Facts) -> list[str]:
    return [finding.code for finding in findings(given)]


@pytest.mark.parametrize("given, expected", [
    (facts(), ["ok"]),
    (facts(process("unmanaged", idle=3600)), ["outside", "outside-idle"]),
    (facts(process("unmanaged", idle=60)), ["outside"]),
    (facts(process("orphaned")), ["orphans"]),
    (facts(process(), process("unmanaged", pid=8)), ["outside", "over-limit"]),
    (facts(process(), process(pid=8), max_sessions=2), ["ok"]),
    (facts(process("background", idle=7200)), ["background-idle"]),
    (facts(process("background", idle=60), sessions_outside=True, watcher_runs=False), ["no-watcher", "ok"]),
    (facts(process(tcp_connections=12)), ["connections"]),
    (facts(process(rss_bytes=2 << 30)), ["big-memory"]),
    (facts(process(), process("daemon", pid=9)), ["machinery", "ok"]),
    (facts(process(cpu_now_percent=150.0), load=4.9), ["load-agents"]),
    (facts(process(cpu_now_percent=2.0), load=4.9), ["load-elsewhere", "ok"]),
    (facts(memory_available=1 << 30), ["low-memory"]),
    (facts(notify_wanted=True, can_notify=False), ["no-notifications", "ok"]),
    (facts(notify_wanted=False, can_notify=False), ["ok"]),
    (facts(memory=[HeldMemory("supervised", "a", 300 << 20, "pss", ((7, 300 << 20, "claude"),))],
           memory_budget=256 << 20), ["heaviest", "over-budget"]),
])
def test_findings(given: Facts, expected: list[str]) -> None:
    assert codes(given) == expected


def test_every_supervised_session_counts_not_only_the_first() -> None:
    given = facts(process(pid=7), process(pid=8), max_sessions=2, supervised=[
        SupervisedFacts("aaaa1111", 5.0, 1800.0, "active"), SupervisedFacts("bbbb2222", 7200.0, None, "suspended")])
    found = findings(given)
    assert [(f.code, f.data.get("id")) for f in found] == [
        ("no-idle-limit", "bbbb2222"), ("supervised-idle", "bbbb2222"), ("suspended", "bbbb2222")]
    assert [worded(f)[1] for f in found] == ["csup run --idle-limit 30m", "csup stop bbbb2222",
                                             "fg there, or csup stop bbbb2222"]


def test_the_words_say_what_and_the_command_that_fixes_it() -> None:
    [outside, idle] = findings(facts(process("unmanaged", idle=3600)))
    assert worded(outside) == ("1 agent session(s) running outside csup",
                               "csup takeover (continue here) or csup stop --force")
    assert worded(idle) == ("pid 7 outside csup has been idle 1h", "csup stop --force")
    [load] = findings(facts(process(cpu_now_percent=2.0), load=4.93))[:1]
    assert "comes from elsewhere" in worded(load)[0] and worded(load)[1] == "find the busy process: top"
    [busy] = findings(facts(process(cpu_now_percent=150.0), load=4.93))
    assert "use 150% of a core" in worded(busy)[0] and "csup stop" in str(worded(busy)[1])


def test_only_an_action_makes_doctor_exit_1() -> None:
    assert needs_action(findings(facts(process("orphaned"))))
    assert not needs_action(findings(facts(process(tcp_connections=12))))


def test_an_editors_session_is_neither_counted_against_the_rule_nor_machinery() -> None:
    editor = process("editor", pid=9, cli="codex")
    daemon = process("daemon", pid=10)
    assert [f.code for f in findings(facts(editor, process(), max_sessions=1))] == ["ok"]
    [machinery] = [f for f in findings(facts(editor, daemon, max_sessions=1)) if f.code == "machinery"]
    assert machinery.data["roles"] == {"daemon": 1}
