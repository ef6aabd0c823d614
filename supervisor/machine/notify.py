"""Desktop notifications (notify-send on Linux, osascript on macOS); absent tools are skipped quietly (doctor
says when there is no way to notify). Side effect: starts the notifier detached — its own session, reaped by
nobody but init, so it is never left as a zombie of csup's — and never waits for it."""

from __future__ import annotations

import os
import shutil
import sys


def command_for(title: str, body: str, platform: str = sys.platform) -> list[str] | None:
    """The command that shows a notification here, or None when this machine has no way to."""
    if platform == "darwin":
        osascript = shutil.which("osascript")
        if osascript is None:
            return None
        script = f"display notification {_applescript(body)} with title {_applescript(title)}"
        return [osascript, "-e", script]
    notify_send = shutil.which("notify-send")
    if notify_send is None or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                   or os.environ.get("DBUS_SESSION_BUS_ADDRESS")):
        return None
    return [notify_send, "--app-name=csup", title, body]


def _applescript(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def available(platform: str = sys.platform) -> bool:
    """Whether notifications can reach anyone here (doctor says when they cannot)."""
    return command_for("", "", platform) is not None


def notify(title: str, body: str) -> None:
    command = command_for(title, body)
    if command is None:
        return
    from supervisor.machine.detach import start_detached

    try:
        start_detached(command, dict(os.environ))
    except OSError:
        return
