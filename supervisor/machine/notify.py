"""Desktop notifications (notify-send on Linux, osascript on macOS); absent tools are skipped quietly.
Side effect: starts the notifier in the background and never waits for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

_started: list[subprocess.Popen[bytes]] = []


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


def notify(title: str, body: str) -> None:
    command = command_for(title, body)
    _reap()
    if command is None:
        return
    try:
        _started.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True))
    except OSError:
        return


def _reap() -> None:
    _started[:] = [proc for proc in _started if proc.poll() is None]
