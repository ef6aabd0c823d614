"""The event log summarised: sessions (started + ended, joined by session id) and totals of how they ended.
Pure: events in, a summary out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def summarise_log(events: Sequence[dict[str, Any]], count: int) -> dict[str, Any]:
    """Sessions from the event log (started + ended, joined by session id) and totals of how they ended."""
    started = {e.get("session"): e for e in events if e.get("event") == "started"}
    sessions = []
    for event in events:
        if event.get("event") != "ended":
            continue
        begin = started.get(event.get("session"), {})
        sessions.append({"session": event.get("session"), "started": begin.get("ts"), "ended": event.get("ts"),
                         "how": event.get("how"), "reason": event.get("reason"), "code": event.get("code"),
                         "duration": event.get("duration"), "idle": event.get("idle"), "cwd": begin.get("cwd")})
    totals: dict[str, int] = {}
    for session in sessions:
        totals[str(session["how"])] = totals.get(str(session["how"]), 0) + 1
    idle_ended = sum(float(s["idle"] or 0) for s in sessions if s["how"] == "idle")
    refused = sum(1 for e in events if e.get("event") == "refused")
    return {"sessions": sessions[-count:], "total": len(sessions), "ended_by": totals, "refused": refused,
            "idle_hours_ended": round(idle_ended / 3600, 2)}
