"""The event log summarised: everything csup did, one entry each, in time order — supervised sessions (started +
ended, joined by session id), background sessions ended through the daemon or moved there, unmanaged sessions
reported, warned and ended, and refusals — with totals of how sessions ended. Pure: events in, a summary out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Each logged event that is a line of `csup log`: what kind of session it concerns, and how to say what happened.
ENTRIES: dict[str, tuple[str, str | None]] = {
    "ended": ("supervised", None),  # `how` says how
    "slept": ("supervised", "slept"),  # its CLI's tree ended, its terminal kept its place
    "woke": ("supervised", "woke"),
    "ended-background": ("background", None),
    "backgrounded": ("background", "moved"),
    "detached": ("background", "detached"),
    "ended-unmanaged": ("unmanaged", None),
    "warned-unmanaged": ("unmanaged", "warned"),
    "reported-unmanaged": ("unmanaged", "reported"),
    "refused": ("refused", "refused"),
}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def summarise_log(events: Sequence[dict[str, Any]], count: int) -> dict[str, Any]:
    """The last `count` entries, oldest first, and totals over the whole log."""
    started = {e.get("session"): e for e in events if e.get("event") == "started"}
    entries = []
    for event in events:
        kind_and_how = ENTRIES.get(str(event.get("event")))
        if kind_and_how is None:
            continue
        kind, how = kind_and_how
        begin = started.get(event.get("session"), {}) if event.get("event") == "ended" else {}
        how = how or _text(event.get("how")) or "ended"
        if kind in ("background", "unmanaged") and event.get("gone") is False:
            how = "not-ended"  # asked, and it kept running: the log says what happened, not what was tried
        if kind == "refused":
            how = _text(event.get("reason")) or "refused"  # what refused it: the limit, the line, memory
        ids = (event.get("short"), event.get("session")) if kind == "background" else \
            (event.get("session"), event.get("short"))
        entries.append({
            "at": _number(event.get("ts")), "kind": kind, "how": how,
            "id": next((_text(i) for i in ids if _text(i)), None) or (
                str(event["cli_pid"]) if isinstance(event.get("cli_pid"), int) else None),
            "started": _number(begin.get("ts")) or _number(event.get("started")),
            "reason": _text(event.get("reason")) if kind != "refused" else None, "code": event.get("code"),
            "duration": _number(event.get("duration")), "idle": _number(event.get("idle")),
            "cwd": _text(begin.get("cwd")) or _text(event.get("cwd")), "resume": _text(event.get("resume")),
            "cli": _text(begin.get("cli")) or _text(event.get("cli")),
        })
    entries.sort(key=lambda entry: entry["at"] or 0.0)
    sessions = [e for e in entries if e["kind"] == "supervised" and e["how"] not in ("slept", "woke")]
    totals: dict[str, int] = {}
    for entry in entries:
        if entry["kind"] != "refused" and entry["how"] not in ("warned", "reported", "moved", "detached", "woke"):
            key = entry["how"] if entry["kind"] == "supervised" else f"{entry['how']} ({entry['kind']})"
            totals[str(key)] = totals.get(str(key), 0) + 1
    idle_ended = sum(float(s["idle"] or 0) for s in sessions if s["how"] == "idle")
    refused = sum(1 for e in entries if e["kind"] == "refused")
    return {"entries": entries[-count:], "sessions": sessions[-count:], "total": len(sessions),
            "ended_by": totals, "refused": refused, "idle_hours_ended": round(idle_ended / 3600, 2)}
